"""Self-normalized importance weights against a case with known answers: a Gaussian target and
Gaussian proposals, one with heavier tails (trustworthy) and one with lighter (k̂ must say not)."""

import math

import pytest
import torch

from pyro_cvae.diagnostics import KHAT_LIMIT, ImportanceWeights

TARGET = torch.distributions.Normal(1.0, 1.0)


def _weights(proposal_scale: float, n: int = 20_000):
    proposal = torch.distributions.Normal(0.0, proposal_scale)
    draws = proposal.sample((n,))
    return draws, ImportanceWeights.from_densities(TARGET.log_prob(draws), proposal.log_prob(draws))


def test_a_wider_proposal_recovers_the_target_and_is_trusted():
    torch.manual_seed(0)
    draws, weights = _weights(2.0)
    mean = float((weights.normalized * draws).sum())
    assert abs(mean - 1.0) < 0.05
    resampled = draws[weights.resample(20_000, torch.Generator().manual_seed(1))]
    assert abs(float(resampled.mean()) - 1.0) < 0.05 and abs(float(resampled.std()) - 1.0) < 0.05
    # ESS / K → 1 / E_q[(p/q)²], in closed form for p = N(1, 1), q = N(0, s²):
    # E_q[(p/q)²] = s² / sqrt(2s² - 1) · exp(1 / (2s² - 1))
    s2 = 2.0**2
    second_moment = s2 / math.sqrt(2 * s2 - 1) * math.exp(1.0 / (2 * s2 - 1))
    assert abs(weights.ess / len(weights) - 1 / second_moment) < 0.03
    assert weights.khat < 0.5


def test_a_lighter_tailed_proposal_is_flagged():
    torch.manual_seed(0)
    _, weights = _weights(0.5)
    assert weights.khat > KHAT_LIMIT
    with pytest.warns(UserWarning, match="Pareto k̂"):
        weights.warn_if_unreliable()


def test_draws_where_the_target_has_no_mass_carry_no_weight():
    log_w = torch.tensor([0.0, -math.inf, float("nan"), 1.0])
    weights = ImportanceWeights(log_w)
    assert weights.normalized[1] == 0 and weights.normalized[2] == 0
    assert torch.allclose(weights.normalized.sum(), torch.tensor(1.0))
    with pytest.raises(ValueError, match="no proposal has a finite weight"):
        ImportanceWeights(torch.full((3,), -math.inf))
    with pytest.raises(ValueError, match="log_weights must be a non-empty vector"):
        ImportanceWeights(torch.zeros(2, 2))


def test_a_proposal_equal_to_the_target_has_a_flat_tail_and_one_dominant_weight_has_none_to_fit():
    import warnings

    equal = ImportanceWeights(torch.full((1000,), -3.2, dtype=torch.float64))
    assert equal.khat == -math.inf and equal.ess == pytest.approx(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        equal.warn_if_unreliable()  # an exact proposal is not unreliable
    dominant = torch.full((1000,), -100.0, dtype=torch.float64)
    dominant[17] = 0.0
    assert ImportanceWeights(dominant).khat == math.inf
    assert ImportanceWeights(torch.zeros(1, dtype=torch.float64)).khat == math.inf  # one proposal: nothing to fit

"""The calibrated posterior against exact answers: the exact solution set and its weights
(noise-free), and importance sampling from the mixture (noisy): mode shares, and the draws'
mean and spread within each mode."""

import pytest
import torch

from pyro_cvae.diagnostics.weights import ImportanceWeights
from pyro_cvae.twobirds.data import generate
from pyro_cvae.twobirds.exact import exact_solutions, solution_weights
from pyro_cvae.twobirds.functions import ForwardFunctions
from pyro_cvae.twobirds.lines import endpoints_from_lines, lines_from_endpoints, log_prior_density
from pyro_cvae.twobirds.posterior import (
    _completed_by_translation,
    _misfit,
    log_mixture_density,
    mode_probabilities_against,
    nearest_mode,
    posterior_modes,
    sample_modes,
)
from pyro_cvae.twobirds.refine import jacobian
from pyro_cvae.twobirds.sampling import draw
from pyro_cvae.twobirds.train import twobirds_model

from ..conftest import tiny

FORWARD = ForwardFunctions("data1")  # few solutions per condition: an untrained CVAE finds them all


@pytest.fixture(scope="module")
def proposer():
    # untrained: its proposals are spread over the box, and refinement finds the modes
    return twobirds_model(**tiny(mixture_components=2)).eval()


def test_every_exact_solution_has_the_same_jacobian_volume():
    # why the noise-free Laplace weights reduce to the prior density: checked, not assumed
    _, y = generate(6, FORWARD, seed=3)
    for solutions in exact_solutions(y, FORWARD):
        jac = jacobian(FORWARD, solutions.double(), 50)
        logdet = torch.logdet(jac.transpose(-1, -2) @ jac)
        assert (logdet - logdet[0]).abs().max() < 1e-6


def test_noise_free_mode_probabilities_are_the_exact_posterior(proposer):
    _, y = generate(6, FORWARD, seed=4)
    # the untrained CVAE proposes poorly: half the starting points come from the prior
    modes = posterior_modes(proposer, y, FORWARD, num_proposals=512, prior_fraction=0.5)
    for mixture, solutions in zip(modes, exact_solutions(y, FORWARD)):
        assert len(mixture) == len(solutions)  # every mode found, nothing else kept
        predicted = mode_probabilities_against(mixture, solutions, tol=1e-4)
        torch.testing.assert_close(predicted, solution_weights(solutions).double(), atol=1e-6, rtol=0)
        assert mixture.misfit.max() < 1e-5 and mixture.covariances.abs().max() == 0


def test_samples_follow_the_mode_probabilities():
    _, y = generate(1, FORWARD, seed=5)
    solutions = exact_solutions(y, FORWARD)[0].double()
    from pyro_cvae.twobirds.posterior import Modes

    weights = solution_weights(solutions).double()
    mixture = Modes(
        solutions, weights, torch.zeros(len(solutions), 4, 4, dtype=torch.float64), torch.zeros(len(solutions)), 0
    )
    draws = sample_modes([mixture], 20000, 50, generator=torch.Generator().manual_seed(0))
    share = torch.stack(
        [
            (lines_from_endpoints(s, 50).float() - draws[:, 0]).abs().amax((-2, -1)).lt(1e-5).double().mean()
            for s in solutions
        ]
    )
    assert (share - weights).abs().max() < 0.015


def _untruncated_draws(mixture, num, width, generator):
    """``num`` draws of the mixture with each Gaussian ``width`` times wider, not truncated to the
    box (a reference proposal of the tests' own), and their log density."""
    component = torch.multinomial(mixture.probabilities, num, replacement=True, generator=generator)
    chol = width * torch.linalg.cholesky(mixture.covariances)
    noise = torch.randn(num, 4, 1, generator=generator, dtype=torch.float64)
    e = mixture.endpoints[component] + (chol[component] @ noise).squeeze(-1)
    return e, log_mixture_density(mixture, e, truncated=False, width=width)


@pytest.mark.slow  # many simulated conditions: over 10 s each on 2 cores
@pytest.mark.parametrize("noise_scale", [0.02, 0.05])
def test_noisy_laplace_weights_match_importance_sampling(proposer, noise_scale):
    """The reference: self-normalized importance sampling of p(e) N(y; F(e), σ²) with the
    mixture (untruncated) as proposal, its weight summed over each mode's basin (the draws
    nearest to it), from 200,000 draws per condition."""
    _, y = generate(3, FORWARD, seed=6, noise_scale=noise_scale)
    modes = posterior_modes(proposer, y, FORWARD, noise_scale=noise_scale, num_proposals=512, prior_fraction=0.5)
    generator = torch.Generator().manual_seed(1)
    for mixture, condition in zip(modes, y.double()):
        kept = mixture.probabilities > 1e-6  # modes the mixture draws from at all
        mixture.endpoints, mixture.covariances = mixture.endpoints[kept], mixture.covariances[kept]
        mixture.probabilities = mixture.probabilities[kept] / mixture.probabilities[kept].sum()
        e, log_proposal = _untruncated_draws(mixture, 200_000, 1.0, generator)
        residual = FORWARD(lines_from_endpoints(e, 50)) - condition
        log_target = log_prior_density(e) - residual.pow(2).sum((-2, -1)) / (2 * noise_scale**2)
        weights = ImportanceWeights.from_densities(log_target, log_proposal).normalized
        basin = nearest_mode(mixture, e)
        reference = torch.zeros(len(mixture.probabilities), dtype=torch.float64).index_add_(0, basin, weights)
        assert 0.5 * (reference - mixture.probabilities).abs().sum() < 0.03


@pytest.mark.slow  # simulation-based calibration over many conditions
def test_the_default_sampler_is_calibrated_where_the_old_one_is_not(proposer):
    from pyro_cvae.twobirds.metrics import evaluate_samples

    _, y = generate(8, FORWARD, seed=7)
    solutions = exact_solutions(y, FORWARD)
    calibrated = evaluate_samples(
        draw(proposer, y, 2000, functions=FORWARD, num_proposals=512, prior_fraction=0.5), y, FORWARD, solutions
    )
    old = evaluate_samples(
        draw(proposer, y, 2000, sharpen="refine-importance", functions=FORWARD, oversample=1), y, FORWARD, solutions
    )
    assert calibrated["mode_tv"] < 0.04 and calibrated["precision"] > 0.99
    assert old["mode_tv"] > calibrated["mode_tv"] + 0.05  # the proposals' basin mass, not the posterior


#: a pair with dozens of solutions per condition, in a few classes of different line shapes;
#: within a class they repeat by 2π turns of the phases
MANY = ForwardFunctions("cos(43*x0+13*x1), sin(17*x0+47*x1)")


def _found(points: torch.Tensor, solutions: torch.Tensor) -> torch.Tensor:
    """Which exact solutions have a point within 1e-4 of them."""
    return (solutions[:, None, :].double() - points[None]).abs().amax(-1).amin(-1) < 1e-4


def test_translation_completes_the_modes_from_a_few_of_them():
    _, y = generate(2, MANY, seed=6)
    y = y[1].double()
    solutions = exact_solutions(y[None], MANY)[0].double()
    # two classes of line shape: x0's line falls by 0.02 in one, by 0.31 in the other
    shape = (solutions[:, 0] - solutions[:, 1]).round(decimals=2)
    first, second = (solutions[shape == value] for value in shape.unique())
    assert len(first) >= 5 and len(second) >= 5

    def complete(points):
        modes, misfit = _completed_by_translation(points, y, MANY, 0.0, 2e-3, 1e-5, 30, rounds=5)
        assert torch.allclose(misfit, _misfit(modes, y, MANY)) and (misfit.diff() >= 0).all()  # best first
        return modes

    # three modes of one class, not on one line: their differences span the class's lattice
    within = complete(first[[0, 1, 3]])
    assert _found(within, first).all() and not _found(within, second).any()
    both = complete(torch.cat([first[[0, 1, 3]], second[[0, 1, 2]]]))  # three of each class: every solution
    assert _found(both, solutions).all()
    solved = _misfit(both, y, MANY) <= 1e-5
    assert int(solved.sum()) == len(solutions)  # nothing that fits y but is not an exact solution
    assert len(complete(first[:1])) == 1  # one mode alone has no difference to translate by


def test_translation_finds_the_modes_proposals_miss(proposer):
    _, y = generate(4, MANY, seed=6)
    found = {}
    for rounds in (0, 3):
        torch.manual_seed(1)  # the same proposals for both
        modes = posterior_modes(proposer, y, MANY, num_proposals=256, prior_fraction=0.5, translation_rounds=rounds)
        found[rounds] = [int(_found(m.endpoints, s).sum()) for m, s in zip(modes, exact_solutions(y, MANY))]
    assert sum(found[0]) < sum(found[3])
    assert found[3] == [len(s) for s in exact_solutions(y, MANY)]


def test_bad_arguments_are_refused(proposer):
    _, y = generate(1, FORWARD, seed=0)
    with pytest.raises(ValueError, match="noise_scale must be >= 0"):
        posterior_modes(proposer, y, FORWARD, noise_scale=-1.0)
    with pytest.raises(ValueError, match="num_proposals must be a positive int"):
        posterior_modes(proposer, y, FORWARD, num_proposals=0)
    with pytest.raises(ValueError, match="translation_rounds must be a non-negative int"):
        posterior_modes(proposer, y, FORWARD, translation_rounds=-1)


def test_a_direction_the_signals_do_not_see_gets_a_proper_covariance(proposer):
    # both signals ignore x1, so JᵀJ is singular along the x1 endpoints; the covariance must
    # still be positive definite (it used to fail Cholesky) and no wider than the box
    blind = ForwardFunctions("cos(49*x0), sin(56*x0)")
    _, y = generate(2, blind, seed=3, noise_scale=0.05)
    modes = posterior_modes(proposer, y, blind, noise_scale=0.05, num_proposals=64)
    for mixture in modes:
        assert torch.linalg.cholesky_ex(mixture.covariances).info.eq(0).all()
        assert (mixture.spreads[:, 2:] <= 0.9 + 1e-9).all() and (mixture.spreads[:, 2:] > 0.1).all()
    draws = sample_modes(modes, 50, 50)
    assert torch.isfinite(draws).all()


def _moments_per_mode(e, weights, mixture, modes):
    """Weighted mean ``(M, 4)`` and standard deviation ``(M, 4)`` of draws ``e`` in each basin."""
    basin = nearest_mode(mixture, e)
    means, sds = [], []
    for m in modes:
        w = weights * (basin == m)
        w = w / w.sum()
        mean = (w[:, None] * e).sum(0)
        means.append(mean)
        sds.append((w[:, None] * (e - mean) ** 2).sum(0).sqrt())
    return torch.stack(means), torch.stack(sds)


def _within_mode_errors(draws, mixture, reference_mean, reference_sd, modes):
    """Per mode: the largest |mean shift| in reference standard deviations, and the largest
    |log| of the spread ratio (sampler over reference)."""
    mean, sd = _moments_per_mode(draws, torch.ones(len(draws), dtype=draws.dtype), mixture, modes)
    shift = ((mean - reference_mean) / reference_sd).abs().max()
    spread = (sd / reference_sd).log().abs().max()
    return float(shift), float(spread)


@pytest.mark.slow  # 200,000 forward evaluations for the reference
def test_noisy_draws_follow_the_posterior_within_each_mode(proposer):
    """Mode shares are not enough: draws 1.5× too wide or narrow inside each mode keep them. The
    sampler's per-mode mean and spread are checked against self-normalized importance sampling
    from a proposal of its own (the Laplace mixture three times wider, untruncated, 200,000 draws),
    and the same check must reject the draws widened or narrowed 1.5× about each mode's mean."""
    noise_scale = 0.05
    _, y = generate(1, FORWARD, seed=9, noise_scale=noise_scale)
    (mixture,) = posterior_modes(proposer, y, FORWARD, noise_scale=noise_scale, num_proposals=512, prior_fraction=0.5)
    e, log_proposal = _untruncated_draws(mixture, 200_000, 3.0, torch.Generator().manual_seed(3))
    weights = ImportanceWeights.from_densities(mixture.log_target(e), log_proposal)
    assert weights.khat < 0.7 and weights.ess > 5_000  # the reference itself can be trusted
    basin = nearest_mode(mixture, e)
    reference = torch.zeros(len(mixture), dtype=torch.float64).index_add_(0, basin, weights.normalized)
    modes = (reference > 0.1).nonzero().squeeze(-1).tolist()  # modes with enough draws to judge
    assert modes
    ref_mean, ref_sd = _moments_per_mode(e, weights.normalized, mixture, modes)

    lines = sample_modes([mixture], 4000, 50, generator=torch.Generator().manual_seed(4))[:, 0]
    draws = endpoints_from_lines(lines.double())
    shift, spread = _within_mode_errors(draws, mixture, ref_mean, ref_sd, modes)
    assert shift < 0.15 and spread < 0.12, (shift, spread)

    # negative controls: each draw moved away from (or towards) its mode's mean by 1.5×
    basin = nearest_mode(mixture, draws)
    centre = torch.zeros_like(draws)
    for m in basin.unique():
        centre[basin == m] = draws[basin == m].mean(0)
    for factor in (1.5, 1 / 1.5):
        wrong = centre + factor * (draws - centre)
        _, spread = _within_mode_errors(wrong, mixture, ref_mean, ref_sd, modes)
        assert spread > 0.3, (factor, spread)

"""Region recalibration against exact answers: on θ ~ N(0, I), x = θ + N(0, 0.5² I) (posterior
N(x / 1.25, 0.2 I)), a posterior 1.5× too wide or too narrow fails the expected coverage of its
highest-density regions, and reweighted by the density of the truths' credibility levels on pairs
it never saw, passes it on other truths. There the reweighting has an exact answer: the wrong
posterior and the exact one are both round about the same centre, so giving the wrong one's
regions the truths' distribution of levels gives the exact posterior, density and all. Then what
a user does: compose it with the marginal recalibration, sample, save and load, and the errors
of bad input."""

import math

import pytest
import torch

from pyro_cvae.diagnostics import hpd_coverage, sbc, tarp
from pyro_cvae.posterior import (
    LogProb,
    RecalibratedPosterior,
    RegionRecalibratedPosterior,
    load_posterior,
    per_observation,
    recalibrate,
    recalibrate_regions,
)

from .cases import SPREAD, Bare, ExactPosterior, Scaled, fit_small_posterior, pairs, sample_from_the_command_line


def coverage_at(curve, level):
    return float(curve.coverage[curve.alpha.sub(level).abs().argmin()])


@pytest.mark.parametrize("factor", [1.5, 1 / 1.5])
def test_a_posterior_too_wide_or_too_narrow_has_calibrated_regions_once_reweighted(factor):
    torch.manual_seed(0)
    wrong = Scaled(factor)
    checking = pairs(500, seed=1)
    assert hpd_coverage(wrong, *checking).p_value < 0.01
    mended = recalibrate_regions(wrong, *pairs(2000, seed=2), seed=3)
    curve = hpd_coverage(mended, *checking)
    # within three standard errors of a calibrated posterior's coverage on 500 truths
    assert curve.p_value > 0.01
    assert abs(coverage_at(curve, 0.5) - 0.5) < 0.07 and abs(coverage_at(curve, 0.9) - 0.9) < 0.045
    # reweighting by a level's share of truths moves mass between regions, so the marginals follow
    assert sbc(mended, *checking)["p_value"] > 0.01
    assert tarp(mended, *pairs(300, seed=1), seed=4).p_value > 0.01
    x_o = torch.tensor([0.3, -1.2])
    exact = ExactPosterior()
    near = exact.sample(x_o, 200)
    near = near[((near - x_o / 1.25).abs() < 1.5 * SPREAD).all(-1)]
    error = mended.log_prob(near, x_o) - exact.log_prob(near, x_o)
    assert error.abs().median() < 0.15, error  # the exact density (module docstring)
    assert (wrong.log_prob(near, x_o) - exact.log_prob(near, x_o)).abs().median() > 0.3  # what it mends
    # it integrates to 1 in expectation over the reference draws (the exact posterior as the
    # proposal); each observation's set of M = 100 leaves it off by up to 40% where many
    # truths fall beyond the least dense of them (too narrow: h is 15 there, on one spacing's mass)
    integrals = []
    for observation in torch.randn(20, 2):
        draws = exact.sample(observation, 4000)
        integrals.append((mended.log_prob(draws, observation) - exact.log_prob(draws, observation)).exp().mean())
    integrals = torch.stack(integrals)
    assert abs(integrals.mean() - 1) < 0.06 and ((integrals - 1).abs() < 0.45).all(), integrals
    # its spread, averaged over sets of reference draws (one set of M = 100 moves it by about 5%)
    spreads = [RegionRecalibratedPosterior(wrong, mended.counts, 100).sample(x_o, 2000).std(0) for _ in range(8)]
    spread = torch.stack(spreads).mean(0) / SPREAD
    assert ((spread - 1).abs() < 0.08).all(), spread


def test_an_exact_posterior_gets_weights_near_one():
    torch.manual_seed(5)
    mended = recalibrate_regions(ExactPosterior(), *pairs(2000, seed=6), num_draws=50)
    assert mended.log_weights.shape == (51,)
    assert torch.logsumexp(mended.log_weights, 0).exp() / 51 == pytest.approx(1.0)  # mean weight 1
    assert mended.log_weights[5:-5].abs().max() < 0.25, mended.log_weights  # the extremes hold few truths


def test_shapes_and_the_posteriors_kind_of_result():
    class WithError(ExactPosterior):
        def log_prob(self, theta, x):
            value = super().log_prob(theta, x)
            return LogProb(value, torch.full_like(value, 0.01))

    mended = RegionRecalibratedPosterior(WithError(), torch.randint(0, 21, (200,)), num_draws=20)
    result = mended.log_prob(torch.zeros(4, 2), torch.zeros(2))
    assert isinstance(result, LogProb) and result.value.shape == (4,)
    assert torch.equal(result.stderr, torch.full((4,), 0.01))
    assert mended.log_prob(torch.zeros(2), torch.zeros(2)).value.shape == ()
    assert mended.log_prob(torch.zeros(3, 2), torch.randn(3, 2)).value.shape == (3,)  # one observation per θ
    assert mended.sample(torch.zeros(2), 30).shape == (30, 2)
    assert mended.sample(torch.randn(3, 2), 7).shape == (7, 3, 2)
    assert mended.parameter_names == ["a", "b"] and mended.num_parameters == 2


def test_it_composes_with_the_marginal_recalibration():
    torch.manual_seed(12)
    theta, x = pairs(600, seed=13)
    both = recalibrate_regions(recalibrate(Scaled(1.5), theta, x, min_draws=500), theta, x, num_draws=40)
    assert isinstance(both.posterior, RecalibratedPosterior)
    draws = both.sample(torch.tensor([0.5, 0.5]), 2000)
    # the posterior it mends is 0.5 too wide; mended on 600 pairs, a spread within 0.25 of the
    # exact one at one observation (over seeds: 0.07 too wide on average, 0.05 from map to map)
    assert draws.shape == (2000, 2) and (draws.std(0) / SPREAD - 1).abs().max() < 0.25


def test_an_observation_is_hashed_once_per_sample_and_its_reference_draws_come_with_its_proposals(monkeypatch):
    class Counted(ExactPosterior):
        def __init__(self):
            self.sizes = []

        def sample(self, x, n, chunk_size=None):
            self.sizes.append(n)
            return super().sample(x, n)

    torch.manual_seed(3)
    posterior = Counted()
    mended = RegionRecalibratedPosterior(posterior, torch.randint(0, 21, (200,)), num_draws=20)
    hashed = []
    key = per_observation.PerObservation.key
    monkeypatch.setattr(per_observation.PerObservation, "key", staticmethod(lambda x: hashed.append(1) or key(x)))
    x_o = torch.tensor([0.3, -0.2])
    assert mended.sample(x_o, 50).shape == (50, 2)
    rounds = len(posterior.sizes)
    assert len(hashed) == 1 and posterior.sizes[0] > 20  # the first call: proposals and 20 reference draws
    assert mended.sample(x_o, 50).shape == (50, 2)
    assert len(hashed) == 2  # once more, and the reference draws are not drawn again
    assert sum(posterior.sizes[rounds:]) < sum(posterior.sizes[:rounds])


class OneObservationAtATime(Scaled):
    """A posterior of one's own whose density takes one observation per call, as sbi's does."""

    def log_prob(self, theta, x):
        if torch.as_tensor(x).dim() != 1:
            raise ValueError("log_prob takes one observation")
        return super().log_prob(theta, x)


def test_a_posterior_whose_density_takes_one_observation_at_a_time_is_checked_and_mended():
    torch.manual_seed(8)
    wrong = OneObservationAtATime(1.5)
    assert hpd_coverage(wrong, *pairs(200, seed=9), num_draws=50).p_value < 0.01
    mended = recalibrate_regions(wrong, *pairs(400, seed=10), num_draws=20)
    assert mended.sample(torch.randn(3, 2), 10).shape == (10, 3, 2)
    assert mended.log_prob(torch.zeros(4, 2), torch.zeros(2)).shape == (4,)


def test_bad_input_names_the_argument():
    theta, x = pairs(20, seed=0)
    with pytest.raises(TypeError, match=r"\(Bare\) has no log_prob: .* recalibrate"):
        recalibrate_regions(Bare(), theta, x)
    with pytest.raises(ValueError, match=r"theta must be \(N, 2\)"):
        recalibrate_regions(ExactPosterior(), theta[:, :1], x)
    with pytest.raises(ValueError, match=r"x must hold one observation per row of theta \(20\), got 19"):
        recalibrate_regions(ExactPosterior(), theta, x[:19])
    with pytest.raises(ValueError, match="num_draws"):
        recalibrate_regions(ExactPosterior(), theta, x, num_draws=0)
    with pytest.raises(ValueError, match=r"counts must be \(N >= 2,\) integers"):
        RegionRecalibratedPosterior(ExactPosterior(), torch.rand(10), num_draws=10)
    with pytest.raises(ValueError, match=r"counts must lie in 0..10 \(num_draws\)"):
        RegionRecalibratedPosterior(ExactPosterior(), torch.tensor([0, 11]), num_draws=10)
    mended = RegionRecalibratedPosterior(ExactPosterior(), torch.tensor([0, 5, 10]), num_draws=10)
    with pytest.raises(ValueError, match=r"x_o must hold one observation or one per theta \(3\), got 2"):
        mended.log_prob(torch.zeros(3, 2), torch.zeros(2, 2))


def test_a_fitted_posterior_reweighted_saved_and_loaded(tmp_path, capsys):
    posterior, simulate = fit_small_posterior()
    capsys.readouterr()
    mended = recalibrate_regions(posterior, *simulate(100), 20, progress=True, num_particles=8)
    assert "HPD counts" in capsys.readouterr().err  # the bar over the pairs, asked for
    assert mended.log_prob_options == {"num_particles": 8}  # the bar is not a log_prob option
    x_o = torch.tensor([0.5, 1.5])
    draws = mended.sample(x_o, 50)
    assert draws.shape == (50, 2) and ((draws > 0) & (draws < 2)).all()  # inside the prior's box
    density = mended.log_prob(draws[:5], x_o)
    assert torch.isfinite(density.value).all() and (density.stderr >= 0).all()
    mended.save(tmp_path / "mine")
    loaded = load_posterior(tmp_path / "mine")
    assert isinstance(loaded, RegionRecalibratedPosterior) and loaded.parameter_names == ["a", "b"]
    assert torch.equal(loaded.counts, mended.counts) and loaded.log_prob_options == {"num_particles": 8}
    assert torch.equal(loaded.log_weights, mended.log_weights)
    again = load_posterior(tmp_path / "mine")
    torch.manual_seed(9)
    first = again.sample(x_o, 20)
    torch.manual_seed(9)
    assert torch.allclose(loaded.sample(x_o, 20), first)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mended.save(tmp_path / "mine")
    assert list(sample_from_the_command_line(tmp_path / "mine", x_o, tmp_path).posterior.data_vars) == ["a", "b"]
    (tmp_path / "mine" / "regions.pt").write_bytes(b"not a tensor file")
    with pytest.raises(ValueError, match="regions.pt is corrupt"):
        load_posterior(tmp_path / "mine")
    with pytest.raises(FileNotFoundError, match="no regions.pt"):
        RegionRecalibratedPosterior.load(tmp_path / "elsewhere")
    assert math.isfinite(float(mended.log_weights.max()))

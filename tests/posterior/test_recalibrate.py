"""Quantile recalibration against exact answers: on θ ~ N(0, I), x = θ + N(0, 0.5² I) (posterior
N(x / 1.25, 0.2 I)), a posterior 1.5× too wide or too narrow fails SBC, TARP and HPD coverage,
and once recalibrated on pairs it never saw, passes them on other truths, with every
observation's spread brought back to the exact one and its density near the exact density (the
error here is the same for every x, so one map mends each x); an exact posterior is left as it
was. Then what a user does with a fitted posterior: recalibrate, sample, save and load, and the
errors of bad input."""

import math

import pytest
import torch

from pyro_cvae import SupportLeak
from pyro_cvae.diagnostics import hpd_coverage, sbc, tarp, widened
from pyro_cvae.posterior import RecalibratedPosterior, load_posterior, recalibrate

from .cases import NOISE, SPREAD, Bare, ExactPosterior, Scaled, fit_small_posterior, pairs, sample_from_the_command_line


@pytest.mark.parametrize("factor", [1.5, 1 / 1.5])
def test_a_posterior_too_wide_or_too_narrow_passes_sbc_and_tarp_once_recalibrated(factor):
    torch.manual_seed(0)
    wrong = Scaled(factor)
    checking = pairs(300, seed=1)
    assert sbc(wrong, *checking)["p_value"] < 0.01 and tarp(wrong, *checking).p_value < 0.01
    mended = recalibrate(wrong, *pairs(2000, seed=2), seed=3)
    assert sbc(mended, *checking)["p_value"] > 0.01
    assert tarp(mended, *checking, seed=4).p_value > 0.01
    # the same error at every x: one map mends each observation's spread and keeps its centre
    x_o = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    # 20,000 draws: what is left is the map's own error (about 2% in a spread from 2,000 reference draws)
    draws = mended.sample(x_o, 20_000)
    assert draws.shape == (20_000, 2, 2)
    ratio = draws.std(0) / SPREAD
    if factor > 1:
        assert ((ratio - 1).abs() < 0.05).all(), ratio
    else:  # from 0.67: tails beyond the narrow posterior's draws cannot be put back (module docstring)
        assert ((ratio > 0.88) & (ratio < 1.02)).all(), ratio
    assert torch.allclose(draws.mean(0), x_o / (1 + NOISE**2), atol=0.05)


def test_an_exact_posterior_is_left_as_it_was():
    torch.manual_seed(5)
    mended = recalibrate(ExactPosterior(), *pairs(2000, seed=6))
    levels = torch.linspace(0, 1, 11, dtype=torch.float64)
    from pyro_cvae.posterior.kernels import interpolate

    inverse = interpolate(levels[:, None].expand(11, 2), mended._grid, mended._values)
    assert (inverse - levels[:, None]).abs().max() < 0.04  # G⁻¹ ≈ the identity
    draws = mended.sample(torch.tensor([0.4, -0.8]), 5000)
    assert draws.shape == (5000, 2)
    assert torch.allclose(draws.std(0), torch.full((2,), SPREAD), rtol=0.06)


class Replayed(ExactPosterior):
    """The exact posterior whose every call replays the same draws: what the map starts from is visible."""

    def sample(self, x, n, chunk_size=None):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return super().sample(x, n)


def test_draws_move_between_the_posteriors_own_draws_and_keep_their_order():
    base = Replayed()
    mended = RecalibratedPosterior(base, torch.rand(500, 2) ** 3, min_draws=300)  # a lopsided map
    x_o = torch.tensor([[0.5, 0.5], [-1.0, 2.0]])
    mended.sample(x_o, 1)  # the first call reads the references (the replayed draws) with its own draw
    before, after = base.sample(x_o, 300), mended.sample(x_o, 300)  # later ones draw alone: the same draws
    low, high = before.amin(0), before.amax(0)
    assert ((after >= low) & (after <= high)).all()  # inside a box support the draws span
    # monotone in each coordinate (ties allowed where the map is flat): the draws' order, so
    # their dependence, is kept
    in_order = after.gather(0, before.argsort(0))
    assert (in_order.diff(dim=0) >= 0).all()
    assert (after.mean(0) < before.mean(0)).all()  # u piled near 0: truths sit low, draws move down


class Counted(ExactPosterior):
    """The exact posterior that counts the draws it makes."""

    drawn = calls = 0

    def sample(self, x, n, chunk_size=None):
        draws = super().sample(x, n)
        self.drawn += draws.numel() // 2
        self.calls += 1
        return draws


def test_each_observation_is_mapped_by_one_set_of_reference_draws_for_sample_and_log_prob():
    torch.manual_seed(11)
    base = Counted()
    mended = RecalibratedPosterior(base, torch.rand(500, 2) ** 2, min_draws=300)
    x_o = torch.tensor([[0.3, -1.2], [2.0, 0.5]])
    theta = x_o[0] / (1 + NOISE**2) + SPREAD * torch.randn(10, 2)
    first = mended.log_prob(theta, x_o[0])
    assert base.drawn == 300  # the first observation's reference draws
    assert torch.equal(mended.log_prob(theta, x_o[0]), first)  # one map, not a fresh estimate each call
    mended.sample(x_o, 50)
    assert base.drawn == 300 + 300 + 2 * 50  # the second observation's reference draws, then the samples
    mended.sample(x_o, 50)
    assert base.drawn == 700 + 2 * 50
    calls = base.calls
    mended.sample(torch.tensor([[5.0, 5.0], [6.0, 6.0]]), 50)  # new observations: references and draws together
    assert base.calls == calls + 1 and base.drawn == 800 + 2 * (300 + 50)
    # its draws are those its density describes: draws of the base posterior, moved, and the
    # density of a moved draw is the base's at the draw it came from, times the map's Jacobian
    torch.manual_seed(12)
    moved = mended.sample(x_o[0], 4000)
    log_ratio = mended.log_prob(moved, x_o[0]) - base.log_prob(moved, x_o[0])  # log p' / p
    assert log_ratio.exp().mean() > 1.5  # E_p'[p' / p] = 1 + χ²(p' ‖ p): the map moved them
    assert abs((-log_ratio).exp().mean() - 1) < 0.1  # E_p'[p / p'] = ∫ p = 1: p' is what they follow


class OneAtATime(ExactPosterior):
    """A posterior of one's own that reads a batch of observations as one observation."""

    def sample(self, x, n, chunk_size=None):
        return super().sample(torch.as_tensor(x).reshape(-1)[:2], n)


def test_a_posterior_that_reads_the_batch_otherwise_gets_an_error_that_says_so():
    mended = RecalibratedPosterior(OneAtATime(), torch.rand(100, 2), min_draws=50)
    assert mended.sample(torch.zeros(2), 10).shape == (10, 2)
    with pytest.raises(ValueError, match=r"drew \(60, 2\) for 3 observations of x_o, expected \(60, 3, 2\)"):
        mended.sample(torch.randn(3, 2), 10)
    with pytest.raises(ValueError, match=r"drew \(50, 2\) for 3 observations of x_o, expected \(50, 3, 2\)"):
        mended.log_prob(torch.zeros(3, 2), torch.randn(3, 2))
    # one observation three times: its references are read as one observation's, the draws are not
    with pytest.raises(ValueError, match=r"drew \(10, 2\) for x_o, its reference draws 6 columns"):
        mended.sample(torch.ones(3, 2), 10)


def test_more_samples_than_min_draws_and_one_observation():
    mended = RecalibratedPosterior(ExactPosterior(), torch.rand(100, 2), min_draws=50)
    assert mended.sample(torch.zeros(2), 120).shape == (120, 2)
    assert mended.sample(torch.zeros(3, 2), 7).shape == (7, 3, 2)
    assert mended.parameter_names == ["a", "b"] and mended.num_parameters == 2


def test_any_posterior_with_draws_can_be_recalibrated(tmp_path):
    torch.manual_seed(7)
    theta, x = pairs(300, seed=8)
    control = recalibrate(widened(ExactPosterior(), 1 / 1.5), theta, x, num_draws=50)  # a check's control
    assert control.parameter_names == ["a", "b"] and control.sample(torch.zeros(2), 20).shape == (20, 2)
    bare = recalibrate(Bare(), theta, x, num_draws=50, min_draws=100)
    assert bare.num_parameters == 2 and bare.parameter_names is None
    assert bare.sample(torch.zeros(3, 2), 20).shape == (20, 3, 2)
    with pytest.raises(TypeError, match=r"\(Bare\) cannot be saved"):
        bare.save(tmp_path / "bare")


@pytest.mark.parametrize("factor", [1.5, 1 / 1.5])
def test_its_density_is_the_exact_posteriors_and_its_hpd_regions_are_calibrated(factor):
    torch.manual_seed(10)
    wrong = Scaled(factor)
    checking = pairs(300, seed=1)
    assert hpd_coverage(wrong, *checking).p_value < 0.01
    mended = recalibrate(wrong, *pairs(2000, seed=2), seed=3)
    assert hpd_coverage(mended, *checking).p_value > 0.01
    x_o = torch.tensor([0.3, -1.2])
    exact = ExactPosterior()
    # within a standard deviation or so of the centre, where the kernel estimates have draws
    near = exact.sample(x_o, 200)
    near = near[((near - x_o / (1 + NOISE**2)).abs() < 1.2 * SPREAD).all(-1)]
    error = mended.log_prob(near, x_o) - exact.log_prob(near, x_o)
    assert error.abs().median() < 0.15 and error.abs().max() < 0.6, error
    assert (wrong.log_prob(near, x_o) - exact.log_prob(near, x_o)).abs().median() > 0.3  # what it mends
    # a density: it integrates to 1 (importance sampling with the exact posterior as proposal)
    draws = exact.sample(x_o, 4000)
    assert abs((mended.log_prob(draws, x_o) - exact.log_prob(draws, x_o)).exp().mean() - 1) < 0.05
    # one θ, or one per observation, as the posterior's own log_prob takes them
    assert mended.log_prob(x_o, x_o).shape == ()
    assert mended.log_prob(near[:3], torch.stack([x_o] * 3)).shape == (3,)


def test_its_density_passes_the_posteriors_standard_error_through():
    from pyro_cvae.posterior import LogProb

    class WithError(ExactPosterior):
        def log_prob(self, theta, x):
            value = super().log_prob(theta, x)
            return LogProb(value, torch.full_like(value, 0.01))

    mended = RecalibratedPosterior(WithError(), torch.rand(500, 2), min_draws=500)
    result = mended.log_prob(torch.zeros(4, 2), torch.zeros(2))
    assert isinstance(result, LogProb) and result.value.shape == (4,)
    assert torch.equal(result.stderr, torch.full((4,), 0.01))
    assert isinstance(mended.log_prob(torch.zeros(2), torch.zeros(2)).value.item(), float)


def test_without_the_posteriors_density_it_says_which_checks_to_use():
    mended = RecalibratedPosterior(Bare(), torch.rand(100, 2))
    with pytest.raises(TypeError, match=r"\(Bare\) has no log_prob: .* sbc and tarp"):
        mended.log_prob(torch.zeros(1, 2), torch.zeros(2))
    with pytest.raises(TypeError, match="has no log_prob"):
        hpd_coverage(mended, *pairs(10, seed=0))
    assert widened(mended, 1.5).sample(torch.zeros(2), 10).shape == (10, 2)  # draws only: fine


class LeakingAt(ExactPosterior):
    """The exact posterior, except that it can draw nothing inside the support for observations
    whose first coordinate is above ``edge``, as a fitted posterior that leaks out of a box."""

    def __init__(self, edge):
        self.edge, self.calls = edge, 0

    def sample(self, x, n, chunk_size=None):
        self.calls += 1
        x = torch.as_tensor(x)
        batch = x if x.dim() == 2 else x[None]
        leaking = (batch[:, 0] > self.edge).nonzero().squeeze(1).tolist()
        if leaking:  # as AmortizedPosterior names them: every leaking observation at once
            raise SupportLeak(f"nothing inside for observation {leaking[0]}", leaking[0], leaking)
        return super().sample(x, n)


def test_pairs_the_posterior_cannot_draw_for_are_left_out_with_a_warning():
    theta, x = pairs(1000, seed=11)
    edge = x[:, 0].sort(descending=True).values[4]  # four observations beyond it
    leaking = LeakingAt(edge)
    with pytest.warns(UserWarning, match="recalibrate: 4 of 1000 pairs left out"):
        mended = recalibrate(leaking, theta, x, num_draws=50, seed=0)
    assert len(mended.quantiles) == 996 and leaking.calls == 2  # all four left out at the first error
    edge = x[:, 0].sort(descending=True).values[11]  # 11 of 1000: more than 1 in 100
    with pytest.raises(SupportLeak, match="nothing inside"):
        recalibrate(LeakingAt(edge), theta, x, num_draws=50)


def test_bad_input_names_the_argument():
    exact = ExactPosterior()
    theta, x = pairs(20, seed=0)
    with pytest.raises(ValueError, match=r"theta must be \(N, 2\)"):
        recalibrate(exact, theta[:, :1], x)
    with pytest.raises(ValueError, match=r"x must hold one observation per row of theta \(20\), got 19"):
        recalibrate(exact, theta, x[:19])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        recalibrate(exact, theta[:1], x[:1])
    with pytest.raises(ValueError, match="theta holds NaN"):
        recalibrate(exact, theta.masked_fill(theta > 1, math.nan), x)
    with pytest.raises(ValueError, match="num_draws"):
        recalibrate(exact, theta, x, num_draws=0)
    with pytest.raises(ValueError, match=r"quantiles must be \(N >= 2, 2\)"):
        RecalibratedPosterior(exact, torch.rand(10, 3))
    with pytest.raises(ValueError, match=r"quantiles must lie in \[0, 1\]"):
        RecalibratedPosterior(exact, torch.rand(10, 2) + 1)
    mended = RecalibratedPosterior(exact, torch.rand(10, 2), min_draws=50)
    with pytest.raises(ValueError, match=r"theta must be \(2,\) or \(N, 2\), got \(3, 3\)"):
        mended.log_prob(torch.zeros(3, 3), torch.zeros(2))
    with pytest.raises(ValueError, match=r"x_o must hold one observation or one per theta \(3\), got 2"):
        mended.log_prob(torch.zeros(3, 2), torch.zeros(2, 2))


def test_a_fitted_posterior_recalibrated_saved_and_loaded(tmp_path):
    posterior, simulate = fit_small_posterior()
    truths, x = simulate(200)
    mended = recalibrate(posterior, truths, x, num_draws=50, min_draws=500)
    x_o = torch.tensor([0.5, 1.5])
    draws = mended.sample(x_o, 300)
    assert draws.shape == (300, 2) and ((draws > 0) & (draws < 2)).all()  # inside the prior's box
    density = mended.log_prob(draws[:5], x_o, num_particles=32)  # the fit's LogProb, carried through the map
    assert torch.isfinite(density.value).all() and (density.stderr >= 0).all()
    mended.save(tmp_path / "mine")
    loaded = load_posterior(tmp_path / "mine")
    assert isinstance(loaded, RecalibratedPosterior) and loaded.parameter_names == ["a", "b"]
    assert torch.equal(loaded.quantiles, mended.quantiles) and loaded.min_draws == 500
    # an observation neither has seen: both draw its reference draws, then its samples, alike
    x_new = torch.tensor([1.2, 0.4])
    torch.manual_seed(9)
    first = mended.sample(x_new, 100)
    torch.manual_seed(9)
    assert torch.allclose(loaded.sample(x_new, 100), first)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        mended.save(tmp_path / "mine")
    assert list(sample_from_the_command_line(tmp_path / "mine", x_o, tmp_path).posterior.data_vars) == ["a", "b"]
    twice = recalibrate(mended, *simulate(200), num_draws=20, min_draws=50)
    again = load_posterior(twice.save(tmp_path / "twice"))  # the folder of a recalibrated posterior holds one
    assert isinstance(again.posterior, RecalibratedPosterior) and again.sample(x_o, 5).shape == (5, 2)
    (tmp_path / "mine" / "recalibration.pt").write_bytes(b"not a tensor file")
    with pytest.raises(ValueError, match="recalibration.pt is corrupt"):
        load_posterior(tmp_path / "mine")
    with pytest.raises(FileNotFoundError, match="no recalibration.pt"):
        RecalibratedPosterior.load(tmp_path / "elsewhere")

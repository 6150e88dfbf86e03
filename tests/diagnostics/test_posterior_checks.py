"""The checks on θ against exact answers: an exact posterior passes each, and the same posterior
1.5× too wide or 1.5× too narrow fails each (the negative controls). The linear-Gaussian problem
θ ~ N(0, I), x = θ + N(0, 0.5² I) has the posterior N(x / 1.25, 0.2 I).

Power at p < 0.01, over 50 seeds of this setting (300 truths; ``python bench/posterior_checks.py
--power``): SBC rejects the exact posterior 0% of the time, the 1.5× too wide and too narrow ones
100%; TARP 2%, 98%, 98%; HPD coverage 2%, 100%, 100%. The seed used here is one of those."""

import math

import pytest
import torch

from pyro_cvae.diagnostics import c2st, hpd_coverage, ks_uniform_pvalue, plot_coverage, plot_sbc, sbc, tarp, widened

NOISE = 0.5
VARIANCE = NOISE**2 / (1 + NOISE**2)


class ExactPosterior:
    def sample(self, x, n):
        x = torch.as_tensor(x)
        return x / (1 + NOISE**2) + math.sqrt(VARIANCE) * torch.randn(n, *x.shape)

    def log_prob(self, theta, x):
        return torch.distributions.Normal(x / (1 + NOISE**2), math.sqrt(VARIANCE)).log_prob(theta).sum(-1)


def truths(n=300, dims=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, dims, generator=generator)
    return theta, theta + NOISE * torch.randn(n, dims, generator=generator)


@pytest.fixture
def pairs():
    torch.manual_seed(0)  # the draws of each test (the truths have their own generator)
    return truths(seed=1)


def test_sbc_passes_the_exact_posterior_and_rejects_both_controls(pairs):
    assert sbc(ExactPosterior(), *pairs)["p_value"] > 0.01
    for factor in (1.5, 1 / 1.5):
        assert sbc(widened(ExactPosterior(), factor), *pairs)["p_value"] < 0.01, factor


def test_tarp_passes_the_exact_posterior_and_rejects_both_controls(pairs):
    exact = tarp(ExactPosterior(), *pairs)
    assert exact.p_value > 0.01 and abs(exact.atc) < 0.03
    wide, narrow = (tarp(widened(ExactPosterior(), f), *pairs) for f in (1.5, 1 / 1.5))
    assert wide.p_value < 0.01 and wide.atc > 0  # too wide: covers more than it claims
    assert narrow.p_value < 0.01 and narrow.atc < 0


def test_hpd_coverage_passes_the_exact_posterior_and_rejects_both_controls(pairs):
    exact = hpd_coverage(ExactPosterior(), *pairs)
    half, ninety = (float(exact.coverage[exact.alpha.sub(a).abs().argmin()]) for a in (0.5, 0.9))
    assert exact.p_value > 0.01 and abs(half - 0.5) < 0.06 and abs(ninety - 0.9) < 0.05
    wide, narrow = (hpd_coverage(widened(ExactPosterior(), f), *pairs) for f in (1.5, 1 / 1.5))
    assert wide.p_value < 0.01 and wide.atc > 0
    assert narrow.p_value < 0.01 and narrow.atc < 0


class ParticleCountedPosterior(ExactPosterior):
    """The exact posterior, with the ``num_particles`` keyword an importance-sampled density takes."""

    def __init__(self):
        self.particles_asked = []

    def log_prob(self, theta, x, num_particles=256):
        self.particles_asked.append(num_particles)
        return super().log_prob(theta, x)


def test_hpd_coverage_passes_log_prob_options_and_shows_progress_when_asked(pairs, capsys):
    posterior = ParticleCountedPosterior()
    theta, x = pairs[0][:20], pairs[1][:20]
    quiet = hpd_coverage(posterior, theta, x, num_draws=30)
    assert set(posterior.particles_asked) == {256} and len(posterior.particles_asked) == 20  # one call per truth
    assert "HPD counts" not in capsys.readouterr().err
    posterior.particles_asked.clear()
    torch.manual_seed(0)
    shown = hpd_coverage(posterior, theta, x, num_draws=30, progress=True, num_particles=64)
    assert set(posterior.particles_asked) == {64}
    err = capsys.readouterr().err
    assert "HPD counts" in err and "20/20" in err
    assert quiet.coverage.shape == shown.coverage.shape
    with pytest.raises(TypeError, match="num_particle"):  # a misspelt option reaches log_prob and fails there
        hpd_coverage(posterior, theta, x, num_draws=30, num_particle=64)


class CountingPosterior(ExactPosterior):
    """The exact posterior, counting its draws."""

    drawn = 0

    def sample(self, x, n):
        draws = super().sample(x, n)
        self.drawn += draws.numel() // 2
        return draws


def test_the_negative_control_reads_each_observations_mean_once():
    torch.manual_seed(11)
    posterior = CountingPosterior()
    control = widened(posterior, 1.5)
    x = torch.tensor([[0.5, -0.3], [1.0, 1.0]])
    first = control.sample(x, 10)
    assert posterior.drawn == 2 * 10 + 2 * control.mean_draws  # its draws, then each observation's mean
    again = control.sample(x, 10)
    assert posterior.drawn == 2 * 10 + 2 * control.mean_draws + 2 * 10  # the means were kept
    # each draw sits 1.5 times as far from its observation's mean as the posterior's own draw would
    mean = control._mean(x)
    assert torch.allclose((first - mean).std(), 1.5 * math.sqrt(VARIANCE) * torch.ones(()), rtol=0.3)
    control.log_prob(torch.zeros(3, 2), x[0])  # one observation: its kept mean, no draws
    assert posterior.drawn == 4 * 10 + 2 * control.mean_draws and again.shape == (10, 2, 2)


class BatchOfOneIsOne(ExactPosterior):
    """Answers a batch of one observation ``(1, 2)`` as one, ``(n, 2)``, as
    ``AmortizedPosterior.sample`` does."""

    observation_shape = (2,)

    def sample(self, x, n):
        draws = super().sample(x, n)
        return draws[:, 0] if draws.dim() == 3 and draws.shape[1] == 1 else draws


def test_the_negative_control_keeps_the_shape_its_posterior_gives():
    torch.manual_seed(14)
    control = widened(BatchOfOneIsOne(), 1.5)
    x = torch.tensor([[0.5, -0.3]])
    assert control.sample(x, 30).shape == (30, 2)  # a batch of one, answered as one
    assert control.sample(x[0], 30).shape == (30, 2)
    assert control.sample(torch.zeros(3, 2), 30).shape == (30, 3, 2)


def test_the_negative_control_samples_about_the_mean_its_density_uses():
    """At one observation as in a batch: the draws are moved about the kept mean (not their own
    sample mean), so a draw's density under ``log_prob`` is that of the posterior's own draw."""
    torch.manual_seed(12)
    posterior = CountingPosterior()
    control = widened(posterior, 2.0)
    x_o = torch.tensor([0.5, -0.3])
    kept = control._mean(x_o)[0]
    torch.manual_seed(13)
    own = posterior.sample(x_o, 5)
    torch.manual_seed(13)
    moved = control.sample(x_o, 5)
    assert moved.shape == (5, 2)
    assert torch.allclose(moved, kept + 2.0 * (own - kept))
    inner = kept + (moved - kept) / 2.0
    expected = posterior.log_prob(inner, x_o) - 2 * math.log(2.0)
    assert torch.allclose(control.log_prob(moved, x_o), expected.double())


@pytest.mark.slow  # two classifiers trained with 5-fold cross-validation
def test_c2st_tells_a_wrong_posterior_from_the_right_one():
    torch.manual_seed(1)
    x_o = torch.tensor([0.3, -0.4])
    reference = ExactPosterior().sample(x_o, 300)
    assert c2st(ExactPosterior().sample(x_o, 300), reference) < 0.58
    assert c2st(widened(ExactPosterior(), 1.5).sample(x_o, 300), reference) > 0.58


def test_the_ks_test_is_calibrated_and_has_power():
    torch.manual_seed(2)
    p_values = torch.tensor([ks_uniform_pvalue(torch.rand(200)) for _ in range(300)])
    assert 0.02 < float((p_values < 0.05).double().mean()) < 0.09  # size ≈ 5%
    assert ks_uniform_pvalue(torch.rand(200) ** 1.5) < 0.01


def test_figures(pairs, tmp_path):
    fig = plot_sbc(sbc(ExactPosterior(), *pairs), names=["a", "b"], path=tmp_path / "sbc.png")
    assert len(fig.axes) == 2 and (tmp_path / "sbc.png").exists()
    curves = {"exact": tarp(ExactPosterior(), *pairs), "1.5x wide": tarp(widened(ExactPosterior(), 1.5), *pairs)}
    assert len(plot_coverage(curves).axes[0].lines) == 3

"""The diagnostics against a linear-Gaussian conditional model, where everything is analytic:

    z ~ N(0, I_2),   x = A z + B y + ε,   ε ~ N(0, σ² I_4)   =>   p(x | y) = N(B y, A Aᵀ + σ² I).

A CVAE with a linear decoder and a learned noise scale contains the true model, so after
fitting, the IWAE estimate must match the exact log p(x | y) and its intervals must be
calibrated; a model made over-confident must fail the same checks.
"""

import copy

import pyro.distributions as dist
import pytest
import torch
from torch import nn

import pyro_cvae as pc
from pyro_cvae.diagnostics import (
    importance_log_weights,
    interval_coverage,
    iwae_log_likelihood,
    pareto_khat,
    posterior_coverage,
    rank_uniformity,
    sbc_ranks,
)

A = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.6, -0.7], [0.2, 0.4]])
B = torch.tensor([[0.5, -0.2, 0.1], [0.0, 0.3, -0.4], [0.2, 0.2, 0.2], [-0.5, 0.1, 0.3]])
SIGMA = 0.3


def simulate(n, seed):
    g = torch.Generator().manual_seed(seed)
    y, z = torch.randn(n, 3, generator=g), torch.randn(n, 2, generator=g)
    return z @ A.T + y @ B.T + SIGMA * torch.randn(n, 4, generator=g), y


def exact_log_likelihood(x, y):
    return dist.MultivariateNormal(y @ B.T, A @ A.T + SIGMA**2 * torch.eye(4)).log_prob(x)


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(0)
    model = pc.build(
        "cvae",
        x_shape=(4,),
        y_shape=(3,),
        latent_dim=2,
        hidden_sizes=(),
        likelihood="normal",
        learn_likelihood_scale=True,
        likelihood_scale=1.0,
    )
    # the exact posterior is linear in (x, y): a small encoder represents it
    model.encoder = pc.GaussianEncoder(pc.EncoderNet((4,), (3,), 4, "mlp", (32,)))
    pc.fit(model, simulate(4000, 1), epochs=30, batch_size=100, learning_rate=1e-2, progress=False, seed=0)
    # then a smaller step: at lr 1e-2 Adam's jitter keeps the guide a little out of step with the
    # model's own posterior, which SBC sees (p ~ 1e-7 to 1e-2 depending on the initial weights)
    pc.fit(model, simulate(4000, 1), epochs=20, batch_size=100, learning_rate=1e-3, progress=False, seed=1)
    return model


class ShrunkGuide(nn.Module):
    """The fitted guide with its scale divided by ten: an over-confident posterior."""

    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, x, y=None):
        q = self.encoder(x, y).base_dist
        return dist.Normal(q.loc, q.scale / 10).to_event(1)


def test_iwae_matches_the_exact_conditional_log_likelihood(fitted):
    x, y = simulate(1000, 2)
    exact = exact_log_likelihood(x, y).mean()
    iwae = iwae_log_likelihood(fitted, x, y, num_samples=500).mean()
    assert abs(iwae - exact) < 0.05
    elbo = importance_log_weights(fitted, x, y, 1).mean()
    assert elbo < iwae + 0.01  # the ELBO is the K=1 bound, below the IWAE estimate
    assert pareto_khat(importance_log_weights(fitted, x[:20], y[:20], 1000)).median() < 0.5


def test_predictive_intervals_are_calibrated_and_overconfidence_fails(fitted):
    x, y = simulate(2000, 3)
    coverage = interval_coverage(pc.sample(fitted, y, num_samples=1000), x)
    assert 0.88 <= coverage[0.9] <= 0.92 and 0.48 <= coverage[0.5] <= 0.52
    sharp = copy.deepcopy(fitted)
    with torch.no_grad():  # prior and noise scales shrunk tenfold: the predictive is too narrow
        sharp.prior.scale /= 10
        sharp.likelihood.log_scale -= torch.log(torch.tensor(10.0))
    assert interval_coverage(pc.sample(sharp, y, num_samples=1000), x)[0.9] < 0.5


def test_sbc_and_posterior_coverage_pass_for_the_fit_and_fail_for_a_shrunk_guide(fitted):
    _, y = simulate(2000, 4)
    assert rank_uniformity(sbc_ranks(fitted, y, num_samples=99), 99)["p_value"] > 0.001
    assert 0.87 <= posterior_coverage(fitted, y)[0.9] <= 0.93
    fitted_encoder = fitted.encoder
    fitted.encoder = ShrunkGuide(fitted_encoder)
    try:
        result = rank_uniformity(sbc_ranks(fitted, y, num_samples=99), 99)
        assert result["p_value"] < 1e-6
        # U-shaped: the true z falls outside the too-narrow posterior, in the extreme bins
        counts = result["counts"].sum(-1)
        assert counts[0] + counts[-1] > 0.5 * counts.sum()
        assert posterior_coverage(fitted, y)[0.9] < 0.3
    finally:
        fitted.encoder = fitted_encoder

"""A conditional model with exact answers, to check the diagnostics (and a fit) against:

    z ~ N(0, I_2),   x = A z + B y + ε,   ε ~ N(0, σ² I_4)   =>   p(x | y) = N(B y, A Aᵀ + σ² I).

``fit_linear_cvae`` fits a CVAE with a linear decoder and a learned noise scale, which contains
the true model; ``known_answer_report`` then puts its diagnostics beside the exact answers: the
IWAE estimate against the exact log p(x | y), interval coverage of held-out x, SBC and posterior
coverage of z, and the same for the fit with a guide ten times too confident (which must fail).
``python bench/known_answers.py`` prints the report; ``tests/diagnostics/test_known_answers.py``
asserts on it.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, Tuple, cast

import pyro.distributions as dist
import torch
from torch import nn

from ..build import build
from ..components.guides import GaussianEncoder
from ..components.nets import EncoderNet
from ..model import CVAE
from ..sampling.predictive import sample
from ..train.loop import fit
from .calibration import interval_coverage, posterior_coverage, rank_uniformity, sbc_ranks
from .importance import importance_log_weights, iwae_log_likelihood, pareto_khat

__all__ = ["ShrunkGuide", "exact_log_likelihood", "fit_linear_cvae", "known_answer_report", "simulate"]

A = torch.tensor([[1.0, 0.5], [-0.3, 0.8], [0.6, -0.7], [0.2, 0.4]])
B = torch.tensor([[0.5, -0.2, 0.1], [0.0, 0.3, -0.4], [0.2, 0.2, 0.2], [-0.5, 0.1, 0.3]])
SIGMA = 0.3


def simulate(n: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``n`` pairs ``(x, y)`` from the model above, from their own generator."""
    g = torch.Generator().manual_seed(seed)
    y, z = torch.randn(n, 3, generator=g), torch.randn(n, 2, generator=g)
    return z @ A.T + y @ B.T + SIGMA * torch.randn(n, 4, generator=g), y


def exact_log_likelihood(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The exact log p(x | y), per pair."""
    return dist.MultivariateNormal(y @ B.T, A @ A.T + SIGMA**2 * torch.eye(4)).log_prob(x)


def fit_linear_cvae(seed: int = 0) -> CVAE:
    """A CVAE that contains the true model (linear decoder, learned noise scale), fitted on 4,000
    simulated pairs: 30 epochs at learning rate 1e-2, then 20 at 1e-3 (at 1e-2 Adam's jitter
    keeps the guide a little out of step with the model's own posterior, which SBC sees)."""
    torch.manual_seed(seed)
    model = build(
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
    model.encoder = GaussianEncoder(EncoderNet((4,), (3,), 4, "mlp", (32,)))
    data = simulate(4000, 1)
    fit(model, data, epochs=30, batch_size=100, learning_rate=1e-2, progress=False, seed=seed)
    fit(model, data, epochs=20, batch_size=100, learning_rate=1e-3, progress=False, seed=seed + 1)
    return model


class ShrunkGuide(nn.Module):
    """A fitted guide with its scale divided by ``factor``: an over-confident posterior."""

    def __init__(self, encoder: nn.Module, factor: float = 10.0):
        super().__init__()
        self.encoder, self.factor = encoder, factor

    def forward(self, x, y=None):
        q = self.encoder(x, y).base_dist
        return dist.Normal(q.loc, q.scale / self.factor).to_event(1)


@torch.no_grad()
def _over_confident_predictive(model: CVAE) -> CVAE:
    sharp = copy.deepcopy(model)  # prior and noise scales shrunk tenfold: the predictive is too narrow
    prior, likelihood = cast(Any, sharp.prior), cast(Any, sharp.likelihood)  # N(0, I) and a learned scale
    prior.scale /= 10
    likelihood.log_scale -= torch.log(torch.tensor(10.0))
    return sharp


def known_answer_report(model: CVAE) -> Dict[str, float]:
    """The diagnostics of ``model`` (from ``fit_linear_cvae``) beside the exact answers, on
    held-out simulations (seeds 2 to 4), and those of the same model made over-confident."""
    x, y = simulate(1000, 2)
    iwae = float(iwae_log_likelihood(model, x, y, num_samples=500).mean())
    exact = float(exact_log_likelihood(x, y).mean())
    x_cov, y_cov = simulate(2000, 3)
    coverage = interval_coverage(sample(model, y_cov, num_samples=1000), x_cov)
    sharp_coverage = interval_coverage(sample(_over_confident_predictive(model), y_cov, num_samples=1000), x_cov)
    _, y_sbc = simulate(2000, 4)
    sbc = rank_uniformity(sbc_ranks(model, y_sbc, num_samples=99), 99)
    z_coverage = posterior_coverage(model, y_sbc)
    fitted_encoder = model.encoder
    model.encoder = ShrunkGuide(cast(nn.Module, fitted_encoder))
    try:
        shrunk = rank_uniformity(sbc_ranks(model, y_sbc, num_samples=99), 99)
        shrunk_z_coverage = posterior_coverage(model, y_sbc)
    finally:
        model.encoder = fitted_encoder
    counts = cast(torch.Tensor, shrunk["counts"]).sum(-1)
    return {
        "exact_log_likelihood": exact,
        "iwae_k500": iwae,
        "iwae_minus_exact": iwae - exact,
        "elbo": float(importance_log_weights(model, x, y, 1).mean()),
        "median_pareto_khat": float(pareto_khat(importance_log_weights(model, x[:20], y[:20], 1000)).median()),
        "x_coverage_50": coverage[0.5],
        "x_coverage_90": coverage[0.9],
        "over_confident_x_coverage_90": sharp_coverage[0.9],
        "sbc_p_value": float(cast(float, sbc["p_value"])),
        "z_coverage_90": z_coverage[0.9],
        "shrunk_guide_sbc_p_value": float(cast(float, shrunk["p_value"])),
        "shrunk_guide_extreme_rank_share": float((counts[0] + counts[-1]) / counts.sum()),
        "shrunk_guide_z_coverage_90": shrunk_z_coverage[0.9],
    }

"""Are the model's uncertainties honest? Interval coverage and simulation-based calibration.

Coverage: for nominal levels ℓ, the share of held-out truths that fall inside the central ℓ
credible interval of the samples. A calibrated model covers ℓ of them; over-confident ones
fewer, under-confident ones more.

Simulation-based calibration (Talts et al., 2018): draw (z*, x*) from the model itself given y,
then S posterior draws z^s ~ q(z | x*, y) through ``pyro.infer.Predictive``; the rank of z*
among the z^s is uniform on {0, ..., S} for every latent dimension exactly when the posterior
approximation is right (on average over the model's data). A χ² test on the rank histogram
turns that into a p-value; U-shaped histograms mean an over-confident guide, humps an
under-confident one.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
from pyro.infer import Predictive

from ..checks import as_tensor
from ..model import CVAE
from ..sampling.evaluate import eval_mode
from ..sampling.predictive import posterior_latent

LEVELS = (0.5, 0.8, 0.9, 0.95)


def interval_coverage(
    samples: torch.Tensor,
    truth: torch.Tensor,
    levels: Sequence[float] = LEVELS,
    functional: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    tol: float = 0.0,
) -> Dict[float, float]:
    """Share of truths inside the central credible intervals; samples ``(S, N, ...)``, truth ``(N, ...)``.

    Every element of every data point counts once (for x: each pixel or coordinate).
    ``functional`` maps x to the scalars to check (e.g. Two Birds endpoints), applied to samples
    and truth alike. ``tol`` widens each interval, for discrete posteriors whose atoms the truth
    matches only up to rounding. Tensors or numpy arrays.
    """
    samples, truth = as_tensor(samples), as_tensor(truth)
    truth = truth.to(samples.device)  # samples drawn on a GPU, truths held on the CPU
    if functional is not None:
        samples, truth = functional(samples), functional(truth)
    if samples.shape[1:] != truth.shape:
        raise ValueError(
            f"samples must be (num_samples, *truth.shape), got {tuple(samples.shape)} for {tuple(truth.shape)}"
        )
    flat, target = samples.reshape(samples.shape[0], -1).double(), truth.reshape(-1).double()
    coverage = {}
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"levels must lie in (0, 1), got {level!r}")
        probabilities = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=flat.dtype, device=flat.device)
        bounds = torch.quantile(flat, probabilities, dim=0)
        inside = (target >= bounds[0] - tol) & (target <= bounds[1] + tol)
        coverage[level] = inside.double().mean().item()
    return coverage


@torch.no_grad()
def simulate_posterior(
    model: CVAE, y: Optional[torch.Tensor] = None, num_samples: int = 100, num_simulations: Optional[int] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(z*, z_draws)``: z* ``(N, D)`` with x* simulated from the model given each y, and
    ``num_samples`` guide draws ``(S, N, D)`` for each x*, on the CPU. For a VAE give
    ``num_simulations``."""
    if y is None and not num_simulations:
        raise ValueError("a VAE has no y: give num_simulations")
    _, y = model.prepare_data(None, y)
    with eval_mode(model):
        simulated = Predictive(model.raw_model, num_samples=1, return_sites=("z", "x"))(
            y=y, batch_size=None if y is not None else num_simulations
        )
        z_true, x_sim = simulated["z"][0], simulated["x"][0]
        return z_true.cpu(), posterior_latent(model, x_sim, y, num_samples).cpu()


def sbc_ranks(
    model: CVAE, y: Optional[torch.Tensor] = None, num_samples: int = 100, num_simulations: Optional[int] = None
) -> torch.Tensor:
    """Ranks ``(N, latent_dim)`` in ``{0..num_samples}`` of simulated z* among guide draws."""
    z_true, z_draws = simulate_posterior(model, y, num_samples, num_simulations)
    return (z_draws < z_true).sum(0)


def posterior_coverage(
    model: CVAE,
    y: Optional[torch.Tensor] = None,
    num_samples: int = 200,
    levels: Sequence[float] = LEVELS,
    num_simulations: Optional[int] = None,
) -> Dict[float, float]:
    """Coverage of simulated z* by the guide's central intervals (calibration of q itself)."""
    z_true, z_draws = simulate_posterior(model, y, num_samples, num_simulations)
    return interval_coverage(z_draws, z_true, levels)


def rank_uniformity(ranks: torch.Tensor, num_samples: int, bins: int = 10) -> Dict[str, object]:
    """χ² test of uniform ranks, per latent dimension and for all pooled.

    Returns ``{"p_value": Bonferroni-combined p, "p_values": [per dim], "counts": (bins, D)}``.
    """
    index = torch.div(ranks * bins, num_samples + 1, rounding_mode="floor").long()
    counts = torch.stack([torch.bincount(column, minlength=bins) for column in index.T], dim=-1).double()

    def p_value(observed):
        expected = observed.sum() / bins
        chi2 = ((observed - expected) ** 2 / expected).sum()
        dof = torch.tensor((bins - 1) / 2, dtype=torch.float64)
        return torch.special.gammaincc(dof, chi2 / 2).item()

    p_values = [p_value(counts[:, d]) for d in range(counts.shape[-1])]
    # the dimensions are not independent tests, so combine them by Bonferroni
    return {"p_value": min(1.0, min(p_values) * len(p_values)), "p_values": p_values, "counts": counts}

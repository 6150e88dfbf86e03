"""Posterior predictive sampling through ``pyro.infer.Predictive``, vectorized over samples.

Shapes: every function returns tensors ``(num_samples, batch, *x_shape)``. With
``parallel=True`` Predictive runs the model once with a sample plate outside the data plate;
the networks broadcast over that leading dim, so no Python loop over samples is needed.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from pyro.infer import Predictive

from .evaluate import eval_mode
from .model import CVAE


def _decoded(model: CVAE, samples: Dict[str, torch.Tensor], y, mean: bool) -> torch.Tensor:
    if not mean:
        return samples["x"]
    # E[x | z, y]: the noise-free output, e.g. a smooth image rather than a noisy draw
    return model.likelihood.mean(model.decoder(samples["z"], y))


@torch.no_grad()
def sample(
    model: CVAE,
    y: Optional[torch.Tensor] = None,
    num_samples: int = 100,
    batch_size: int = 1,
    mean: bool = False,
    return_latent: bool = False,
):
    """Draw x ~ p(x | y) = ∫ p(x | z, y) p(z | y) dz: z from the prior (r_θ1 for the dual
    encoder), then x from the likelihood.

    y : (batch, *y_shape), or one condition shaped y_shape; None for a VAE, which then
        generates ``batch_size`` x per sample.
    mean : return E[x | z, y] for each z instead of a draw of x.
    Returns (num_samples, batch, *x_shape), and z (num_samples, batch, latent_dim) too with
    ``return_latent``.
    """
    _, y = model.prepare_data(None, y, allow_batchless=True)
    with eval_mode(model):
        predictive = Predictive(model.raw_model, num_samples=num_samples, parallel=True, return_sites=("z", "x"))
        samples = predictive(y=y, batch_size=batch_size)
        x = _decoded(model, samples, y, mean)
    return (x, samples["z"]) if return_latent else x


@torch.no_grad()
def posterior_latent(model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor], num_samples: int) -> torch.Tensor:
    """z ~ q_φ(z | x, y) through ``Predictive``: ``(num_samples, batch, latent_dim)``.

    x and y must already be checked and on the model's device; call inside ``eval_mode``.
    """
    return Predictive(model.raw_guide, num_samples=num_samples, parallel=True, return_sites=("z",))(x, y)["z"]


@torch.no_grad()
def reconstruct(
    model: CVAE,
    x: torch.Tensor,
    y: Optional[torch.Tensor] = None,
    num_samples: int = 100,
    mean: bool = False,
    return_latent: bool = False,
):
    """Draw z ~ q_φ(z | x, y) and x' ~ p(x | z, y): the model's reconstructions of x."""
    x, y = model.prepare_data(x, y, allow_batchless=True)
    with eval_mode(model):
        latent = {"z": posterior_latent(model, x, y, num_samples)}
        samples = Predictive(model.raw_model, posterior_samples=latent, parallel=True, return_sites=("z", "x"))(
            y=y, batch_size=x.shape[0]
        )
        out = _decoded(model, samples, y, mean)
    return (out, samples["z"]) if return_latent else out


def summarize(samples: torch.Tensor, quantiles: Sequence[float] = (0.05, 0.5, 0.95)) -> Dict[str, torch.Tensor]:
    """Mean, standard deviation and quantiles over the sample dim (dim 0).

    Returns ``{"mean", "std", "quantiles"}``; ``quantiles`` has shape (len(quantiles), ...).
    """
    q = torch.as_tensor(quantiles, dtype=samples.dtype, device=samples.device)
    if q.min() < 0 or q.max() > 1:
        raise ValueError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    return {
        "mean": samples.mean(0),
        "std": samples.std(0),
        "quantiles": torch.quantile(samples, q, dim=0),
    }

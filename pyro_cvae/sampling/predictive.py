"""Posterior predictive sampling through ``pyro.infer.Predictive``, vectorized over samples.

Shapes: every function returns tensors ``(num_samples, batch, *x_shape)``. With
``parallel=True`` Predictive runs the model once with a sample plate outside the data plate;
the networks broadcast over that leading dim, so no Python loop over samples is needed.
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import torch
from pyro.infer import Predictive

from ..checks import as_tensor, check_positive_int
from ..model import CVAE
from .evaluate import eval_mode


def _decoded(model: CVAE, samples: Dict[str, torch.Tensor], y, mean: bool) -> torch.Tensor:
    if not mean:
        return samples["x"]
    # E[x | z, y]: the noise-free output, e.g. a smooth image rather than a noisy draw
    return model.likelihood.mean(model.decoder(samples["z"], model.features(y)))


#: values of x drawn per chunk by default (about 4 MB of float32 x), and at most this share of
#: the whole draw: a chunk's network activations are several times its x, and must stay small
#: beside the output for every size of draw (16 passes left a 1,000-sample draw of the digits
#: CVAE at 2.4 times its output; 32 bring it to 1.8 times, for a third more time)
CHUNK_VALUES = 2**20
CHUNKS_AT_LEAST = 32


def plan_chunks(
    model: CVAE,
    y: Optional[torch.Tensor],
    num_samples: int,
    batch_size: int,
    chunk_size: Optional[int],
    passes_at_least: int,
) -> Tuple[Optional[torch.Tensor], int]:
    """``(y, samples per pass)`` for a chunked draw: the checked conditions on the model's device,
    and ``chunk_size``, or by default about ``CHUNK_VALUES`` values of x per pass in at least
    ``passes_at_least`` passes (fewer when ``num_samples`` is smaller)."""
    check_positive_int(num_samples, "num_samples")
    if chunk_size is not None:
        check_positive_int(chunk_size, "chunk_size")
    _, y = model.prepare_data(None, y, allow_batchless=True)
    rows = y.shape[0] if y is not None else batch_size
    per_sample = max(1, rows * math.prod(model.x_shape))
    return y, chunk_size or max(1, min(CHUNK_VALUES // per_sample, -(-num_samples // passes_at_least)))


@torch.no_grad()
def sample(
    model: CVAE,
    y: Optional[torch.Tensor] = None,
    num_samples: int = 100,
    batch_size: int = 1,
    mean: bool = False,
    return_latent: bool = False,
    chunk_size: Optional[int] = None,
):
    """Draw x ~ p(x | y) = ∫ p(x | z, y) p(z | y) dz: z from the prior (r_θ1 for the dual
    encoder), then x from the likelihood. Arguments and result::

        y : (batch, *y_shape), or one condition shaped y_shape; None for a VAE, which then
            generates ``batch_size`` x per sample.
        mean : return E[x | z, y] for each z instead of a draw of x.
        chunk_size : samples drawn per ``Predictive`` pass (default: about a million values of x
            per pass, and at least 32 passes). The result is written into one preallocated tensor
            chunk by chunk, so memory beyond the output stays that of one chunk, a small share of
            the output, however large ``num_samples`` is (``bench/sampling.py --memory``).
        Returns (num_samples, batch, *x_shape), and z (num_samples, batch, latent_dim) too with
        ``return_latent``.
    """
    y, chunk = plan_chunks(model, y, num_samples, batch_size, chunk_size, CHUNKS_AT_LEAST)
    x_out: Optional[torch.Tensor] = None
    z_out: Optional[torch.Tensor] = None
    with eval_mode(model):
        for start in range(0, num_samples, chunk):
            count = min(chunk, num_samples - start)
            predictive = Predictive(model.raw_model, num_samples=count, parallel=True, return_sites=("z", "x"))
            samples = predictive(y=y, batch_size=batch_size)
            x = _decoded(model, samples, y, mean)
            if x_out is None:
                x_out = x.new_empty((num_samples, *x.shape[1:]))
                z_out = samples["z"].new_empty((num_samples, *samples["z"].shape[1:])) if return_latent else None
            x_out[start : start + count] = x
            if z_out is not None:
                z_out[start : start + count] = samples["z"]
    return (x_out, z_out) if return_latent else x_out


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
    ``samples`` may be a tensor or a numpy array.
    """
    samples = as_tensor(samples)
    q = torch.as_tensor(quantiles, dtype=samples.dtype, device=samples.device)
    if q.min() < 0 or q.max() > 1:
        raise ValueError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    return {
        "mean": samples.mean(0),
        "std": samples.std(0),
        "quantiles": torch.quantile(samples, q, dim=0),
    }

"""CVAE against the deterministic baseline on quadrant completion (Pyro's CVAE tutorial protocol).

For each number of visible quadrants: fit the baseline and a dual-encoder CVAE (prior network
r_θ1(z | y), Bernoulli likelihood) on the same split, and report per test image the conditional
negative log-likelihood of the hidden pixels: the baseline's BCE, and for the CVAE the negative
ELBO and the tighter importance-weighted estimate -log p(x | y) with K samples.
"""

from __future__ import annotations

import time
from typing import Dict, Optional, Sequence

import torch

from ..build import build
from ..data.tensors import split_indices
from ..diagnostics.importance import iwae_log_likelihood
from ..evaluate import elbo_terms
from ..fit import fit
from .quadrants import BaselineNet, fit_baseline, split_quadrants

CVAE_SETTINGS = dict(latent_dim=8, hidden_sizes=(256, 256), prior_hidden_sizes=(256, 256), likelihood="bernoulli")


def default_test_size(num_images: int) -> int:
    """300 test images (the digits protocol), or a fifth of a smaller set."""
    return min(300, max(1, num_images // 5))


def run_quadrant_benchmark(
    images: torch.Tensor,
    num_visible: Sequence[int] = (1, 2, 3),
    epochs: int = 200,
    num_importance: int = 1000,
    test_size: Optional[int] = None,
    seed: int = 0,
    progress: bool = False,
) -> Dict[int, Dict[str, object]]:
    """``{k: {"baseline_nll", "cvae_elbo_nll", "cvae_iwae_nll", "seconds", "model", "baseline"}}``.

    Validation (for early stopping of both) is 10% of the training part; the test part is never
    seen in training.
    """
    train_idx, test_idx = split_indices(len(images), test_size or default_test_size(len(images)), seed)
    fit_idx, val_idx = train_idx[len(train_idx) // 10 :], train_idx[: len(train_idx) // 10]
    results = {}
    for k in num_visible:
        started = time.perf_counter()
        x, y = split_quadrants(images, k)
        train, val, test = ((x[i], y[i]) for i in (fit_idx, val_idx, test_idx))
        baseline = fit_baseline(BaselineNet(y.shape[1], x.shape[1]), train, val, epochs=epochs, seed=seed)
        model = build("dual-encoder", x_shape=(x.shape[1],), y_shape=(y.shape[1],), seed=seed, **CVAE_SETTINGS)
        fit(model, train, val_data=val, epochs=epochs, batch_size=64, patience=10, seed=seed, progress=progress)
        with torch.no_grad():
            baseline_nll = baseline.nll(*test).mean().item()
        torch.manual_seed(seed)
        iwae = iwae_log_likelihood(model, *test, num_samples=num_importance, chunk=min(num_importance, 250))
        results[k] = {
            "baseline_nll": baseline_nll,
            "cvae_elbo_nll": -elbo_terms(model, *test)["elbo"],
            "cvae_iwae_nll": -iwae.mean().item(),
            "seconds": time.perf_counter() - started,
            "model": model,
            "baseline": baseline,
        }
    return results

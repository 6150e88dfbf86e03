"""Proper scoring rules for samples against held-out truths (lower is better; from pyro.ops.stats).

CRPS (continuous ranked probability score) scores each scalar; the energy score is its
multivariate generalization, scoring a whole x at once (so it also sees wrong correlations).
Both equal E|X - truth| - E|X - X'| / 2 and are minimized in expectation by the true predictive.
Samples and truths may be tensors or numpy arrays.
"""

from __future__ import annotations

from typing import Tuple

import torch
from pyro.ops.stats import crps_empirical, energy_score_empirical

from ..checks import as_tensor


def crps(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per data point, the CRPS averaged over the elements of x: samples ``(S, N, ...)``."""
    samples, truth = _check(samples, truth)
    return crps_empirical(samples, truth).reshape(truth.shape[0], -1).mean(-1)


def energy_score(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per data point, the energy score of x flattened to a vector: samples ``(S, N, ...)``."""
    samples, truth = _check(samples, truth)
    # pyro wants the sample dim second to last: (N, S, D) against (N, D)
    pred = samples.reshape(samples.shape[0], truth.shape[0], -1).transpose(0, 1)
    return energy_score_empirical(pred, truth.reshape(truth.shape[0], -1)).reshape(truth.shape[0])


def _check(samples, truth) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(samples, truth)`` as tensors, ``truth`` on the samples' device and in their dtype, once the
    shapes agree."""
    samples, truth = as_tensor(samples), as_tensor(truth)
    if samples.shape[1:] != truth.shape:
        raise ValueError(
            f"samples must be (num_samples, *truth.shape) = (S, {', '.join(map(str, truth.shape))}), "
            f"got {tuple(samples.shape)}"
        )
    return samples, truth.to(samples.device, samples.dtype)  # float64 truths beside float32 draws

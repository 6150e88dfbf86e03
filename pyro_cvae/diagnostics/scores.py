"""Proper scoring rules for samples against held-out truths (lower is better; from pyro.ops.stats).

CRPS (continuous ranked probability score) scores each scalar; the energy score is its
multivariate generalization, scoring a whole x at once (so it also sees wrong correlations).
Both equal E|X - truth| - E|X - X'| / 2 and are minimized in expectation by the true predictive.
"""

from __future__ import annotations

import torch
from pyro.ops.stats import crps_empirical, energy_score_empirical


def crps(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per data point, the CRPS averaged over the elements of x: samples ``(S, N, ...)``."""
    truth = _check(samples, truth)
    return crps_empirical(samples, truth).reshape(truth.shape[0], -1).mean(-1)


def energy_score(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per data point, the energy score of x flattened to a vector: samples ``(S, N, ...)``."""
    truth = _check(samples, truth)
    # pyro wants the sample dim second to last: (N, S, D) against (N, D)
    pred = samples.reshape(samples.shape[0], truth.shape[0], -1).transpose(0, 1)
    return energy_score_empirical(pred, truth.reshape(truth.shape[0], -1)).reshape(truth.shape[0])


def _check(samples: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``truth`` on the samples' device, once the shapes agree."""
    if samples.shape[1:] != truth.shape:
        raise ValueError(
            f"samples must be (num_samples, *truth.shape) = (S, {', '.join(map(str, truth.shape))}), "
            f"got {tuple(samples.shape)}"
        )
    return truth.to(samples.device)

"""Mini-batches: the one place that slices data into batches, for training and evaluation."""

from __future__ import annotations

from typing import Any, Iterator, Optional, Tuple

import torch


def shuffled_batches(
    n: int, batch_size: int, device: Optional[torch.device] = None, generator: Optional[torch.Generator] = None
) -> Iterator[torch.Tensor]:
    """Index tensors of one random permutation of ``range(n)``, ``batch_size`` at a time.

    The last incomplete batch is dropped: every step then has the same shape (what the JIT
    ELBOs need) and the reshuffle of the next epoch lets every point take part over the epochs.
    The permutation comes from ``generator``, else torch's global one (which ``fit`` seeds and
    checkpoints, so a resumed run draws the same orders).
    """
    batch_size = min(batch_size, n)
    order = torch.randperm(n, generator=generator).to(device)
    for first in range(0, n - batch_size + 1, batch_size):
        yield order[first : first + batch_size]


def in_batches(batch_size: int, *tensors: Optional[torch.Tensor]) -> Iterator[Tuple[Any, ...]]:
    """Aligned consecutive slices of ``tensors`` (a None stays None), for evaluation passes."""
    present = [t for t in tensors if t is not None]
    if not present:
        raise ValueError("in_batches needs at least one tensor")
    for start in range(0, present[0].shape[0], batch_size):
        yield tuple(None if t is None else t[start : start + batch_size] for t in tensors)

"""Mini-batches: the one place that slices data into batches, for training and evaluation."""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple

import torch


def shuffled_batches(
    n: int,
    batch_size: int,
    device: Optional[torch.device] = None,
    generator: Optional[torch.Generator] = None,
    drop_last: bool = False,
) -> Iterator[torch.Tensor]:
    """Index tensors of one random permutation of ``range(n)``, ``batch_size`` at a time.

    Every point is used once per epoch: the ``n % batch_size`` left over make a last, smaller
    batch (a single one left over joins the batch before: batch norm cannot take a batch of one).
    Each step's loss scales its batch to the full data set, so a smaller batch keeps the
    estimate unbiased. ``drop_last=True`` drops the left-over points instead, for the JIT
    ELBOs, which need every step to have one shape (the next epoch's reshuffle lets every point
    take part over the epochs). The permutation comes from ``generator``, else torch's global
    one (which ``fit`` seeds and checkpoints, so a resumed run draws the same orders).
    """
    order = torch.randperm(n, generator=generator).to(device)
    for start, end in batch_bounds(n, batch_size, drop_last):
        yield order[start:end]


def batch_bounds(n: int, batch_size: int, drop_last: bool = False) -> List[Tuple[int, int]]:
    """``(start, end)`` of each batch of ``n`` points by ``shuffled_batches``' rule."""
    batch_size = min(batch_size, n)
    starts = list(range(0, n - batch_size + 1, batch_size))
    left_over = n - (starts[-1] + batch_size)
    ends = [start + batch_size for start in starts]
    if left_over and not drop_last:
        if left_over == 1:
            ends[-1] = n
        else:
            starts.append(ends[-1])
            ends.append(n)
    return list(zip(starts, ends))


def in_batches(batch_size: int, *tensors: Optional[torch.Tensor]) -> Iterator[Tuple[Any, ...]]:
    """Aligned consecutive slices of ``tensors`` (a None stays None), for evaluation passes."""
    present = [t for t in tensors if t is not None]
    if not present:
        raise ValueError("in_batches needs at least one tensor")
    for start in range(0, present[0].shape[0], batch_size):
        yield tuple(None if t is None else t[start : start + batch_size] for t in tensors)

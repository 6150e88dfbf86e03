"""Seeding without side effects: draws inside a block depend on a seed, and the caller's global
random state is the same after the block as before it."""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch


@contextlib.contextmanager
def seeded(seed: Optional[int]) -> Iterator[None]:
    """Inside, torch's CPU generator starts from ``seed``; its previous state is restored on
    exit, so seeding a build never changes what the caller's code draws next. None: no-op."""
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

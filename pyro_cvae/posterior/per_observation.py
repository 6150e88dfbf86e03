"""What a posterior reads once per observation and keeps: the reference draws of a recalibration,
their densities, the share of draws inside the prior's support. Kept, an observation's reads cost
nothing the next time, and every later call reads the same numbers for it (a sample and a density
of one observation agree); bounded, so that a long run over many observations does not grow
without end."""

from __future__ import annotations

import hashlib
from typing import Dict

import torch

from ..checks import as_tensor

__all__ = ["NUMBERS_KEPT", "OBSERVATIONS_KEPT", "PerObservation"]

#: how many numbers a store keeps in all before it forgets them and reads again: 2^26, 268 MB as float32
NUMBERS_KEPT = 2**26
#: how many observations a store keeps at most, however few numbers each holds
OBSERVATIONS_KEPT = 1_000_000


class PerObservation:
    """A store of one tensor per observation, found by the observation's values (a batch of one
    and the observation alone are the same observation). ``numbers_each``: how many numbers one
    entry holds; once ``NUMBERS_KEPT`` numbers (or ``OBSERVATIONS_KEPT`` entries) are held, all are
    forgotten at the next new entry."""

    def __init__(self, numbers_each: int):
        self.capacity = max(1, min(OBSERVATIONS_KEPT, NUMBERS_KEPT // max(1, int(numbers_each))))
        self._kept: Dict[bytes, torch.Tensor] = {}

    @staticmethod
    def _key(x_o) -> bytes:
        # a digest, not the values: an image observation's key stays 16 bytes
        values = as_tensor(x_o).detach().float().cpu().contiguous().numpy().tobytes()
        return hashlib.blake2b(values, digest_size=16).digest()

    def __contains__(self, x_o) -> bool:
        return self._key(x_o) in self._kept

    def __getitem__(self, x_o) -> torch.Tensor:
        return self._kept[self._key(x_o)]

    def __setitem__(self, x_o, value: torch.Tensor) -> None:
        key = self._key(x_o)
        if key not in self._kept and len(self._kept) >= self.capacity:
            self._kept.clear()
        self._kept[key] = value

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept.clear()

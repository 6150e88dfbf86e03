"""What a posterior reads once per observation and keeps: the reference draws of a recalibration,
their densities, the share of draws inside the prior's support. Kept, an observation's reads cost
nothing the next time, and every later call reads the same numbers for it (a sample and a density
of one observation agree); bounded, so that a long run over many observations does not grow
without end."""

from __future__ import annotations

import hashlib
from typing import Callable, Dict, List, Sequence

import torch

from ..checks import as_tensor

__all__ = ["NUMBERS_KEPT", "OBSERVATIONS_KEPT", "PerObservation"]

#: how many numbers a store keeps in all before it forgets them and reads again: 2^26, 268 MB as float32
NUMBERS_KEPT = 2**26
#: how many observations a store keeps at most, however few numbers each holds (each entry is a
#: tensor of its own, a few hundred bytes however small: 100,000 of them take tens of MB)
OBSERVATIONS_KEPT = 100_000


class PerObservation:
    """A store of one tensor per observation, found by the observation's values (a batch of one
    and the observation alone are the same observation). ``numbers_each``: how many numbers one
    entry holds; once ``NUMBERS_KEPT`` numbers (or ``OBSERVATIONS_KEPT`` entries) are held, all are
    forgotten at the next new entry."""

    def __init__(self, numbers_each: int):
        self.capacity = max(1, min(OBSERVATIONS_KEPT, NUMBERS_KEPT // max(1, int(numbers_each))))
        self._kept: Dict[bytes, torch.Tensor] = {}

    @staticmethod
    def key(x_o) -> bytes:
        """The key an observation is kept under: a digest of its values (an image observation's
        key stays 16 bytes)."""
        values = as_tensor(x_o).detach().float().cpu().contiguous().numpy().tobytes()
        return hashlib.blake2b(values, digest_size=16).digest()

    def read(
        self,
        observations: torch.Tensor,
        read_missing: Callable[[torch.Tensor, List[bytes]], Sequence[torch.Tensor]],
    ) -> List[torch.Tensor]:
        """The entry of each observation of the batch ``observations`` ``(B, ...)``, in order:
        those kept as they are, the others from one call ``read_missing(batch, keys)`` on the batch
        of the observations not kept (each once, however often it repeats) and their keys, which
        must give one entry per observation of that batch; those are kept. Each observation is
        hashed once (``keys`` spare a caller who reads another store a second hashing)."""
        keys = [self.key(observation) for observation in observations]
        found = {key: self._kept[key] for key in keys if key in self._kept}
        missing: Dict[bytes, int] = {}  # each observation not kept, at its first place in the batch
        for b, key in enumerate(keys):
            if key not in found:
                missing.setdefault(key, b)
        if missing:
            fresh = read_missing(observations[list(missing.values())], list(missing))
            if len(fresh) != len(missing):
                raise ValueError(
                    f"read_missing gave {len(fresh)} entries for a batch of {len(missing)} observations: "
                    "expected one each"
                )
            for key, value in zip(missing, fresh):
                found[key] = value
                self._put(key, value)
        return [found[key] for key in keys]

    def add(self, observations: torch.Tensor, values: torch.Tensor) -> None:
        """Add ``values[b]`` to the entry of each observation of the batch ``observations``
        (an observation not kept starts from zero): a running count."""
        for observation, value in zip(observations, values):
            key = self.key(observation)
            kept = self._kept.get(key)
            self._put(key, value if kept is None else kept + value)

    def kept(self, key: bytes, default: torch.Tensor) -> torch.Tensor:
        """The entry kept under ``key`` (``PerObservation.key`` of an observation), or ``default``."""
        return self._kept.get(key, default)

    def __contains__(self, x_o) -> bool:
        return self.key(x_o) in self._kept

    def _put(self, key: bytes, value: torch.Tensor) -> None:
        if key not in self._kept and len(self._kept) >= self.capacity:
            self._kept.clear()
        self._kept[key] = value

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept.clear()

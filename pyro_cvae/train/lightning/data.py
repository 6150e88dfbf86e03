"""Data for the Lightning engine: one batch sampler that shards, and data modules that use it.

``EpochBatches`` is what makes a multi-process fit reproducible and resumable. Each epoch's
order is a permutation drawn from ``(seed, epoch)`` alone, the same on every process; process
``rank`` of ``world`` takes its own ``n // world`` points of it and cuts them into batches by the
rule of ``pyro_cvae.train.batches.shuffled_batches``. So every process takes the same number of steps
(DDP would hang otherwise), no point is seen twice in an epoch, and a run resumed at epoch k
draws the orders an uninterrupted run would have. Up to ``world - 1`` points sit out each epoch,
a different few each time. With one process it gives what ``shuffled_batches`` gives with a
generator seeded from ``(seed, epoch)``.

Data modules hold their tensors on the CPU; Lightning moves each batch to the process's device.
Every module reports ``num_data``, the size of the whole training set, which every step's loss
scales its batch up to, whichever process it runs on.
"""

from __future__ import annotations

import hashlib
from typing import Iterator, Optional, Tuple, Union

import pytorch_lightning as pl
import torch
from torch.utils.data import Sampler

from ...checks import check_positive_int
from ...data.tensors import as_xy
from ..batches import batch_bounds

Data = Tuple[torch.Tensor, Optional[torch.Tensor]]


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    """A seed in [0, 2**32) for ``(seed, epoch, rank)``: that process's draws in that epoch.
    (A hash, not arithmetic: numpy, which Pyro also seeds, takes no seed of 2**32 or more.)"""
    digest = hashlib.blake2b(f"{seed},{epoch},{rank}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


class EpochBatches(Sampler[torch.Tensor]):
    """Index batches of this process's share of a ``(seed, epoch)`` permutation (module docstring).

    Lightning calls ``set_epoch`` with its own epoch count, which starts at 0 again in a resumed
    run; ``first_epoch`` is added so that the run's epoch, not Lightning's, picks the order.
    """

    def __init__(
        self,
        num_data: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        first_epoch: int = 0,
    ):
        check_positive_int(num_data, "num_data")
        check_positive_int(batch_size, "batch_size")
        check_positive_int(world_size, "world_size")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must lie in [0, world_size={world_size}), got {rank!r}")
        if num_data < world_size:
            raise ValueError(f"{num_data} training points cannot be shared among {world_size} processes")
        self.num_data, self.batch_size, self.seed = num_data, batch_size, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.first_epoch, self.epoch = first_epoch, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _share(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.first_epoch + self.epoch))
        order = torch.randperm(self.num_data, generator=generator)
        per_rank = self.num_data // self.world_size
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[torch.Tensor]:
        share = self._share()  # already in random order: cut it into consecutive batches
        for start, end in batch_bounds(len(share), self.batch_size, self.drop_last):
            yield share[start:end]

    def __len__(self) -> int:
        return len(batch_bounds(self.num_data // self.world_size, self.batch_size, self.drop_last))


class TensorBatches:
    """The training batches of one epoch, ``(x[idx], y[idx])`` for each index batch of
    ``sampler``: what ``train_dataloader`` returns. Lightning takes any iterable as a data
    loader; this one has no per-item fetching, collation or worker machinery (a torch
    ``DataLoader`` around the same sampler cost a tenth of a small model's step), and draws no
    random numbers of its own. Lightning finds ``sampler`` and calls its ``set_epoch``."""

    def __init__(self, x: torch.Tensor, y: Optional[torch.Tensor], sampler: EpochBatches):
        self.x, self.y, self.sampler = x, y, sampler

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, ...]]:
        for index in self.sampler:
            yield (self.x[index],) if self.y is None else (self.x[index], self.y[index])

    def __len__(self) -> int:
        return len(self.sampler)


class TensorDataModule(pl.LightningDataModule):
    """Training (and validation) tensors, every process holding all of them and training on its
    share of each epoch (``EpochBatches``).

    ``train`` / ``val``: ``x``, ``(x, y)``, ``{"x", "y"}`` or a ``TensorDataset``, as for ``pc.fit``.
    ``batch_size`` is per process: the effective batch of a step is ``batch_size × processes``.
    """

    def __init__(self, train, val=None, batch_size: int = 128, seed: int = 0):
        super().__init__()
        self.train = as_xy(train, "train")
        self.val = None if val is None else as_xy(val, "val")
        check_positive_int(batch_size, "batch_size")
        self.batch_size, self.seed = batch_size, seed
        #: set by the engine: the JIT ELBOs need one batch shape, so they drop the left-overs
        self.drop_last = False
        #: set by the engine when it resumes a run at a later epoch
        self.first_epoch = 0

    @property
    def num_data(self) -> int:
        """The size of the whole training set (what each step's loss scales its batch to)."""
        return self.train[0].shape[0]

    def local_train(self) -> Data:
        """The training tensors this process samples its batches from."""
        return self.train

    def check(self, model) -> None:
        """Check the data against ``model`` (shapes, dtypes, finite values), as ``pc.fit`` does."""
        self.train = model.check_data(*self.train)
        self.val = None if self.val is None else model.check_data(*self.val)

    def _rank_world(self) -> Tuple[int, int]:
        trainer = self.trainer
        return (0, 1) if trainer is None else (trainer.global_rank, trainer.world_size)

    def sampler(self) -> EpochBatches:
        rank, world = self._rank_world()
        return EpochBatches(self.num_data, self.batch_size, self.seed, rank, world, self.drop_last, self.first_epoch)

    def train_dataloader(self) -> TensorBatches:
        return TensorBatches(*self.local_train(), self.sampler())


def as_datamodule(data: Union[TensorDataModule, object], val, batch_size: int, seed: int) -> TensorDataModule:
    """``data`` itself when it is a data module (``val`` must then be None), else tensors in one."""
    if isinstance(data, TensorDataModule):
        if val is not None:
            raise ValueError("give val_data inside the data module (its val argument), not beside it")
        return data
    return TensorDataModule(data, val, batch_size=batch_size, seed=seed)

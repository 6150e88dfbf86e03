"""Data for the Lightning engine: one batch sampler that shards, and data modules that use it.

``EpochBatches`` is what makes a multi-process fit reproducible and resumable. Each epoch's
order is a permutation drawn from ``(seed, epoch)`` alone, the same on every process; process
``rank`` of ``world`` takes its own ``n // world`` points of it and cuts them into batches by the
rule of ``pyro_cvae.batches.shuffled_batches``. So every process takes the same number of steps
(DDP would hang otherwise), no point is seen twice in an epoch, and a run resumed at epoch k
draws the orders an uninterrupted run would have. Up to ``world - 1`` points sit out each epoch,
a different few each time. With one process the sampler is ``shuffled_batches`` with a seeded
generator.

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

from ..batches import batch_bounds
from ..checks import check_positive_int
from ..data.tensors import as_xy

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


class TwoBirdsDataModule(TensorDataModule):
    """Two Birds pairs generated on the spot: each process generates its own
    ``num_train // processes`` pairs from the challenge prior, seeded by ``(seed, rank)``, so no
    process holds or reads the whole set and every run with the same settings sees the same
    pairs. Validation pairs (``num_val``, seed ``seed + 1_000_003`` as in ``fit_twobirds``) are
    the same on every process."""

    def __init__(
        self, functions="original", num_train: int = 100_000, num_val: int = 2000, batch_size: int = 128, seed: int = 0
    ):
        from ..twobirds.data import generate

        check_positive_int(num_train, "num_train")
        check_positive_int(num_val, "num_val")
        self.functions, self.num_train = functions, num_train
        self._generate = generate
        val = generate(num_val, functions, seed=seed + 1_000_003)
        empty = torch.empty(0, *val[0].shape[1:]), torch.empty(0, *val[1].shape[1:])
        super().__init__(empty, val, batch_size, seed)
        self._local: Optional[Data] = None

    @property
    def num_data(self) -> int:
        return self.num_train

    def check(self, model) -> None:
        # the pairs come from the challenge prior; the model must take their shapes
        assert self.val is not None, "made in __init__"
        self.val = model.check_data(*self.val)

    def local_train(self) -> Data:
        if self._local is None:
            rank, world = self._rank_world()
            if self.num_train < world:
                raise ValueError(f"num_train={self.num_train} pairs cannot be shared among {world} processes")
            self._local = self._generate(self.num_train // world, self.functions, seed=self.seed * 7919 + rank)
        return self._local

    def sampler(self) -> EpochBatches:
        # this process's own pairs, reshuffled every epoch; the loss still scales to num_train
        rank, _ = self._rank_world()
        count = self.local_train()[0].shape[0]
        return EpochBatches(
            count, self.batch_size, epoch_seed(self.seed, 0, rank), 0, 1, self.drop_last, self.first_epoch
        )


def image_datamodule(
    dataset: str = "digits",
    conditional: bool = True,
    network: str = "mlp",
    size: int = 32,
    limit: Optional[int] = None,
    batch_size: int = 128,
    seed: int = 0,
) -> TensorDataModule:
    """An image set by spec (``pyro_cvae.data.load_images``: ``digits``, ``mnist5k``,
    ``mnist:DIR``...) split as ``pc.images.fit_images`` splits it: x the images (flattened for
    ``network="mlp"``), y the one-hot label when ``conditional``, a held-out tenth for validation."""
    from ..images.train import prepare

    x, y, _, _, train_idx, test_idx = prepare(dataset, network, conditional, size=size, limit=limit, seed=seed)
    pick = (lambda idx: x[idx]) if y is None else (lambda idx: (x[idx], y[idx]))
    return TensorDataModule(pick(train_idx), pick(test_idx), batch_size=batch_size, seed=seed)


def as_datamodule(data: Union[TensorDataModule, object], val, batch_size: int, seed: int) -> TensorDataModule:
    """``data`` itself when it is a data module (``val`` must then be None), else tensors in one."""
    if isinstance(data, TensorDataModule):
        if val is not None:
            raise ValueError("give val_data inside the data module (its val argument), not beside it")
        return data
    return TensorDataModule(data, val, batch_size=batch_size, seed=seed)

"""``sample_distributed``: a draw over many conditions, split across processes.

The conditions are cut into chunks of ``conditions_per_chunk``; ``Trainer.predict`` hands each
process its share of the chunks; each chunk is drawn (``pc.sample`` by default, or any
``draw(model, y_chunk, num_samples)``, e.g. the Two Birds posterior draw) under its own seed,
``(seed, chunk index)``, so the draws do not depend on how many processes shared the work.
The chunks are gathered to every process and put back in the order of ``y``.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import pyro
import pytorch_lightning as pl
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset

from ...checks import check_positive_int
from ...model import CVAE
from ...sampling.draw_file import DrawFunction
from ...sampling.predictive import sample
from ..distributed import close_process_group_at_exit
from .data import epoch_seed
from .quiet import lightning_quiet


class _Chunks(Dataset):
    """Chunk ``i`` of the conditions, padded to a common size (padding is dropped after)."""

    def __init__(self, y: torch.Tensor, per_chunk: int, num_chunks: int):
        self.y, self.per_chunk, self.num_chunks = y, per_chunk, num_chunks

    def __len__(self) -> int:
        return self.num_chunks

    def __getitem__(self, index: int) -> Tuple[int, torch.Tensor]:
        rows = torch.arange(index * self.per_chunk, (index + 1) * self.per_chunk).clamp_max(self.y.shape[0] - 1)
        return index, self.y[rows]


class _ShareOfChunks(torch.utils.data.Sampler[int]):
    """Process ``rank`` takes chunks ``rank, rank + world, ...``; the list is padded (repeating
    the last chunk) so that every process takes the same number of steps."""

    def __init__(self, num_chunks: int, rank: int, world: int):
        per_rank = -(-num_chunks // world)
        self.indices = [min(i, num_chunks - 1) for i in range(rank, per_rank * world, world)]

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SamplingModule(pl.LightningModule):
    def __init__(self, model: CVAE, num_samples: int, draw: DrawFunction, seed: int):
        super().__init__()
        self.model, self.num_samples, self.draw, self.seed = model, num_samples, draw, seed
        self.chunks: List[Tuple[int, torch.Tensor]] = []

    def predict_step(self, batch, batch_idx: int):
        index, y = batch
        pyro.set_rng_seed(epoch_seed(self.seed, int(index)))
        draws = self.draw(self.model, y[0], self.num_samples)
        self.chunks.append((int(index), draws.to(self.device)))
        return None  # gathered once at the end, not kept by the Trainer


def sample_distributed(
    model: CVAE,
    y: torch.Tensor,
    num_samples: int = 100,
    mean: bool = False,
    draw: Optional[DrawFunction] = None,
    conditions_per_chunk: int = 64,
    seed: int = 0,
    accelerator: str = "auto",
    devices: int = 1,
    num_nodes: int = 1,
    strategy: str = "auto",
    progress: bool = False,
) -> torch.Tensor:
    """Draw ``num_samples`` x for each condition in ``y`` on ``devices × num_nodes`` processes.

    ``draw(model, y_chunk, num_samples) -> (num_samples, len(y_chunk), *x_shape)`` is the draw
    of one chunk; default ``pc.sample`` (with ``mean``). Returns ``(num_samples, len(y),
    *x_shape)`` on every process, in the order of ``y``: the same tensor whatever the number of
    processes (each chunk of conditions has its own seed).
    """
    check_positive_int(num_samples, "num_samples")
    check_positive_int(conditions_per_chunk, "conditions_per_chunk")
    if model.y_shape is None:
        raise ValueError("sample_distributed splits conditions across processes; a VAE has none: use pc.sample")
    _, conditions = model.prepare_data(None, y)
    assert conditions is not None, "a conditional model's prepare_data returns y"
    y = conditions.cpu()
    per_chunk = min(conditions_per_chunk, y.shape[0])
    num_chunks = -(-y.shape[0] // per_chunk)
    if draw is None:

        def draw(model: CVAE, y: torch.Tensor, num_samples: int) -> torch.Tensor:
            return sample(model, y, num_samples, mean=mean)

    module = SamplingModule(model, num_samples, draw, seed)
    with lightning_quiet(not progress):
        trainer = pl.Trainer(
            accelerator=accelerator,
            devices=devices,
            num_nodes=num_nodes,
            strategy=strategy,
            logger=False,
            enable_progress_bar=progress,
            enable_model_summary=False,
            use_distributed_sampler=False,
        )
        # the share of chunks depends on the process, known once the Trainer has launched them
        loader = _LazyLoader(_Chunks(y, per_chunk, num_chunks), trainer)
        trainer.predict(module, dataloaders=loader, return_predictions=False)
    if trainer.world_size > 1:
        close_process_group_at_exit()
    return _gather(module, trainer, y.shape[0], per_chunk, num_chunks)


class _LazyLoader:
    """A dataloader whose sampler is made when Lightning first iterates it (after launch)."""

    def __init__(self, chunks: _Chunks, trainer: pl.Trainer):
        self.chunks, self.trainer = chunks, trainer

    def _loader(self) -> DataLoader:
        sampler = _ShareOfChunks(self.chunks.num_chunks, self.trainer.global_rank, self.trainer.world_size)
        return DataLoader(self.chunks, sampler=sampler, batch_size=1)

    def __iter__(self):
        return iter(self._loader())

    def __len__(self) -> int:
        return len(self._loader())


def _all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """``(world, *tensor.shape)``: every process's ``tensor`` (all the same shape), in rank order."""
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    dist.barrier()  # nobody leaves (and may exit) while another still receives
    return torch.stack(parts)


def _gather(module: SamplingModule, trainer: pl.Trainer, count: int, per_chunk: int, num_chunks: int) -> torch.Tensor:
    indices = torch.tensor([index for index, _ in module.chunks])
    draws = torch.stack([chunk for _, chunk in module.chunks])  # (k, S, per_chunk, *x_shape)
    if trainer.world_size > 1:
        # torch.distributed's own all_gather: Lightning's goes through the autograd-aware
        # torch.distributed.nn version, after which the gloo processes aborted at exit
        indices = _all_gather(indices.to(module.device)).reshape(-1).cpu()
        draws = _all_gather(draws.to(module.device))
        draws = draws.reshape(-1, *draws.shape[2:]).cpu()
    firsts: Dict[int, int] = {}  # a chunk drawn twice (padding) is kept once
    for position, index in enumerate(indices.tolist()):
        firsts.setdefault(index, position)
    order = torch.tensor([firsts[i] for i in range(num_chunks)])
    chunks = draws[order]  # (num_chunks, S, per_chunk, *x_shape)
    joined = chunks.transpose(0, 1).reshape(chunks.shape[1], num_chunks * per_chunk, *chunks.shape[3:])
    return joined[:, :count]

"""Optional TensorBoard logging of a run: the per-epoch scalars of ``History`` and image grids.

TensorBoard is an optional extra (``pip install "pyro_cvae[tensorboard]"``); nothing imports it
until a logger is made, and a missing package gets an error that says how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import torch

from .history import History

#: History fields written as scalars, under the tag "<split>/<term>", e.g. "val/elbo"
SCALARS = ("elbo", "reconstruction", "kl", "penalty")


class TensorBoardLogger:
    """Writes event files into ``log_dir``; ``tensorboard --logdir log_dir`` shows them."""

    def __init__(self, log_dir: Union[str, Path]):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:  # torch's wrapper needs the separate tensorboard package
            raise ImportError(
                f"tensorboard_dir={str(log_dir)!r} needs the tensorboard package: "
                'pip install "pyro_cvae[tensorboard]" (or pip install tensorboard)'
            ) from error
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log_epoch(self, history: History) -> None:
        """The last epoch of ``history``: loss, KL weight, seconds and each recorded term."""
        epoch = history.epoch[-1]
        self.writer.add_scalar("train/loss", history.train_loss[-1], epoch)
        self.writer.add_scalar("train/kl_weight", history.kl_weight[-1], epoch)
        self.writer.add_scalar("time/seconds_per_epoch", history.seconds[-1], epoch)
        for split in ("train", "val"):
            for term in SCALARS:
                values = getattr(history, f"{split}_{term}")
                if len(values) == len(history.epoch):  # a term recorded this epoch
                    self.writer.add_scalar(f"{split}/{term}", values[-1], epoch)
        self.writer.flush()  # a crashed run still leaves its curves

    def log_images(self, tag: str, images: torch.Tensor, epoch: int) -> None:
        """A batch of images ``(n, channels, height, width)`` with values in [0, 1]."""
        self.writer.add_images(tag, images.detach().cpu().clamp(0, 1), epoch)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

"""``image_datamodule``: an image set for the Lightning engine (needs ``pyro_cvae[lightning]``)."""

from __future__ import annotations

from typing import Optional

from ..train.lightning.data import TensorDataModule
from .train import prepare, validation_split


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
    ``mnist:DIR``...) split as ``pc.images.fit_images`` splits it (``prepare`` and
    ``validation_split``): x the images (flattened for ``network="mlp"``), y the one-hot label
    when ``conditional``."""
    x, y, _, _, train_idx, test_idx = prepare(dataset, network, conditional, size=size, limit=limit, seed=seed)
    train_idx, val_idx = validation_split(dataset, train_idx, test_idx, seed)
    pick = (lambda idx: x[idx]) if y is None else (lambda idx: (x[idx], y[idx]))
    return TensorDataModule(pick(train_idx), pick(val_idx), batch_size=batch_size, seed=seed)

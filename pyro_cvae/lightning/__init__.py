"""Train on PyTorch Lightning: the same SVI fit on several processes, GPUs and nodes.

``pc.fit(model, data, engine="lightning", devices=2)`` runs the fit of ``pyro_cvae.fit`` on
Lightning's ``Trainer`` (needs the extra: ``pip install "pyro_cvae[lightning]"``):

- ``SVIModule`` (``module.py``): a ``LightningModule`` whose ``training_step`` is the loss of
  ``SVIStep`` on the model/guide pair, with the same KL annealing, clipping, history and
  penalties as the built-in loop;
- data modules (``data.py``) for tensors, image sets and the Two Birds generator, whose batches
  are split across processes by a seeded, resumable sampler;
- ``fit_lightning`` (``engine.py``): builds the ``Trainer`` from a ``FitConfig`` (loggers,
  progress bar, early stopping, the run-folder checkpoint) and reads and writes the same run
  folder as ``pc.fit``, so either engine continues the other's run;
- ``sample_distributed`` (``predict.py``): ``pc.sample`` over many conditions, split across
  processes with ``Trainer.predict`` and gathered in order.
"""

from __future__ import annotations

try:
    import pytorch_lightning  # noqa: F401
except ImportError as error:  # pragma: no cover - what a user without the extra sees
    raise ImportError('the Lightning engine needs PyTorch Lightning: pip install "pyro_cvae[lightning]"') from error

from .data import EpochBatches, TensorDataModule, TwoBirdsDataModule, image_datamodule
from .engine import fit_lightning
from .module import SVIModule
from .predict import sample_distributed

__all__ = [
    "EpochBatches",
    "SVIModule",
    "TensorDataModule",
    "TwoBirdsDataModule",
    "fit_lightning",
    "image_datamodule",
    "sample_distributed",
]

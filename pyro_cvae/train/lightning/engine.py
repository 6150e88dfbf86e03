"""``fit_lightning``: ``pc.fit`` on Lightning's ``Trainer``, configured by the same ``FitConfig``.

This engine is a second driver of the built-in loop's state: the same ``FitState`` and the same
callbacks (``train.callbacks``: scoring, early stopping, the run-folder checkpoint, the user's
own), resumed by the same ``train.state.resume``. What it adds is Lightning's: processes,
devices, precision, loggers, progress bar. What each ``FitConfig`` field becomes:

=====================  ===================================================================
``device``             ``accelerator``: "auto", "cpu", or "gpu" for "cuda" ("cuda:N": GPU N)
``devices``            processes per node; ``num_nodes`` nodes; ``strategy``; ``precision``
``batch_size``         per process: a step's effective batch is ``batch_size × processes``
``clip_norm``          the module clips the gradient norm (Lightning's ``clip_gradients``)
``patience``           ``callbacks.EarlyStopping`` on the history's ``val_elbo`` (``train_elbo``
                       without validation data; ``val_iwae`` for the IWAE bounds), as in the
                       loop; the best weights come back
``checkpoint_dir``     ``callbacks.Checkpoint``: the run folder of ``pc.fit``, written by rank 0
``tensorboard_dir``    Lightning's ``TensorBoardLogger``
``csv_dir``            Lightning's ``CSVLogger`` (``csv_dir/metrics.csv``)
``progress``           Lightning's progress bar
=====================  ===================================================================

A run trained here loads with ``pc.Run.load``; ``resume=True`` continues a run that either
engine wrote, with its weights, optimizer state, history and callback states.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pyro
import pytorch_lightning as pl
from pytorch_lightning.utilities import rank_zero_only

from ...config import FitConfig
from ...model import CVAE
from ..callbacks import Callback, default_callbacks
from ..device import resolve_device
from ..distributed import close_process_group_at_exit
from ..elbos import ELBOS
from ..history import History
from ..run_folder import RunFolder
from ..state import FitState
from ..state import resume as resume_state
from ..step import SVIStep
from .data import as_datamodule
from .module import SVIModule
from .quiet import lightning_quiet

__all__ = ["accelerator_and_devices", "fit_lightning", "make_trainer"]


def accelerator_and_devices(config: FitConfig) -> Tuple[str, Any]:
    """Lightning's ``accelerator`` and ``devices`` for ``config.device`` and ``config.devices``."""
    if config.device == "auto":
        return "auto", config.devices
    device = resolve_device(config.device)  # the built-in loop's check: CUDA asked for but absent
    if device.type == "cpu":
        return "cpu", config.devices
    if device.index is not None:
        if config.devices != 1:
            raise ValueError(
                f"device={config.device!r} names one GPU; give device='cuda' with devices={config.devices}"
            )
        return "gpu", [device.index]
    return "gpu", config.devices


def make_trainer(config: FitConfig, epochs: int, callbacks: Sequence[pl.Callback] = ()) -> pl.Trainer:
    """The ``Trainer`` a ``FitConfig`` describes (see the module docstring), for ``epochs``."""
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    loggers: List[Any] = []
    if config.tensorboard_dir is not None:
        loggers.append(TensorBoardLogger(config.tensorboard_dir, name="", version=""))
    if config.csv_dir is not None:
        loggers.append(CSVLogger(config.csv_dir, name="", version=""))
    accelerator, devices = accelerator_and_devices(config)
    return pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=config.precision,
        max_epochs=epochs,
        logger=loggers or False,
        callbacks=list(callbacks),
        enable_checkpointing=False,  # the run folder is written by callbacks.Checkpoint
        enable_progress_bar=config.progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # EpochBatches shards the data itself
        num_sanity_val_steps=0,
        log_every_n_steps=1,
    )


def fit_lightning(
    model: CVAE,
    train_data,
    config: FitConfig,
    val_data=None,
    resume: bool = False,
    callbacks: Sequence[Any] = (),
    metadata: Optional[Dict[str, Any]] = None,
    overwrite: bool = False,
) -> History:
    """Fit ``model`` on Lightning (``pc.fit(..., engine="lightning")`` calls this).

    ``train_data``: tensors as for ``pc.fit``, or a ``TensorDataModule`` holding the validation
    data itself (the apps' ``twobirds.datamodule.TwoBirdsDataModule`` and
    ``images.datamodule.image_datamodule(...)`` are two). ``callbacks``: ``pyro_cvae.Callback``
    objects (run as under the loop) and Lightning callbacks (``pytorch_lightning.Callback``).
    Returns the ``History``; on every process, ``model`` ends with the fitted weights, in eval mode.
    """
    unknown = [type(c).__name__ for c in callbacks if not isinstance(c, (Callback, pl.Callback))]
    if unknown:
        raise TypeError(f"callbacks must be pyro_cvae.Callback or pytorch_lightning.Callback objects, got {unknown}")
    datamodule = as_datamodule(train_data, val_data, config.batch_size, config.seed)
    datamodule.batch_size, datamodule.seed = config.batch_size, config.seed
    datamodule.check(model)
    # a JIT-compiled ELBO takes one batch shape, so its epochs drop the left-over points
    datamodule.drop_last = ELBOS.get(config.elbo).compiled

    # the launcher's environment gives the rank before the processes are joined
    rank = getattr(rank_zero_only, "rank", 0)
    with contextlib.ExitStack() as folder:
        # every process runs this; the one of rank 0 holds the folder and writes it
        if config.checkpoint_dir is not None and rank == 0:
            folder.enter_context(RunFolder(config.checkpoint_dir, resume=resume, overwrite=overwrite))
        return _train(model, datamodule, config, resume, callbacks, dict(metadata or {}), rank)


def _train(model, datamodule, config: FitConfig, resume_run: bool, callbacks, metadata, rank: int) -> History:
    pyro.set_rng_seed(config.seed)
    model.train()
    svi = SVIStep(model, config.elbo, config.num_particles, config.learning_rate, clip_norm=None)
    ours = [c for c in callbacks if isinstance(c, Callback)]
    state = FitState(
        model,
        svi.optimizer,
        config,
        train=None,  # this process's share is known once the Trainer has set up the processes
        val=datamodule.val,
        metadata=metadata,
        callbacks=[*default_callbacks(config, file_loggers=False), *ours],
        engine="lightning",
        rank=rank,
    )
    first_epoch = resume_state(state) if resume_run else 0
    datamodule.first_epoch = first_epoch
    if first_epoch >= config.epochs:
        model.eval()
        return state.history  # nothing left to train

    module = SVIModule(svi, state, datamodule.num_data, first_epoch)
    lightning_callbacks = [c for c in callbacks if isinstance(c, pl.Callback)]
    with lightning_quiet(not config.progress), pyro.validation_enabled(False):
        trainer = make_trainer(config, config.epochs - first_epoch, lightning_callbacks)
        trainer.fit(module, datamodule=datamodule)
    if trainer.world_size > 1:
        close_process_group_at_exit()
    model.eval()
    return state.history

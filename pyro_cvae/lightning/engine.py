"""``fit_lightning``: ``pc.fit`` on Lightning's ``Trainer``, configured by the same ``FitConfig``.

What each ``FitConfig`` field becomes:

=====================  ===================================================================
``device``             ``accelerator``: "auto", "cpu", or "gpu" for "cuda" ("cuda:N": GPU N)
``devices``            processes per node; ``num_nodes`` nodes; ``strategy``; ``precision``
``batch_size``         per process: a step's effective batch is ``batch_size × processes``
``clip_norm``          the module clips the gradient norm (Lightning's ``clip_gradients``)
``patience``           Lightning's ``EarlyStopping`` on ``val_elbo`` (``train_elbo`` without
                       validation data); the best epoch's weights are restored at the end
``checkpoint_dir``     ``RunFolderCheckpoint``: the run folder of ``pc.fit``, written by rank 0
``tensorboard_dir``    Lightning's ``TensorBoardLogger``
``csv_dir``            Lightning's ``CSVLogger`` (``csv_dir/metrics.csv``)
``progress``           Lightning's progress bar
=====================  ===================================================================

The run folder is the one format: a run trained here loads with ``pc.Run.load`` /
``pc.load_model``; ``resume=True`` continues a run that either engine wrote, with its weights,
optimizer state, history and early-stopping state.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pyro
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Checkpoint, EarlyStopping
from pytorch_lightning.utilities import rank_zero_only

from ..checkpoint import (
    checkpoint_state,
    read_run_to_continue,
    restore_weights_and_optimizer,
    write_checkpoint,
    write_config_copy,
)
from ..config import FitConfig
from ..distributed import close_process_group_at_exit
from ..elbos import ELBOS
from ..fit import resolve_device
from ..history import History
from ..model import CVAE
from ..run_folder import RunFolder
from .data import TensorDataModule, as_datamodule
from .module import SVIModule


class RunFolderCheckpoint(Checkpoint):
    """Writes the run folder (``checkpoint.pt``, ``config.yaml``) after every epoch, from rank 0,
    in ``pc.fit``'s format; at the end once more, with the weights the fit returns."""

    def __init__(self, folder: str, metadata: Dict[str, Any]):
        self.folder, self.metadata = folder, metadata
        self._config_written = False

    def _save(self, trainer: pl.Trainer, module: SVIModule) -> None:
        if not trainer.is_global_zero or not len(module.history):
            return
        stopping = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)  # type: ignore[attr-defined]
        snapshot = checkpoint_state(
            module.model,
            module.svi.optimizer,
            module.history,
            module.history.epoch[-1],
            module.config,
            metadata=self.metadata,
            extra={
                "callback_states": module.callback_states(0 if stopping is None else stopping.wait_count),
                "engine": "lightning",
            },
        )
        if not self._config_written:
            write_config_copy(self.folder, snapshot)
            self._config_written = True
        write_checkpoint(self.folder, snapshot)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        assert isinstance(module, SVIModule)
        self._save(trainer, module)

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        # after the module's on_train_end, which puts the best weights back under early stopping
        assert isinstance(module, SVIModule)
        self._save(trainer, module)


class OnEpochEndLightning(pl.Callback):
    """``function(epoch, model, history)`` after each epoch's scoring, as ``pc.fit``'s
    ``on_epoch_end`` (every process calls it; guard figure-making with ``trainer.is_global_zero``
    or ``pytorch_lightning.utilities.rank_zero_only`` when several run)."""

    def __init__(self, function):
        self.function = function

    def on_epoch_scored(self, trainer: pl.Trainer, module: SVIModule) -> None:
        self.function(module.run_epoch, module.model, module.history)


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


def make_trainer(config: FitConfig, epochs: int, monitor: str, callbacks: Sequence[Any], metadata) -> pl.Trainer:
    """The ``Trainer`` a ``FitConfig`` describes (see the module docstring), for ``epochs``."""
    from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger

    loggers: List[Any] = []
    if config.tensorboard_dir is not None:
        loggers.append(TensorBoardLogger(config.tensorboard_dir, name="", version=""))
    if config.csv_dir is not None:
        loggers.append(CSVLogger(config.csv_dir, name="", version=""))
    built: List[Any] = []
    if config.patience is not None:
        built.append(
            EarlyStopping(monitor=monitor, mode="max", patience=config.patience, check_on_train_epoch_end=True)
        )
    if config.checkpoint_dir is not None:
        built.append(RunFolderCheckpoint(config.checkpoint_dir, metadata))
    accelerator, devices = accelerator_and_devices(config)
    return pl.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=config.precision,  # type: ignore[arg-type]
        max_epochs=epochs,
        logger=loggers or False,
        callbacks=[*built, *callbacks],
        enable_checkpointing=config.checkpoint_dir is not None,
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
    ``images.datamodule.image_datamodule(...)`` are two). ``callbacks``: further Lightning
    callbacks (``pytorch_lightning.Callback``). Returns the ``History``; on every process,
    ``model`` ends with the fitted weights, in eval mode.
    """
    datamodule = as_datamodule(train_data, val_data, config.batch_size, config.seed)
    datamodule.batch_size, datamodule.seed = config.batch_size, config.seed
    datamodule.check(model)
    # a JIT-compiled ELBO takes one batch shape, so its epochs drop the left-over points
    datamodule.drop_last = ELBOS.get(config.elbo).compiled

    with contextlib.ExitStack() as folder:
        # every process runs this; the one of rank 0 (known from the launcher's environment
        # before the processes are joined) holds the folder and writes it
        if config.checkpoint_dir is not None and getattr(rank_zero_only, "rank", 0) == 0:
            folder.enter_context(RunFolder(config.checkpoint_dir, resume=resume, overwrite=overwrite))
        return _train(model, datamodule, config, resume, callbacks, dict(metadata or {}))


def _train(model, datamodule: TensorDataModule, config: FitConfig, resume: bool, callbacks, metadata) -> History:
    pyro.set_rng_seed(config.seed)
    model.train()
    saved = read_run_to_continue(config.checkpoint_dir, model) if resume else None
    first_epoch = 0 if saved is None else saved["epoch"] + 1
    history = History() if saved is None else History.from_dict(saved["history"])
    if saved is not None:
        metadata = {**saved.get("metadata", {}), **metadata}
    datamodule.first_epoch = first_epoch

    module = SVIModule(model, config, datamodule.num_data, None, datamodule.val, first_epoch, history)
    stale = _restore(module, saved, config)
    if first_epoch >= config.epochs or (config.patience is not None and stale >= config.patience):
        model.eval()
        return history  # nothing left to train

    monitor = "val_elbo" if datamodule.val is not None else "train_elbo"
    with lightning_quiet(not config.progress), pyro.validation_enabled(False):
        trainer = make_trainer(config, config.epochs - first_epoch, monitor, callbacks, metadata)
        _carry_stopping_state(trainer, module, stale)
        trainer.fit(module, datamodule=datamodule)
    if trainer.world_size > 1:
        close_process_group_at_exit()
    model.eval()
    return module.history


@contextlib.contextmanager
def lightning_quiet(quiet: bool) -> Iterator[None]:
    """Warnings that do not apply here off; with ``quiet``, Lightning's info lines too."""
    logger = logging.getLogger("pytorch_lightning")
    level = logger.level
    with warnings.catch_warnings():
        # every process logs the same, already averaged figures: no need for Lightning to sync them
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        # the batches are slices of tensors in memory: worker processes would only add copies
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*treespec.*LeafSpec.*")  # inside Lightning 2.6
        # the module's own batch hand-over is meant to replace Lightning's (see SVIModule)
        warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")
        # sample_distributed gathers its draws itself rather than through predict's return value
        warnings.filterwarnings("ignore", message="predict returned None")
        warnings.filterwarnings("ignore", message="Encountered NaN", category=UserWarning)
        if quiet:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(level)


def _restore(module: SVIModule, saved: Optional[Dict[str, Any]], config: FitConfig) -> int:
    """Load a saved run's weights, optimizer and early-stopping state; returns the stale count."""
    if saved is None:
        return 0
    restore_weights_and_optimizer(saved, module.model, module.svi.optimizer, config.learning_rate)
    stopping = saved.get("callback_states", {}).get("EarlyStopping")
    if stopping is None:
        return 0
    module.best_score, module.best_state = stopping["best_score"], stopping["best_state"]
    return int(stopping["stale"])


def _carry_stopping_state(trainer: pl.Trainer, module: SVIModule, stale: int) -> None:
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(callback, EarlyStopping) and module.best_score > -float("inf"):
            callback.best_score = torch.tensor(module.best_score)
            callback.wait_count = stale

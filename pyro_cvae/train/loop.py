"""``fit``: train a model with SVI, epoch by epoch.

The loop is short on purpose: shuffle, take SVI steps, check that the epoch stayed finite, hand
the epoch to the callbacks (``train.callbacks``) through the ``FitState`` (``train.state``).
Scoring, early stopping, checkpoints and logging are callbacks, chosen from the ``FitConfig``;
pass more with ``callbacks=[...]``. The Lightning engine drives the same state and callbacks.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Callable, Dict, Optional, Sequence

import pyro
import torch
from tqdm.auto import tqdm

from ..config import FitConfig
from ..data.tensors import as_xy
from ..model import CVAE
from .batches import shuffled_batches
from .callbacks import Callback, OnEpochEnd, default_callbacks
from .device import resolve_device
from .finite import check_epoch_finite
from .history import History
from .run_folder import RunFolder
from .schedule import kl_weight_at
from .state import FitState, resume
from .step import SVIStep


def fit(
    model: CVAE,
    train_data,
    config: Optional[FitConfig] = None,
    val_data=None,
    resume: bool = False,
    on_epoch_end: Optional[Callable[[int, CVAE, History], None]] = None,
    callbacks: Sequence[Callback] = (),
    metadata: Optional[Dict[str, Any]] = None,
    overwrite: bool = False,
    **overrides,
) -> History:
    """Fit ``model`` to ``train_data`` by maximizing the ELBO with SVI; returns the ``History``.

    ``train_data`` / ``val_data``: ``x``, ``(x, y)``, ``{"x", "y"}`` or a ``TensorDataset``, of
    tensors or numpy arrays, any floating dtype: the data is cast once to the model's float type
    (float32, or float64 after ``model.double()``), in a copy; the caller's arrays are untouched.
    Settings come from ``config`` (a ``FitConfig``), overridden by keyword arguments, e.g.
    ``fit(model, (x, y), epochs=50, elbo="mean-field", kl_anneal_epochs=10)``.

    Each step takes a mini-batch of the shuffled data and estimates the full-data ELBO (the data
    plate has the full size, so the KL and likelihood keep their relative weight whatever the
    batch size). Every point is used once per epoch (``batches.shuffled_batches``).

    With ``patience``, training stops once the validation ELBO (train ELBO without val_data; the
    IWAE bound for ``elbo="iwae"`` and ``"iwae-dreg"``) has not improved for that many epochs,
    and the best weights are restored.
    With ``lr_decay_patience``, the learning rate is multiplied by ``lr_decay_factor`` each time that
    score has gone that many epochs without improving (``LearningRateDecay``). With
    ``checkpoint_dir``, the run folder is written after every epoch, with ``metadata`` (an app's
    record, see ``Run``); ``resume=True`` continues from it with the same numbers as an
    uninterrupted run. A folder that already holds a run is refused unless ``resume`` or
    ``overwrite`` is given, and a lock stops a second process from writing it at the same time
    (``pyro_cvae.train.run_folder``). With ``tensorboard_dir``, the history is also logged for
    TensorBoard; with ``csv_dir``, into ``csv_dir/metrics.csv``.

    ``on_epoch_end(epoch, model, history)`` runs after each epoch's evaluation (model in train
    mode; wrap figure-making in ``torch.no_grad`` / ``eval_mode``); ``callbacks`` are further
    ``pyro_cvae.Callback`` objects, run after the built-in ones, under either engine.

    If an epoch's loss or the parameters become NaN or infinite, ``TrainingDiverged`` is raised
    naming the epoch and step; the checkpoint on disk is left as the last good epoch wrote it.

    ``engine="lightning"`` runs the same fit on PyTorch Lightning's ``Trainer``
    (``pyro_cvae.train.lightning``), on ``devices`` processes per node and ``num_nodes`` nodes;
    ``train_data`` may then also be one of its data modules, and ``callbacks`` may also hold
    Lightning callbacks. Both engines drive the same callbacks and training state, and read and
    write the same run folder, so either continues the other's runs.
    """
    config = (config or FitConfig()).replace(**overrides)
    if config.engine == "lightning":
        return _fit_on_lightning(
            model, train_data, config, val_data, resume, on_epoch_end, callbacks, metadata, overwrite
        )
    foreign = [type(c).__name__ for c in callbacks if not isinstance(c, Callback)]
    if foreign:
        raise TypeError(
            f"callbacks must be pyro_cvae.Callback objects under engine='loop'; got {foreign}. A Lightning "
            "callback needs engine='lightning'; a pyro_cvae.Callback runs under both engines"
        )
    x, y = model.check_data(*as_xy(train_data, "train_data"))
    val = None if val_data is None else model.check_data(*as_xy(val_data, "val_data"))
    with contextlib.ExitStack() as folder:
        if config.checkpoint_dir is not None:
            folder.enter_context(RunFolder(config.checkpoint_dir, resume=resume, overwrite=overwrite))
        return _train(model, x, y, val, config, resume, on_epoch_end, callbacks, metadata)


def _fit_on_lightning(model, train_data, config, val_data, resume, on_epoch_end, callbacks, metadata, overwrite):
    from .lightning import fit_lightning

    ours = [*callbacks, *([OnEpochEnd(on_epoch_end)] if on_epoch_end else [])]
    return fit_lightning(model, train_data, config, val_data, resume, ours, metadata, overwrite)


def _train(model, x, y, val, config, resume_run, on_epoch_end, callbacks, metadata) -> History:
    device = resolve_device(config.device)
    model.to(device).train()
    # checked by ``fit`` before the run folder was taken; here they move to the device, in the
    # weights' float type (float64 data, numpy's default, is cast once, here, not per step)
    dtype = model.float_type
    x, y = _to(device, dtype, x, y)
    val = None if val is None else _to(device, dtype, *val)

    pyro.set_rng_seed(config.seed)
    # a JIT-compiled step takes one batch shape, so its epochs drop the left-over points
    step = SVIStep(model, config.elbo, config.num_particles, config.learning_rate, config.clip_norm)
    all_callbacks = [*default_callbacks(config), *([OnEpochEnd(on_epoch_end)] if on_epoch_end else []), *callbacks]
    state = FitState(model, step.optimizer, config, (x, y), val, metadata=dict(metadata or {}), callbacks=all_callbacks)
    start_epoch = resume(state) if resume_run else 0
    for callback in all_callbacks:
        callback.on_fit_start(state)

    n = x.shape[0]
    bar = tqdm(range(start_epoch, config.epochs), disable=not config.progress, desc="fit", unit="epoch")
    # argument checks cost time on every step and were done above, once, on the data; Pyro's
    # per-step NaN warnings are replaced by the one clear error at the end of the epoch
    with pyro.validation_enabled(False), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Encountered NaN", category=UserWarning)
        for epoch in bar:
            if state.should_stop:  # a resumed run that had already decided to stop
                break
            state.epoch, state.kl_weight, state.epoch_started = epoch, kl_weight_at(epoch, config), time.perf_counter()
            losses = [
                step(x[idx], None if y is None else y[idx], state.kl_weight, n)
                for idx in shuffled_batches(n, config.batch_size, device, drop_last=step.jit)
            ]
            check_epoch_finite(losses, model.parameters(), epoch)
            state.train_loss = float(torch.stack(losses).mean()) / n
            for callback in all_callbacks:
                callback.on_epoch_end(state)
            _show(bar, state.history)
            if state.should_stop:
                break
    for callback in all_callbacks:
        callback.on_fit_end(state)
    model.eval()
    return state.history


def _to(device: torch.device, dtype: torch.dtype, x: torch.Tensor, y: Optional[torch.Tensor]):
    def move(t: torch.Tensor) -> torch.Tensor:
        return t.to(device, dtype if t.is_floating_point() else None)

    return move(x), (None if y is None else move(y))


def _show(bar, history: History) -> None:
    shown = {"elbo": f"{history.train_elbo[-1]:.4g}"}
    if history.val_elbo:
        shown["val"] = f"{history.val_elbo[-1]:.4g}"
    bar.set_postfix(**shown)

"""``fit``: train a model with SVI, epoch by epoch."""

from __future__ import annotations

import copy
import time
from typing import Callable, Optional

import pyro
import torch
from tqdm.auto import tqdm

from .checkpoint import checkpoint_path, read_checkpoint, save_checkpoint
from .config import FitConfig
from .data.tensors import as_xy
from .evaluate import elbo_terms
from .history import History
from .model import CVAE
from .step import SVIStep
from .tensorboard import TensorBoardLogger


def resolve_device(name: str) -> torch.device:
    """``"auto"`` is CUDA when a GPU is visible, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    return device


def kl_weight_at(epoch: int, config: FitConfig) -> float:
    """β for an epoch (0-based): a linear warm-up over ``kl_anneal_epochs``, then ``kl_weight``."""
    if config.kl_anneal_epochs == 0:
        return config.kl_weight
    return config.kl_weight * min(1.0, (epoch + 1) / config.kl_anneal_epochs)


def fit(
    model: CVAE,
    train_data,
    config: Optional[FitConfig] = None,
    val_data=None,
    resume: bool = False,
    on_epoch_end: Optional[Callable[[int, CVAE, History], None]] = None,
    **overrides,
) -> History:
    """Fit ``model`` to ``train_data`` by maximizing the ELBO with SVI; returns the ``History``.

    ``train_data`` / ``val_data``: ``x``, ``(x, y)``, ``{"x", "y"}`` or a ``TensorDataset``.
    Settings come from ``config`` (a ``FitConfig``), overridden by keyword arguments, e.g.
    ``fit(model, (x, y), epochs=50, elbo="mean-field", kl_anneal_epochs=10)``.

    Each step takes a mini-batch of the shuffled data and estimates the full-data ELBO (the data
    plate has the full size, so the KL and likelihood keep their relative weight whatever the
    batch size). The last incomplete batch of an epoch is dropped, which keeps every step's
    shape fixed (what JIT needs) while shuffling lets every point take part over the epochs.

    With ``patience``, training stops once the validation ELBO (train ELBO without val_data)
    has not improved for that many epochs, and the best weights are restored. With
    ``checkpoint_dir``, a checkpoint is written after every epoch; ``resume=True`` continues
    from it, with the same numbers as an uninterrupted run.

    With ``tensorboard_dir``, the epoch's entries of the history are also written as TensorBoard
    scalars (``tensorboard --logdir DIR`` to watch a run live).

    ``on_epoch_end(epoch, model, history)`` runs after each epoch's evaluation (model in train
    mode; wrap figure-making in ``torch.no_grad`` / ``eval_mode``), e.g. to record
    reconstructions over epochs.
    """
    config = (config or FitConfig()).replace(**overrides)
    x, y = as_xy(train_data, "train_data")
    model.check_data(x, y)
    val = None
    if val_data is not None:
        val = as_xy(val_data, "val_data")
        model.check_data(*val)

    device = resolve_device(config.device)
    model.to(device).train()
    x, y = x.to(device), None if y is None else y.to(device)
    if val is not None:
        val = tuple(None if t is None else t.to(device) for t in val)

    pyro.set_rng_seed(config.seed)
    step = SVIStep(model, config.elbo, config.num_particles, config.learning_rate, config.clip_norm)
    history, start_epoch = History(), 0
    if resume:
        history, start_epoch = _resume(config, model, step, device)

    n = x.shape[0]
    batch_size = min(config.batch_size, n)
    best_score, best_state, stale = -float("inf"), None, 0
    bar = tqdm(range(start_epoch, config.epochs), disable=not config.progress, desc="fit", unit="epoch")
    board = None if config.tensorboard_dir is None else TensorBoardLogger(config.tensorboard_dir)
    # argument checks cost time on every step and were done above, once, on the data
    with pyro.validation_enabled(False):
        for epoch in bar:
            started = time.perf_counter()
            weight = kl_weight_at(epoch, config)
            order = torch.randperm(n).to(device)
            losses = []
            for first in range(0, n - batch_size + 1, batch_size):
                idx = order[first : first + batch_size]
                losses.append(step(x[idx], None if y is None else y[idx], weight, n))
            train_loss = float(torch.stack(losses).mean()) / n
            train = elbo_terms(model, x, y)
            valid = elbo_terms(model, *val) if val is not None else {}
            history.append(
                epoch=epoch, kl_weight=weight, train_loss=train_loss,
                train_elbo=train["elbo"], train_reconstruction=train["reconstruction"],
                train_kl=train["kl"], val_elbo=valid.get("elbo"),
                val_reconstruction=valid.get("reconstruction"), val_kl=valid.get("kl"),
                train_penalty=train.get("penalty"), val_penalty=valid.get("penalty"),
                seconds=time.perf_counter() - started,
            )
            bar.set_postfix(elbo=f"{train['elbo']:.4g}", **({"val": f"{valid['elbo']:.4g}"} if valid else {}))
            if config.checkpoint_dir is not None:
                save_checkpoint(config.checkpoint_dir, model, step.optimizer, history, epoch, config)
            if board is not None:
                board.log_epoch(history)
            if on_epoch_end is not None:
                on_epoch_end(epoch, model, history)

            score = valid.get("elbo", train["elbo"])
            if score > best_score:
                best_score, stale = score, 0
                if config.patience is not None:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if config.patience is not None and stale >= config.patience:
                    break
    if board is not None:
        board.close()
    if best_state is not None:
        model.load_state_dict(best_state)
        if config.checkpoint_dir is not None:  # the checkpoint holds the model fit returns
            save_checkpoint(config.checkpoint_dir, model, step.optimizer, history, history.epoch[-1], config)
    model.eval()
    return history


def _resume(config: FitConfig, model: CVAE, step: SVIStep, device: torch.device):
    if config.checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir, the folder of the run to continue")
    if not checkpoint_path(config.checkpoint_dir).is_file():
        return History(), 0  # nothing to resume yet: start fresh
    state = read_checkpoint(config.checkpoint_dir)
    if state["model_config"] != model.config.to_dict():
        raise ValueError(
            f"the checkpoint in {str(config.checkpoint_dir)!r} is of a different model config; "
            "build the model from it (pyro_cvae.load_model) or use another checkpoint_dir"
        )
    model.load_state_dict(state["model_state"])
    step.optimizer.load_state_dict(state["optimizer_state"])
    torch.set_rng_state(state["torch_rng_state"])
    return History.from_dict(state["history"]), state["epoch"] + 1

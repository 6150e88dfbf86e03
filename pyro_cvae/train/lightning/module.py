"""``SVIModule``: the SVI fit of ``pc.fit`` as a ``LightningModule``.

A step is the same as the built-in loop's: ``SVIStep.loss`` (the ELBO's differentiable loss on
the model/guide pair, any registered ELBO) on a mini-batch scaled to the whole data set, at the
epoch's KL weight, back-propagated, the gradient norm clipped to ``clip_norm``, and the same
fused Adam stepped. Under DDP each process's loss estimates the full ELBO from its own batch and
the gradients are averaged, so a step estimates the same gradient as one process would from the
batches of all of them together.

Around the steps, the module drives the loop's ``FitState`` and callbacks (``train.state``,
``train.callbacks``): at the start of the fit their ``on_fit_start``; after each epoch the
finite check, then their ``on_epoch_end`` (scoring into the ``History`` averaged over the
processes, early stopping, the run folder), then the loggers; at the end their ``on_fit_end``.
Lightning runs a plain Lightning callback's ``on_train_epoch_end`` before the module's, so before
that scoring: a Lightning callback that reads the epoch's history defines
``on_epoch_scored(trainer, module)``, which the module calls after it.

Random draws: each epoch each process reseeds from ``(seed, epoch, rank)``, so processes draw
different noise, and a run resumed at epoch k draws what an uninterrupted run draws from there.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, cast

import pyro
import pytorch_lightning as pl
import torch
from pytorch_lightning.core.optimizer import LightningOptimizer

from ...errors import TrainingDiverged
from ..finite import check_epoch_finite
from ..history import History
from ..schedule import kl_weight_at
from ..state import FitState
from ..step import SVIStep
from .data import epoch_seed

__all__ = ["SVIModule"]


class SVIModule(pl.LightningModule):
    """Wraps the model of a ``FitState`` for Lightning's ``Trainer`` (see the module docstring).

    Arguments::

        svi : the step, made for the state's model (its optimizer is the state's).
        state : the fit's state, with its callbacks; ``state.train`` is filled in here with the
            training data this process holds (the data module's ``local_train()``).
        num_data : size of the whole training set, across processes.
        first_epoch : the epoch a resumed run continues from.
    """

    def __init__(self, svi: SVIStep, state: FitState, num_data: int, first_epoch: int = 0):
        super().__init__()
        self.automatic_optimization = False
        self._plain_step = state.config.precision in ("32-true", "64-true")
        self.model = state.model
        self.svi = svi
        self.state = state
        self.config = state.config
        self.num_data = num_data
        self.first_epoch = first_epoch
        self._losses: List[torch.Tensor] = []

    @property
    def history(self) -> History:
        return self.state.history

    @property
    def run_epoch(self) -> int:
        """The run's epoch (Lightning's count restarts at 0 when a run is resumed)."""
        return self.first_epoch + self.current_epoch

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.svi.optimizer

    def on_train_start(self) -> None:
        dtype = self.model.float_type
        state = self.state
        if state.train is None:
            state.train = _on(self.device, self.trainer.datamodule.local_train(), dtype)  # type: ignore[attr-defined]
        if state.val is not None:
            state.val = _on(self.device, state.val, dtype)
        state.mean_over_processes = self._mean_over_processes
        for callback in state.callbacks:
            callback.on_fit_start(state)
        self.trainer.should_stop = state.should_stop  # a resumed run that had already decided to stop

    def on_train_epoch_start(self) -> None:
        pyro.set_rng_seed(epoch_seed(self.config.seed, self.run_epoch, self.global_rank))
        self.state.epoch, self.state.epoch_started = self.run_epoch, time.perf_counter()
        self.state.kl_weight = kl_weight_at(self.run_epoch, self.config)
        self._losses = []

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        # a batch is a tuple of tensors: move them directly (Lightning's general walk over any
        # collection cost a tenth of a small model's step), in the weights' float type
        # (float64 under precision="64-true")
        return _on(device, batch, self.model.float_type)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        # the step by hand (Lightning's manual optimization): the same zero_grad, backward, clip
        # and Adam step as SVIStep.__call__, with Lightning's backward and clipping so that DDP
        # and precision plugins still apply. Automatic optimization (a closure and more hooks
        # per step) measured about 0.15 ms a step slower (bench/lightning_overhead.py).
        # Returns the detached loss: with manual optimization, Lightning back-propagates nothing.
        optimizer = cast(LightningOptimizer, self.optimizers())
        optimizer.zero_grad(set_to_none=True)
        x, y = batch[0], (batch[1] if len(batch) > 1 else None)
        loss = self.svi.loss(x, y, self.state.kl_weight, self.num_data)
        self.manual_backward(loss)  # under DDP, this also readies the gradients' reduction
        if self.config.clip_norm is not None:
            self.clip_gradients(
                optimizer,  # type: ignore[arg-type]  # Lightning's own wrapper, as its docs pass
                gradient_clip_val=self.config.clip_norm,
                gradient_clip_algorithm="norm",
            )
        if self._plain_step:
            self.svi.optimizer.step()  # full precision: nothing for Lightning's wrapper to add
        else:
            optimizer.step()  # e.g. the gradient scaler of 16-mixed
        self._losses.append(loss.detach())
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        self._check_finite()
        state = self.state
        state.train_loss = float(self._mean_over_processes(torch.stack(self._losses).mean())) / self.num_data
        for callback in state.callbacks:
            callback.on_epoch_end(state)
        self._log(self.history.to_dict())
        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            if hasattr(callback, "on_epoch_scored"):
                callback.on_epoch_scored(self.trainer, self)
        # the scores are averaged over processes, so every process decides alike; reduced anyway,
        # as one process stopping alone would leave the others waiting at the next collective
        self.trainer.should_stop = self.trainer.strategy.reduce_boolean_decision(state.should_stop, all=False)

    def on_train_end(self) -> None:
        """The callbacks' ``on_fit_end``: e.g. early stopping puts the best weights back, then the
        run folder is written once more with them."""
        for callback in self.state.callbacks:
            callback.on_fit_end(self.state)

    def _log(self, history: Dict[str, List[Any]]) -> None:
        # this epoch's figures go to the loggers directly, with the run's epoch as the step:
        # through self.log, Lightning's result collection cost 5 ms an epoch for a dozen floats
        figures = {k: v[-1] for k, v in history.items() if v and k != "epoch" and v[-1] is not None}
        for logger in self.loggers:
            logger.log_metrics(figures, step=self.run_epoch)
            logger.save()  # flushed every epoch, as the built-in loop's loggers are

    def _mean_over_processes(self, values: torch.Tensor) -> torch.Tensor:
        if self.trainer.world_size == 1:
            return values.detach().cpu()
        reduced = self.trainer.strategy.reduce(values.to(self.device), reduce_op="mean")
        return reduced.detach().cpu()

    def _check_finite(self) -> None:
        # all processes must agree before anything is logged or saved: one diverging alone and
        # raising would leave the others waiting forever at the next collective
        local = torch.stack([loss.reshape(()) for loss in self._losses])
        bad = (~torch.isfinite(local)).any() | any(bool((~torch.isfinite(p)).any()) for p in self.model.parameters())
        any_bad = self.trainer.strategy.reduce(bad.float().to(self.device), reduce_op="sum")
        if float(any_bad) > 0:
            check_epoch_finite(self._losses, self.model.parameters(), self.run_epoch)
            raise TrainingDiverged(
                f"training diverged at epoch {self.run_epoch} in another process: its loss or parameters became "
                "NaN or infinite; the last checkpoint written (if any) is from the last good epoch"
            )


def _on(device: torch.device, data, dtype: torch.dtype):
    """The tensors of ``data`` on ``device``, floating-point ones as ``dtype`` (None stays None)."""
    return tuple(
        None if t is None else t.to(device, dtype if t.is_floating_point() else None, non_blocking=True) for t in data
    )

"""``SVIModule``: the SVI fit of ``pc.fit`` as a ``LightningModule``.

A step is the same as the built-in loop's: ``SVIStep.loss`` (the ELBO's differentiable loss on
the model/guide pair, any registered ELBO) on a mini-batch scaled to the whole data set, at the
epoch's KL weight, back-propagated, the gradient norm clipped to ``clip_norm``, and the same
fused Adam stepped. Under DDP each process's loss estimates the full
ELBO from its own batch and the gradients are averaged, so a step estimates the same gradient
as one process would from the batches of all of them together.

After each epoch the module scores the epoch as ``pc.fit`` does (``callbacks.Evaluate``:
ELBO, reconstruction and KL on a fixed training sample and the validation data), averages the
figures over the processes, appends them to the ``History`` and logs them to Lightning's
loggers as ``train_elbo``, ``val_elbo``, ..., with the run's epoch as the step. Lightning runs a plain callback's
``on_train_epoch_end`` before the module's, so before that scoring: a callback that reads the
epoch's history defines ``on_epoch_scored(trainer, module)``, which the module calls after it.

Random draws: each epoch each process reseeds from ``(seed, epoch, rank)``, so processes draw
different noise, and a run resumed at epoch k draws what an uninterrupted run draws from there.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Dict, List, Optional, cast

import pyro
import pytorch_lightning as pl
import torch
from pytorch_lightning.core.optimizer import LightningOptimizer

from ..callbacks import Evaluate, FitState
from ..config import FitConfig
from ..divergence import TrainingDiverged, check_epoch_finite
from ..fit import kl_weight_at  # one schedule for both engines
from ..history import History
from ..model import CVAE
from ..step import SVIStep
from .data import Data, epoch_seed


class SVIModule(pl.LightningModule):
    """Wraps a ``CVAE`` for Lightning's ``Trainer`` (see the module docstring).

    Arguments::

        num_data : size of the whole training set, across processes.
        train_sample, val : what the per-epoch history scores (``callbacks.Evaluate`` picks a fixed
            sample of at most ``config.eval_train_size`` points from ``train_sample``). None: the
            training data this process holds (the data module's ``local_train()``).
        first_epoch, history : where a resumed run continues from.
    """

    def __init__(
        self,
        model: CVAE,
        config: FitConfig,
        num_data: int,
        train_sample: Optional[Data] = None,
        val: Optional[Data] = None,
        first_epoch: int = 0,
        history: Optional[History] = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self._plain_step = config.precision in ("32-true", "64-true")
        self.model = model
        self.config = config
        self.num_data = num_data
        self.first_epoch = first_epoch
        self.svi = SVIStep(model, config.elbo, config.num_particles, config.learning_rate, clip_norm=None)
        self._train_sample, self._val = train_sample, val
        self._history = history or History()
        #: what the loop shares with the scoring callback; made in on_train_start
        self.state: FitState
        self._evaluate = Evaluate(config.eval_train_size)
        self._losses: List[torch.Tensor] = []
        #: the weights of the best epoch so far, kept when early stopping restores them at the end
        self.best_score = -float("inf")
        self.best_state: Optional[Dict[str, torch.Tensor]] = None

    @property
    def history(self) -> History:
        return self._history

    @property
    def run_epoch(self) -> int:
        """The run's epoch (Lightning's count restarts at 0 when a run is resumed)."""
        return self.first_epoch + self.current_epoch

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.svi.optimizer

    def on_train_start(self) -> None:
        # this process's training data is known once the Trainer has set up the processes
        train = self._train_sample or self.trainer.datamodule.local_train()  # type: ignore[attr-defined]
        dtype = self.model.float_type
        self.state = FitState(
            self.model, self.svi.optimizer, self.config, _on(self.device, train, dtype), None, self._history
        )
        if self._val is not None:
            self.state.val = _on(self.device, self._val, dtype)
        self._evaluate.on_fit_start(self.state)

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
        # per step) measured about 0.15 ms a step slower (bench/lightning_overhead.py)
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
        self.state.train_loss = float(self._mean_over_processes(torch.stack(self._losses).mean())) / self.num_data
        entry = self._evaluate.entry(self.state)
        # every process scored with its own noise: the history holds their average
        figures = {k: v for k, v in entry.items() if isinstance(v, float) and k not in ("epoch", "seconds")}
        averaged = self._mean_over_processes(torch.tensor(list(figures.values()), dtype=torch.float64))
        entry.update(dict(zip(figures, averaged.tolist())))
        self.history.append(**entry)
        self._log(entry)
        self._keep_best()
        for callback in self.trainer.callbacks:  # type: ignore[attr-defined]
            if hasattr(callback, "on_epoch_scored"):
                callback.on_epoch_scored(self.trainer, self)

    def _log(self, entry: Dict[str, Any]) -> None:
        # the figures go to the loggers directly, with the run's epoch as the step: through
        # self.log, Lightning's result collection cost 5 ms an epoch for a dozen floats. Only the
        # score that early stopping watches goes through self.log (to the callbacks, not again
        # to the loggers, where it would add a second row per epoch at Lightning's step count)
        figures = {k: v for k, v in entry.items() if v is not None and k != "epoch"}
        for logger in self.loggers:
            logger.log_metrics(figures, step=self.run_epoch)
            logger.save()  # flushed every epoch, as the built-in loop's loggers are
        monitored = "val_elbo" if self._val is not None else "train_elbo"
        self.log(monitored, figures[monitored], on_epoch=True, logger=False)  # already in the loggers

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

    def _keep_best(self) -> None:
        if self.config.patience is None:
            return
        score = self.history.val_elbo[-1] if self._val is not None else self.history.train_elbo[-1]
        if score > self.best_score:
            self.best_score, self.best_state = score, copy.deepcopy(self.model.state_dict())

    def on_train_end(self) -> None:
        """Under early stopping, put the best epoch's weights back, as ``pc.fit`` does."""
        if self.config.patience is not None and self.best_state is not None:
            self.model.load_state_dict(self.best_state)

    def callback_states(self, stale: int) -> Dict[str, Any]:
        """What ``pc.fit``'s callbacks would have saved, so the built-in loop can continue."""
        if self.config.patience is None:
            return {}
        return {"EarlyStopping": {"best_score": self.best_score, "stale": stale, "best_state": self.best_state}}


def _on(device: torch.device, data, dtype: torch.dtype):
    """The tensors of ``data`` on ``device``, floating-point ones as ``dtype`` (None stays None)."""
    return tuple(
        None if t is None else t.to(device, dtype if t.is_floating_point() else None, non_blocking=True) for t in data
    )

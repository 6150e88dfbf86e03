"""Callbacks: what a fit does besides SVI steps, written once for both engines.

Both engines (the built-in loop and Lightning) take SVI steps and hand their ``FitState``
(``train.state``) to the same callbacks, in the order given, after each epoch
(``on_epoch_end``):

- ``Evaluate`` scores the epoch into the ``History`` (first, so the others can read it);
- ``EarlyStopping`` watches the validation ELBO (the IWAE bound in an IWAE fit) and restores the
  best weights at the end;
- ``LearningRateDecay`` lowers the learning rate when that score stalls;
- ``Checkpoint`` writes the run folder after every epoch;
- ``TensorBoard`` logs the history's scalars, ``CSVLog`` writes them to a CSV file (under the
  built-in loop; the Lightning engine writes the same with Lightning's own loggers);
- ``OnEpochEnd`` wraps a plain function ``f(epoch, model, history)``.

A callback that must survive an interruption returns its state from ``state_dict`` (plain
values only), saved under its ``state_key``; ``fit(resume=True)`` hands it back through
``load_state_dict``, under either engine. Under several processes ``Checkpoint`` writes from
rank 0 only, and the scores every process sees are averaged over the processes, so all take
the same decisions.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from ..config import FitConfig
from ..data.tensors import atomic_write
from ..model import CVAE
from ..sampling.evaluate import iwae_log_likelihood, pointwise_elbo_terms
from ..seeding import seeded
from .checkpoint import checkpoint_state, write_checkpoint, write_config_copy
from .elbos import ELBOS
from .history import History
from .state import Callback, Data, FitState

__all__ = [
    "CSVLog",
    "Callback",
    "Checkpoint",
    "EarlyStopping",
    "Evaluate",
    "LearningRateDecay",
    "OnEpochEnd",
    "TensorBoard",
    "default_callbacks",
]


#: the seed of the draws every epoch's score uses
SCORING_SEED = 0


class Evaluate(Callback):
    """Appends the epoch to the history: the train loss, and the ELBO with its reconstruction and
    KL terms on the validation data and on a fixed sample of at most ``train_size`` training
    points (eval mode, KL weight 1, so epochs compare).

    Scoring all the training data every epoch cost 13% of an epoch on the digits; a fixed
    sample of 256 points gives the same curve to within its Monte Carlo noise for a fraction.

    Every epoch is scored with the same random draws of z (common random numbers, from a
    generator seeded afresh; torch's global one is left as it was): a change in the score from
    one epoch to the next is then a change in the model, not Monte Carlo noise, so early
    stopping follows the trend. (With one draw per point, the noise of 100 validation points
    stopped posterior fits after 40 epochs that went on improving for 150.)"""

    def __init__(self, train_size: Optional[int] = 256, iwae_particles: Optional[int] = None):
        self.train_size = train_size
        #: a fit on the IWAE bound is scored on it too, with as many particles as it trains with
        self.iwae_particles = iwae_particles
        #: the training sample followed by the validation data: one pass scores both
        self._scored: Optional[Data] = None
        self._num_train = 0

    def on_fit_start(self, state: FitState) -> None:
        assert state.train is not None, "the engine puts this process's training data in the state first"
        x, y = state.train
        if self.train_size is not None and x.shape[0] > self.train_size:
            # a fixed sample, from its own generator: the same points every epoch and every run
            pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(0))[: self.train_size]
            pick = pick.to(x.device)
            x, y = x[pick], None if y is None else y[pick]
        self._num_train = x.shape[0]
        if state.val is not None:
            val_x, val_y = state.val
            x = torch.cat([x, val_x])
            y = None if y is None or val_y is None else torch.cat([y, val_y])
        self._scored = (x, y)

    def entry(self, state: FitState) -> Dict[str, Any]:
        """This epoch's history entry (the keyword arguments of ``History.append``)."""
        assert self._scored is not None, "on_fit_start picks the sample"
        with seeded(SCORING_SEED):
            terms = pointwise_elbo_terms(state.model, *self._scored)
            if self.iwae_particles is not None:
                terms["iwae"] = iwae_log_likelihood(state.model, *self._scored, self.iwae_particles)
        n = self._num_train
        train = {name: float(values[:n].mean()) for name, values in terms.items()}
        valid = {name: float(values[n:].mean()) for name, values in terms.items()} if state.val is not None else {}
        return dict(
            epoch=state.epoch,
            kl_weight=state.kl_weight,
            train_loss=state.train_loss,
            train_elbo=train["elbo"],
            train_reconstruction=train["reconstruction"],
            train_kl=train["kl"],
            val_elbo=valid.get("elbo"),
            val_reconstruction=valid.get("reconstruction"),
            val_kl=valid.get("kl"),
            train_penalty=train.get("penalty"),
            val_penalty=valid.get("penalty"),
            train_iwae=train.get("iwae"),
            val_iwae=valid.get("iwae"),
            seconds=time.perf_counter() - state.epoch_started,
        )

    def on_epoch_end(self, state: FitState) -> None:
        entry = self.entry(state)
        # every process scored with its own noise: the history holds their average
        figures = {k: v for k, v in entry.items() if isinstance(v, float) and k not in ("epoch", "seconds")}
        averaged = state.mean_over_processes(torch.tensor(list(figures.values()), dtype=torch.float64))
        entry.update(dict(zip(figures, averaged.tolist())))
        state.history.append(**entry)


class _Plateau:
    """The best score seen so far and the epochs since it last improved: what early stopping and
    the learning-rate decay both count, each with its own patience (the decay counts afresh
    after each decay, early stopping does not)."""

    def __init__(self):
        self.best_score, self.stale = -float("inf"), 0

    def update(self, score: float) -> bool:
        """Count one epoch's ``score``; whether it improved on the best."""
        if score > self.best_score:
            self.best_score, self.stale = score, 0
            return True
        self.stale += 1
        return False


class EarlyStopping(_Plateau, Callback):
    """Stops once the validation ELBO (the train ELBO without validation data) has not improved
    for ``patience`` epochs, and puts the best weights back at the end of the fit. A fit on the
    IWAE bound watches that bound instead: training on it loosens the plain ELBO (the guide
    becomes a broader proposal), which would stop such a fit within its first epochs.

    The decision (``stale_epochs_after``) is apart from its effect (``on_epoch_end``), as in
    Lightning's early stopping; the scores are the history's, averaged over processes, so every
    process decides alike."""

    @property
    def state_key(self) -> str:
        # fixed, whatever the class is called: the key run folders have always held it under
        return "EarlyStopping"

    def __init__(self, patience: int):
        super().__init__()
        self.patience = patience
        self.best_state: Optional[Dict[str, torch.Tensor]] = None

    def on_fit_start(self, state: FitState) -> None:
        # resumed after the decision to stop (killed before the last write): stop again
        state.should_stop = state.should_stop or self.stale >= self.patience

    @staticmethod
    def monitored(state: FitState) -> float:
        """The score watched: this epoch's validation ELBO (or IWAE bound, where the fit trains on
        it), or the train one without val data."""
        history = state.history
        if history.train_iwae:
            return history.val_iwae[-1] if state.val is not None else history.train_iwae[-1]
        return history.val_elbo[-1] if state.val is not None else history.train_elbo[-1]

    def on_epoch_end(self, state: FitState) -> None:
        if self.update(self.monitored(state)):
            self.best_state = copy.deepcopy(state.model.state_dict())
        state.should_stop = state.should_stop or self.stale >= self.patience

    def on_fit_end(self, state: FitState) -> None:
        if self.best_state is not None:
            state.model.load_state_dict(self.best_state)

    def state_dict(self) -> Dict[str, Any]:
        return {"best_score": self.best_score, "stale": self.stale, "best_state": self.best_state}

    def load_state_dict(self, values: Dict[str, Any]) -> None:
        self.best_score, self.stale, self.best_state = values["best_score"], values["stale"], values["best_state"]


class LearningRateDecay(_Plateau, Callback):
    """Multiplies the learning rate by ``factor`` each time the score ``EarlyStopping`` watches
    has gone ``patience`` epochs without improving (then counts afresh), as torch's
    ``ReduceLROnPlateau`` does: smaller steps late in a fit can settle where the first rate only
    jitters. Whether that pays depends on the model (for ``fit_posterior``'s defaults it did not:
    docs/inverse_problem.md, "How the defaults were chosen").

    Its state (the best score, the stale count and the rate reached) is saved in the checkpoint;
    a resumed fit continues at the rate reached, not the config's."""

    def __init__(self, patience: int, factor: float):
        super().__init__()
        self.patience, self.factor = patience, factor
        self.learning_rate: Optional[float] = None

    def on_fit_start(self, state: FitState) -> None:
        if self.learning_rate is not None:  # resumed: the restored optimizer is at the config's rate
            self._set(state, self.learning_rate)

    def on_epoch_end(self, state: FitState) -> None:
        if not self.update(EarlyStopping.monitored(state)) and self.stale >= self.patience:
            self.stale = 0
            self._set(state, state.optimizer.param_groups[0]["lr"] * self.factor)

    def _set(self, state: FitState, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        for group in state.optimizer.param_groups:
            group["lr"] = learning_rate

    def state_dict(self) -> Dict[str, Any]:
        return {"best_score": self.best_score, "stale": self.stale, "learning_rate": self.learning_rate}

    def load_state_dict(self, values: Dict[str, Any]) -> None:
        self.best_score, self.stale, self.learning_rate = values["best_score"], values["stale"], values["learning_rate"]


class Checkpoint(Callback):
    """Writes ``folder`` (checkpoint.pt and config.yaml) after every epoch, with the optimizer,
    RNG and callback states that an exact resume needs; at the end, once more with the weights
    ``fit`` returns (the best ones, under early stopping). ``config.yaml``, the same all fit
    long, is written once, before the first checkpoint. Only the process of rank 0 writes.

    (A background writer thread was tried: on 2 cores it competed with training for the CPU and
    made epochs slower, not faster.)"""

    def __init__(self, folder: str):
        self.folder = folder
        self._config_written = False

    def _save(self, state: FitState) -> None:
        if state.rank != 0:
            return
        snapshot = checkpoint_state(
            state.model,
            state.optimizer,
            state.history,
            state.history.epoch[-1],
            state.config,
            metadata=state.metadata,
            extra={"callback_states": state.callback_states(), "engine": state.engine},
        )
        if not self._config_written:
            write_config_copy(self.folder, snapshot)
            self._config_written = True
        write_checkpoint(self.folder, snapshot)

    def on_epoch_end(self, state: FitState) -> None:
        self._save(state)

    def on_fit_end(self, state: FitState) -> None:
        if len(state.history):
            self._save(state)


class TensorBoard(Callback):
    """Logs each epoch's history entries as TensorBoard scalars (``tensorboard --logdir DIR``)."""

    def __init__(self, log_dir: str):
        from .tensorboard import TensorBoardLogger

        self.logger = TensorBoardLogger(log_dir)

    def on_epoch_end(self, state: FitState) -> None:
        self.logger.log_epoch(state.history)

    def on_fit_end(self, state: FitState) -> None:
        self.logger.close()


class CSVLog(Callback):
    """Writes the history to ``folder/metrics.csv`` after every epoch, one row per epoch (the
    file Lightning's ``CSVLogger`` writes under ``engine="lightning"``)."""

    def __init__(self, folder: str):
        self.path = Path(folder) / "metrics.csv"

    def on_epoch_end(self, state: FitState) -> None:
        columns = {name: values for name, values in state.history.to_dict().items() if values}
        rows = zip(*columns.values())
        text = ",".join(columns) + "\n" + "".join(",".join(f"{value:.9g}" for value in row) + "\n" for row in rows)
        atomic_write(self.path, lambda file: file.write(text.encode()))


class OnEpochEnd(Callback):
    """``function(epoch, model, history)`` after each epoch (model in train mode)."""

    def __init__(self, function: Callable[[int, CVAE, History], None]):
        self.function = function

    def on_epoch_end(self, state: FitState) -> None:
        self.function(state.epoch, state.model, state.history)


def default_callbacks(config: FitConfig, file_loggers: bool = True) -> List[Callback]:
    """The callbacks a ``FitConfig`` asks for, in the order they run. ``file_loggers=False``
    leaves out TensorBoard and CSV, which Lightning's own loggers write under that engine."""
    iwae_particles = config.num_particles if ELBOS.get(config.elbo).importance_weighted else None
    callbacks: List[Callback] = [Evaluate(config.eval_train_size, iwae_particles)]
    if config.patience is not None:
        callbacks.append(EarlyStopping(config.patience))
    if config.lr_decay_patience is not None:
        callbacks.append(LearningRateDecay(config.lr_decay_patience, config.lr_decay_factor))
    if config.checkpoint_dir is not None:
        callbacks.append(Checkpoint(config.checkpoint_dir))
    if file_loggers and config.tensorboard_dir is not None:
        callbacks.append(TensorBoard(config.tensorboard_dir))
    if file_loggers and config.csv_dir is not None:
        callbacks.append(CSVLog(config.csv_dir))
    return callbacks

"""``FitState``: what a fit keeps, one object for both training engines, and ``Callback``, the
interface of what runs on it.

The built-in loop (``train.loop``) and the Lightning engine (``train.lightning``) are two drivers
of the same state: each fills in the epoch, the KL weight and the epoch's loss, then hands the
state to the same callbacks (``train.callbacks``), which score the epoch into the ``History``,
decide whether to stop, and write the run folder. ``resume`` puts a saved run back into a state,
whichever engine wrote it.

A callback's saved state is keyed by its ``state_key``, as Lightning keys its callbacks: the
class name by default, a fixed key where the state must outlive a rename (``EarlyStopping``),
and the engines look a state up only by that key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..config import FitConfig
from ..model import CVAE
from .checkpoint import read_run_to_continue, restore_weights_and_optimizer
from .history import History

__all__ = ["Callback", "Data", "FitState", "resume"]

Data = Tuple[torch.Tensor, Optional[torch.Tensor]]


def _same(values: torch.Tensor) -> torch.Tensor:
    return values


@dataclass
class FitState:
    """What an engine shares with its callbacks.

    ``train`` / ``val``: the data this process holds (on the model's device). ``rank``: the
    process's global rank; only rank 0 writes files. ``mean_over_processes``: averages a tensor
    of figures over the processes (the identity in one process), so that every process scores
    an epoch alike and takes the same decisions.
    """

    model: CVAE
    optimizer: torch.optim.Optimizer
    config: FitConfig
    train: Optional[Data]
    val: Optional[Data]
    history: History = field(default_factory=History)
    metadata: Dict[str, Any] = field(default_factory=dict)
    callbacks: List["Callback"] = field(default_factory=list)
    #: the engine that drives this state: "loop" or "lightning" (recorded in the checkpoint)
    engine: str = "loop"
    rank: int = 0
    mean_over_processes: Callable[[torch.Tensor], torch.Tensor] = _same
    epoch: int = -1
    kl_weight: float = 1.0
    #: mean mini-batch loss of the epoch per data point (what the optimizer saw)
    train_loss: float = float("nan")
    epoch_started: float = 0.0
    #: set by a callback to end training after this epoch
    should_stop: bool = False

    def callback_states(self) -> Dict[str, Any]:
        """Each callback's ``state_dict`` by its ``state_key`` (what a checkpoint keeps)."""
        return {callback.state_key: callback.state_dict() for callback in self.callbacks}


class Callback:
    """Base class: override what you need. Runs under both engines (``pc.fit(engine=...)``).

    ``state_key`` names the callback's saved state in a checkpoint; the default is the class
    name. Give a callback of your own a fixed ``state_key`` if it keeps state and may be renamed,
    or a key built from its settings if one fit runs two of it.
    """

    @property
    def state_key(self) -> str:
        return type(self).__qualname__

    def on_fit_start(self, state: FitState) -> None:
        pass

    def on_epoch_end(self, state: FitState) -> None:
        pass

    def on_fit_end(self, state: FitState) -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, values: Dict[str, Any]) -> None:
        pass


def resume(state: FitState) -> int:
    """Load the run in ``state.config.checkpoint_dir`` into ``state``; returns the epoch to
    continue from (0 when the folder holds no run yet).

    Restored: weights, optimizer (at the config's learning rate), RNG states, history, the app's
    metadata (the caller's entries win) and each callback's state, by ``state_key``.
    """
    saved = read_run_to_continue(state.config.checkpoint_dir, state.model)
    if saved is None:
        return 0
    restore_weights_and_optimizer(saved, state.model, state.optimizer, state.config.learning_rate)
    torch.set_rng_state(saved["torch_rng_state"])
    if saved.get("cuda_rng_states") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda_rng_states"])
    state.metadata = {**saved.get("metadata", {}), **state.metadata}
    state.history = History.from_dict(saved["history"])
    saved_states = saved.get("callback_states", {})
    for callback in state.callbacks:
        if callback.state_key in saved_states:
            callback.load_state_dict(saved_states[callback.state_key])
    return saved["epoch"] + 1

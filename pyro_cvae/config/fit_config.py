"""``FitConfig``: how ``pyro_cvae.fit`` trains: SVI settings, schedule, stopping, checkpoints,
and the engine that runs it (the built-in loop, or Lightning with its processes and precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, Literal, Optional, get_args

from ..checks import check_positive_int
from ..train.elbos import ELBOS
from .fields import ConfigBase, check_field_types

__all__ = ["ENGINES", "Engine", "FitConfig", "PRECISIONS", "Precision", "STRATEGIES", "Strategy"]

#: the training loops ``fit`` can run (``FitConfig.engine``)
Engine = Literal["loop", "lightning"]
#: Lightning's strategies that ``fit`` supports: every process runs the user's script
Strategy = Literal["auto", "ddp", "ddp_find_unused_parameters_true"]
#: Lightning's precision settings that an SVI fit can use ("loop" always trains in float32)
Precision = Literal["32-true", "64-true", "bf16-mixed", "16-mixed"]
ENGINES, STRATEGIES, PRECISIONS = get_args(Engine), get_args(Strategy), get_args(Precision)


@dataclass
class FitConfig(ConfigBase):
    """How ``pyro_cvae.fit`` trains: SVI settings, schedule, stopping and checkpoints."""

    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    elbo: str = "analytic-kl"
    num_particles: int = 1
    kl_weight: float = 1.0
    kl_anneal_epochs: int = 0
    clip_norm: Optional[float] = None
    device: str = "auto"
    seed: int = 0
    patience: Optional[int] = None
    #: multiply the learning rate by ``lr_decay_factor`` (0.5: halve it) each time the score early
    #: stopping watches has gone this many epochs without improving; None: a constant rate
    lr_decay_patience: Optional[int] = None
    lr_decay_factor: float = 0.5
    #: how many training points (a fixed sample) the per-epoch history scores; None: all of them
    eval_train_size: Optional[int] = 256
    checkpoint_dir: Optional[str] = None
    #: a folder for TensorBoard event files of the per-epoch scalars (needs the tensorboard package)
    tensorboard_dir: Optional[str] = None
    #: a folder for a CSV file of the per-epoch scalars (``metrics.csv``)
    csv_dir: Optional[str] = None
    progress: bool = True
    #: the training loop: ``"loop"`` (this package's own, one process) or ``"lightning"``
    #: (PyTorch Lightning's ``Trainer``: several processes, GPUs and nodes; needs the
    #: ``pyro_cvae[lightning]`` extra). The fields below are read by the Lightning engine only.
    engine: Engine = "loop"
    #: processes per node (one per GPU, or CPU processes); batch_size is per process
    devices: int = 1
    num_nodes: int = 1
    #: Lightning's strategy: "auto" (DDP when devices × num_nodes > 1), "ddp", or
    #: "ddp_find_unused_parameters_true" for a model some of whose weights a step leaves unused
    strategy: Strategy = "auto"
    #: Lightning's precision: "32-true", "64-true", "bf16-mixed", "16-mixed"
    precision: Precision = "32-true"

    _section: ClassVar[str] = "fit"
    _aliases: ClassVar[Dict[str, str]] = {"lr": "learning_rate"}  # the command line's --lr
    _choice_hints: ClassVar[Dict[str, str]] = {
        "strategy": "The spawning and forking launchers (ddp_spawn, ddp_notebook) train in copies of the model "
        "whose history never comes back: start the processes with Lightning's 'ddp' (it re-runs your script) "
        "or torchrun"
    }

    def _validate(self) -> None:
        check_field_types(self)
        ELBOS.check(self.elbo)
        for name in ("epochs", "batch_size", "num_particles"):
            check_positive_int(getattr(self, name), name)
        if self.kl_anneal_epochs < 0:
            raise ValueError(f"kl_anneal_epochs must be >= 0, got {self.kl_anneal_epochs!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.kl_weight > 0:  # poutine.scale needs a positive scale
            raise ValueError(f"kl_weight must be > 0, got {self.kl_weight!r}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"clip_norm must be positive or None, got {self.clip_norm!r}")
        if not 0 < self.lr_decay_factor < 1:
            raise ValueError(f"lr_decay_factor must lie in (0, 1), got {self.lr_decay_factor!r}")
        for name in ("patience", "lr_decay_patience", "eval_train_size"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda")):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        for name in ("devices", "num_nodes"):
            check_positive_int(getattr(self, name), name)
        lightning_only = {"devices": 1, "num_nodes": 1, "strategy": "auto", "precision": "32-true"}
        changed = [
            f"{name}={getattr(self, name)!r}"
            for name, default in lightning_only.items()
            if getattr(self, name) != default
        ]
        if self.engine == "loop" and changed:
            raise ValueError(
                f"{', '.join(changed)} need engine='lightning'; the built-in loop runs in one process, in float32"
            )

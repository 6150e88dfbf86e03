"""Configuration dataclasses: what to build (``ModelConfig``) and how to fit it (``FitConfig``).

Both round-trip through dicts and JSON / YAML / TOML files, and keyword arguments override file
values. Unknown keys and values of the wrong type fail here, naming the key; component names
are checked against the registries by ``build`` and ``fit``, which is what lets an app add
names without the config module knowing it. A config file may hold the sections ``model``,
``fit`` and ``data``; ``load_config`` returns them all.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Dict, Optional, Tuple, Union, cast

import yaml

from .checks import as_shape, check_positive_int
from .data.tensors import atomic_write
from .elbos import ELBOS
from .errors import ConfigError, PyroCVAEError, UnknownNameError, one_line
from .variants import VARIANTS

PathLike = Union[str, Path]


class _Config:
    """Shared dict/file behaviour of the config dataclasses."""

    #: the config file section this dataclass reads and writes
    _section: ClassVar[str]

    def to_dict(self) -> Dict[str, Any]:
        # tuples become lists, so JSON, YAML and TOML all hold the same thing
        values = dataclasses.asdict(cast(Any, self))
        return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}

    def __post_init__(self) -> None:
        # every problem with a value, whichever check finds it, is one ConfigError
        try:
            self._validate()
        except PyroCVAEError:
            raise
        except (TypeError, ValueError, OverflowError) as error:
            raise ConfigError(f"{type(self).__name__}: {one_line(error)}") from None

    def _validate(self) -> None:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, values: Dict[str, Any], **overrides):
        if not isinstance(values, dict):
            raise ConfigError(
                f"the {cls._section!r} section must be a mapping of keys to values, got {type(values).__name__}"
            )
        values = {**values, **overrides}
        fields = dataclasses.fields(cast(Any, cls))
        valid = [f.name for f in fields]
        unknown = sorted(set(map(str, values)) - set(valid))
        if unknown:
            raise UnknownNameError(f"unknown {cls.__name__} key(s) {unknown}; valid keys are: {', '.join(valid)}")
        required = [
            f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in values]
        if missing:
            raise ConfigError(f"{cls.__name__} needs {', '.join(missing)}, which the config does not give")
        return cls(**values)

    def replace(self, **changes):
        """A copy with some fields changed, validated like a new config."""
        return self.from_dict(self.to_dict(), **changes)

    def save(self, path: PathLike) -> None:
        """Write a JSON, YAML or TOML file, chosen by the suffix."""
        write_config_file(path, {self._section: self.to_dict()})

    @classmethod
    def from_file(cls, path: PathLike, **overrides):
        return cls.from_dict(load_config(path).get(cls._section, {}), **overrides)


def _scalar_error(owner: str, name: str, expected: str, value) -> ConfigError:
    hint = ""
    if isinstance(value, str):
        try:
            float(value)
            hint = " (YAML reads a number like 1.0e6 as text: write 1.0e+6 or 1000000.0)"
        except ValueError:
            pass
    return ConfigError(f"{owner} key {name!r} must be {expected}, got {type(value).__name__} {value!r}{hint}")


def _check_scalar_types(config) -> None:
    """Check the int / float / bool / str fields against their annotations; ints become floats
    where a float is expected. Shapes and mappings are checked by their own helpers."""
    owner = type(config).__name__
    for f in dataclasses.fields(config):
        annotation = str(f.type)
        optional = annotation.startswith("Optional[")
        kind = annotation[len("Optional[") : -1] if optional else annotation
        value = getattr(config, f.name)
        if kind not in ("int", "float", "bool", "str") or (value is None and optional):
            continue
        if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))
            continue
        expected = {"int": int, "float": float, "bool": bool, "str": str}[kind]
        if not isinstance(value, expected) or (kind == "int" and isinstance(value, bool)):
            raise _scalar_error(owner, f.name, ("an " if kind == "int" else "a ") + kind, value)


def _check_penalties(penalties) -> Dict[str, float]:
    if not isinstance(penalties, dict):
        raise ValueError(f"penalties must be a mapping of penalty name to weight, got {penalties!r}")
    for name, weight in penalties.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ValueError(f"penalties[{name!r}] must be a weight >= 0, got {weight!r}")
    return {str(name): float(weight) for name, weight in penalties.items()}


@dataclass
class ModelConfig(_Config):
    """Everything needed to build a model; ``pyro_cvae.build`` turns it into a ``CVAE``.

    Shapes are event shapes, without the batch dim: ``(64,)`` for flat 8x8 digits,
    ``(1, 8, 8)`` for the same as an image (conv networks want ``(channels, *grid)``).

    ``variant`` names a recipe (``pyro_cvae.VARIANTS``) for the fields left unset (None):
    ``prior``, ``guide`` and ``network``. A field given explicitly always wins over the recipe,
    however the config is made (constructor, dict, file, ``build`` keywords), so
    ``ModelConfig(x_shape=(4,), y_shape=(2,), variant="dual-encoder")`` has the learnable prior
    and ``variant="dual-encoder", prior="conditional-mixture"`` a mixture one.
    """

    x_shape: Tuple[int, ...]
    y_shape: Optional[Tuple[int, ...]] = None
    #: the recipe the other fields started from (``pyro_cvae.VARIANTS``); "custom" for none
    variant: str = "custom"
    latent_dim: int = 8
    prior: Optional[str] = None
    guide: Optional[str] = None
    likelihood: str = "normal"
    decoder: str = "network"
    network: Optional[str] = None
    hidden_sizes: Tuple[int, ...] = (256, 256)
    prior_hidden_sizes: Tuple[int, ...] = (256, 256)
    channels: Optional[Tuple[int, ...]] = None
    mixture_components: int = 5
    #: layers of a flow guide or prior, and the zuko family (``pyro_cvae.flows.FLOW_TYPES``)
    flow_layers: int = 2
    flow_type: str = "nsf"
    #: pseudo-inputs of the ``vamp`` prior
    pseudo_inputs: int = 50
    #: y is a one-hot class label that may be missing (NaN rows): the semi-supervised M2 model,
    #: with a classifier q(y | x) whose log-likelihood on labelled points is weighted by
    #: ``classifier_weight`` (``pyro_cvae.semisupervised``; fit it with elbo="trace-enum")
    missing_labels: bool = False
    classifier_weight: float = 50.0
    likelihood_scale: float = 0.1
    learn_likelihood_scale: bool = False
    forward_model: Optional[str] = None
    forward_scale: float = 0.1
    #: extra training-objective terms by name and weight, e.g. {"total-variation": 0.5};
    #: any of them makes the objective no longer an ELBO (see pyro_cvae.penalties)
    penalties: Dict[str, float] = field(default_factory=dict)
    #: seed of the initial weights: the same config builds the same network; None draws them
    #: from torch's global generator instead
    seed: Optional[int] = 0

    _section: ClassVar[str] = "model"

    def _validate(self) -> None:
        _check_scalar_types(self)
        self.x_shape = as_shape(self.x_shape, "x_shape")
        self.y_shape = None if self.y_shape is None else as_shape(self.y_shape, "y_shape")
        self._apply_recipe()
        # () is allowed: no hidden layer, a linear map (e.g. a probabilistic-PCA decoder)
        self.hidden_sizes = as_shape(self.hidden_sizes, "hidden_sizes", allow_empty=True)
        self.prior_hidden_sizes = as_shape(self.prior_hidden_sizes, "prior_hidden_sizes", allow_empty=True)
        if self.channels is not None:
            self.channels = as_shape(self.channels, "channels")
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_int(self.mixture_components, "mixture_components")
        check_positive_int(self.flow_layers, "flow_layers")
        check_positive_int(self.pseudo_inputs, "pseudo_inputs")
        if self.missing_labels and (self.y_shape is None or len(self.y_shape) != 1):
            raise ValueError(f"missing_labels needs one-hot labels: y_shape = (classes,), got {self.y_shape}")
        if not self.classifier_weight >= 0:
            raise ValueError(f"classifier_weight must be >= 0, got {self.classifier_weight!r}")
        self.penalties = _check_penalties(self.penalties)
        for name in ("likelihood_scale", "forward_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    def _apply_recipe(self) -> None:
        recipe = VARIANTS.get(self.variant)
        # without a recipe: the standard choices, with a guide that can see y only if there is one
        base = {
            "prior": "standard-normal",
            "network": "mlp",
            "guide": "encoder-xy" if self.y_shape is not None else "encoder-x",
        }
        for name, default in base.items():
            if getattr(self, name) is None:
                setattr(self, name, recipe.get(name, default))


@dataclass
class FitConfig(_Config):
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
    engine: str = "loop"
    #: processes per node (one per GPU, or CPU processes); batch_size is per process
    devices: int = 1
    num_nodes: int = 1
    #: Lightning's strategy: "auto" (DDP when devices × num_nodes > 1), "ddp", or
    #: "ddp_find_unused_parameters_true" for a model some of whose weights a step leaves unused
    strategy: str = "auto"
    #: Lightning's precision: "32-true", "64-true", "bf16-mixed", "16-mixed"
    precision: str = "32-true"

    _section: ClassVar[str] = "fit"

    def _validate(self) -> None:
        _check_scalar_types(self)
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
        for name in ("patience", "eval_train_size"):
            if getattr(self, name) is not None:
                check_positive_int(getattr(self, name), name)
        if self.device != "auto" and not self.device.startswith(("cpu", "cuda")):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if self.engine not in ENGINES:
            raise UnknownNameError(f"unknown engine {self.engine!r}; choose one of: {', '.join(ENGINES)}")
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
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}. The spawning and "
                "forking launchers (ddp_spawn, ddp_notebook) train in copies of the model whose history never "
                "comes back: start the processes with Lightning's 'ddp' (it re-runs your script) or torchrun"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")


#: the training loops ``fit`` can run (``FitConfig.engine``)
ENGINES = ("loop", "lightning")
#: Lightning's strategies that ``fit`` supports: every process runs the user's script
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")
#: Lightning's precision settings that an SVI fit can use ("loop" always trains in float32)
PRECISIONS = ("32-true", "64-true", "bf16-mixed", "16-mixed")


# ---------------------------------------------------------------------------- files


#: the sections a config file may hold
SECTIONS = ("model", "fit", "data", "metadata")


def load_config(path: PathLike) -> Dict[str, Dict[str, Any]]:
    """Read a JSON, YAML or TOML config file into ``{section: {key: value}}``.

    A file with no ``model`` / ``fit`` / ``data`` section is read as a bare model section.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    parsers = {".json": json.loads, ".yaml": yaml.safe_load, ".yml": yaml.safe_load, ".toml": tomllib.loads}
    if path.suffix not in parsers:
        raise ConfigError(f"config file {str(path)!r} must end in .json, .yaml, .yml or .toml")
    try:
        values = parsers[path.suffix](path.read_bytes().decode("utf-8"))
    except Exception as error:  # syntax, encoding, nesting too deep: all one answer for the user
        raise ConfigError(
            f"config file {str(path)!r} is not valid {path.suffix[1:].upper()}: {one_line(error)}"
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, got {type(values).__name__}")
    if not set(values) & set(SECTIONS):
        values = {"model": values}
    for name in SECTIONS:
        if name in values and not isinstance(values[name], dict):
            raise ConfigError(
                f"config file {str(path)!r}: the {name!r} section must be a mapping of keys to values, "
                f"got {type(values[name]).__name__}"
            )
    return values


def write_config_file(path: PathLike, sections: Dict[str, Dict[str, Any]]) -> None:
    path = Path(path)
    if path.suffix == ".json":
        text = json.dumps(sections, indent=2)
    elif path.suffix in (".yaml", ".yml"):
        text = yaml.safe_dump(sections, sort_keys=False)
    elif path.suffix == ".toml":
        text = _to_toml(sections)
    else:
        raise ValueError(f"config file {str(path)!r} must end in .json, .yaml, .yml or .toml")
    atomic_write(path, lambda file: file.write(text.encode()))


def _to_toml(sections: Dict[str, Dict[str, Any]]) -> str:
    # tomllib reads but cannot write; our sections are flat, so a few lines suffice.
    # TOML has no null: None fields are left out and come back as their (None) defaults.
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items() if value is not None]
        lines.append("")
    return "\n".join(lines)


def _toml_value(value) -> str:
    if isinstance(value, dict):  # an inline table; JSON's scalars and arrays are valid TOML
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)

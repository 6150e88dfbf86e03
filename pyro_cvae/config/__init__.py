"""Configuration: what to build (``ModelConfig``) and how to fit it (``FitConfig``).

Both round-trip through dicts and JSON / YAML / TOML files (``files``), and keyword arguments
override file values. Unknown keys and values of the wrong type fail here, naming the key
(``fields``). A config file may hold the sections ``model``, ``fit``, ``data`` and
``metadata``; ``load_config`` returns them all.
"""

from .files import SECTIONS, load_config, write_config_file
from .fit_config import ENGINES, PRECISIONS, STRATEGIES, Engine, FitConfig, Precision, Strategy
from .model_config import FlowType, ModelConfig

__all__ = [
    "ENGINES",
    "PRECISIONS",
    "SECTIONS",
    "STRATEGIES",
    "Engine",
    "FitConfig",
    "FlowType",
    "ModelConfig",
    "Precision",
    "Strategy",
    "load_config",
    "write_config_file",
]

"""Config files: JSON, YAML or TOML read into ``{section: {key: value}}`` and written back.

YAML is read by the YAML 1.2 rule for numbers: ``1e-3`` is a float. (PyYAML follows YAML 1.1,
which reads an exponent without a dot, ``1e-3``, as text; everyone writes learning rates so.)
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Callable, Dict, Union

import yaml

from ..data.tensors import atomic_write
from ..errors import ConfigError, one_line

__all__ = ["SECTIONS", "load_config", "write_config_file"]

PathLike = Union[str, Path]


class _Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2's float rule (``1e-3``, ``5E+2``, ``.5``)."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def _read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Yaml12Loader)


#: the sections a config file may hold
SECTIONS = ("model", "fit", "data", "metadata")


def load_config(path: PathLike) -> Dict[str, Dict[str, Any]]:
    """Read a JSON, YAML or TOML config file into ``{section: {key: value}}``.

    A file with no ``model`` / ``fit`` / ``data`` section is read as a bare model section.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    parsers: Dict[str, Callable[[str], Any]] = {
        ".json": json.loads,
        ".yaml": _read_yaml,
        ".yml": _read_yaml,
        ".toml": tomllib.loads,
    }
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
    """Write ``{section: {key: value}}`` as JSON, YAML or TOML, chosen by the suffix (atomically)."""
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

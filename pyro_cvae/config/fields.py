"""The shared behaviour of the config dataclasses: dicts, files, and checking each field
against its annotation.

A field annotated ``int``, ``float``, ``bool`` or ``str`` (optionally ``Optional[...]``) must hold
a value of that type (an int where a float is expected becomes a float); a field annotated
``Literal[...]`` must hold one of its choices, which mypy checks in code too. Every problem is
one ``ConfigError`` (or ``UnknownNameError`` for a choice) naming the field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Dict, Literal, Union, cast

from ..errors import ConfigError, PyroCVAEError, UnknownNameError, one_line, refuse_to_replace
from .files import load_config, write_config_file

__all__ = ["ConfigBase", "check_field_types"]

PathLike = Union[str, Path]

_SCALARS = {int: "an int", float: "a float", bool: "a bool", str: "a str"}


class ConfigBase:
    """Shared dict/file behaviour of the config dataclasses."""

    #: the config file section this dataclass reads and writes
    _section: ClassVar[str]
    #: a sentence added to the error for a choice field, e.g. why a choice is not offered
    _choice_hints: ClassVar[Dict[str, str]] = {}
    #: other names accepted for a field, e.g. ``lr`` for ``learning_rate`` (the CLI's flag)
    _aliases: ClassVar[Dict[str, str]] = {}

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
        # an override wins over the same setting in ``values``, under whichever of its names
        values = {**cls._resolve_aliases(dict(values)), **cls._resolve_aliases(dict(overrides))}
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

    @classmethod
    def _resolve_aliases(cls, values: Dict[str, Any]) -> Dict[str, Any]:
        for alias, name in cls._aliases.items():
            if alias in values:
                if name in values and values[name] != values[alias]:
                    raise ConfigError(f"{alias!r} and {name!r} name the same setting; give one of them")
                values[name] = values.pop(alias)
        return values

    def replace(self, **changes):
        """A copy with some fields changed, validated like a new config."""
        return self.from_dict(self.to_dict(), **changes)

    def save(self, path: PathLike, overwrite: bool = False) -> None:
        """Write a JSON, YAML or TOML file, chosen by the suffix; an existing file is replaced
        only with ``overwrite``."""
        refuse_to_replace(path, overwrite, "config file")
        write_config_file(path, {self._section: self.to_dict()})

    @classmethod
    def from_file(cls, path: PathLike, **overrides):
        return cls.from_dict(load_config(path).get(cls._section, {}), **overrides)


def _scalar_error(owner: str, name: str, expected: str, value) -> ConfigError:
    hint = ""
    if isinstance(value, str):
        try:
            float(value)
            hint = " (a number in quotes is text: write it without the quotes)"
        except ValueError:
            pass
    return ConfigError(f"{owner} key {name!r} must be {expected}, got {type(value).__name__} {value!r}{hint}")


def _field_kind(annotation) -> tuple:
    """``(base type or Literal, optional)`` of a resolved annotation."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else None), True
    return annotation, False


def check_field_types(config) -> None:
    """Check the scalar and ``Literal`` fields of a config dataclass against their annotations;
    ints become floats where a float is expected. Shapes and mappings have their own checks."""
    owner = type(config).__name__
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        kind, optional = _field_kind(hints[f.name])
        value = getattr(config, f.name)
        if value is None and optional:
            continue
        if typing.get_origin(kind) is Literal:
            choices = typing.get_args(kind)
            if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
                hint = config._choice_hints.get(f.name, "")
                raise UnknownNameError(
                    f"unknown {f.name} {value!r}; choose one of: {', '.join(map(str, choices))}"
                    + (f". {hint}" if hint else "")
                )
            continue
        if kind not in _SCALARS:
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            setattr(config, f.name, float(value))
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise _scalar_error(owner, f.name, _SCALARS[kind], value)

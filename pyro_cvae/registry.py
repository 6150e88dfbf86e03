"""Name-to-factory registries, so components are chosen by a string in a config.

Every registry fails loudly on an unknown name and lists the valid choices, because a typo in a
config file should never silently fall back to a default.

The core never imports an application. An app (Two Birds, images, or another package) adds its
components with ``@REGISTRY.register(...)`` in one of its modules, and announces that module as
a Python entry point in the group ``pyro_cvae.components``, named ``<kind>.<name>``::

    [project.entry-points."pyro_cvae.components"]
    "decoder.lines" = "pyro_cvae.twobirds.components"

A registry asked for a name it does not hold imports the module of the matching entry point,
which registers it. So ``build({"decoder": "lines", ...})`` works without the caller (or the
core) importing the app, and a third-party package adds names the same way.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Callable, Dict, Generic, Iterator, List, TypeVar

from .errors import ConfigError, UnknownNameError

T = TypeVar("T")

PLUGIN_GROUP = "pyro_cvae.components"


def _plugin_modules(kind: str) -> Dict[str, str]:
    """``{name: module}`` of the entry points that provide components of ``kind``."""
    prefix = kind + "."
    return {
        point.name[len(prefix) :]: point.value.partition(":")[0]
        for point in entry_points(group=PLUGIN_GROUP)
        if point.name.startswith(prefix)
    }


class Registry(Generic[T]):
    """A named collection of factories with one-line descriptions."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: Dict[str, T] = {}
        self._help: Dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        """Decorator: ``@PRIORS.register("my-prior", "what it is")``."""

        def add(factory: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = factory
            lines = (help or getattr(factory, "__doc__", None) or "").strip().splitlines()
            self._help[name] = lines[0] if lines else ""
            return factory

        return add

    def _load_plugin(self, name: str) -> None:
        module = _plugin_modules(self.kind).get(name)
        if module is not None:
            importlib.import_module(module)  # importing it registers the name

    def load_plugins(self) -> None:
        """Import every module that announces components of this kind (for listings)."""
        for module in set(_plugin_modules(self.kind).values()):
            importlib.import_module(module)

    def names(self) -> List[str]:
        """Every valid name, those of not-yet-imported plugins included, sorted."""
        return sorted({*self._entries, *_plugin_modules(self.kind)})

    def get(self, name: str) -> T:
        if name not in self._entries:
            self._load_plugin(name)
        if name not in self._entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid choices are: {', '.join(self.names())}")
        return self._entries[name]

    def check(self, name: object) -> None:
        """Raise the ``get`` error for an unknown name, without returning anything."""
        if not isinstance(name, str):
            raise ConfigError(f"{self.kind} must be given as a name (str), got {type(name).__name__} {name!r}")
        self.get(name)

    def describe(self) -> Dict[str, str]:
        """Name -> one-line description, plugins included, in registration order."""
        self.load_plugins()
        return dict(self._help)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._entries:
            self._load_plugin(name)
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self.load_plugins()
        return iter(list(self._entries))

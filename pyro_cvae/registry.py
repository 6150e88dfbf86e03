"""Name-to-factory registries, so components are chosen by a string in a config.

Every registry fails loudly on an unknown name and lists the valid choices, because a typo in a
config file should never silently fall back to a default.
"""

from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, TypeVar

T = TypeVar("T")


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
            doc = help or (getattr(factory, "__doc__", None) or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            return factory

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise KeyError(
                f"unknown {self.kind} {name!r}; valid choices are: {', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def describe(self) -> Dict[str, str]:
        """Name -> one-line description, in registration order."""
        return dict(self._help)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

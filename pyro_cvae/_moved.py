"""Old module paths that moved into the role folders keep working, with a ``DeprecationWarning``.

``import pyro_cvae.priors`` (or ``from pyro_cvae.priors import PRIORS``) gives the module now at
``pyro_cvae.components.priors``: the same module object, not a copy, so a monkeypatch through
either name reaches the one the package uses. Nothing is imported until an old path is asked for.
The forwarding lasts one release; the API reference and README give the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Optional, Sequence

#: old path (below ``pyro_cvae.``) -> new path; a sub-module of a moved package follows it
MOVED = {
    **{
        name: f"components.{name}"
        for name in (
            "priors",
            "guides",
            "likelihoods",
            "decoders",
            "nets",
            "conv",
            "flows",
            "kl",
            "latents",
            "latent_mixture",
            "forward_models",
            "penalties",
            "perception",
        )
    },
    "fit": "train.loop",
    "step": "train.step",
    "elbos": "train.elbos",
    "batches": "train.batches",
    "callbacks": "train.callbacks",
    "history": "train.history",
    "checkpoint": "train.checkpoint",
    "run_folder": "train.run_folder",
    "run": "train.run",
    "tensorboard": "train.tensorboard",
    "divergence": "train.finite",
    "distributed": "train.distributed",
    "lightning": "train.lightning",
    "predictive": "sampling.predictive",
    "draw_file": "sampling.draw_file",
    "evaluate": "sampling.evaluate",
    "plots": "figures",
    "demo": "main_job",
    "diagnostics.plots": "diagnostics.figures",
}

PACKAGE = __name__.rpartition(".")[0]


def new_path(old: str) -> Optional[str]:
    """The module's current full name for an old full name, or None if it did not move."""
    if not old.startswith(PACKAGE + "."):
        return None
    parts = old[len(PACKAGE) + 1 :].split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        if head in MOVED:
            return ".".join([PACKAGE, MOVED[head], *parts[cut:]])
    return None


class _Forward(importlib.abc.Loader):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new

    def create_module(self, spec):
        warnings.warn(
            f"{self.old} moved to {self.new}; the old path will be removed in a later release",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:
        pass  # the module was executed under its new name


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target=None):
        new = new_path(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Forward(fullname, new))


class _Package(types.ModuleType):
    """The package's module type: an old sub-module path imported by name (``pyro_cvae.fit``)
    must not replace the package's function of the same name (``pyro_cvae.fit``) on the way."""

    def __setattr__(self, name: str, value) -> None:
        if (
            isinstance(value, types.ModuleType)
            and name in MOVED
            and callable(self.__dict__.get(name))
            and not isinstance(self.__dict__.get(name), types.ModuleType)
        ):
            return
        super().__setattr__(name, value)


def install() -> None:
    """Called once by the package's ``__init__``."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())  # before the path finder, which would load a second copy
    sys.modules[PACKAGE].__class__ = _Package

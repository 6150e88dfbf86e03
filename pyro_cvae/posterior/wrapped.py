"""Posteriors made of another, and reading any posterior back from its folder.

The recalibrations (``recalibrate``, ``recalibrate_regions``) wrap a posterior: they answer for
its parameter names, shapes and history, and save it into a subfolder (``posterior``) beside the
one file of their own that marks the folder as theirs. ``load_posterior`` looks for those files
(and an ensemble's manifest) to know which kind to read; each kind's module registers its file
here, so that reading a folder needs no import of the kinds and no import circle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, Union

import torch

from ..protocols import WrapsPosterior
from .amortized import AmortizedPosterior
from .ensemble import MANIFEST, EnsemblePosterior

__all__ = ["BASE_FOLDER", "WrappedPosterior", "holds_composite_posterior", "load_posterior", "register_composite"]

PathLike = Union[str, Path]

#: the subfolder of a wrapping posterior's folder that holds the posterior it wraps
BASE_FOLDER = "posterior"

#: the kinds of posterior made of others, by the file their folder holds; each reads the rest of
#: its folder (``load``)
COMPOSITE_KINDS: Dict[str, Any] = {MANIFEST: EnsemblePosterior}


def register_composite(file_name: str, kind) -> None:
    """Make ``load_posterior`` read a folder holding ``file_name`` with ``kind.load``."""
    COMPOSITE_KINDS[file_name] = kind


def load_posterior(folder: PathLike, device: Union[str, torch.device] = "cpu"):
    """The posterior saved in ``folder``: a ``RegionRecalibratedPosterior`` where the folder holds
    one (``regions.pt``), a ``RecalibratedPosterior`` where it holds one (``recalibration.pt``), an
    ``EnsemblePosterior`` where it holds one (``ensemble.json``), else an ``AmortizedPosterior``."""
    folder = Path(folder)
    for file_name, kind in COMPOSITE_KINDS.items():
        if (folder / file_name).is_file():
            return kind.load(folder, device=device)
    return AmortizedPosterior.load(folder, device=device)


def holds_composite_posterior(folder: PathLike) -> bool:
    """Whether ``folder`` holds a posterior made of others (a recalibrated posterior or an
    ensemble), which no single ``Run`` describes: ``load_posterior`` reads it."""
    return any((Path(folder) / name).is_file() for name in COMPOSITE_KINDS)


class WrappedPosterior(WrapsPosterior):
    """A posterior that wraps ``self.posterior``: its names, shapes and history are the wrapped
    one's (where it has them), and it saves as that posterior in ``folder/posterior`` beside a
    file of its own state."""

    def _save(self, folder: PathLike, file_name: str, state: Dict[str, Any], overwrite: bool) -> Path:
        """The wrapped posterior into ``folder/posterior``, ``state`` into ``folder/file_name``;
        refused (before anything is written) where the file exists, unless ``overwrite``."""
        if not hasattr(self.posterior, "save"):
            raise TypeError(f"the posterior it recalibrates ({type(self.posterior).__name__}) cannot be saved")
        folder = Path(folder)
        path = folder / file_name
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        self.posterior.save(folder / BASE_FOLDER, overwrite=overwrite)
        torch.save(state, path)
        return folder

    @staticmethod
    def _read(folder: PathLike, file_name: str, kind: str, holds: str, keys: Iterable[str], device) -> tuple:
        """The wrapped posterior of ``folder`` and the entries ``keys`` of its ``file_name``; a
        missing file or a corrupt one gets an error that names it (``kind``: what the folder
        should hold, ``holds``: what the file should)."""
        folder = Path(folder)
        path = folder / file_name
        if not path.is_file():
            raise FileNotFoundError(f"{folder} holds no {kind} (no {file_name})")
        try:
            state = torch.load(path, weights_only=True)
            values = tuple(state[key] for key in keys)
        except Exception as error:  # a truncated file, or one written by something else
            raise ValueError(f"{path} is corrupt: expected {holds} ({error})") from None
        return (load_posterior(folder / BASE_FOLDER, device), *values)

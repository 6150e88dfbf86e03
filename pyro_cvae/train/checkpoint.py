"""Checkpoints: one folder holds a run.

``DIR/checkpoint.pt`` has everything a run needs to be used, repeated or continued: the model
config, weights, optimizer state, history, fit config, RNG state and the app's metadata (Two
Birds' functions, an image set's name and shape). ``DIR/config.yaml`` is a readable copy of the
configs and metadata; nothing is read back from it. Both are written atomically (temporary file,
then rename), the checkpoint last, so an interrupted save leaves the previous complete set.
Checkpoints are read with ``weights_only=True``: they hold tensors and plain values only, so
loading one can never run code.

Format history: version 1 had no ``metadata``; the apps kept theirs in side files
(``twobirds.yaml``, ``images.yaml``), which ``read_checkpoint`` folds in when it finds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from ..config import FitConfig, load_config, write_config_file
from ..data.tensors import atomic_save, why_unreadable
from ..errors import refuse_to_replace
from ..model import CVAE

FORMAT = "pyro_cvae.checkpoint"
VERSION = 2
FILENAME = "checkpoint.pt"
#: the side file each app wrote beside a version-1 checkpoint, and the app it names
_V1_SIDE_FILES = {"twobirds.yaml": "twobirds", "images.yaml": "images"}

PathLike = Union[str, Path]


def checkpoint_path(path: PathLike) -> Path:
    """A directory means ``DIR/checkpoint.pt``; a file path is used as given."""
    path = Path(path)
    return path / FILENAME if path.suffix != ".pt" else path


def save_checkpoint(
    path: PathLike,
    model: CVAE,
    optimizer: Optional[torch.optim.Optimizer] = None,
    history=None,
    epoch: Optional[int] = None,
    fit_config: Optional[FitConfig] = None,
    metadata: Optional[Dict[str, Any]] = None,
    extra: Optional[Dict[str, Any]] = None,
    overwrite: bool = False,
) -> Path:
    """Write ``checkpoint.pt`` (and ``config.yaml`` beside it); returns the checkpoint's path.
    An existing checkpoint is replaced only with ``overwrite`` (``OutputExistsError`` otherwise).

    ``metadata`` is the app's JSON-like record (``{"app": "twobirds", "functions": ...}``);
    ``extra`` holds training-loop state that ``fit`` needs to resume exactly.
    """
    refuse_to_replace(checkpoint_path(path), overwrite, "checkpoint")
    state = checkpoint_state(model, optimizer, history, epoch, fit_config, metadata, extra)
    write_config_copy(path, state)
    return write_checkpoint(path, state)


def checkpoint_state(
    model: CVAE,
    optimizer: Optional[torch.optim.Optimizer] = None,
    history=None,
    epoch: Optional[int] = None,
    fit_config: Optional[FitConfig] = None,
    metadata: Optional[Dict[str, Any]] = None,
    extra: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """The checkpoint's contents, as of now (tensors shared with the model, not copied)."""
    if model.config is None:
        raise ValueError("this model has no config (it was not made by pyro_cvae.build); cannot save it")
    state = {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.config.to_dict(),
        "custom_components": list(model.custom_components),
        "model_state": model.state_dict(),
        "optimizer_state": None if optimizer is None else optimizer.state_dict(),
        "history": None if history is None else history.to_dict(),
        "epoch": epoch,
        "fit_config": None if fit_config is None else fit_config.to_dict(),
        "metadata": dict(metadata or {}),
        "torch_rng_state": torch.get_rng_state(),
        # CUDA draws (a model trained on a GPU) need their own generators back to resume exactly
        "cuda_rng_states": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
        **(extra or {}),
    }
    return state


def write_checkpoint(path: PathLike, state: Dict[str, Any]) -> Path:
    """Atomically write a state from ``checkpoint_state`` as the checkpoint at ``path``."""
    target = checkpoint_path(path)
    atomic_save(state, target)
    return target


def write_config_copy(path: PathLike, state: Dict[str, Any]) -> None:
    """``config.yaml`` beside the checkpoint: the configs and metadata, for people to read."""
    sections = {"model": state["model_config"], "fit": state["fit_config"], "metadata": state["metadata"]}
    write_config_file(checkpoint_path(path).parent / "config.yaml", {k: v for k, v in sections.items() if v})


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """The raw checkpoint dict, with clear errors for missing or foreign files."""
    target = checkpoint_path(path)
    if not target.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(target)!r}")
    try:
        state = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated, or holding pickled code
        raise ValueError(f"{str(target)!r} is not a readable pyro_cvae checkpoint: {why_unreadable(error)}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{str(target)!r} is a torch file but not a pyro_cvae checkpoint")
    if state.get("version", 0) > VERSION:
        raise ValueError(
            f"{str(target)!r} was written by a newer pyro_cvae (format {state['version']}, this one reads "
            f"up to {VERSION}): upgrade pyro_cvae to load it"
        )
    if state.get("version", 1) < 2:
        state["metadata"] = _version1_metadata(target.parent)
    return state


def read_run_to_continue(folder: Optional[PathLike], model: CVAE) -> Optional[Dict[str, Any]]:
    """The checkpoint in ``folder`` that a ``resume=True`` fit of ``model`` continues, or None when
    the folder holds none yet (start fresh); clear errors for no folder or another model's run."""
    if folder is None:
        raise ValueError("resume=True needs checkpoint_dir, the folder of the run to continue")
    if not checkpoint_path(folder).is_file():
        return None
    saved = read_checkpoint(folder)
    if saved["model_config"] != model.config.to_dict():
        raise ValueError(
            f"the checkpoint in {str(folder)!r} is of a different model config; "
            "build the model from it (pyro_cvae.Run.load) or use another checkpoint_dir"
        )
    return saved


def restore_weights_and_optimizer(
    saved: Dict[str, Any], model: CVAE, optimizer: torch.optim.Optimizer, learning_rate: float
) -> None:
    """Put a saved run's weights and optimizer state back, at ``learning_rate`` (the saved state
    carries the old one), for either training engine to continue from."""
    model.load_state_dict(saved["model_state"])
    if saved.get("optimizer_state") is not None:
        optimizer.load_state_dict(saved["optimizer_state"])
        for group in optimizer.param_groups:
            group["lr"] = learning_rate


def _version1_metadata(folder: Path) -> Dict[str, Any]:
    for name, app in _V1_SIDE_FILES.items():
        if (folder / name).is_file():
            return {"app": app, **load_config(folder / name).get("data", {})}
    return {}

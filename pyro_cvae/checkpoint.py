"""Checkpoints: config, weights, optimizer state, history and RNG state in one ``.pt`` file.

Written atomically (temporary file, then rename) so an interrupted save never destroys the
previous checkpoint. Read with ``weights_only=True``: a checkpoint holds tensors and plain
values only, so loading one can never run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from .build import build
from .config import ModelConfig
from .data.tensors import atomic_save
from .model import CVAE

FORMAT = "pyro_cvae.checkpoint"
VERSION = 1
FILENAME = "checkpoint.pt"


def checkpoint_path(path: Union[str, Path]) -> Path:
    """A directory means ``DIR/checkpoint.pt``; a file path is used as given."""
    path = Path(path)
    return path / FILENAME if path.suffix != ".pt" else path


def save_checkpoint(
    path: Union[str, Path],
    model: CVAE,
    optimizer: Optional[torch.optim.Optimizer] = None,
    history=None,
    epoch: Optional[int] = None,
    fit_config=None,
) -> Path:
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
        "torch_rng_state": torch.get_rng_state(),
    }
    target = checkpoint_path(path)
    atomic_save(state, target)
    return target


def read_checkpoint(path: Union[str, Path]) -> Dict[str, Any]:
    """The raw checkpoint dict, with clear errors for missing or foreign files."""
    target = checkpoint_path(path)
    if not target.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(target)!r}")
    try:
        state = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated, or holding pickled code
        raise ValueError(f"{str(target)!r} is not a readable pyro_cvae checkpoint: {error}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{str(target)!r} is a torch file but not a pyro_cvae checkpoint")
    if state.get("version", 0) > VERSION:
        raise ValueError(f"{str(target)!r} was written by a newer pyro_cvae (format {state['version']})")
    return state


def load_model(path: Union[str, Path], device: Union[str, torch.device] = "cpu", **components) -> CVAE:
    """Rebuild the model from its saved config and load its weights; returned in eval mode.

    A model built with injected components (see ``build``) needs the same objects again here,
    passed by name, e.g. ``load_model(path, forward_model=F)``.
    """
    state = read_checkpoint(path)
    missing = sorted(set(state["custom_components"]) - set(components))
    if missing:
        raise ValueError(
            f"this checkpoint's model was built with custom {missing}; pass them, "
            f"e.g. load_model(path, {missing[0]}=...)"
        )
    model = build(ModelConfig.from_dict(state["model_config"]), **components)
    model.load_state_dict(state["model_state"])
    return model.to(device).eval()

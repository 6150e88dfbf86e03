"""``Run``: the one object that owns a trained model.

A run is the model together with what made it and what it is for: its ``ModelConfig`` (on the
model), the ``FitConfig`` that trained it, the ``History`` of that training, and the metadata of
the app that set it up (Two Birds' forward functions, an image set and its shape). It saves to
and loads from one folder, reading the checkpoint once::

    run = pc.Run(model, fit_config=config, history=history, metadata={"note": "baseline"})
    run.save("runs/mine")
    run = pc.Run.load("runs/mine")            # run.model is ready, in eval mode
    run.metadata, run.history.val_elbo[-1]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from ..build import build
from ..config import FitConfig, ModelConfig
from ..model import CVAE
from .checkpoint import read_checkpoint, save_checkpoint
from .history import History

PathLike = Union[str, Path]


@dataclass
class Run:
    """A trained model with its configs, history and app metadata."""

    model: CVAE
    fit_config: Optional[FitConfig] = None
    history: History = field(default_factory=History)
    #: JSON-like facts an app needs to use the model again, e.g. ``{"app": "twobirds",
    #: "functions": "sin(...), cos(...)"}``; saved in the checkpoint and in config.yaml
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config

    @property
    def app(self) -> Optional[str]:
        """The app that made this run (``"twobirds"``, ``"images"``), or None."""
        return self.metadata.get("app")

    def require_app(self, app: str) -> "Run":
        """This run, if ``app`` made it; else a clear error (e.g. an images run given to Two Birds)."""
        if self.app != app:
            made_by = f"by '{self.app}'" if self.app else "by plain pyro-cvae fit"
            raise ValueError(f"this run was made {made_by}, not by '{app}': give the folder of a '{app} fit' run")
        return self

    def save(self, folder: PathLike, overwrite: bool = False) -> Path:
        """Write the run into ``folder`` (``checkpoint.pt`` and ``config.yaml``). A folder that
        already holds a run is refused (``OutputExistsError``) unless ``overwrite``, as ``fit``
        and the command line refuse it."""
        last_epoch = self.history.epoch[-1] if len(self.history) else None
        return save_checkpoint(
            folder,
            self.model,
            history=self.history,
            epoch=last_epoch,
            fit_config=self.fit_config,
            metadata=self.metadata,
            overwrite=overwrite,
        )

    @classmethod
    def load(cls, path: PathLike, device: Union[str, torch.device] = "cpu", **components) -> "Run":
        """Rebuild a saved run: the model from its config and weights (eval mode, on ``device``),
        its fit config, history and metadata. A model built with injected components (see
        ``build``) needs the same objects again, by name: ``Run.load(path, forward_model=F)``."""
        state = read_checkpoint(path)
        missing = sorted(set(state["custom_components"]) - set(components))
        if missing:
            raise ValueError(
                f"this checkpoint's model was built with custom {missing}; pass them, "
                f"e.g. Run.load(path, {missing[0]}=...)"
            )
        model = build(ModelConfig.from_dict(state["model_config"]), **components)
        try:
            model.load_state_dict(state["model_state"])
        except RuntimeError as error:
            raise ValueError(
                f"the weights in {str(path)!r} do not fit the model its config describes: {str(error).splitlines()[0]}"
            ) from None
        return cls(
            model=model.to(device).eval(),
            fit_config=None if state.get("fit_config") is None else FitConfig.from_dict(state["fit_config"]),
            history=History() if state.get("history") is None else History.from_dict(state["history"]),
            metadata=dict(state.get("metadata") or {}),
        )


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu", **components) -> CVAE:
    """The model of a saved run, in eval mode: ``Run.load(path, ...).model``.

    A model built with injected components (see ``build``) needs the same objects again here,
    passed by name, e.g. ``load_model(path, forward_model=F)``.
    """
    return Run.load(path, device, **components).model

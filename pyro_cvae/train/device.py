"""Where a fit runs: ``"auto"`` is CUDA when there is a GPU, else the CPU (both engines)."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` for ``FitConfig.device``: ``"auto"`` is CUDA when a GPU is visible,
    else CPU; ``"cuda[:N]"`` without CUDA is refused rather than silently run on the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} was requested but CUDA is not available; use 'auto' or 'cpu'")
    return device

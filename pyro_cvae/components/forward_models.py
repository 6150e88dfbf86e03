"""Known forward maps y = F(x), selectable by name for the physics-consistency term.

When F is known, the model gets one more observed site, ``y_fwd ~ Normal(F(x_mean), σ_y)`` with
``obs=y``: the Bayesian form of a "recompute y from the generated x and penalize the misfit"
loss. F must be a differentiable torch function mapping ``(..., *x_shape)`` to
``(..., *y_shape)``.

A config names a forward model as ``"name"`` or ``"name:argument"``, e.g. ``"identity"`` or
``"twobirds:original"`` / ``"twobirds:sin(31*x0+17*x1), cos(23*x0+41*x1)"`` (registered by the
Two Birds app). Each registry entry is a factory taking the argument (None when absent) and
returning F. Register your own with
``@FORWARD_MODELS.register("name")``, or pass a callable as ``build(..., forward_model=F)``.
"""

from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch

from ..registry import Registry

FORWARD_MODELS: Registry = Registry("forward_model")

ForwardModel = Callable[[torch.Tensor], torch.Tensor]


def split_name(spec: str) -> Tuple[str, Optional[str]]:
    """``"name:argument"`` -> ``("name", "argument")``; ``"name"`` -> ``("name", None)``."""
    name, _, argument = spec.partition(":")
    return name.strip(), (argument.strip() or None)


def make_forward_model(spec: str) -> ForwardModel:
    """The forward model a config string names (the one place that parses ``name:argument``)."""
    name, argument = split_name(spec)
    return FORWARD_MODELS.get(name)(argument)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@FORWARD_MODELS.register("identity", "y = x (a denoising problem; also handy in tests)")
def identity(argument: Optional[str] = None) -> ForwardModel:
    if argument is not None:
        raise ValueError(f"forward_model 'identity' takes no argument, got {argument!r}")
    return _identity

"""Known forward maps y = F(x), selectable by name for the physics-consistency term.

When F is known, the model gets one more observed site, ``y_fwd ~ Normal(F(x_mean), σ_y)`` with
``obs=y``: the Bayesian form of a "recompute y from the generated x and penalize the misfit"
loss. F must be a differentiable torch function mapping ``(..., *x_shape)`` to
``(..., *y_shape)``. Register your own with ``@FORWARD_MODELS.register("name")``, or pass a
callable as ``build(..., forward_model=F)``.
"""

from __future__ import annotations

import torch

from .registry import Registry

FORWARD_MODELS: Registry = Registry("forward_model")


@FORWARD_MODELS.register("identity", "y = x (a denoising problem; also handy in tests)")
def identity(x: torch.Tensor) -> torch.Tensor:
    return x

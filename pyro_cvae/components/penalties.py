"""Penalties: extra terms in the training objective, chosen by name and weight in a config.

Seed 003 sharpens the images of its VAE with two losses besides the reconstruction and the KL:
a total-variation term on the decoded image and a perceptual term that compares the features
a small classifier sees in the decoded image and in the data. Here they are declared as

    ModelConfig(..., penalties={"total-variation": 0.5, "perceptual": 1.0})

and enter the model as ``pyro.factor`` sites, one per penalty, inside the data plate::

    log-factor "penalty_<name>" = -weight * penalty(E[x | z, y], x)      per data point

**With any penalty the training objective is no longer an ELBO.** It becomes
ELBO - Σ_k w_k E_q[penalty_k], which is not a bound on log p(x | y), and the fitted decoder is no
longer the maximum-likelihood one for its likelihood. The penalties are a training-time device:
they are added only while the module is in train mode and x is observed. Evaluation
(``elbo_terms``, ``iwae_log_likelihood``, ``Predictive``) runs in eval mode and so always
reports the pure ELBO and log-likelihood estimates, which is what lets models with and without
penalties be compared on the same scale. ``History`` records the weighted penalty separately.

Each value is summed over the pixels of one image, like the log-likelihood it competes with, so
a weight keeps its meaning relative to the likelihood at any resolution. Register your own with
``@PENALTIES.register("name")`` on a ``Penalty`` subclass taking ``(x_shape, weight)``.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch
from torch import nn

from ..registry import Registry
from .perception import FeatureTrunk

PENALTIES: Registry = Registry("penalty")


class Penalty(nn.Module):
    """``forward(mean, x)``: a non-negative value per data point, shape ``(batch,)``.

    ``mean`` is the decoded image E[x | z, y], ``x`` the observed one, both ``(batch, *x_shape)``.
    """

    def __init__(self, x_shape: Sequence[int], weight: float):
        super().__init__()
        self.x_shape = tuple(x_shape)
        self.weight = float(weight)


def total_variation(images: torch.Tensor, event_ndim: int) -> torch.Tensor:
    """Σ of squared differences between vertical and horizontal neighbours over the last two dims
    (and any channel dim), per item: the smoothness measure of seed 003's TV loss."""
    vertical = (images[..., 1:, :] - images[..., :-1, :]).pow(2)
    horizontal = (images[..., :, 1:] - images[..., :, :-1]).pow(2)
    start = images.dim() - event_ndim
    return vertical.flatten(start).sum(-1) + horizontal.flatten(start).sum(-1)


@PENALTIES.register("total-variation", "squared neighbour differences of the decoded image (smoothness)")
class TotalVariation(Penalty):
    """Penalizes pixel-to-pixel noise in E[x | z, y]; it does not look at the data x."""

    def __init__(self, x_shape: Sequence[int], weight: float):
        super().__init__(x_shape, weight)
        if len(self.x_shape) < 2:
            raise ValueError(
                f"penalty 'total-variation' needs image-shaped x (..., height, width), got x_shape "
                f"{self.x_shape}; use an image shape such as (1, 8, 8) with a conv network"
            )

    def forward(self, mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return total_variation(mean, len(self.x_shape))


@PENALTIES.register("perceptual", "L1 distance between a small classifier's features of E[x|z,y] and of x")
class Perceptual(Penalty):
    """Feature matching through a frozen classifier trained on the same data (seed 003).

    The classifier's weights are stored as buffers, not parameters: they are saved with the model
    and move with ``.to(device)``, but no optimizer (``fit``'s or ``pyro.optim``'s through
    ``pyro.module``) can ever change them, and the penalty cannot "win" by dulling the features.
    Train them first with ``pyro_cvae.fit_perception(model, x, labels)``; a model
    whose classifier is untrained refuses to run the penalty rather than match random features.
    """

    trained: torch.Tensor

    def __init__(self, x_shape: Sequence[int], weight: float):
        super().__init__(x_shape, weight)
        trunk = FeatureTrunk(self.x_shape).eval()
        self._trunk: List[FeatureTrunk] = [trunk]  # a list hides the module from nn.Module: its weights live in buffers
        self._trunk_names = tuple(trunk.state_dict())
        for name, tensor in trunk.state_dict().items():
            self.register_buffer(_buffer_name(name), tensor.clone())
        self.register_buffer("trained", torch.tensor(False))

    def trunk_state(self) -> Dict[str, torch.Tensor]:
        return {name: getattr(self, _buffer_name(name)) for name in self._trunk_names}

    def load_trunk(self, trunk: FeatureTrunk) -> None:
        """Copy a trained ``FeatureTrunk``'s weights in and mark the penalty ready."""
        with torch.no_grad():
            for name, tensor in trunk.state_dict().items():
                getattr(self, _buffer_name(name)).copy_(tensor)
            self.trained.fill_(True)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's embedding of ``images`` (gradients flow to the images only)."""
        return torch.func.functional_call(self._trunk[0], self.trunk_state(), (images,))

    def forward(self, mean: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.trained):
            raise RuntimeError(
                "the 'perceptual' penalty's feature classifier is untrained; train it first with "
                "pyro_cvae.fit_perception(model, x, labels)"
            )
        with torch.no_grad():
            target = self.features(x)
        return (self.features(mean) - target).abs().sum(-1)


def _buffer_name(parameter_name: str) -> str:
    return "trunk__" + parameter_name.replace(".", "__")  # buffer names may not contain dots


def build_penalties(config) -> nn.ModuleDict:
    """The penalties a ``ModelConfig`` names, those with weight 0 left out."""
    return nn.ModuleDict(
        {name: PENALTIES.get(name)(config.x_shape, weight) for name, weight in config.penalties.items() if weight > 0}
    )

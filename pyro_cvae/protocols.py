"""The contracts between the parts of a model, written as protocols (checked by mypy).

A prior, a guide and a decoder are any callables with these shapes, usually ``nn.Module``
subclasses; nothing needs to inherit from these classes. A model is their composition::

    z ~ prior(y)          Prior:   y (batch, *y_shape) or None  -> distribution over z (event dim 1)
    z ~ guide(x, y)       Guide:   x, y                          -> distribution over z
    θ = decoder(z, y)     Decoder: z (..., latent_dim), y        -> likelihood parameter shaped like x
    x ~ likelihood(θ)     pyro_cvae.components.likelihoods.Likelihood

Every tensor may carry extra leading (sample) dimensions, which ``Predictive(parallel=True)``
relies on.
"""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

import pyro.distributions as dist
import torch


@runtime_checkable
class Prior(Protocol):
    """p(z | y): N(0, I), or a learnable prior network r_θ1(z | y)."""

    def __call__(self, y: Optional[torch.Tensor]) -> dist.TorchDistribution: ...


@runtime_checkable
class Guide(Protocol):
    """q_φ(z | x, y), the amortized variational posterior (it may ignore y)."""

    def __call__(self, x: torch.Tensor, y: Optional[torch.Tensor]) -> dist.TorchDistribution: ...


@runtime_checkable
class Decoder(Protocol):
    """r_θ2: maps (z, y) to the likelihood's parameter, shaped ``(..., *x_shape)``."""

    latent_dim: int

    def __call__(self, z: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor: ...

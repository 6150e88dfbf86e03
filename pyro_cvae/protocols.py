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

from typing import Any, Optional, Protocol, Tuple, runtime_checkable

import pyro.distributions as dist
import torch

from .checks import as_tensor


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


class WrapsPosterior:
    """A posterior made from another, ``self.posterior`` (a recalibration, a check's negative
    control): its parameter names, shapes and history are that one's, where it has them."""

    posterior: Any

    @property
    def parameter_names(self):
        return getattr(self.posterior, "parameter_names", None)

    @property
    def num_parameters(self):
        return getattr(self.posterior, "num_parameters", None)

    @property
    def observation_shape(self):
        return getattr(self.posterior, "observation_shape", None)

    @property
    def history(self):
        return getattr(self.posterior, "history", None)

    def _observation_batch(self, x_o: Any) -> Tuple[torch.Tensor, bool]:
        """``x_o`` as a batch of observations ``(B, ...)``, and whether it came as one: by the
        wrapped posterior's observation shape where it has one, else observations are vectors."""
        x = as_tensor(x_o)
        shape = self.observation_shape
        batched = x.dim() > (len(shape) if shape is not None else 1)
        return (x if batched else x[None]), batched


def read_observations_of(posterior: Any, x: torch.Tensor) -> None:
    """What ``posterior.log_prob`` reads once per observation (a recalibration's reference draws,
    the share of draws inside the support), read for the batch of observations ``x`` in one go,
    where the posterior has ``read_observations`` (this suite's posteriors do; sbi's do not, and
    then nothing happens: their ``log_prob`` reads each observation when it is called)."""
    read = getattr(posterior, "read_observations", None)
    if callable(read):
        read(x)

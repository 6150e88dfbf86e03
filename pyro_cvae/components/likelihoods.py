"""Likelihoods p(x | z, y): turn the decoder's output into a distribution over x.

The decoder emits one tensor shaped like x, the likelihood's natural parameter (a location for
Normal and Laplace, logits for the Bernoulli family). Every event dim of x is one event, so
``log_prob`` sums over the whole of x and the ``pyro.plate`` over data stays the only batch dim.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import pyro.distributions as dist
import torch
from torch import nn

from ..registry import Registry

LIKELIHOODS: Registry = Registry("likelihood")


class Likelihood(nn.Module):
    """Base class: ``forward(param)`` gives the distribution, ``mean(param)`` its mean."""

    #: bounds on the data, checked by ``check_data``; None means unbounded
    support: Optional[Tuple[float, float]] = None

    def __init__(self, x_shape: Sequence[int]):
        super().__init__()
        self.event_ndim = len(x_shape)

    def mean(self, param: torch.Tensor) -> torch.Tensor:
        return param

    def check_data(self, x: torch.Tensor, name: str = "x") -> None:
        if self.support is not None:
            low, high = self.support
            if x.min() < low or x.max() > high:
                raise ValueError(
                    f"{name} must lie in [{low}, {high}] for the {type(self).__name__}, got values in "
                    f"[{float(x.min()):.3g}, {float(x.max()):.3g}]; rescale it or choose likelihood='normal'"
                )


class _LocationScale(Likelihood):
    """Normal or Laplace with a fixed scale, or one learned scalar scale."""

    family = dist.Normal

    def __init__(self, x_shape: Sequence[int], scale: float, learn_scale: bool):
        super().__init__(x_shape)
        log_scale = torch.tensor(math.log(scale))
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def forward(self, param: torch.Tensor) -> dist.TorchDistribution:
        return self.family(param, self.log_scale.exp()).to_event(self.event_ndim)


class NormalLikelihood(_LocationScale):
    """x ~ N(decoder(z, y), σ²); σ fixed or learned. σ fixed makes it the MSE loss."""


class LaplaceLikelihood(_LocationScale):
    """x ~ Laplace(decoder(z, y), b): the L1 reconstruction loss of the flowers VAE seed."""

    family = dist.Laplace


class BernoulliLikelihood(Likelihood):
    """x ~ Bernoulli(logits=decoder(z, y)): binary cross-entropy.

    Data in [0, 1] that is not binary is accepted, as in the seeds' BCE loss, but then the
    "likelihood" is not a normalized density; ``continuous-bernoulli`` is the proper one.
    """

    support = (0.0, 1.0)

    def forward(self, param: torch.Tensor) -> dist.TorchDistribution:
        return dist.Bernoulli(logits=param, validate_args=False).to_event(self.event_ndim)

    def mean(self, param: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(param)


class ContinuousBernoulliLikelihood(Likelihood):
    """x ~ ContinuousBernoulli(logits=decoder(z, y)): a normalized density on [0, 1]
    (Loaiza-Ganem & Cunningham, 2019)."""

    support = (0.0, 1.0)

    def forward(self, param: torch.Tensor) -> dist.TorchDistribution:
        return dist.ContinuousBernoulli(logits=param).to_event(self.event_ndim)

    def mean(self, param: torch.Tensor) -> torch.Tensor:
        return dist.ContinuousBernoulli(logits=param).mean


@LIKELIHOODS.register("normal", "Normal with fixed or learned scale (MSE)")
def _normal(config) -> Likelihood:
    return NormalLikelihood(config.x_shape, config.likelihood_scale, config.learn_likelihood_scale)


@LIKELIHOODS.register("laplace", "Laplace with fixed or learned scale (L1)")
def _laplace(config) -> Likelihood:
    return LaplaceLikelihood(config.x_shape, config.likelihood_scale, config.learn_likelihood_scale)


@LIKELIHOODS.register("bernoulli", "Bernoulli on logits (binary cross-entropy), x in [0, 1]")
def _bernoulli(config) -> Likelihood:
    return BernoulliLikelihood(config.x_shape)


@LIKELIHOODS.register("continuous-bernoulli", "ContinuousBernoulli on logits, x in [0, 1]")
def _continuous_bernoulli(config) -> Likelihood:
    return ContinuousBernoulliLikelihood(config.x_shape)

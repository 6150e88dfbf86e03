"""Likelihoods p(x | z, y): turn the decoder's output into a distribution over x.

The decoder emits one tensor shaped like x, the likelihood's natural parameter (a location for
Normal and Laplace, logits for the Bernoulli family); ``param_shape`` says when it is another
shape: twice as many values along x's first dim for ``diagonal-normal`` (a location and a scale
each), a context vector for the ``flow`` likelihood. Every event dim of x is one event, so
``log_prob`` sums over the whole of x and the ``pyro.plate`` over data stays the only batch dim.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import softplus

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


class DiagonalNormalLikelihood(Likelihood):
    """x ~ N(μ(z, y), diag σ(z, y)²): the decoder emits a location and a scale for every value
    of x (heteroscedastic). A posterior over parameters can be sharp in one and wide in
    another, and its width can change with the observation; one scalar scale forces every
    value to the same noise level. The decoder's output holds ``[loc, raw scale]`` stacked
    along x's first dim; σ = softplus(raw) + 1e-4."""

    params_per_value = 2

    def _split(self, param: torch.Tensor):
        loc, raw_scale = param.chunk(2, dim=-self.event_ndim)
        return loc, softplus(raw_scale) + 1e-4

    def forward(self, param: torch.Tensor) -> dist.TorchDistribution:
        return dist.Normal(*self._split(param)).to_event(self.event_ndim)

    def mean(self, param: torch.Tensor) -> torch.Tensor:
        return self._split(param)[0]


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


@LIKELIHOODS.register("diagonal-normal", "Normal with a location and a scale per value, both from the decoder")
def _diagonal_normal(config) -> Likelihood:
    return DiagonalNormalLikelihood(config.x_shape)


def _twice_first_dim(config) -> Tuple[int, ...]:
    first, *rest = config.x_shape
    return (2 * first, *rest)


_diagonal_normal.param_shape = _twice_first_dim


class FlowLikelihood(Likelihood):
    """x ~ F(x | h(z, y)): a normalizing flow over a flat x (zuko, ``flow_type``, ``flow_layers``),
    every layer conditioned on the decoder's output h, a context vector of ``FLOW_CONTEXT``
    values. The decoder stays the likelihood's parameter; the family is no longer one bump per
    z. With it the CVAE contains conditional-flow density estimation (z ignored) as a special
    case, and z carries what one flow finds hard, e.g. well-separated modes. ``mean`` has no
    closed form: it is the average of 32 draws. The flow's layers are as wide as the decoder's
    last hidden layer, or 64 when the decoder is a linear map (``hidden_sizes=()``)."""

    def __init__(self, x_shape: Sequence[int], flow_type: str, layers: int, hidden: int):
        super().__init__(x_shape)
        if len(x_shape) != 1:
            raise ValueError(f"likelihood 'flow' needs a flat x, x_shape (features,), got {tuple(x_shape)}")
        from .flows import conditional_flow

        self.flow = conditional_flow(flow_type, x_shape[0], FLOW_CONTEXT, layers, hidden)

    def forward(self, param: torch.Tensor) -> dist.TorchDistribution:
        from .flows import ZukoFlow

        # most draws are never scored (Predictive's): a draw's density only when asked
        return ZukoFlow(self.flow(param), keep_draw_density=False)

    def mean(self, param: torch.Tensor) -> torch.Tensor:
        return self.flow(param).sample((32,)).mean(0)


#: size of the context vector a decoder emits for the ``flow`` likelihood
FLOW_CONTEXT = 64


@LIKELIHOODS.register("flow", "a zuko flow over a flat x, conditioned on the decoder's output")
def _flow(config) -> Likelihood:
    return FlowLikelihood(config.x_shape, config.flow_type, config.flow_layers, (config.hidden_sizes or (64,))[-1])


_flow.param_shape = lambda config: (FLOW_CONTEXT,)


def param_shape(config) -> Tuple[int, ...]:
    """The shape of what the decoder emits for this config's likelihood: x's shape unless the
    likelihood's factory says otherwise (its ``param_shape(config)``)."""
    shape_of = getattr(LIKELIHOODS.get(config.likelihood), "param_shape", None)
    return tuple(config.x_shape) if shape_of is None else tuple(shape_of(config))


@LIKELIHOODS.register("bernoulli", "Bernoulli on logits (binary cross-entropy), x in [0, 1]")
def _bernoulli(config) -> Likelihood:
    return BernoulliLikelihood(config.x_shape)


@LIKELIHOODS.register("continuous-bernoulli", "ContinuousBernoulli on logits, x in [0, 1]")
def _continuous_bernoulli(config) -> Likelihood:
    return ContinuousBernoulliLikelihood(config.x_shape)

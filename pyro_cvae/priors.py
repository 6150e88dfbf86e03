"""Priors p(z | y): modules whose ``forward(y)`` returns a distribution over the latent z.

The conditional priors are the learnable prior network r_θ1(z | y) of the dual-encoder CVAE
(Sohn et al., 2015; the seed's "encoder 2"). Their parameters are trained through the ELBO's
KL(q_φ(z | x, y) || r_θ1(z | y)) term, which ``Trace_ELBO`` estimates from the two log-densities.
At test time x is drawn by z ~ r_θ1(z | y), x ~ p(x | z, y).
"""

from __future__ import annotations

from typing import Optional

import pyro.distributions as dist
import pyro.distributions.transforms as T
import torch
from torch import nn

from .nets import EncoderNet, diagonal_normal
from .registry import Registry

PRIORS: Registry = Registry("prior")


def _needs_condition(name: str, y_shape) -> None:
    if y_shape is None:
        raise ValueError(f"prior {name!r} is conditional on y: set y_shape, or use prior='standard-normal'")


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I), ignoring y. ``pyro.plate`` broadcasts it over the batch."""

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, latent_dim: int):
        super().__init__()
        # buffers, so that .to(device) moves them with the model
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def forward(self, y: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
        return dist.Normal(self.loc, self.scale).to_event(1)


class ConditionalGaussianPrior(nn.Module):
    """r_θ1(z | y) = N(μ(y), diag σ(y)²), with μ and σ from one network on y."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, y: torch.Tensor) -> dist.TorchDistribution:
        return diagonal_normal(self.net(y))


class ConditionalMixturePrior(nn.Module):
    """r_θ1(z | y) = Σ_k π_k(y) N(μ_k(y), diag σ_k(y)²), a K-component mixture (as in VItamin).

    A mixture can hold several separated modes of p(x | y), which a single Gaussian prior
    must smear into one. Its KL to the Gaussian guide has no closed form, so Trace_ELBO
    (and TraceMeanField_ELBO's fallback) estimate it by sampling.
    """

    def __init__(self, net: nn.Module, latent_dim: int, components: int):
        super().__init__()
        self.net, self.latent_dim, self.components = net, latent_dim, components

    def forward(self, y: torch.Tensor) -> dist.TorchDistribution:
        out = self.net(y)
        k, d = self.components, self.latent_dim
        logits = out[..., :k]
        components = diagonal_normal(out[..., k:].reshape(*out.shape[:-1], k, 2 * d))
        return dist.MixtureSameFamily(dist.Categorical(logits=logits), components)


class ConditionalFlowPrior(nn.Module):
    """r_θ1(z | y): N(0, I) pushed through conditional spline autoregressive flows (Durkan et al.,
    2019), each conditioned on an embedding c(y) of the condition.

    Flows give a prior whose shape, not only location and scale, depends on y: several separated
    modes, skew, curved ridges. Built from ``pyro.distributions.transforms``; each layer has
    its own random variable order, and ``log_prob`` (what the KL term needs) is one pass.
    """

    loc: torch.Tensor
    scale: torch.Tensor

    def __init__(self, embed: nn.Module, latent_dim: int, layers: int, context_dim: int, hidden: int):
        super().__init__()
        self.embed = embed
        self.transforms = nn.ModuleList(
            T.conditional_spline_autoregressive(latent_dim, context_dim, hidden_dims=[hidden, hidden], count_bins=8)
            for _ in range(layers)
        )
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def forward(self, y: torch.Tensor) -> dist.TorchDistribution:
        context = self.embed(y)
        # batch shape (batch,), like the other priors, so it can be sampled outside a plate too
        base = dist.Normal(self.loc, self.scale).to_event(1).expand(context.shape[:-1])
        return dist.ConditionalTransformedDistribution(base, list(self.transforms)).condition(context)


def _condition_net(config, out_features: int) -> EncoderNet:
    # the prior sees only y, so it is an encoder of y with no second input
    return EncoderNet(config.y_shape, None, out_features, "mlp", config.prior_hidden_sizes)


@PRIORS.register("standard-normal", "N(0, I); the VAE and standard CVAE prior")
def _standard_normal(config) -> nn.Module:
    return StandardNormalPrior(config.latent_dim)


@PRIORS.register("conditional-gaussian", "learnable Gaussian prior network r_θ1(z|y) (dual encoder)")
def _conditional_gaussian(config) -> nn.Module:
    _needs_condition("conditional-gaussian", config.y_shape)
    return ConditionalGaussianPrior(_condition_net(config, 2 * config.latent_dim))


@PRIORS.register("conditional-mixture", "learnable K-component Gaussian mixture prior r_θ1(z|y)")
def _conditional_mixture(config) -> nn.Module:
    _needs_condition("conditional-mixture", config.y_shape)
    k, d = config.mixture_components, config.latent_dim
    return ConditionalMixturePrior(_condition_net(config, k + 2 * k * d), d, k)


@PRIORS.register("conditional-flow", "learnable prior r_θ1(z|y): N(0, I) through y-conditioned spline flows")
def _conditional_flow(config) -> nn.Module:
    _needs_condition("conditional-flow", config.y_shape)
    context = 32
    return ConditionalFlowPrior(
        _condition_net(config, context),
        config.latent_dim,
        config.flow_layers,
        context,
        hidden=config.prior_hidden_sizes[-1],
    )

"""Priors p(z | y): modules whose ``forward(y)`` returns a distribution over the latent z.

The conditional priors are the learnable prior network r_θ1(z | y) of the dual-encoder CVAE
(Sohn et al., 2015; the seed's "encoder 2"). Their parameters are trained through the ELBO's
KL(q_φ(z | x, y) || r_θ1(z | y)) term: in closed form where both are Gaussian (the default
objective, ``analytic-kl``), else estimated from the two log-densities at the guide's draw.
At test time x is drawn by z ~ r_θ1(z | y), x ~ p(x | z, y).
"""

from __future__ import annotations

import math
from typing import Optional

import pyro.distributions as dist
import torch
from torch import nn
from torch.distributions import constraints

from ..registry import Registry
from .nets import EncoderNet, diagonal_normal

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


class VampPrior(nn.Module):
    """p(z | y) = 1/K Σ_k q_φ(z | u_k, y): the guide itself at K learned pseudo-inputs u_k
    (Tomczak & Welling, 2018).

    The prior that maximizes the ELBO is the aggregate posterior, the average of q_φ(z | x) over
    the data; with pseudo-inputs in place of the data it is cheap and stays close to it, so the
    KL term stops pulling every encoding towards N(0, I). For a CVAE whose guide sees y, each
    component is q_φ(z | u_k, y): the pseudo-inputs are shared across conditions and the guide
    places them for each y, a learnable mixture prior r_θ(z | y) with no network of its own.
    The guide can be any family here (Gaussian or flow). The KL has no closed form, so it is
    estimated by sampling.

    The guide is attached by ``CVAE`` (``attach_guide``), not held as a submodule: its weights
    belong to the model once, under ``encoder``.
    """

    def __init__(self, x_shape, num_pseudo_inputs: int):
        super().__init__()
        # U(0, 1): where image intensities and the Two Birds values live
        self.pseudo_inputs = nn.Parameter(torch.rand(num_pseudo_inputs, *x_shape))
        self.__dict__["_guide"] = None  # plain attribute: not a second copy of the guide's weights

    def attach_guide(self, guide: nn.Module) -> None:
        self.__dict__["_guide"] = guide

    def forward(self, y: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
        guide = self.__dict__["_guide"]
        if guide is None:
            raise RuntimeError("VampPrior needs its guide: build it through pyro_cvae.build or CVAE")
        u: torch.Tensor = self.pseudo_inputs
        if y is not None and getattr(guide, "uses_condition", False):
            # every pseudo-input with every condition: components of batch shape (batch, K)
            u = u.expand(y.shape[0], *u.shape)
            y = y.unsqueeze(1)
        return UniformMixture(guide(u, y))


class UniformMixture(dist.TorchDistribution):
    """(1/K) Σ_k component_k for components of batch shape (..., K): any family with
    ``log_prob`` and ``rsample`` (Gaussian or flow guides alike). Sampling draws every component
    and keeps one per point, K times the work of one draw: fine for a prior, which is sampled
    only to generate."""

    arg_constraints: dict = {}
    support = constraints.real_vector

    def __init__(self, components: dist.TorchDistribution):
        self.components = components
        super().__init__(components.batch_shape[:-1], components.event_shape, validate_args=False)

    def expand(self, batch_shape, _instance=None) -> "UniformMixture":
        k = self.components.batch_shape[-1:]
        return UniformMixture(self.components.expand(torch.Size(batch_shape) + k))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        k = self.components.batch_shape[-1]
        return torch.logsumexp(self.components.log_prob(value.unsqueeze(-2)), dim=-1) - math.log(k)

    def sample(self, sample_shape=()) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        with torch.no_grad():
            draws = self.components.sample(sample_shape)  # (*sample_shape, *batch, K, D)
        k = self.components.batch_shape[-1]
        pick = torch.randint(k, draws.shape[:-2], device=draws.device)
        return draws.gather(-2, pick[..., None, None].expand(*pick.shape, 1, draws.shape[-1])).squeeze(-2)


class ConditionalFlowPrior(nn.Module):
    """r_θ1(z | y): N(0, I) pushed through a normalizing flow on zuko (``flow_type``: neural
    spline or masked autoregressive, ``flow_layers`` layers), every layer conditioned on an
    embedding c(y) of the condition.

    Flows give a prior whose shape, not only location and scale, depends on y: several separated
    modes, skew, curved ridges. (One flow prior: the spline flow on Pyro's transforms it replaced
    was 2.7× slower per epoch on Two Birds, ``bench/flow_priors.py``.)"""

    def __init__(self, embed: nn.Module, flow: nn.Module):
        super().__init__()
        self.embed, self.flow = embed, flow

    def forward(self, y: torch.Tensor) -> dist.TorchDistribution:
        from .flows import ZukoFlow

        # most draws are never scored (Predictive's): a draw's density only when asked
        return ZukoFlow(self.flow(self.embed(y)), keep_draw_density=False)


@PRIORS.register(
    "vamp", "VampPrior: a mixture of the guide at learned pseudo-inputs (conditional when the guide sees y)"
)
def _vamp(config) -> nn.Module:
    return VampPrior(config.x_shape, config.pseudo_inputs)


@PRIORS.register("conditional-flow", "learnable prior r_θ1(z|y): N(0, I) through a y-conditioned zuko flow")
def _conditional_flow(config) -> nn.Module:
    from .flows import conditional_flow

    _needs_condition("conditional-flow", config.y_shape)
    context = 32
    flow = conditional_flow(
        config.flow_type, config.latent_dim, context, config.flow_layers, config.prior_hidden_sizes[-1]
    )
    return ConditionalFlowPrior(_condition_net(config, context), flow)

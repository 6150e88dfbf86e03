"""Guides q_φ(z | x, y): amortized encoders whose ``forward(x, y)`` returns a distribution.

Three families, each with the condition y entering the encoder (``-xy``, the recognition network
of a CVAE) or skipping it (``-x``, q_φ(z | x): the seed's standard CVAE variant, and a VAE's
choice):

- ``encoder``: a diagonal Gaussian N(μ, diag σ²), the classic VAE encoder;
- ``full-covariance``: N(μ, L Lᵀ) with a lower-triangular Cholesky factor L from the encoder, so
  the guide can express correlations between latent dimensions (d(d+1)/2 scale outputs);
- ``flow``: the diagonal Gaussian pushed through a zuko normalizing flow (``flow_type``,
  ``flow_layers``) whose every layer is conditioned on the encoder's features of (x, y): skewed,
  curved or multimodal posteriors (Rezende & Mohamed 2015; Kingma et al. 2016). The layers run
  in the inverse-autoregressive direction: drawing z and scoring it is one pass each.

All are reparameterized, so every ELBO here (and IWAE) gets low-variance pathwise gradients.
"""

from __future__ import annotations

from typing import Optional

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import softplus

from ..registry import Registry
from . import kl as _kl  # noqa: F401  (registers the full-covariance KL the analytic-kl ELBO uses)
from .nets import MIN_SCALE, EncoderNet, diagonal_normal

GUIDES: Registry = Registry("guide")


class GaussianEncoder(nn.Module):
    """q_φ(z | x[, y]) = N(μ, diag σ²) with μ, σ from one encoder network."""

    def __init__(self, net: EncoderNet):
        super().__init__()
        self.net = net

    @property
    def uses_condition(self) -> bool:
        return self.net.y_shape is not None

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
        return diagonal_normal(self.net(x, y))


class FullCovarianceEncoder(GaussianEncoder):
    """q_φ(z | x[, y]) = N(μ, L Lᵀ): the net emits μ, the log-free diagonal of L (softplus) and
    its d(d-1)/2 entries below the diagonal."""

    def __init__(self, net: EncoderNet, latent_dim: int):
        super().__init__(net)
        self.latent_dim = latent_dim
        rows, cols = torch.tril_indices(latent_dim, latent_dim, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
        d = self.latent_dim
        out = self.net(x, y)
        loc, raw_diagonal, below = out[..., :d], out[..., d : 2 * d], out[..., 2 * d :]
        tril = torch.diag_embed(softplus(raw_diagonal) + MIN_SCALE)
        tril[..., self.rows, self.cols] = below  # type: ignore[index]
        return dist.MultivariateNormal(loc, scale_tril=tril)


class FlowEncoder(GaussianEncoder):
    """q_φ(z | x[, y]): z₀ ~ N(μ, diag σ²), z = T_h(z₀), with μ, σ and the flow's context h from
    one encoder network."""

    def __init__(self, net: EncoderNet, latent_dim: int, context: int, flow):
        super().__init__(net)
        self.latent_dim, self.context, self.flow = latent_dim, context, flow

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
        from zuko.distributions import NormalizingFlow

        from .flows import ZukoFlow

        out = self.net(x, y)
        base = diagonal_normal(out[..., : 2 * self.latent_dim])
        # zuko's autoregressive layers are one pass in the density direction and D passes back;
        # a guide draws z and scores its own draws, so the layers run in the drawing direction
        # (the inverse-autoregressive arrangement of Kingma et al., 2016): one pass for both
        layers = self.flow.transform(out[..., 2 * self.latent_dim :])
        return ZukoFlow(NormalizingFlow(layers.inv, base))


def _net(config, y_shape, out_features: int) -> EncoderNet:
    return EncoderNet(config.x_shape, y_shape, out_features, config.network, config.hidden_sizes, config.channels)


def _condition_of(name: str, config, sees_y: bool):
    if sees_y and config.y_shape is None:
        raise ValueError(f"guide {name!r} needs a condition: set y_shape, or use guide={name[:-1]!r}")
    return config.y_shape if sees_y else None


def _register(family: str, description: str, make):
    for suffix, sees_y, what in (("-xy", True, "q(z|x,y): the condition enters"), ("-x", False, "q(z|x)")):
        name = family + suffix

        def factory(config, name=name, sees_y=sees_y):
            return make(config, _condition_of(name, config, sees_y))

        GUIDES.register(name, f"{description}, {what}")(factory)


def _flow(config, y_shape) -> FlowEncoder:
    from .flows import conditional_flow

    d, context = config.latent_dim, config.hidden_sizes[-1] if config.hidden_sizes else 64
    flow = conditional_flow(config.flow_type, d, context, config.flow_layers, context)
    return FlowEncoder(_net(config, y_shape, 2 * d + context), d, context, flow)


_register(
    "encoder",
    "diagonal Gaussian encoder",
    lambda config, y_shape: GaussianEncoder(_net(config, y_shape, 2 * config.latent_dim)),
)
_register(
    "full-covariance",
    "full-covariance Gaussian encoder (Cholesky factor)",
    lambda config, y_shape: FullCovarianceEncoder(
        _net(config, y_shape, config.latent_dim * (config.latent_dim + 3) // 2), config.latent_dim
    ),
)
_register("flow", "diagonal Gaussian through a zuko flow conditioned on the encoder's features", _flow)

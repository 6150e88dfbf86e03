"""Guides q_φ(z | x, y): amortized encoders whose ``forward(x, y)`` returns a distribution.

``encoder-xy`` is the recognition network of a CVAE, q_φ(z | x, y). ``encoder-x`` drops y,
q_φ(z | x): the seed's standard CVAE variant whose condition skips the encoder, and the VAE's
only choice. Both are diagonal Gaussians, so every sample is reparameterized and the ELBO
gradient has low variance.
"""

from __future__ import annotations

from typing import Optional

import pyro.distributions as dist
import torch
from torch import nn

from .nets import EncoderNet, diagonal_normal
from .registry import Registry

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


def _encoder(config, y_shape) -> GaussianEncoder:
    return GaussianEncoder(
        EncoderNet(
            config.x_shape,
            y_shape,
            2 * config.latent_dim,
            config.network,
            config.hidden_sizes,
            config.channels,
        )
    )


@GUIDES.register("encoder-xy", "Gaussian encoder q(z|x,y): the condition enters the encoder")
def _encoder_xy(config) -> nn.Module:
    if config.y_shape is None:
        raise ValueError("guide 'encoder-xy' needs a condition: set y_shape, or use guide='encoder-x'")
    return _encoder(config, config.y_shape)


@GUIDES.register("encoder-x", "Gaussian encoder q(z|x): the condition skips the encoder")
def _encoder_x(config) -> nn.Module:
    return _encoder(config, None)

"""Decoders r_θ2(x | z, y), selectable by name: ``ModelConfig.decoder``.

A decoder maps ``(z, y)`` (any leading batch dims) to the likelihood's parameter shaped like x,
and exposes ``latent_dim``. Register your own with ``@DECODERS.register("name")``; the factory
receives the ``ModelConfig``.
"""

from __future__ import annotations

from torch import nn

from .nets import DecoderNet
from .registry import Registry

DECODERS: Registry = Registry("decoder")


@DECODERS.register("network", "free decoder: an MLP or conv net (config.network) emitting every value of x")
def _network(config) -> nn.Module:
    return DecoderNet(
        config.latent_dim, config.y_shape, config.x_shape, config.network, config.hidden_sizes, config.channels
    )


@DECODERS.register("lines", "Two Birds: two straight lines from 4 endpoints, inside the prior's box by construction")
def _lines(config) -> nn.Module:
    from .twobirds.decoder import LineDecoder  # twobirds builds on the core modules

    return LineDecoder(config.latent_dim, config.y_shape, config.x_shape, config.hidden_sizes)

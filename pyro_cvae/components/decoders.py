"""Decoders r_θ2(x | z, y), selectable by name: ``ModelConfig.decoder``.

A decoder maps ``(z, y)`` (any leading batch dims) to the likelihood's parameter shaped like x,
and exposes ``latent_dim``. Register your own with ``@DECODERS.register("name")``; the factory
receives the ``ModelConfig``. Apps add theirs the same way (Two Birds' ``lines`` lives in
``pyro_cvae.twobirds.components``; see ``pyro_cvae.registry`` for how it is found by name).
"""

from __future__ import annotations

from torch import nn

from ..registry import Registry
from .likelihoods import param_shape
from .nets import DecoderNet

DECODERS: Registry = Registry("decoder")


@DECODERS.register("network", "free decoder: an MLP or conv net (config.network) emitting every value of x")
def _network(config) -> nn.Module:
    return DecoderNet(
        config.latent_dim, config.y_shape, param_shape(config), config.network, config.hidden_sizes, config.channels
    )

"""Networks from size lists: an MLP, and encoder/decoder nets built on an MLP or a conv trunk.

Every net here accepts any number of leading batch dimensions. ``pyro.infer.Predictive`` with
``parallel=True`` draws z with shape ``(num_samples, batch, latent_dim)`` while the condition y
stays ``(batch, *y_shape)``; the nets flatten the leading dims, broadcast y against z, run once,
and restore the shape. That is what makes vectorized posterior predictive sampling possible.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import pyro.distributions as dist
import torch
from torch import nn
from torch.nn.functional import softplus

from ..registry import Registry
from .conv import CONV_STYLES, down_trunk, he_initialize, up_trunk

MIN_SCALE = 1e-4  # keeps Normal scales strictly positive when softplus underflows


def diagonal_normal(params: torch.Tensor) -> dist.TorchDistribution:
    """N(loc, diag(scale²)) over the last dim from a network output ``[loc, raw_scale]`` of
    twice the event size: the Gaussian head of every encoder and prior network here."""
    loc, raw_scale = params.chunk(2, dim=-1)
    return dist.Normal(loc, softplus(raw_scale) + MIN_SCALE).to_event(1)


class MLP(nn.Sequential):
    """Linear layers of the given widths with an activation between them (none after the last)."""

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int],
        out_features: int,
        activation: type = nn.ReLU,
    ):
        sizes = [in_features, *hidden_sizes, out_features]
        layers = []
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(activation())
        super().__init__(*layers)


def _numel(shape: Optional[Sequence[int]]) -> int:
    return 0 if shape is None else math.prod(shape)


class FlatTrunks:
    """``mlp``: no trunk. The encoder flattens x into its MLP head; the decoder's head emits
    every value of x."""

    def encoder_trunk(self, x_shape: Sequence[int], channels) -> Tuple[nn.Module, int]:
        return nn.Flatten(), _numel(x_shape)

    def decoder_layers(self, in_features: int, hidden_sizes: Sequence[int], x_shape: Sequence[int], channels):
        """``(head, trunk, start_shape)``: the head's output is reshaped to start_shape for the trunk."""
        return MLP(in_features, hidden_sizes, _numel(x_shape)), nn.Identity(), tuple(x_shape)

    def initialize(self, module: nn.Module) -> None:
        pass  # PyTorch's default init suits the MLPs


class ConvTrunks:
    """A conv style of ``pyro_cvae.components.conv``: a down trunk before the encoder's MLP head, an up
    trunk after the decoder's; ``channels`` (default: the style's) sets one block per entry."""

    def __init__(self, name: str):
        self.name, self.style = name, CONV_STYLES[name]

    def _rank(self, x_shape: Sequence[int]) -> int:
        """Spatial rank of a ``(channels, *grid)`` shape, with an error naming the fix."""
        rank = len(x_shape) - 1
        if rank not in (1, 2):
            raise ValueError(
                f"network {self.name!r} needs x_shape (channels, length) or (channels, height, width), "
                f"got {tuple(x_shape)}; use network='mlp' for flat data"
            )
        return rank

    def encoder_trunk(self, x_shape: Sequence[int], channels) -> Tuple[nn.Module, int]:
        channels = channels or self.style.default_channels
        trunk = nn.Sequential(down_trunk(self.name, x_shape[0], channels, self._rank(x_shape)), nn.Flatten())
        trunk.eval()  # batch norm in train mode rejects the probe's batch of one
        try:
            with torch.no_grad():
                features = trunk(torch.zeros(1, *x_shape)).shape[-1]
        except RuntimeError as error:
            raise ValueError(
                f"x_shape {tuple(x_shape)} is too small for network {self.name!r} with "
                f"{len(channels)} halving blocks; use fewer channels entries ({error})"
            ) from None
        return trunk.train(), features

    def decoder_layers(self, in_features: int, hidden_sizes: Sequence[int], x_shape: Sequence[int], channels):
        rank = self._rank(x_shape)
        channels = tuple(channels or self.style.default_channels)
        grid = tuple(math.ceil(s / 2 ** len(channels)) for s in x_shape[1:])
        start_shape = (channels[-1], *grid)
        head = nn.Sequential(MLP(in_features, hidden_sizes, _numel(start_shape)), nn.LeakyReLU(0.01))
        return head, up_trunk(self.name, channels, x_shape[0], rank), start_shape

    def initialize(self, module: nn.Module) -> None:
        he_initialize(module)  # without it a conv decoder barely depends on z at init


#: network layouts by name: ``ModelConfig.network``
NETWORKS: Registry = Registry("network")
NETWORKS.register("mlp", "fully connected layers on flattened x")(FlatTrunks())
for _style in CONV_STYLES:
    NETWORKS.register(_style, f"conv trunk, {_style} style (pyro_cvae.components.conv)")(ConvTrunks(_style))


def _flat_inputs(
    tensor: torch.Tensor, event_shape: Sequence[int], y: Optional[torch.Tensor], y_shape
) -> Tuple[torch.Tensor, Optional[torch.Tensor], torch.Size]:
    """Flatten ``tensor``'s leading dims to one; broadcast y to them and flatten it to a vector."""
    event_ndim = len(event_shape)
    batch_shape = tensor.shape[: tensor.dim() - event_ndim]
    flat = tensor.reshape(-1, *event_shape)
    if y is not None:
        y = y.expand(*batch_shape, *y_shape).reshape(flat.shape[0], -1)
    return flat, y, batch_shape


class EncoderNet(nn.Module):
    """``h = head([trunk(x), flatten(y)])``: features of x, joined with y when y is used.

    With ``y_shape=None`` the net ignores y (the seed's variant where the condition does not pass
    through the encoder).
    """

    def __init__(
        self,
        x_shape: Sequence[int],
        y_shape: Optional[Sequence[int]],
        out_features: int,
        network: str = "mlp",
        hidden_sizes: Sequence[int] = (256, 256),
        channels: Optional[Sequence[int]] = None,
    ):
        super().__init__()
        self.x_shape, self.y_shape = tuple(x_shape), None if y_shape is None else tuple(y_shape)
        trunks = NETWORKS.get(network)
        self.trunk, trunk_features = trunks.encoder_trunk(self.x_shape, channels)
        self.head = MLP(trunk_features + _numel(self.y_shape), hidden_sizes, out_features)
        trunks.initialize(self)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.y_shape is None:
            y = None
        flat_x, flat_y, batch_shape = _flat_inputs(x, self.x_shape, y, self.y_shape)
        features = self.trunk(flat_x)
        if flat_y is not None:
            features = torch.cat([features, flat_y], dim=-1)
        out = self.head(features)
        return out.reshape(*batch_shape, out.shape[-1])


class DecoderNet(nn.Module):
    """``x_param = trunk(head([z, flatten(y)]))``, shaped ``(..., *x_shape)``.

    A conv trunk starts from a grid of ``ceil(size / 2**levels)`` and doubles it per level, so
    its output covers ``x_shape``; the excess border is cropped, which lets any grid size work.
    """

    def __init__(
        self,
        latent_dim: int,
        y_shape: Optional[Sequence[int]],
        x_shape: Sequence[int],
        network: str = "mlp",
        hidden_sizes: Sequence[int] = (256, 256),
        channels: Optional[Sequence[int]] = None,
    ):
        super().__init__()
        self.latent_dim = latent_dim
        self.x_shape, self.y_shape = tuple(x_shape), None if y_shape is None else tuple(y_shape)
        in_features = latent_dim + _numel(self.y_shape)
        trunks = NETWORKS.get(network)
        self.head, self.trunk, self.start_shape = trunks.decoder_layers(
            in_features, hidden_sizes, self.x_shape, channels
        )
        trunks.initialize(self)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.y_shape is None:
            y = None
        flat_z, flat_y, batch_shape = _flat_inputs(z, (self.latent_dim,), y, self.y_shape)
        if flat_y is not None:
            flat_z = torch.cat([flat_z, flat_y], dim=-1)
        out = self.trunk(self.head(flat_z).reshape(-1, *self.start_shape))
        # crop the grid the conv trunk over-produced (a no-op for the MLP)
        out = out[(slice(None), slice(None), *(slice(0, s) for s in self.x_shape[1:]))]
        return out.reshape(*batch_shape, *self.x_shape)

"""The line-structured decoder r_θ2(x | z, y) for Two Birds.

It emits four numbers per (z, y), squashes them into the unit cube, and maps the cube onto the
prior's endpoints with ``endpoints_from_unit``. So every decoded x is two straight lines with the
right slope signs, inside the box, whatever the weights: the network spends its capacity on
*where* the lines are, not on being straight. The free decoder (``DecoderNet``, 100 outputs)
has to learn straightness and ordering from data, which the seed's CVAEs never managed.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from ..components.nets import DecoderNet
from .lines import endpoints_from_unit, lines_from_endpoints


class LineDecoder(nn.Module):
    """``x = lines(endpoints_from_unit(sigmoid(net(z, y))))``, shaped ``(..., n_points, 2)``."""

    def __init__(
        self,
        latent_dim: int,
        y_shape: Optional[Sequence[int]],
        x_shape: Sequence[int],
        hidden_sizes: Sequence[int] = (256, 256),
    ):
        super().__init__()
        x_shape = tuple(x_shape)
        if len(x_shape) != 2 or x_shape[-1] != 2:
            raise ValueError(f"the line decoder needs x_shape (n_points, 2), got {x_shape}")
        self.latent_dim, self.x_shape = latent_dim, x_shape
        self.net = DecoderNet(latent_dim, y_shape, (4,), "mlp", hidden_sizes)

    def endpoints(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The decoded endpoints ``(..., 4)``: x0 start, x0 end, x1 start, x1 end."""
        return endpoints_from_unit(torch.sigmoid(self.net(z, y)))

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return lines_from_endpoints(self.endpoints(z, y), self.x_shape[0])

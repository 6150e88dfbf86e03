"""The small classifier behind the perceptual penalty.

Seed 003 compares a VAE's output with its input through the inner layers of a network trained
to tell the image classes apart. ``FeatureTrunk`` is that network without its last layer;
``pyro_cvae.train.perception.fit_perception`` trains it and loads it into a model's
``perceptual`` penalty (see ``pyro_cvae.components.penalties``).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

#: channel widths of the conv blocks (images) and sizes of the dense blocks (anything else)
CONV_WIDTHS = (8, 16, 32)
DENSE_SIZES = (256, 128)


class FeatureTrunk(nn.Module):
    """Feature layers of a small classifier.

    Images ``(channels, height, width)`` go through conv3x3-BN-GELU-maxpool blocks, as many of
    ``CONV_WIDTHS`` as the image size allows; other shapes are flattened into Linear-GELU
    blocks. The embedding concatenates every block's output, the k-th divided by k, so coarse
    layers count less per feature than fine ones (seed 003's weighting).
    """

    def __init__(self, x_shape: Sequence[int]):
        super().__init__()
        self.x_shape = tuple(x_shape)
        blocks = []
        if len(self.x_shape) == 3:
            channels, size = self.x_shape[0], min(self.x_shape[1:])
            for width in CONV_WIDTHS:
                if size < 2:
                    break
                blocks.append(
                    nn.Sequential(
                        nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.GELU(), nn.MaxPool2d(2)
                    )
                )
                channels, size = width, size // 2
        else:
            features = math.prod(self.x_shape)
            for width in DENSE_SIZES:
                blocks.append(nn.Sequential(nn.Linear(features, width), nn.GELU()))
                features = width
        self.blocks = nn.ModuleList(blocks)
        with torch.no_grad():
            self.last_features = self._outputs(torch.zeros(2, *self.x_shape))[-1].shape[-1]

    def _outputs(self, images: torch.Tensor):
        h = images if len(self.x_shape) == 3 else images.flatten(images.dim() - len(self.x_shape))
        outputs = []
        for block in self.blocks:
            h = block(h)
            outputs.append(h.flatten(1))
        return outputs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([out / k for k, out in enumerate(self._outputs(images), start=1)], dim=-1)

    def last(self, images: torch.Tensor) -> torch.Tensor:
        """The deepest block's output, what the classification head reads."""
        return self._outputs(images)[-1]

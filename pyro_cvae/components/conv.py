"""Convolutional trunks in the styles of the seed projects, for 1-D and 2-D grids.

A *style* gives two blocks: ``down`` halves every spatial size (encoder side) and ``up`` doubles
it (decoder side). The trunks stack one block per entry of ``channels``.

========== ======================================================================================
style      blocks
========== ======================================================================================
conv2      the standard CVAE: strided conv + ReLU down, transposed conv + LeakyReLU(0.01) up
conv3-bn   the "deeper" CVAE: the same with batch norm (use three channel entries)
downup     the flowers VAE: conv-BN-GELU-conv-BN-maxpool-GELU down; BN-GELU-upsample-conv-BN-
           GELU-conv up
mnist-conv the MNIST VAE: conv-BN-LeakyReLU-maxpool down, dropout after the last; transposed conv
           + LeakyReLU up
========== ======================================================================================
"""

from __future__ import annotations

import math
from typing import Callable, Dict, NamedTuple, Sequence

from torch import nn


def _conv(rank: int):
    return {1: nn.Conv1d, 2: nn.Conv2d}[rank]


def _conv_transpose(rank: int):
    return {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}[rank]


def _batch_norm(rank: int):
    return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d}[rank]


def _max_pool(rank: int):
    return {1: nn.MaxPool1d, 2: nn.MaxPool2d}[rank]


def _upsample(rank: int) -> nn.Module:
    mode = {1: "linear", 2: "bilinear"}[rank]
    return nn.Upsample(scale_factor=2, mode=mode, align_corners=True)


def _strided_down(batch_norm: bool):
    def down(c_in: int, c_out: int, rank: int, last: bool) -> nn.Module:
        layers = [_conv(rank)(c_in, c_out, kernel_size=3, stride=2, padding=1)]
        if batch_norm:
            layers.append(_batch_norm(rank)(c_out))
        layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    return down


def _transposed_up(batch_norm: bool):
    def up(c_in: int, c_out: int, rank: int) -> nn.Module:
        layers = [_conv_transpose(rank)(c_in, c_out, kernel_size=4, stride=2, padding=1)]
        if batch_norm:
            layers.append(_batch_norm(rank)(c_out))
        layers.append(nn.LeakyReLU(0.01))
        return nn.Sequential(*layers)

    return up


def _downup_down(c_in: int, c_out: int, rank: int, last: bool) -> nn.Module:
    conv, bn = _conv(rank), _batch_norm(rank)
    return nn.Sequential(
        conv(c_in, c_out, 3, padding=1),
        bn(c_out),
        nn.GELU(),
        conv(c_out, c_out, 3, padding=1),
        bn(c_out),
        _max_pool(rank)(2),
        nn.GELU(),
    )


def _downup_up(c_in: int, c_out: int, rank: int) -> nn.Module:
    conv, bn = _conv(rank), _batch_norm(rank)
    return nn.Sequential(
        bn(c_in),
        nn.GELU(),
        _upsample(rank),
        conv(c_in, c_out, 3, padding=1),
        bn(c_out),
        nn.GELU(),
        conv(c_out, c_out, 3, padding=1),
    )


def _mnist_down(c_in: int, c_out: int, rank: int, last: bool) -> nn.Module:
    layers = [
        _conv(rank)(c_in, c_out, 3, padding=1),
        _batch_norm(rank)(c_out),
        nn.LeakyReLU(0.01),
        _max_pool(rank)(2),
    ]
    if last:  # the seed puts dropout on the last conv layer only
        layers.append(nn.Dropout(0.2))
    return nn.Sequential(*layers)


class ConvStyle(NamedTuple):
    down: Callable[..., nn.Module]
    up: Callable[..., nn.Module]
    default_channels: Sequence[int]


CONV_STYLES: Dict[str, ConvStyle] = {
    "conv2": ConvStyle(_strided_down(False), _transposed_up(False), (32, 64)),
    "conv3-bn": ConvStyle(_strided_down(True), _transposed_up(True), (32, 64, 128)),
    "downup": ConvStyle(_downup_down, _downup_up, (16, 32, 64)),
    "mnist-conv": ConvStyle(_mnist_down, _transposed_up(False), (32, 64)),
}


def down_trunk(style: str, in_channels: int, channels: Sequence[int], rank: int) -> nn.Sequential:
    """Encoder trunk: ``len(channels)`` blocks, each halving the grid."""
    block = CONV_STYLES[style].down
    sizes = [in_channels, *channels]
    return nn.Sequential(*(block(a, b, rank, i == len(channels) - 1) for i, (a, b) in enumerate(zip(sizes, sizes[1:]))))


def up_trunk(style: str, channels: Sequence[int], out_channels: int, rank: int) -> nn.Sequential:
    """Decoder trunk: mirror of ``down_trunk``, then a 3-wide conv to ``out_channels``.

    The last conv has no activation: its output is the likelihood's natural parameter.
    """
    block = CONV_STYLES[style].up
    sizes = list(reversed(channels))
    ups = [block(a, b, rank) for a, b in zip(sizes, sizes[1:] + [sizes[-1]])]
    return nn.Sequential(*ups, _conv(rank)(sizes[-1], out_channels, 3, padding=1))


def he_initialize(module: nn.Module) -> nn.Module:
    """He (Kaiming) normal weights and zero biases for every linear and conv layer in ``module``.

    Why: PyTorch's default init scales each layer's output variance down by about a third. Over
    the MLP head and conv trunk of a decoder that compounds: at init, E[x | z] varied by 0.00075
    across z (std, conv2 on 8x8 digits) against 0.07 for the MLP decoder. The ELBO then sees no
    gain in using z, the KL term wins, and the conv VAEs collapsed to the mean image
    (``latent_usage``: 0 active units) however long they trained. He init keeps the variance
    through ReLU-family layers. A transposed conv of stride s spreads each input over
    (kernel / s)^d outputs, so its fan-in is in_channels * prod(kernel) / prod(stride).
    """
    for layer in module.modules():
        if isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d)):
            fan_in = layer.in_channels * math.prod(layer.kernel_size) / math.prod(layer.stride)
            nn.init.normal_(layer.weight, std=math.sqrt(2.0 / fan_in))
        elif isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return module

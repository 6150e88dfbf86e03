"""Embedding networks for the condition y: ``ModelConfig.embedding``.

An embedding maps the condition y (a vector, a sequence ``(C, L)``, an image ``(C, H, W)``, or a
set of i.i.d. trials ``(N, D)``) to a feature vector c(y) of ``embedding_dim`` values. The model
computes it once per pass and hands c(y), not y, to the prior r(z | c), the guide q(z | x, c) and
the decoder p(x | z, c): one network, shared by the three and trained jointly through the ELBO.
(sbi calls the same thing ``embedding_net``; in its vocabulary our y is the observation x.)

==========  ============================================================================
name        what it is
==========  ============================================================================
none        no embedding: the components see y itself (flattened)
mlp         an MLP on flattened y
conv        a strided conv trunk (``conv2`` style) for sequences and images, then an MLP
set         permutation invariant (Deep Sets, Zaheer et al. 2017): an MLP per trial,
            the mean over trials, an MLP on that mean; y is ``(trials, features)``
==========  ============================================================================
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

import torch
from torch import nn

from ..registry import Registry
from .conv import down_trunk, he_initialize
from .nets import MLP

__all__ = ["EMBEDDINGS", "ConvEmbedding", "MLPEmbedding", "SetEmbedding", "embedded_shape"]

EMBEDDINGS: Registry = Registry("embedding")


class _Embedding(nn.Module):
    """Flattens any leading batch dims, embeds, restores them: ``(..., *y_shape) -> (..., dim)``."""

    def __init__(self, y_shape: Sequence[int]):
        super().__init__()
        self.y_shape = tuple(y_shape)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        batch_shape = y.shape[: y.dim() - len(self.y_shape)]
        out = self.embed(y.reshape(-1, *self.y_shape))
        return out.reshape(*batch_shape, out.shape[-1])

    def embed(self, y: torch.Tensor) -> torch.Tensor:  # (batch, *y_shape) -> (batch, dim)
        raise NotImplementedError


class MLPEmbedding(_Embedding):
    """c(y) = MLP(flatten(y))."""

    def __init__(self, y_shape: Sequence[int], dim: int, hidden_sizes: Sequence[int]):
        super().__init__(y_shape)
        self.net = MLP(math.prod(y_shape), hidden_sizes, dim)

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y.flatten(1))


class ConvEmbedding(_Embedding):
    """c(y) = MLP(flatten(conv trunk(y))) for y of shape ``(C, L)`` or ``(C, H, W)``: each block
    halves the grid, so nearby samples or pixels are read together and the weights do not grow
    with the length of the signal."""

    def __init__(self, y_shape: Sequence[int], dim: int, hidden_sizes: Sequence[int], channels: Sequence[int]):
        super().__init__(y_shape)
        rank = len(self.y_shape) - 1
        if rank not in (1, 2):
            raise ValueError(
                f"embedding 'conv' needs y_shape (channels, length) or (channels, height, width), got "
                f"{self.y_shape}; use embedding='mlp' for a flat y"
            )
        self.trunk = nn.Sequential(down_trunk("conv2", self.y_shape[0], channels, rank), nn.Flatten())
        with torch.no_grad():
            features = self.trunk(torch.zeros(1, *self.y_shape)).shape[-1]
        self.head = MLP(features, hidden_sizes, dim)
        he_initialize(self)

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(y))


class SetEmbedding(_Embedding):
    """c(y) = ρ(mean_n φ(y_n)) over the trials y_n of y ``(trials, features)``: the same for any
    order of the trials, as the posterior of i.i.d. trials must be."""

    def __init__(self, y_shape: Sequence[int], dim: int, hidden_sizes: Sequence[int]):
        super().__init__(y_shape)
        if len(self.y_shape) != 2:
            raise ValueError(f"embedding 'set' needs y_shape (trials, features), got {self.y_shape}")
        width = hidden_sizes[-1] if hidden_sizes else dim
        self.per_trial = MLP(self.y_shape[1], hidden_sizes, width)
        self.pooled = MLP(width, hidden_sizes, dim)

    def embed(self, y: torch.Tensor) -> torch.Tensor:
        return self.pooled(torch.relu(self.per_trial(y)).mean(dim=1))


def embedded_shape(config) -> Optional[Tuple[int, ...]]:
    """The shape of the condition the prior, guide and decoder see: ``(embedding_dim,)`` under an
    embedding, y's own shape without one."""
    if config.y_shape is None or config.embedding == "none":
        return config.y_shape
    return (config.embedding_dim,)


@EMBEDDINGS.register("none", "no embedding: the components see y itself")
def _none(config) -> Optional[nn.Module]:
    return None


@EMBEDDINGS.register("mlp", "an MLP on flattened y, shared by prior, guide and decoder")
def _mlp(config) -> nn.Module:
    return MLPEmbedding(config.y_shape, config.embedding_dim, config.prior_hidden_sizes)


@EMBEDDINGS.register("conv", "a conv trunk for sequences (C, L) and images (C, H, W), then an MLP")
def _conv_embedding(config) -> nn.Module:
    # two halving blocks: enough to read local structure, and a 16-sample signal still fits
    return ConvEmbedding(config.y_shape, config.embedding_dim, config.prior_hidden_sizes, (16, 32))


@EMBEDDINGS.register("set", "permutation invariant over i.i.d. trials, y of shape (trials, features)")
def _set(config) -> nn.Module:
    return SetEmbedding(config.y_shape, config.embedding_dim, config.prior_hidden_sizes)

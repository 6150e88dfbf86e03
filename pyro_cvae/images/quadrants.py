"""The quadrant-completion task of Pyro's CVAE tutorial, on any image set.

Each image is cut into four quadrants (top-left, top-right, bottom-left, bottom-right). With
``k`` visible quadrants, the condition y is the pixels of the first k, and x the pixels of the
others: the CVAE learns p(x | y), the many ways to finish a partly seen digit. A deterministic
network predicting x from y (``BaselineNet``) is the comparison: it can only give one, blurred
answer, and pays for it in conditional log-likelihood when the completion is ambiguous.
"""

from __future__ import annotations

from typing import Tuple

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits

from ..components.nets import MLP
from ..train.batches import shuffled_batches
from ..train.finite import check_epoch_finite

QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")


def quadrant_mask(height: int, width: int, num_visible: int) -> torch.Tensor:
    """Boolean ``(height, width)``: True on the first ``num_visible`` quadrants."""
    if not 1 <= num_visible <= 3:
        raise ValueError(f"num_visible must be 1, 2 or 3 quadrants, got {num_visible!r}")
    rows, cols = torch.arange(height)[:, None], torch.arange(width)[None, :]
    index = (rows >= height // 2).long() * 2 + (cols >= width // 2).long()  # 0..3 in QUADRANTS order
    return index < num_visible


def split_quadrants(images: torch.Tensor, num_visible: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(x hidden pixels, y visible pixels)``, each flat per image, from ``(N, C, H, W)``."""
    if images.dim() != 4:
        raise ValueError(f"images must be (N, C, H, W), got {tuple(images.shape)}")
    mask = quadrant_mask(images.shape[-2], images.shape[-1], num_visible)
    return images[..., ~mask].flatten(1), images[..., mask].flatten(1)


def join_quadrants(x: torch.Tensor, y: torch.Tensor, shape, num_visible: int) -> torch.Tensor:
    """Inverse of ``split_quadrants``: images ``(..., C, H, W)`` from hidden x and visible y."""
    channels, height, width = shape
    mask = quadrant_mask(height, width, num_visible)
    lead = x.shape[:-1]
    out = x.new_zeros(*lead, channels, height, width)
    out[..., ~mask] = x.reshape(*lead, channels, -1)
    out[..., mask] = y.expand(*lead, y.shape[-1]).reshape(*lead, channels, -1)
    return out


class BaselineNet(nn.Module):
    """Deterministic x̂ = σ(MLP(y)), trained by binary cross-entropy: the tutorial's baseline."""

    def __init__(self, y_dim: int, x_dim: int, hidden_sizes=(256, 256)):
        super().__init__()
        self.net = MLP(y_dim, hidden_sizes, x_dim)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y)  # logits

    def nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per image, -log p(x | y) under independent Bernoullis (the same likelihood as the CVAE)."""
        return binary_cross_entropy_with_logits(self(y), x, reduction="none").sum(-1)


def fit_baseline(
    net: BaselineNet,
    train: Tuple[torch.Tensor, torch.Tensor],
    val: Tuple[torch.Tensor, torch.Tensor],
    epochs: int = 200,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    patience: int = 10,
    seed: int = 0,
) -> BaselineNet:
    """Adam on the BCE, keeping the weights with the best validation NLL (early stopping)."""
    torch.manual_seed(seed)
    x, y = train
    optimizer = torch.optim.Adam(net.parameters(), lr=learning_rate)
    best, best_state, stale = float("inf"), None, 0
    for epoch in range(epochs):
        net.train()
        losses = []
        for idx in shuffled_batches(len(x), batch_size):
            optimizer.zero_grad()
            loss = net.nll(x[idx], y[idx]).mean()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
        check_epoch_finite(losses, net.parameters(), epoch, "the baseline's training", "Try a smaller learning_rate")
        net.eval()
        with torch.no_grad():
            score = net.nll(*val).mean().item()
        if score < best:
            best, best_state, stale = score, {k: v.clone() for k, v in net.state_dict().items()}, 0
        else:
            stale += 1
            if stale >= patience:
                break
    net.load_state_dict(best_state)
    return net.eval()

"""Figures people look at, written as PNG files.

The figures are ``matplotlib.figure.Figure`` objects made without pyplot: no backend is chosen
or changed (a notebook's inline backend keeps working after ``import pyro_cvae``), nothing pops
up on a desktop, no display is needed, and a figure is freed once it is saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from matplotlib.figure import Figure

from .train.history import History


def subplots(*args, figsize=None, **kwargs):
    """``(figure, axes)`` like ``plt.subplots``, but detached from pyplot's global state."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def plot_history(history: History, path: Union[str, Path]) -> Path:
    """Training curves: ELBO, reconstruction term and KL term per epoch, train and validation,
    and the weighted penalties when the model has any."""
    panels = [("elbo", "ELBO"), ("reconstruction", "E[log p(x|z,y)]"), ("kl", "KL(q || p)")]
    if history.train_penalty:
        panels.append(("penalty", "penalties (not in the ELBO)"))
    fig, axes = subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
    for ax, (term, title) in zip(axes, panels):
        ax.plot(history.epoch, getattr(history, f"train_{term}"), label="train")
        val = getattr(history, f"val_{term}")
        if val:
            ax.plot(history.epoch[: len(val)], val, label="validation")
        ax.set(title=f"{title} per data point", xlabel="epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    return save_figure(fig, path)


def plot_image_grid(
    images: torch.Tensor,
    path: Union[str, Path],
    title: str = "",
    row_labels: Optional[Sequence[str]] = None,
) -> Path:
    """A grid of grey or colour images shaped (rows, cols, H, W) or (rows, cols, C, H, W)."""
    images = images.detach().cpu()
    if images.dim() == 5:
        images = images.permute(0, 1, 3, 4, 2)  # channels last for imshow
        if images.shape[-1] == 1:
            images = images[..., 0]
    rows, cols = images.shape[:2]
    # the title gets its own strip: on a single row it would otherwise squeeze the images
    fig, axes = subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8 + (0.5 if title else 0)), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(images[r, c].clamp(0, 1).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            if c == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[r], rotation=0, ha="right", va="center", labelpad=4)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def save_figure(fig, path: Union[str, Path]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path

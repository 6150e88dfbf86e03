"""Figures people look at, in matplotlib's convention, and the helpers every figure uses.

Every plotting function in the package returns a ``matplotlib.figure.Figure``: a notebook shows
it inline as a cell's value once ``%matplotlib inline`` has run (which registers IPython's
display of any ``Figure``; a notebook that only imports pyplot shows pyplot's own figures, not
these), a script saves it (``fig.savefig``, or the function's ``path=``), and a function that
draws one panel takes ``ax=`` to draw into a figure of the caller's.

Figures are made without pyplot: no backend is chosen or changed (a notebook's inline backend
keeps working after ``import pyro_cvae``), nothing pops up on a desktop, no display is needed,
and pyplot's list of open figures never holds one, so a dropped figure is freed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .train.history import History

PathLike = Union[str, Path]

__all__ = ["finish", "panel", "plot_history", "plot_image_grid", "subplots"]


def subplots(*args, figsize=None, **kwargs) -> Tuple[Figure, Any]:
    """``(figure, axes)`` like ``plt.subplots``, but detached from pyplot's global state."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def panel(ax: Optional[Axes] = None, figsize=None) -> Tuple[Figure, Axes]:
    """The figure and axes a one-panel plot draws into: the caller's ``ax`` (and its figure), or
    a new figure of ``figsize``."""
    if ax is not None:
        return ax.get_figure(root=True), ax  # type: ignore[return-value]
    fig, new = subplots(figsize=figsize)
    return fig, new


def finish(fig: Figure, path: Optional[PathLike] = None, layout: bool = True) -> Figure:
    """Lay the figure out, save it as ``path`` (PNG, or any format matplotlib knows by the
    suffix) when one is given, and return it. ``layout=False`` for an ``ax`` of the caller's:
    their figure's layout is theirs."""
    if layout:
        fig.tight_layout()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
    return fig


def plot_history(history: History, path: Optional[PathLike] = None) -> Figure:
    """Training curves: ELBO, reconstruction term and KL term per epoch, train and validation,
    and the weighted penalties when the model has any; saved as ``path`` when given."""
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
    return finish(fig, path)


def plot_image_grid(
    images: torch.Tensor,
    path: Optional[PathLike] = None,
    title: str = "",
    row_labels: Optional[Sequence[str]] = None,
) -> Figure:
    """A grid of grey or colour images shaped (rows, cols, H, W) or (rows, cols, C, H, W); saved
    as ``path`` when given."""
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
    return finish(fig, path)

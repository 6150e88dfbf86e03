"""Figures for the diagnostics: calibration curve, SBC rank histogram, credible bands of x.

Each returns a ``Figure`` (shown inline in a notebook), saved as ``path`` when given; the
one-panel figures draw into ``ax=`` when given one (see ``pyro_cvae.figures``)."""

from __future__ import annotations

from typing import Dict, Optional

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..figures import PathLike, finish, panel, subplots

__all__ = ["plot_calibration", "plot_credible_band", "plot_rank_histogram"]


def plot_calibration(
    coverages: Dict[str, Dict[float, float]], path: Optional[PathLike] = None, *, ax: Optional[Axes] = None
) -> Figure:
    """Empirical against nominal coverage, one line per label (e.g. per model)."""
    own = ax is None  # a figure of the caller's keeps its own layout
    fig, ax = panel(ax, figsize=(4.2, 4))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="calibrated")
    for label, coverage in coverages.items():
        levels = sorted(coverage)
        ax.plot(levels, [coverage[level] for level in levels], marker="o", label=label)
    ax.set(
        xlabel="nominal coverage of central interval",
        ylabel="empirical coverage",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Interval calibration",
    )
    ax.legend(fontsize=8)
    return finish(fig, path, layout=own)


def plot_rank_histogram(counts: torch.Tensor, path: Optional[PathLike] = None, title: str = "SBC ranks") -> Figure:
    """Histogram of SBC ranks per latent dimension (``rank_uniformity(...)["counts"]``, bins x D)."""
    bins, dims = counts.shape
    fig, axes = subplots(1, dims, figsize=(2.6 * dims, 2.6), squeeze=False)
    expected = counts.sum(0)[0].item() / bins
    for d, ax in enumerate(axes[0]):
        ax.bar(range(bins), counts[:, d].tolist(), color="tab:blue")
        ax.axhline(expected, color="black", ls="--", lw=1)
        ax.set(title=f"z[{d}]", xlabel="rank bin", yticks=[])
    fig.suptitle(title)
    return finish(fig, path)


def plot_credible_band(
    samples: torch.Tensor,
    path: Optional[PathLike] = None,
    truth: Optional[torch.Tensor] = None,
    title: str = "Posterior predictive",
    *,
    ax: Optional[Axes] = None,
) -> Figure:
    """Per element of x (flattened): mean with 50% and 90% central bands, and the truth if given.

    ``samples`` is ``(S, *x_shape)`` for one data point.
    """
    flat = samples.detach().reshape(samples.shape[0], -1).double().cpu()
    q = torch.quantile(flat, torch.tensor([0.05, 0.25, 0.75, 0.95], dtype=flat.dtype), dim=0)
    index = list(range(flat.shape[1]))
    own = ax is None
    fig, ax = panel(ax, figsize=(8, 3))
    ax.fill_between(index, q[0].tolist(), q[3].tolist(), alpha=0.25, color="tab:blue", label="90% band")
    ax.fill_between(index, q[1].tolist(), q[2].tolist(), alpha=0.45, color="tab:blue", label="50% band")
    ax.plot(index, flat.mean(0).tolist(), color="tab:blue", lw=1.2, label="mean")
    if truth is not None:
        ax.plot(index, truth.detach().reshape(-1).cpu().tolist(), color="black", lw=1, ls="--", label="truth")
    ax.set(xlabel="element of x", title=title)
    ax.legend(fontsize=8, ncol=4)
    return finish(fig, path, layout=own)

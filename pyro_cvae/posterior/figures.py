"""The pair (corner) plot of a posterior over θ: every marginal and every pair of parameters."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from ..checks import as_tensor
from ..figures import finish, subplots

__all__ = ["pair_plot"]


def pair_plot(
    draws,
    names: Optional[Sequence[str]] = None,
    truth=None,
    reference=None,
    bounds=None,
    bins: int = 40,
    path=None,
) -> Figure:
    """Marginal histograms on the diagonal, 2-D histograms below it, for ``draws`` ``(S, D)``.

    ``truth`` ``(D,)`` is marked by lines; ``reference`` ``(S', D)`` (e.g. an exact or reference
    posterior's draws) is drawn as outlines on the diagonal and contours below, to compare;
    ``bounds`` ``(lower, upper)`` per parameter fixes each axis (default: the draws' range).
    """
    draws = as_tensor(draws).detach().cpu().double()
    if draws.dim() != 2:
        raise ValueError(f"draws must be (num_draws, num_parameters), got {tuple(draws.shape)}")
    dims = draws.shape[1]
    names = list(names or [f"theta_{d}" for d in range(dims)])
    if len(names) != dims:
        raise ValueError(f"names must name all {dims} parameters, got {names}")
    ref = None if reference is None else as_tensor(reference).detach().cpu().double()
    both = draws if ref is None else torch.cat([draws, ref])
    low, high = both.quantile(0.001, 0), both.quantile(0.999, 0)
    if bounds is not None:
        low, high = (torch.as_tensor(b, dtype=torch.float64).expand(dims) for b in bounds)
    fig, axes = subplots(dims, dims, figsize=(1.9 * dims + 0.6, 1.9 * dims + 0.6), squeeze=False)
    for i in range(dims):
        for j in range(dims):
            ax = axes[i][j]
            if j > i:
                ax.set_visible(False)
                continue
            span_x = (float(low[j]), float(high[j]))
            if i == j:
                ax.hist(draws[:, j].numpy(), bins=bins, range=span_x, density=True, color="tab:blue", alpha=0.6)
                if ref is not None:
                    ax.hist(ref[:, j].numpy(), bins=bins, range=span_x, density=True, histtype="step", color="k")
                ax.set_yticks([])
            else:
                span_y = (float(low[i]), float(high[i]))
                ax.hist2d(draws[:, j].numpy(), draws[:, i].numpy(), bins=bins, range=[span_x, span_y], cmap="Blues")
                if ref is not None:
                    counts, xe, ye = np.histogram2d(
                        ref[:, j].numpy(), ref[:, i].numpy(), bins=bins // 2, range=[span_x, span_y]
                    )
                    ax.contour(
                        (xe[1:] + xe[:-1]) / 2, (ye[1:] + ye[:-1]) / 2, counts.T, levels=3, colors="k", linewidths=0.6
                    )
                if truth is not None:
                    ax.axhline(float(as_tensor(truth)[i]), color="tab:red", lw=0.8)
            if truth is not None:
                ax.axvline(float(as_tensor(truth)[j]), color="tab:red", lw=0.8)
            ax.set_xlim(span_x)
            if i == dims - 1:
                ax.set_xlabel(names[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
            elif j > 0:
                ax.set_yticklabels([])
    return finish(fig, path)

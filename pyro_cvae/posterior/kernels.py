"""One-dimensional tools of the recalibrations (``recalibrate``, ``recalibrate_regions``):
piecewise-linear interpolation through tabulated CDFs and their inverses, and Gaussian kernel
density estimates with Silverman's width, column by column."""

from __future__ import annotations

import math

import torch

__all__ = ["interpolate", "interpolate_inverse", "log_kernel_density", "log_probit_density", "mid_ranks", "silverman"]


def interpolate(p: torch.Tensor, grid: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per column d, the piecewise-linear function through (grid, values[:, d]) at p[..., d]
    (``grid`` increasing), held at the ends of the grid beyond them."""
    index = torch.searchsorted(grid, p.contiguous()).clamp(1, len(grid) - 1)
    low, high = grid[index - 1], grid[index]
    t = ((p - low) / (high - low)).clamp(0, 1)
    column = torch.arange(values.shape[1]).expand_as(index)
    return values[index - 1, column] * (1 - t) + values[index, column] * t


def interpolate_inverse(p: torch.Tensor, values: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """The inverse of ``interpolate(·, grid, values)``: per column d, the piecewise-linear
    function through (values[:, d], grid) at p[..., d] (``values`` non-decreasing per column),
    held at the ends of the grid beyond them."""
    index = torch.searchsorted(values.T.contiguous(), p.T.contiguous()).T.clamp(1, len(grid) - 1)
    column = torch.arange(values.shape[1]).expand_as(index)
    low, high = values[index - 1, column], values[index, column]
    t = ((p - low) / (high - low).clamp_min(1e-300)).clamp(0, 1)
    return grid[index - 1] * (1 - t) + grid[index] * t


def silverman(values: torch.Tensor) -> torch.Tensor:
    """Silverman's rule-of-thumb kernel width per column of ``values`` ``(n, D)``."""
    spread = values.std(0)
    quartiles = values.quantile(torch.tensor([0.25, 0.75], dtype=values.dtype), dim=0)
    iqr = (quartiles[1] - quartiles[0]) / 1.349
    spread = torch.where(iqr > 0, torch.minimum(spread, iqr), spread)
    return (0.9 * spread * len(values) ** -0.2).clamp_min(1e-12)


def log_kernel_density(at: torch.Tensor, points: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """log of the Gaussian kernel density of ``points`` ``(n, C)`` (width ``(C,)``) per column, at
    ``at`` ``(Q, C)``; in chunks of queries, so that memory stays near 16 M numbers."""
    chunk = max(1, 2**24 // max(1, points.numel()))
    out = []
    for start in range(0, len(at), chunk):
        scaled = (at[start : start + chunk, None] - points[None]) / width  # (q, n, C)
        out.append(torch.logsumexp(-0.5 * scaled**2, 1))
    return torch.cat(out) - torch.log(width * math.sqrt(2 * math.pi) * len(points))


def mid_ranks(m: int) -> torch.Tensor:
    """The levels (i + 1/2) / m at which the i-th of m sorted draws sits on their CDF."""
    return (torch.arange(m, dtype=torch.float64) + 0.5) / m


def log_probit_density(at: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    """log of the density on [0, 1] of levels u, estimated on the probit scale w = Φ⁻¹(u): a
    kernel estimate k of the ``data`` probits ``(n, C)`` (Silverman's width), g(u) = k(w) / φ(w),
    at the probits ``at`` ``(Q, C)``. A posterior too wide or too narrow by a factor gives levels
    whose probits are about Gaussian, where a kernel estimate is at its best; on [0, 1] their
    piles near 0 and 1 would be smoothed into the middle."""
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=at.dtype), 1.0)
    return log_kernel_density(at, data, silverman(data)) - normal.log_prob(at)

"""The challenge's prior over pairs of straight lines, and conversions between lines and endpoints.

A Two Birds x is two straight lines of ``n`` points (50 in the challenge), stored as ``(..., n, 2)``:
``x[..., 0] = x0`` descends and ``x[..., 1] = x1`` ascends, all values in ``[LOW, HIGH] = [0.1, 1]``.
Each line is fixed by its endpoints; we write ``e = (x0 start, x0 end, x1 start, x1 end)``.

Prior (measured from the challenge's files)::

    x0 end   ~ U(LOW, HIGH)          x0 start ~ U(x0 end, HIGH)
    x1 start ~ U(LOW, HIGH)          x1 end   ~ U(x1 start, HIGH)

with the two lines independent. Through ``endpoints_from_unit`` the prior is the image of the
uniform distribution on the unit cube ``[0, 1]^4``: the line decoder uses that map, so its lines
are straight, ordered and inside the box by construction.
"""

from __future__ import annotations

from typing import Optional

import torch

LOW, HIGH = 0.1, 1.0
N_POINTS = 50


def endpoints_from_unit(u: torch.Tensor) -> torch.Tensor:
    """Map ``u`` in ``[0, 1]^4`` to endpoints; uniform u gives the challenge prior."""
    x0_end = LOW + (HIGH - LOW) * u[..., 0]
    x0_start = x0_end + (HIGH - x0_end) * u[..., 1]
    x1_start = LOW + (HIGH - LOW) * u[..., 2]
    x1_end = x1_start + (HIGH - x1_start) * u[..., 3]
    return torch.stack([x0_start, x0_end, x1_start, x1_end], dim=-1)


def sample_endpoints(num: int, generator: Optional[torch.Generator] = None, dtype=torch.float32) -> torch.Tensor:
    """``num`` draws of the endpoints from the prior, shape ``(num, 4)``."""
    return endpoints_from_unit(torch.rand(num, 4, generator=generator, dtype=dtype))


def log_prior_density(endpoints: torch.Tensor) -> torch.Tensor:
    """log p(e) under the prior; ``-inf`` outside its support.

    p(e) = 1/(HIGH-LOW) · 1/(HIGH - x0 end) · 1/(HIGH-LOW) · 1/(HIGH - x1 start). The density grows
    without bound as x0 end or x1 start approach HIGH, where the other endpoint is squeezed.
    """
    x0s, x0e, x1s, x1e = endpoints.unbind(-1)
    inside = (x0e >= LOW) & (x0s >= x0e) & (x0s <= HIGH) & (x1s >= LOW) & (x1e >= x1s) & (x1e <= HIGH)
    width = torch.tensor(HIGH - LOW, dtype=endpoints.dtype)
    # clamp only to keep log finite on the boundary; outside points are set to -inf below
    log_p = -2 * width.log() - (HIGH - x0e).clamp_min(1e-12).log() - (HIGH - x1s).clamp_min(1e-12).log()
    return torch.where(inside, log_p, torch.full_like(log_p, -float("inf")))


def lines_from_endpoints(endpoints: torch.Tensor, n_points: int = N_POINTS) -> torch.Tensor:
    """Endpoints ``(..., 4)`` to lines ``(..., n_points, 2)``."""
    t = torch.linspace(0, 1, n_points, dtype=endpoints.dtype, device=endpoints.device)
    start = endpoints[..., [0, 2]].unsqueeze(-2)
    end = endpoints[..., [1, 3]].unsqueeze(-2)
    return start + (end - start) * t.unsqueeze(-1)


def endpoints_from_lines(x: torch.Tensor) -> torch.Tensor:
    """Least-squares straight-line fit of each line, read at its first and last point: ``(..., 4)``.

    For exact lines this returns their endpoints; for any other curve it is the nearest line's.
    """
    n = x.shape[-2]
    t = torch.linspace(0, 1, n, dtype=x.dtype, device=x.device).unsqueeze(-1)
    t_centered = t - t.mean()
    mean = x.mean(dim=-2, keepdim=True)
    slope = ((x - mean) * t_centered).sum(-2, keepdim=True) / (t_centered**2).sum()
    start = mean + slope * (0 - t.mean())
    end = mean + slope * (1 - t.mean())
    return torch.stack([start[..., 0, 0], end[..., 0, 0], start[..., 0, 1], end[..., 0, 1]], dim=-1)

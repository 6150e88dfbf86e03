"""Sharpen samples with the known forward model: projected Levenberg-Marquardt on the endpoints.

A sample that lands near an exact solution is pulled onto it by minimizing
``sum_t |F(x(e))_t - y_t|^2`` over its four endpoints e, keeping e inside the prior's box after
every step. It works when the sample is inside the solution's basin (the phases within about π/2,
i.e. endpoints within about 0.02-0.03 for the challenge's functions); farther samples converge to
a local minimum that the y-misfit reveals, which is what the ``fits y`` gate and the importance
weights then catch.
"""

from __future__ import annotations

from typing import Callable

import torch

from .lines import HIGH, LOW, lines_from_endpoints

_STEP = 1e-6
Forward = Callable[[torch.Tensor], torch.Tensor]


def jacobian(forward: Forward, endpoints: torch.Tensor, n_points: int) -> torch.Tensor:
    """∂F(lines(e))/∂e for endpoints ``(B, 4)``: ``(B, 2·n_points, 4)``.

    Forward-mode autograd for torch functions: one ``torch.func.jvp`` of the whole batch per
    endpoint (4 passes; ``vmap(jacfwd)`` was 10x slower here). Central differences (step 1e-6,
    error ~1e-10 in float64) for a forward function autograd cannot differentiate."""

    def batch(points: torch.Tensor) -> torch.Tensor:
        return forward(lines_from_endpoints(points, n_points)).reshape(points.shape[0], -1)

    eye = torch.eye(4, dtype=endpoints.dtype, device=endpoints.device)
    if getattr(forward, "pointwise", False):
        return _pointwise_jacobian(forward, endpoints, n_points)
    try:
        columns = [torch.func.jvp(batch, (endpoints,), (eye[i].expand_as(endpoints),))[1] for i in range(4)]
    except (RuntimeError, TypeError, NotImplementedError):
        columns = [
            (batch(endpoints + _STEP * eye[i]) - batch(endpoints - _STEP * eye[i])) / (2 * _STEP) for i in range(4)
        ]
    return torch.stack(columns, -1)


def _pointwise_jacobian(forward: Forward, endpoints: torch.Tensor, n_points: int) -> torch.Tensor:
    """The same Jacobian for a forward map that acts point by point, y(t) = f(x0(t), x1(t)) (as
    ``ForwardFunctions`` does): two JVPs in x give ∂f/∂x0 and ∂f/∂x1 at every point, and the
    lines are linear in e (x0(t) = e0 + (e1 - e0) t, x1(t) = e2 + (e3 - e2) t). Half the passes."""
    x = lines_from_endpoints(endpoints, n_points)  # (B, n, 2)
    d_x0 = torch.func.jvp(forward, (x,), (torch.stack([torch.ones_like(x[..., 0]), torch.zeros_like(x[..., 1])], -1),))[
        1
    ]
    d_x1 = torch.func.jvp(forward, (x,), (torch.stack([torch.zeros_like(x[..., 0]), torch.ones_like(x[..., 1])], -1),))[
        1
    ]
    t = torch.linspace(0, 1, n_points, dtype=endpoints.dtype, device=endpoints.device)[:, None]  # (n, 1)
    columns = [d_x0 * (1 - t), d_x0 * t, d_x1 * (1 - t), d_x1 * t]  # each (B, n, 2): ∂y/∂e_i
    return torch.stack([c.reshape(endpoints.shape[0], -1) for c in columns], -1)


def project_to_box(endpoints: torch.Tensor) -> torch.Tensor:
    """Clamp endpoints into the prior's support: x0 descending, x1 ascending, all in [LOW, HIGH]."""
    x0s, x0e, x1s, x1e = endpoints.unbind(-1)
    x0e = x0e.clamp(LOW, HIGH)
    x0s = torch.maximum(x0s.clamp(max=HIGH), x0e)
    x1s = x1s.clamp(LOW, HIGH)
    x1e = torch.maximum(x1e.clamp(max=HIGH), x1s)
    return torch.stack([x0s, x0e, x1s, x1e], -1)


def refine_endpoints(
    endpoints: torch.Tensor,
    y: torch.Tensor,
    forward: Callable[[torch.Tensor], torch.Tensor],
    iterations: int = 30,
) -> torch.Tensor:
    """Refine ``endpoints (..., 4)`` towards ``F(lines(e)) = y``; ``y`` broadcasts as ``(..., n, 2)``.

    Runs in float64 under ``torch.no_grad``, touching no model parameter; the Jacobian comes from
    ``jacobian`` (autograd where the forward function allows it, else central differences).
    """
    shape = endpoints.shape
    n = y.shape[-2]
    e = project_to_box(endpoints.detach().double()).reshape(-1, 4)
    target = y.detach().double().expand(*shape[:-1], n, 2).reshape(-1, n * 2)

    def residual(points):
        return forward(lines_from_endpoints(points, n)).reshape(points.shape[0], -1) - target

    def residual_of(points, rows):
        return forward(lines_from_endpoints(points, n)).reshape(points.shape[0], -1) - target[rows]

    with torch.no_grad():
        r = residual(e)
        loss = r.pow(2).sum(-1)
        damping = torch.full_like(loss, 1e-2)
        eye = torch.eye(4, dtype=e.dtype, device=e.device)
        # points stop once a step gains (relatively) nothing: most converge in a few iterations,
        # and only the others are carried on (the cost fell by about half on the scoring set)
        active = torch.arange(e.shape[0], device=e.device)
        for _ in range(iterations):
            if active.numel() == 0:
                break
            ea, ra, la, da = e[active], r[active], loss[active], damping[active]
            jac = jacobian(forward, ea, n)  # (B, 2n, 4)
            hess = jac.transpose(-1, -2) @ jac
            grad = (jac.transpose(-1, -2) @ ra.unsqueeze(-1)).squeeze(-1)
            scaled = hess + da[:, None, None] * (torch.diag_embed(hess.diagonal(dim1=-2, dim2=-1)) + 1e-9 * eye)
            candidate = project_to_box(ea + torch.linalg.solve(scaled, -grad))
            new_r = residual_of(candidate, active)
            new_loss = new_r.pow(2).sum(-1)
            better = new_loss < la
            e[active] = torch.where(better[:, None], candidate, ea)
            r[active] = torch.where(better[:, None], new_r, ra)
            loss[active] = torch.where(better, new_loss, la)
            damping[active] = torch.where(better, da / 3, da * 4).clamp(1e-9, 1e9)
            done = (better & (la - new_loss <= 1e-12 * la)) | (la < 1e-26) | (damping[active] >= 1e9)
            active = active[~done]
    return e.reshape(shape).to(endpoints.dtype)

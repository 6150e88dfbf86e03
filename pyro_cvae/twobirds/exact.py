"""The exact solution set of a Two Birds problem whose functions are sin/cos of linear combinations.

Why the set is finite and how it is enumerated. Write y_k = cos(P_k + c_k) with
P_k = p_k x0 + q_k x1 (a sine is a cosine with c_k shifted by -π/2). Along the lines, x0 and x1
are linear in the point index t, so P_k(t) is linear in t too, and the samples y_k(t) are a pure
sinusoid cos(α_k + β_k t). Fitting (α_k, β_k) to the 50 samples fixes the phase line up to

- its sign s_k (cos is even),
- a whole number m_k of turns 2π in the phase, and
- a whole number j_k of turns per step in the slope (aliasing; none occur when the phase moves
  less than π per step, as in the challenge, but the enumeration does not assume it).

Each choice gives the phases P_k at the first and last point, and M = [[p_0, q_0], [p_1, q_1]]
(invertible) maps them back to the endpoints of x0 and x1. The choices that land inside the
prior's box (x0 descending, x1 ascending, all in [0.1, 1]) form the complete solution set; each
member is checked to reproduce y. Every member has the same Jacobian ``|det M|``, so the exact
posterior over the set is proportional to the prior density of each member (``solution_weights``).
"""

from __future__ import annotations

import math
from typing import List, Union

import torch

from .functions import ForwardFunctions
from .lines import HIGH, LOW, lines_from_endpoints, log_prior_density

TWO_PI = 2 * math.pi


def fit_phase_lines(y: torch.Tensor, iterations: int = 30):
    """Fit ``y[..., t] ≈ cos(α + β t)`` for each series; returns ``(α, β, max residual)``.

    The start is exact for noise-free sinusoids: cos β from the three-term recurrence
    y(t-1) + y(t+1) = 2 cos β y(t), then α by linear least squares. Damped Gauss-Newton steps in
    float64 polish it (that matters for slopes near 0 or π, where arccos is ill-conditioned).
    """
    y = y.double()
    n = y.shape[-1]
    t = torch.arange(n, dtype=torch.float64)
    middle = y[..., 1:-1]
    numerator = (middle * (y[..., :-2] + y[..., 2:])).sum(-1)
    denominator = 2 * (middle**2).sum(-1)
    cos_beta = torch.where(denominator > 1e-12, numerator / denominator.clamp_min(1e-12), torch.ones_like(numerator))
    beta = cos_beta.clamp(-1, 1).acos()
    # y = A cos(βt) - B sin(βt) with (A, B) = (cos α, sin α): 2x2 normal equations with a tiny ridge
    c, s = (beta[..., None] * t).cos(), -(beta[..., None] * t).sin()
    g11, g12, g22 = (c * c).sum(-1) + 1e-12, (c * s).sum(-1), (s * s).sum(-1) + 1e-12
    b1, b2 = (c * y).sum(-1), (s * y).sum(-1)
    det = g11 * g22 - g12**2
    alpha = torch.atan2((g11 * b2 - g12 * b1) / det, (g22 * b1 - g12 * b2) / det)

    # With β near 0 the least-squares α is ill-determined (sin βt ≈ 0), so also start from
    # α = ±arccos y(0) with both slope signs, and keep whichever start fits best.
    alpha0 = y[..., 0].clamp(-1, 1).acos()
    starts = [(alpha, beta), (alpha0, beta), (alpha0, -beta), (-alpha0, beta), (-alpha0, -beta)]
    fits = [_gauss_newton(y, t, a, b, iterations) for a, b in starts]
    losses = torch.stack([loss for _, _, loss in fits])
    best = losses.argmin(0, keepdim=True)
    alpha = torch.stack([a for a, _, _ in fits]).gather(0, best)[0]
    beta = torch.stack([b for _, b, _ in fits]).gather(0, best)[0]
    residual = (alpha[..., None] + beta[..., None] * t).cos() - y
    return alpha, beta, residual.abs().amax(-1)


def _gauss_newton(y, t, alpha, beta, iterations):
    """Levenberg-Marquardt on sum_t (cos(α + βt) - y_t)², every series at once."""

    def residual(a, b):
        return (a[..., None] + b[..., None] * t).cos() - y

    loss = (residual(alpha, beta) ** 2).sum(-1)
    damping = torch.full_like(loss, 1e-3)
    for _ in range(iterations):
        phase = alpha[..., None] + beta[..., None] * t
        r = phase.cos() - y
        ja, jb = -phase.sin(), -t * phase.sin()
        h11, h12, h22 = (ja * ja).sum(-1), (ja * jb).sum(-1), (jb * jb).sum(-1)
        g1, g2 = (ja * r).sum(-1), (jb * r).sum(-1)
        h11d, h22d = h11 * (1 + damping) + 1e-15, h22 * (1 + damping) + 1e-15
        det = h11d * h22d - h12**2
        step_a = -(h22d * g1 - h12 * g2) / det
        step_b = -(h11d * g2 - h12 * g1) / det
        new_alpha, new_beta = alpha + step_a, beta + step_b
        new_loss = (residual(new_alpha, new_beta) ** 2).sum(-1)
        better = new_loss < loss
        alpha = torch.where(better, new_alpha, alpha)
        beta = torch.where(better, new_beta, beta)
        loss = torch.where(better, new_loss, loss)
        damping = torch.where(better, damping / 3, damping * 4).clamp(1e-12, 1e6)
    return alpha, beta, loss


def exact_solutions(
    y: torch.Tensor,
    functions: Union[str, ForwardFunctions] = "original",
    box_tol: float = 1e-5,
    y_tol: float = 1e-4,
    chunk: int = 256,
) -> Union[torch.Tensor, List[torch.Tensor]]:
    """Every pair of lines in the prior's box whose signals equal ``y``.

    Parameters
    ----------
    y : ``(n_points, 2)`` for one condition, or ``(N, n_points, 2)``.
    functions : the forward functions; each must be sin or cos of a linear combination of x0, x1.
    box_tol : how far outside the box (and the ordering) a member may lie, for rounding.
    y_tol : each member's recomputed y must match ``y`` to this, max-abs.

    Returns
    -------
    For one condition a float64 tensor ``(K, 4)`` of endpoints (x0 start, x0 end, x1 start,
    x1 end); for N conditions a list of N such tensors. K is 0 when no line pair reproduces y
    (e.g. a noisy y).
    """
    forward = ForwardFunctions(functions)
    if forward.trig_linear is None:
        raise ValueError(f"exact_solutions needs functions of the form sin/cos(p*x0 + q*x1 + c); got {forward.text!r}")
    single = y.dim() == 2
    y = y.unsqueeze(0) if single else y
    if y.dim() != 3 or y.shape[-1] != 2 or y.shape[-2] < 3:
        raise ValueError(
            f"y must have shape (n_points, 2) or (N, n_points, 2) with n_points >= 3, got {tuple(y.shape)}"
        )
    if not torch.isfinite(y).all():
        raise ValueError("y holds NaN or infinite values")
    results: List[torch.Tensor] = []
    for start in range(0, y.shape[0], chunk):
        results.extend(_solve_chunk(y[start : start + chunk].double(), forward, box_tol, y_tol))
    return results[0] if single else results


def _turn_range(lo: float, hi: float) -> torch.Tensor:
    return torch.arange(math.floor(lo / TWO_PI) - 1, math.ceil(hi / TWO_PI) + 2, dtype=torch.float64)


def _solve_chunk(y: torch.Tensor, forward: ForwardFunctions, box_tol: float, y_tol: float) -> List[torch.Tensor]:
    n = y.shape[-2]
    terms = forward.trig_linear
    matrix = torch.tensor([[terms[0].p, terms[0].q], [terms[1].p, terms[1].q]], dtype=torch.float64)
    if abs(float(torch.linalg.det(matrix))) < 1e-9:
        raise ValueError(f"the two functions' phases are linearly dependent ({forward.text!r}): the set is not finite")
    inverse = torch.linalg.inv(matrix)
    alpha, beta, _ = fit_phase_lines(y.transpose(-1, -2))  # (N, 2) each

    per_function = []
    for k, term in enumerate(terms):
        # range of the phase P = p x0 + q x1 over the box, and the largest slope per step
        corners = [term.p * a + term.q * b for a in (LOW, HIGH) for b in (LOW, HIGH)]
        max_step = (abs(term.p) + abs(term.q)) * (HIGH - LOW) / (n - 1)
        turns = _turn_range(min(corners) + term.c, max(corners) + term.c)  # m
        aliases = torch.arange(-math.ceil(max_step / TWO_PI), math.ceil(max_step / TWO_PI) + 1, dtype=torch.float64)
        sign = torch.tensor([1.0, -1.0], dtype=torch.float64)
        s, j, m = torch.meshgrid(sign, aliases, turns, indexing="ij")
        s, j, m = s.reshape(-1), j.reshape(-1), m.reshape(-1)
        a, b = alpha[:, k, None], beta[:, k, None]
        start_phase = s * a + TWO_PI * m - term.c
        end_phase = s * (a + (n - 1) * (b + TWO_PI * j)) + TWO_PI * m - term.c
        per_function.append((start_phase, end_phase))  # (N, C_k)

    (s0, e0), (s1, e1) = per_function
    # every combination of a candidate phase line for f0 with one for f1: (N, C0, C1)
    starts = torch.stack(torch.broadcast_tensors(s0[:, :, None], s1[:, None, :]), -1) @ inverse.T
    ends = torch.stack(torch.broadcast_tensors(e0[:, :, None], e1[:, None, :]), -1) @ inverse.T
    endpoints = torch.stack([starts[..., 0], ends[..., 0], starts[..., 1], ends[..., 1]], -1)
    endpoints = endpoints.reshape(y.shape[0], -1, 4)
    x0s, x0e, x1s, x1e = endpoints.unbind(-1)
    inside = (
        (x0e >= LOW - box_tol)
        & (x0s >= x0e - box_tol)
        & (x0s <= HIGH + box_tol)
        & (x1s >= LOW - box_tol)
        & (x1e >= x1s - box_tol)
        & (x1e <= HIGH + box_tol)
    )
    out = []
    for i in range(y.shape[0]):
        members = _unique(endpoints[i][inside[i]])
        if len(members):
            error = (forward(lines_from_endpoints(members, n)) - y[i]).abs().flatten(1).amax(-1)
            members = members[error <= y_tol]
        out.append(members)
    return out


def _unique(points: torch.Tensor, tol: float = 1e-7) -> torch.Tensor:
    """Drop repeats (the sign and alias choices coincide when a phase line is flat at 0 or π)."""
    keep: List[int] = []
    for i in range(len(points)):
        if all((points[i] - points[k]).abs().max() > tol for k in keep):
            keep.append(i)
    return points[keep]


def solution_weights(solutions: torch.Tensor) -> torch.Tensor:
    """The exact posterior probability of each member: its prior density, normalized."""
    if len(solutions) == 0:
        return solutions.new_zeros(0)
    log_p = log_prior_density(solutions.clamp(LOW, HIGH))
    # members on the box edge by rounding: evaluate them at the clamped point, keep ordering
    return torch.softmax(torch.nan_to_num(log_p, neginf=-1e30), dim=0)

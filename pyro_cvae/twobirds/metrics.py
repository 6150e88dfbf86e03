"""How good are generated Two Birds samples? The challenge's gates, fit quality, and coverage of
the exact solution set.

All metrics are computed per condition and then averaged over conditions.

Per sample (the challenge's published gates)::

    straight   |Pearson r(x_k, t)| > 0.8 for both lines
    signs      x0 descending and x1 ascending (signs of the least-squares slopes)
    fits y     RMSE(F(x), y) < 0.1
    passes     all three

Against the exact solution set (``exact_solutions``), with endpoints read from each sample's
least-squares line fit and distances in max-abs over the four endpoints::

    precision        share of samples within ``tol`` (0.02) of some exact solution
    recall           share of exact solutions with at least one sample within ``tol``
    weighted recall  the same, each solution weighted by its exact posterior probability
    mode TV          total-variation distance between the share of samples on each solution
                     (each sample counted for its nearest solution within ``tol``, the others
                     as "no solution") and the exact posterior probabilities: 0 when the sampler
                     puts the right probability on every mode; drawing 1,000 samples from the
                     exact posterior itself gives about 0.03 on the scoring set (sampling noise)
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Union

import torch

from .exact import exact_solutions, solution_weights
from .functions import ForwardFunctions
from .lines import endpoints_from_lines

GATE_R, GATE_RMSE, MATCH_TOL = 0.8, 0.1, 0.02


def _pearson_with_index(x: torch.Tensor) -> torch.Tensor:
    """Pearson r of each line against its point index; 0 for a constant line."""
    t = torch.arange(x.shape[-2], dtype=x.dtype, device=x.device).unsqueeze(-1)
    xc, tc = x - x.mean(-2, keepdim=True), t - t.mean()
    cov = (xc * tc).sum(-2)
    norm = (xc.pow(2).sum(-2) * tc.pow(2).sum()).sqrt()
    return torch.where(norm > 0, cov / norm.clamp_min(1e-30), torch.zeros_like(cov))


def sample_gates(samples: torch.Tensor, y: torch.Tensor, functions) -> Dict[str, torch.Tensor]:
    """Per-sample gate values for ``samples (..., n, 2)`` against ``y`` broadcastable to them."""
    forward = ForwardFunctions(functions)
    samples = samples.double()
    r = _pearson_with_index(samples)  # (..., 2)
    y_mse = (forward(samples) - y.double()).pow(2).mean((-2, -1))
    straight = (r.abs() > GATE_R).all(-1)
    signs = (r[..., 0] < 0) & (r[..., 1] > 0)
    fits = y_mse.sqrt() < GATE_RMSE
    return {
        "passes": straight & signs & fits,
        "straight": straight,
        "signs": signs,
        "fits_y": fits,
        "y_mse": y_mse,
        "r2": r.pow(2).mean(-1),
    }


def coverage(endpoints: torch.Tensor, solutions: torch.Tensor, tol: float = MATCH_TOL) -> Dict[str, float]:
    """Precision, recall and weighted recall of sample endpoints ``(S, 4)`` against one exact set."""
    if len(solutions) == 0:
        return {"precision": 0.0, "recall": float("nan"), "weighted_recall": float("nan"), "mode_tv": float("nan")}
    distance = (endpoints.double()[:, None, :] - solutions[None, :, :]).abs().amax(-1)  # (S, K)
    close = distance <= tol
    covered = close.any(0).double()
    weights = solution_weights(solutions)
    # each sample counts for its nearest solution, if within tol; the rest count as "no solution"
    matched = distance.min(-1).values <= tol
    share = torch.bincount(distance.argmin(-1)[matched], minlength=len(solutions)).double() / len(endpoints)
    return {
        "precision": close.any(1).double().mean().item(),
        "recall": covered.mean().item(),
        "weighted_recall": (weights * covered).sum().item(),
        "mode_tv": 0.5 * ((share - weights).abs().sum().item() + (1 - matched.double().mean().item())),
    }


def evaluate_samples(
    samples: torch.Tensor,
    y: torch.Tensor,
    functions: Union[str, ForwardFunctions] = "original",
    solutions: Optional[Sequence[torch.Tensor]] = None,
    tol: float = MATCH_TOL,
) -> Dict[str, object]:
    """All metrics for ``samples (S, N, n, 2)`` drawn for conditions ``y (N, n, 2)``.

    Returns the averages over conditions (``pass_rate``, ``y_mse``, ``r2``, ``sign_rate``,
    ``straight_rate``, ``precision``, ``recall``, ``weighted_recall``, ``mode_tv``, ``num_solutions``) and,
    under ``"per_condition"``, one list per metric. Coverage metrics need functions of the
    sin/cos-of-linear form (or precomputed ``solutions``); otherwise they are left out.
    """
    if samples.dim() != 4 or samples.shape[1:] != y.shape:
        raise ValueError(
            f"samples must be (num_samples, N, n_points, 2) for y of shape {tuple(y.shape)}, got {tuple(samples.shape)}"
        )
    forward = ForwardFunctions(functions)
    gates = sample_gates(samples, y, forward)
    per_condition: Dict[str, List[float]] = {
        "pass_rate": gates["passes"].double().mean(0).tolist(),
        "y_mse": gates["y_mse"].mean(0).tolist(),
        "r2": gates["r2"].mean(0).tolist(),
        "sign_rate": gates["signs"].double().mean(0).tolist(),
        "straight_rate": gates["straight"].double().mean(0).tolist(),
    }
    if solutions is None and forward.trig_linear is not None:
        solutions = exact_solutions(y, forward)
    if solutions is not None:
        endpoints = endpoints_from_lines(samples.double())  # (S, N, 4)
        rows = [coverage(endpoints[:, i], solutions[i], tol) for i in range(y.shape[0])]
        for key in ("precision", "recall", "weighted_recall", "mode_tv"):
            per_condition[key] = [row[key] for row in rows]
        per_condition["num_solutions"] = [float(len(s)) for s in solutions]
    summary: Dict[str, object] = {key: float(torch.tensor(values).nanmean()) for key, values in per_condition.items()}
    summary["num_samples"], summary["num_conditions"] = samples.shape[0], samples.shape[1]
    summary["per_condition"] = per_condition
    return summary

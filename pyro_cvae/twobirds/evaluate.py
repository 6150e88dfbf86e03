"""Evaluate a trained Two Birds model: draw samples per condition and score them."""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import pyro
import torch

from ..model import CVAE
from .exact import exact_solutions, solution_weights
from .functions import ForwardFunctions
from .metrics import evaluate_samples
from .posterior import mode_probabilities_against, posterior_modes
from .sampling import draw


def evaluate_model(
    model: CVAE,
    y: torch.Tensor,
    functions,
    sample_counts: Sequence[int] = (30, 1000),
    sharpen: str = "laplace",
    seed: int = 0,
    solutions: Optional[Sequence[torch.Tensor]] = None,
    **draw_options,
) -> Tuple[Dict[str, Dict[str, object]], torch.Tensor, Optional[Sequence[torch.Tensor]]]:
    """Metrics for each number of samples per condition, e.g. ``{"30 samples": {...}, ...}``.

    Returns ``(results, samples of the largest count, exact solution sets or None)``. The exact
    sets are computed once when the functions allow it (sin/cos of linear combinations).
    """
    forward = ForwardFunctions(functions)
    if solutions is None and forward.trig_linear is not None:
        solutions = exact_solutions(y, forward)
    results, largest = {}, None
    for count in sorted(sample_counts):
        pyro.set_rng_seed(seed)
        samples = draw(model, y, count, sharpen=sharpen, functions=forward, **draw_options)
        result = evaluate_samples(samples, y, forward, solutions)
        result["sharpen"] = sharpen
        results[f"{count} samples"] = result
        largest = samples
    return results, largest, solutions


def mode_reliability(
    model: CVAE,
    y: torch.Tensor,
    functions,
    solutions: Sequence[torch.Tensor],
    noise_scale: float = 0.0,
    num_proposals: int = 1000,
) -> Dict[str, torch.Tensor]:
    """``{"predicted", "exact"}``: for every exact solution of every condition, the probability
    the calibrated posterior (``posterior_modes``) gives it and its exact posterior weight."""
    modes = posterior_modes(model, y, ForwardFunctions(functions), noise_scale, num_proposals)
    predicted = torch.cat([mode_probabilities_against(m, s) for m, s in zip(modes, solutions)])
    exact = torch.cat([solution_weights(s).double() for s in solutions])
    return {"predicted": predicted, "exact": exact}

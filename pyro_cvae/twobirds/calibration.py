"""Calibration of the endpoint posterior: coverage and simulation-based calibration (SBC).

Simulate x* from the prior, y = F(x*), draw S samples for y, and rank each true endpoint among
the samples' endpoints. Under the exact posterior (a weighted finite set here) the ranks are
uniform: this checks that the sampler puts the right *share* of samples on each solution, which
precision and recall do not see. Samples that land on the very solution x* tie with it (equal to
~1e-6 after refinement), so ties within ``tie_tol`` get a uniformly random rank among them, the
standard treatment of discrete posteriors in SBC.
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from ..diagnostics.calibration import LEVELS, interval_coverage, rank_uniformity
from .lines import endpoints_from_lines


def endpoint_ranks(
    samples: torch.Tensor, truth: torch.Tensor, tie_tol: float = 1e-4, generator: Optional[torch.Generator] = None
) -> torch.Tensor:
    """Ranks ``(N, 4)`` in ``{0..S}`` of true endpoints among sample endpoints.

    ``samples`` is ``(S, N, n, 2)`` lines, ``truth`` ``(N, n, 2)``.
    """
    sample_e, true_e = endpoints_from_lines(samples.double()), endpoints_from_lines(truth.double())
    below = (sample_e < true_e - tie_tol).sum(0)
    ties = ((sample_e - true_e).abs() <= tie_tol).sum(0)
    u = torch.rand(ties.shape, generator=generator, dtype=torch.float64)
    return below + torch.floor(u * (ties + 1)).long()


def endpoint_calibration(
    sampler: Callable[[torch.Tensor, int], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    num_samples: int = 99,
    seed: int = 0,
    tie_tol: float = 1e-4,
) -> Dict[str, object]:
    """SBC p-values and interval coverage of the four endpoints for ``sampler(y, S) -> (S, N, n, 2)``."""
    samples = sampler(y, num_samples)
    ranks = endpoint_ranks(samples, x, tie_tol=tie_tol, generator=torch.Generator().manual_seed(seed))
    test = rank_uniformity(ranks, num_samples)
    return {
        "sbc_p_value": test["p_value"],
        "sbc_p_values": test["p_values"],
        "rank_counts": test["counts"],
        "coverage": interval_coverage(
            samples.double(), x.double(), LEVELS, functional=endpoints_from_lines, tol=tie_tol
        ),
    }


def noisy_calibration(
    sampler: Callable[[torch.Tensor, int], torch.Tensor],
    functions,
    noise_scale: float,
    num_conditions: int = 500,
    num_samples: int = 99,
    seed: int = 2024,
) -> Dict[str, object]:
    """Simulation-based calibration with noisy measurements: x* from the prior, y = F(x*) + ε
    with ε ~ N(0, noise_scale²), ``sampler(y, S)`` draws the posterior. Noise-free
    (``noise_scale=0``) the posterior is discrete and ties are broken at random; with noise it is
    continuous and no tie tolerance is used."""
    from .data import generate

    x, y = generate(num_conditions, functions, seed=seed, noise_scale=noise_scale)
    # the tie-breaking draws must not come from the stream that drew x* (that correlates them)
    return endpoint_calibration(sampler, x, y, num_samples, seed + 1, tie_tol=1e-4 if noise_scale == 0 else 0.0)

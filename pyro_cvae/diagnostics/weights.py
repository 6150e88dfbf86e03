"""Self-normalized importance sampling, and how far to trust it: one implementation for every
place the suite corrects a proposal towards an exact posterior (``posterior.importance`` for any
known likelihood, ``twobirds.posterior`` for the Two Birds mixture).

Draws e_k from a proposal q with a known density, and a target π known up to a constant::

    log w_k = log π(e_k) - log q(e_k),     w̄_k = w_k / Σ_j w_j

The weighted draws estimate expectations under π, and resampling them by w̄ gives draws that
follow π as K grows. Two numbers say whether K was enough: the effective sample size
1 / Σ w̄_k² (K for a perfect proposal, 1 when one draw takes all the weight) and the Pareto k̂
of the weights' tail (Vehtari et al. 2024; above 0.7 the estimate cannot be trusted, whatever
the ESS says: the proposal's tails miss mass the target has).
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import Optional

import torch

from .importance import pareto_khat

__all__ = ["KHAT_LIMIT", "ImportanceWeights"]

#: above this Pareto k̂ an importance-sampling estimate is not to be trusted (Vehtari et al. 2024)
KHAT_LIMIT = 0.7


class ImportanceWeights:
    """The log weights ``(K,)`` of K proposals (``-inf``, or NaN, where the target density is 0:
    such a draw never carries weight). Refused when no proposal has positive target density."""

    def __init__(self, log_weights: torch.Tensor):
        if log_weights.dim() != 1 or log_weights.numel() == 0:
            raise ValueError(
                f"log_weights must be a non-empty vector (one per proposal), got {tuple(log_weights.shape)}"
            )
        finite = torch.isfinite(log_weights)
        if not finite.any():
            raise ValueError("no proposal has a finite weight: the proposal puts no draw where the target has mass")
        self.log_weights = torch.where(finite, log_weights, torch.tensor(-math.inf, dtype=log_weights.dtype))

    @classmethod
    def from_densities(cls, log_target: torch.Tensor, log_proposal: torch.Tensor) -> "ImportanceWeights":
        """The weights of draws with unnormalized target log density ``log_target`` and proposal
        log density ``log_proposal``."""
        return cls(log_target - log_proposal)

    def __len__(self) -> int:
        return self.log_weights.numel()

    @cached_property
    def normalized(self) -> torch.Tensor:
        """w̄: the weights divided by their sum ``(K,)``."""
        return torch.softmax(self.log_weights, 0)

    @property
    def ess(self) -> float:
        """The effective sample size, 1 / Σ w̄²."""
        return float(1 / self.normalized.double().pow(2).sum())

    @cached_property
    def khat(self) -> float:
        """The Pareto k̂ of the weights' tail (``diagnostics.pareto_khat``)."""
        return float(pareto_khat(self.log_weights[:, None].double())[0])

    def resample(self, num_samples: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Indices of ``num_samples`` proposals drawn with replacement by weight."""
        return torch.multinomial(self.normalized, num_samples, replacement=True, generator=generator)

    def warn_if_unreliable(
        self,
        what: str = "the corrected draws",
        stacklevel: int = 3,
        remedy: str = "train the proposal longer or on more simulations, or use more proposals",
    ) -> None:
        """A warning naming k̂, the ESS and the ``remedy`` when k̂ exceeds ``KHAT_LIMIT``."""
        if self.khat > KHAT_LIMIT:
            warnings.warn(
                f"Pareto k̂ = {self.khat:.2f} > {KHAT_LIMIT}: the proposal misses mass of the exact posterior and "
                f"{what} are unreliable (ESS {self.ess:.0f} of {len(self)}); {remedy}",
                stacklevel=stacklevel,
            )

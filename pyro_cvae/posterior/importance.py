"""Exact in the limit where the likelihood is known: the CVAE as an importance-sampling proposal.

When the user can evaluate log p(x_o | θ) (the simulator's noise model is known), the trained
posterior need not be trusted as it is: it proposes, and weights correct it to the exact
posterior p(θ | x_o) ∝ p(θ) p(x_o | θ). The proposal is the CVAE's joint over (z, u), whose
density is exact (no inner estimate)::

    z ~ r(z | c),  u ~ p(u | z, c),  θ = g(m + s·u)          c = embedding(x̃_o)
    log w = log p(θ) + log p(x_o | θ) + log |dθ/du| + log q(z | u, c) - log r(z | c) - log p(u | z, c)

The guide q(z | u, c) is the auxiliary that turns the target over θ into one over (z, u), so the
self-normalized weights target p(θ | x_o) exactly as the number of proposals grows, whatever the
guide. The Two Birds posterior (``pyro_cvae.twobirds.posterior``) does the same for its one
problem, with a Laplace proposal in place of the guide.

Trust the result only as far as the weights allow: the effective sample size and the Pareto k̂
of the weights' tail (Vehtari et al.; above 0.7 the estimate is unreliable) come with it, and a
warning is given for k̂ > 0.7. The weighting, its diagnostics and the resampling are
``diagnostics.weights.ImportanceWeights``, which the Two Birds posterior uses too.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import torch

from ..checks import check_positive_int
from ..diagnostics.weights import KHAT_LIMIT, ImportanceWeights
from ..sampling.evaluate import eval_mode
from ..seeding import seeded
from .amortized import AmortizedPosterior

__all__ = ["CorrectedDraws", "importance_corrected", "KHAT_LIMIT"]

LogLikelihood = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class CorrectedDraws(NamedTuple):
    """Draws of the corrected posterior for one observation, resampled from the weighted
    proposals (``theta`` ``(num_samples, D)``), with ``log_weights`` of the proposals, their
    effective sample size ``ess`` and Pareto ``khat``."""

    theta: torch.Tensor
    log_weights: torch.Tensor
    ess: float
    khat: float


@torch.no_grad()
def importance_corrected(
    posterior: AmortizedPosterior,
    x_o: torch.Tensor,
    log_likelihood: LogLikelihood,
    prior: torch.distributions.Distribution,
    num_proposals: int = 10_000,
    num_samples: Optional[int] = None,
    seed: Optional[int] = 0,
) -> CorrectedDraws:
    """Correct ``posterior`` at one observation ``x_o`` with the known ``log_likelihood(x_o,
    theta)`` (``theta`` ``(K, D)`` in, log p(x_o | θ) ``(K,)`` out) and the ``prior``.
    ``num_samples`` draws (default: as many as proposals) are resampled by weight."""
    check_positive_int(num_proposals, "num_proposals")
    if not isinstance(posterior, AmortizedPosterior):
        raise TypeError(
            f"importance_corrected needs one AmortizedPosterior (its CVAE is the proposal), got "
            f"{type(posterior).__name__}; for an ensemble, correct one member: posterior.members[0]"
        )
    y = posterior.condition(x_o)
    if y.shape[0] != 1:
        raise ValueError(f"x_o must be one observation (the correction is made per observation), got {y.shape[0]}")
    model, space = posterior.model, posterior.space
    with seeded(seed), eval_mode(model):
        c = model.features(y)  # (1, E)
        assert c is not None  # a posterior's model always has a condition
        z = model.prior(c).sample((num_proposals,))[:, 0]  # (K, latent)
        c = c.expand(num_proposals, *c.shape[1:])
        likelihood = model.likelihood(model.decoder(z, c))
        u = likelihood.sample()
        log_proposal = model.prior(c).log_prob(z) + likelihood.log_prob(u)
        log_auxiliary = model.encoder(u, c).log_prob(z)
        theta = space.from_network(u.float().cpu())
        # a draw rounded onto the support's edge has no density there: it gets weight 0
        inside = space.inside(theta)
        safe = torch.where(inside[:, None], theta, theta[inside][:1] if inside.any() else theta)
        log_target = prior.log_prob(safe).double() + log_likelihood(torch.as_tensor(x_o), safe).double()
        log_w = log_target - space.log_abs_det(safe).double() + (log_auxiliary - log_proposal).double().cpu()
        log_w = torch.where(inside, log_w, torch.tensor(-math.inf, dtype=log_w.dtype))
        try:  # NaN and -inf weights carry no weight; only none finite at all is refused
            weights = ImportanceWeights(log_w)
        except ValueError as error:
            raise ValueError(
                "no proposal of the posterior has a finite weight: log_likelihood(x_o, theta) is -inf or NaN "
                "at every draw, or the prior's log_prob is -inf there (is x_o from this simulator?)"
            ) from error
        picks = weights.resample(num_samples or num_proposals)
    weights.warn_if_unreliable()
    return CorrectedDraws(theta[picks], weights.log_weights, weights.ess, weights.khat)

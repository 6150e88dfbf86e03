"""Metropolis–Hastings moves that carry importance-resampled draws to the exact posterior.

Importance resampling (``importance``) is exact only as the number of proposals grows; when the
CVAE misses part of the posterior (Pareto k̂ > 0.7), the resampled draws are few distinct points
repeated. Each chain here starts at one resampled draw and takes moves that leave the exact
posterior invariant, so the draws only get closer to it, whatever the proposal's faults.

The chains live in the network's space u (θ = g(m + s·u), ``ParameterSpace``), where the target is::

    log π(u) = log p(θ) + log p(x_o | θ) + log |dθ/du|

and each step makes three moves:

1. **random walk**: u' = u + h·L·ξ, ξ ~ N(0, I), where L is the Cholesky factor of the
   covariance of the chains' cluster nearest to u (k-means on the chains, ``CLUSTERS`` of them:
   each mode of a multimodal posterior gets its own shape), accepted with probability
   min(1, π(u') q(u | u') / (π(u) q(u' | u))), the Hastings term making up for the shape that
   depends on where the chain is. During the first half of the steps only, h (from
   2.38 / √D) grows or shrinks towards an acceptance of ``TARGET_ACCEPTANCE`` and the clusters
   are found again every ten steps as the chains spread; the second half moves with both fixed.
2. **cluster jump**: u' = u + c_j − c_i, where c_i is the centre of the cluster nearest to u
   and j another cluster picked uniformly; accepted with probability min(1, π(u') / π(u)) if
   u' is nearest to c_j (then the reverse jump exists and has the same probability, and the
   translation keeps volume), never otherwise. A chain carries its place within one mode to the
   same place in another: mirror-image modes that neither the random walk nor the proposal
   crosses between exchange mass at the rate their shapes overlap.
3. **independence**: a fresh draw (z', u') of the CVAE, accepted with probability
   min(1, w' / w), where w is the importance weight of the joint over (z, u) of ``importance``.
   The chain's own z is first drawn from the guide q(z | u, c), which is exact: q is z's
   conditional under the joint target π(u)·q(z | u, c). This move jumps between modes the random
   walk cannot cross, at the rate the proposal allows.

All three moves leave the exact posterior invariant for any h, clusters and proposal; a poor choice
only slows the mixing. h and the clusters are read off all chains together (as sequential Monte
Carlo samplers tune their moves): with thousands of chains one chain's pull on them is
negligible, and the second half of the steps tunes nothing.

Whether the steps were enough shows in the population too: chains that have mixed end where they
would from any start, so the correlation across chains between each chain's start and its end
(``start_end_correlation``, the chains' autocorrelation at the lag of the steps taken) falls to
0; chains that started at a few points have stopped spreading out by the second half of the
steps (``spread_change``); and ``MoveSummary.forgot_starts`` says whether both are under their
limits in every parameter.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Tuple

import torch

from ..checks import check_tensor

__all__ = [
    "FORGETTING_CORRELATION",
    "MoveSummary",
    "SPREAD_CHANGE",
    "TARGET_ACCEPTANCE",
    "forgetting_limit",
    "largest_magnitude",
    "metropolis_moves",
    "settling_limit",
    "spread_change",
    "start_end_correlation",
]

#: the random walk's acceptance rate the step size is tuned towards (Roberts et al. 1997: 0.234
#: is optimal for many dimensions, a little higher for few)
TARGET_ACCEPTANCE = 0.3

#: the clusters of the population whose covariances shape the random walk (``_LocalWalk``)
CLUSTERS = 8

#: the correlation between the chains' starts and ends (any parameter) above which they are taken
#: not to have forgotten their starts (``forgetting_limit``): at 0.1, a tenth of where a chain
#: started still shows in where it ended
FORGETTING_CORRELATION = 0.1

#: the log ratio of the chains' spread at the end and halfway above which they are taken to be
#: still spreading out (``settling_limit``): 0.1, a change of about a tenth
SPREAD_CHANGE = 0.1


class MoveSummary(NamedTuple):
    """How the chains moved: ``steps`` taken, the share of random-walk and of independence
    proposals accepted over all steps, the random walk's final step size h, the share of cluster
    jumps accepted; per parameter, the correlation between the chains' starts and ends
    (``start_end_correlation``; NaN where the starts do not vary) and the change of their spread
    over the second half of the steps (``spread_change``); and whether every one is under its
    limit (``forgetting_limit``, ``settling_limit``), i.e. the chains show no sign of remembering
    their starts. Passing is necessary, not sufficient: chains that all started in one mode and
    never left it can forget where in it they started."""

    steps: int
    random_walk_acceptance: float
    independence_acceptance: float
    step_size: float
    jump_acceptance: float = 0.0
    start_correlation: Tuple[float, ...] = ()
    spread_change: Tuple[float, ...] = ()
    forgot_starts: bool = True

    @property
    def largest_start_correlation(self) -> float:
        """The largest absolute start–end correlation over the parameters, NaN (starts that do
        not vary, which says nothing) read as 0."""
        return largest_magnitude(self.start_correlation)[1]

    @property
    def largest_spread_change(self) -> float:
        """The largest absolute change of spread over the parameters, NaN read as 0, inf kept
        (chains all at one value halfway or at the end)."""
        return largest_magnitude(self.spread_change)[1]


def largest_magnitude(values: Tuple[float, ...]) -> Tuple[int, float]:
    """``(index, |value|)`` of the largest absolute value (the first, on a tie), NaN read as 0
    (a NaN correlation or change says nothing), inf kept; ``(0, 0.0)`` for no values."""
    magnitudes = [0.0 if math.isnan(value) else abs(value) for value in values]
    if not magnitudes:
        return 0, 0.0
    index = max(range(len(magnitudes)), key=magnitudes.__getitem__)
    return index, magnitudes[index]


# log π(u) (N,), in float64, for chains u (N, D)
LogTarget = Callable[[torch.Tensor], torch.Tensor]
# N fresh proposals of the CVAE: u (N, D), log π(u) and the rest of their joint importance log weight
Propose = Callable[[int], Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
# for chains u: z drawn from the guide q(z | u, c), and the rest of the joint importance log weight
# log w - log π(u) = log q(z | u, c) - log r(z | c) - log p(u | z, c)  (N,)
Auxiliary = Callable[[torch.Tensor], torch.Tensor]


def _covariance_factor(u: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor of the draws' covariance, with a little jitter so that a
    population of few distinct points still gives a usable direction in every parameter (and
    one point alone, 0.1 in every direction of the standardized space: the step size adapts)."""
    centred = u - u.mean(0)
    covariance = centred.T @ centred / max(1, u.shape[0] - 1)
    eye = torch.eye(u.shape[1], dtype=u.dtype)
    spread = covariance.diagonal().mean()
    if not spread > 1e-12:
        return 0.1 * eye
    return torch.linalg.cholesky(covariance + 1e-6 * spread * eye)


def _kmeans(u: torch.Tensor, clusters: int, generator: torch.Generator, iterations: int = 25) -> torch.Tensor:
    """Centroids ``(clusters, D)`` of the draws by Lloyd's iterations from a k-means++ start."""
    centroids = u[torch.randint(len(u), (1,), generator=generator)]
    while len(centroids) < clusters:
        distance = torch.cdist(u, centroids).min(1).values.pow(2)
        if float(distance.sum()) == 0:  # fewer distinct points than clusters
            break
        pick = torch.multinomial(distance / distance.sum(), 1, generator=generator)
        centroids = torch.cat([centroids, u[pick]])
    for _ in range(iterations):
        labels = torch.cdist(u, centroids).argmin(1)
        counts = torch.bincount(labels, minlength=len(centroids)).to(u.dtype)
        sums = torch.zeros_like(centroids).index_add_(0, labels, u)
        centroids = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], centroids)
    return centroids


class _LocalWalk:
    """A random walk shaped, at each chain, by the covariance of the population's cluster nearest
    to it: u' = u + h·L_k(u)·ξ. Because the shape depends on where the chain is, the proposal is
    not symmetric, and ``propose`` returns the Hastings term log q(u | u') - log q(u' | u) that
    keeps the move exact. One shape for every chain (a single covariance) would have to be as
    small as the narrowest direction of any mode once the population spans several modes."""

    def __init__(self, u: torch.Tensor, clusters: int, generator: torch.Generator):
        u = u.double()
        self.centroids = _kmeans(u, clusters, generator)
        labels = self.nearest(u)
        whole = _covariance_factor(u)
        factors = []
        for k in range(len(self.centroids)):
            members = u[labels == k]
            # a cluster too small for a covariance borrows the population's
            factors.append(_covariance_factor(members) if len(members) > 4 * u.shape[1] else whole)
        self.factors = torch.stack(factors)  # (K, D, D)
        self.log_dets = self.factors.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)

    def nearest(self, u: torch.Tensor) -> torch.Tensor:
        return torch.cdist(u.double(), self.centroids).argmin(1)

    def propose(self, u: torch.Tensor, step: float, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        """Candidates u' and the Hastings term of each."""
        here = self.nearest(u)
        noise = torch.randn(u.shape, dtype=torch.float64, generator=generator)
        candidate = u.double() + step * (self.factors[here] @ noise[:, :, None])[:, :, 0]
        there = self.nearest(candidate)
        back = torch.linalg.solve_triangular(
            self.factors[there], ((u.double() - candidate) / step)[:, :, None], upper=False
        )[:, :, 0]
        log_forward = -0.5 * noise.pow(2).sum(-1) - self.log_dets[here]
        log_backward = -0.5 * back.pow(2).sum(-1) - self.log_dets[there]
        return candidate.to(u.dtype), log_backward - log_forward

    def jump(self, u: torch.Tensor, generator: torch.Generator) -> Tuple[torch.Tensor, torch.Tensor]:
        """Candidates u + c_j - c_i (j another cluster, uniformly) and whether each lands nearest
        to c_j, without which its reverse jump does not exist and it must be refused."""
        here = self.nearest(u)
        clusters = len(self.centroids)
        if clusters < 2:
            return u, torch.zeros(u.shape[0], dtype=torch.bool)
        there = (here + torch.randint(1, clusters, here.shape, generator=generator)) % clusters
        candidate = u.double() + self.centroids[there] - self.centroids[here]
        return candidate.to(u.dtype), self.nearest(candidate) == there


def _accept(log_ratio: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Whether each proposal is accepted with probability min(1, exp(log_ratio)); NaN never."""
    uniform = torch.rand(log_ratio.shape, dtype=torch.float64, generator=generator)
    return torch.nan_to_num(log_ratio, nan=-math.inf) > uniform.log()


def metropolis_moves(
    u: torch.Tensor,
    log_target: LogTarget,
    propose: Propose,
    auxiliary: Auxiliary,
    steps: int,
    generator: torch.Generator,
    clusters: int = CLUSTERS,
) -> Tuple[torch.Tensor, MoveSummary]:
    """Move the chains ``u`` ``(N, D)`` (one per resampled draw) by ``steps`` rounds of a
    random-walk move, a cluster jump and an independence move; the chains' states after the last
    step, and how they moved (with whether they forgot where they started)."""
    start = middle = u
    log_pi = log_target(u)
    walk = _LocalWalk(u, clusters, generator)
    log_step = math.log(2.38 / math.sqrt(u.shape[1]))
    walk_accepted, jump_accepted, fresh_accepted = 0.0, 0.0, 0.0
    for step in range(steps):
        if step == steps // 2:
            middle = u  # halfway: the spread from here on should not change once the chains have mixed
        # 1. random walk; during the first half of the steps only, h is tuned and the clusters
        # are found again from the chains as they spread (the second half moves with both fixed)
        burn_in = step < steps // 2
        if burn_in and step and step % 10 == 0:
            walk = _LocalWalk(u, clusters, generator)
        candidate, hastings = walk.propose(u, math.exp(log_step), generator)
        log_pi_candidate = log_target(candidate)
        u, log_pi, rate = _metropolis_update(u, log_pi, candidate, log_pi_candidate, hastings, generator)
        walk_accepted += rate
        if burn_in:
            log_step += rate - TARGET_ACCEPTANCE
        # 2. cluster jump: the same place in another cluster (refused where the reverse jump does not exist)
        candidate, valid = walk.jump(u, generator)
        log_pi_candidate = torch.full_like(log_pi, -math.inf)
        if valid.any():  # the likelihood only where the jump can be accepted
            log_pi_candidate[valid] = log_target(candidate[valid])
        u, log_pi, rate = _metropolis_update(u, log_pi, candidate, log_pi_candidate, 0.0, generator)
        jump_accepted += rate
        # 3. independence move on the joint (z, u): the chain's z from the guide, then a fresh
        # proposal, accepted by the ratio of joint weights: log π and the auxiliary parts
        auxiliary_u = auxiliary(u)
        fresh_u, fresh_log_pi, fresh_auxiliary = propose(u.shape[0])
        u, log_pi, rate = _metropolis_update(u, log_pi, fresh_u, fresh_log_pi, fresh_auxiliary - auxiliary_u, generator)
        fresh_accepted += rate
    per_step = 1 / max(steps, 1)
    correlation, change = start_end_correlation(start, u), spread_change(middle, u)
    remembered = (correlation.abs() > forgetting_limit(len(u))) | (change.abs() > settling_limit(len(u)))
    summary = MoveSummary(
        steps,
        walk_accepted * per_step,
        fresh_accepted * per_step,
        math.exp(log_step),
        jump_accepted * per_step,
        tuple(correlation.tolist()),
        tuple(change.tolist()),
        # a NaN correlation (starts that do not vary) is no sign of remembering them
        not bool(remembered.any()),
    )
    return u, summary


def _metropolis_update(
    u: torch.Tensor,
    log_pi: torch.Tensor,
    candidate: torch.Tensor,
    log_pi_candidate: torch.Tensor,
    log_correction,
    generator: torch.Generator,
) -> Tuple[torch.Tensor, torch.Tensor, float]:
    """One accept/reject of every chain: accepted with probability min(1, π(u') / π(u) ·
    exp(``log_correction``)) (the Hastings term, or the auxiliary parts of the joint weights);
    the chains, their log π, and the share accepted."""
    accepted = _accept(log_pi_candidate - log_pi + log_correction, generator)
    u = torch.where(accepted[:, None], candidate, u)
    log_pi = torch.where(accepted, log_pi_candidate, log_pi)
    return u, log_pi, float(accepted.double().mean())


def start_end_correlation(start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Per parameter, the correlation across chains between where each chain started and where it
    ended ``(D,)``; NaN for a parameter whose starts do not vary. For chains that started on the
    target it is the chains' autocorrelation at the lag of the steps taken: near 0 once they
    have forgotten their starts, near 1 while the starts still decide where they are."""
    start, end = _populations(start, end, ("start", "end"))
    start, end = start - start.mean(0), end - end.mean(0)
    scale = (start.pow(2).sum(0) * end.pow(2).sum(0)).sqrt()
    correlation = (start * end).sum(0) / scale
    return torch.where(scale > 0, correlation, torch.tensor(math.nan, dtype=correlation.dtype))


def _populations(first: torch.Tensor, second: torch.Tensor, names: Tuple[str, str]) -> Tuple[torch.Tensor, ...]:
    """Two states of the same chains, checked to be finite and shaped alike ``(chains,
    parameters)``, in float64."""
    first = check_tensor(first, names[0])
    if first.dim() != 2:
        raise ValueError(f"{names[0]} must have shape (chains, parameters), got {tuple(first.shape)}")
    second = check_tensor(second, names[1], event_shape=first.shape[1:])
    if second.shape[0] != first.shape[0]:
        raise ValueError(
            f"{names[1]} must hold the same chains as {names[0]}: {first.shape[0]} rows, got {second.shape[0]}"
        )
    return first.double(), second.double()


def spread_change(middle: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """Per parameter, how much the chains' spread changed over the second half of the steps: the
    log of the ratio of their interquartile ranges at the end and halfway ``(D,)`` (+inf where
    the chains sat all at one value halfway or at the end). Near 0 once they have mixed; above 0 while chains that
    started at few points are still spreading out, which the start–end correlation cannot see
    (starts that hardly vary have nothing to correlate with)."""
    middle, end = _populations(middle, end, ("middle", "end"))
    quartiles = torch.tensor([0.25, 0.75], dtype=torch.float64)
    middle_q, end_q = torch.quantile(middle, quartiles, dim=0), torch.quantile(end, quartiles, dim=0)
    middle_range, end_range = middle_q[1] - middle_q[0], end_q[1] - end_q[0]
    change = (end_range / middle_range).log()
    return torch.where(end_range > 0, change, torch.tensor(math.inf, dtype=change.dtype))


def settling_limit(num_chains: int) -> float:
    """The ``spread_change`` (either way) above which ``num_chains`` chains are taken to be still
    spreading or contracting: ``SPREAD_CHANGE``, or four standard errors of the log ratio of two
    independent samples' interquartile ranges (1.65/√N each, for Gaussian draws), whichever is
    larger."""
    return max(SPREAD_CHANGE, 4 * 1.65 / math.sqrt(max(num_chains, 1)))


def forgetting_limit(num_chains: int) -> float:
    """The start–end correlation above which ``num_chains`` chains are taken not to have
    forgotten their starts: 0.1, or four standard errors of a correlation between independent
    variables over that many chains (1/√N each), whichever is larger. Repeated starts (resampled
    draws) do not widen it: once the chains have forgotten them, their ends are independent."""
    return max(FORGETTING_CORRELATION, 4 / math.sqrt(max(num_chains, 1)))

r"""A calibrated multimodal posterior for the Two Birds inverse problem (any differentiable F).

The target is the posterior over the four endpoints e of the two lines given the signals y::

    p(e | y)  ∝  p(e) · N(y; F(e), σ² I)        F(e) = forward(lines(e)),  y of n = 2·50 values

with p(e) the challenge prior (``lines.log_prior_density``) and σ the known noise scale (σ = 0:
noise-free measurements). It is multimodal: sign and 2π ambiguities of the phases give several
separated solutions. The sampler builds a mixture with one component per mode:

1. **Propose.** The trained CVAE draws ``num_proposals`` endpoint sets per condition, z ~ r(z | y)
   through ``pyro.infer.Predictive``: it knows *where* the modes are.
2. **Refine.** Each proposal is moved to the nearest minimum of ‖F(e) − y‖² by projected
   Levenberg-Marquardt (``refine.refine_endpoints``): proposals in one basin meet at its mode.
3. **Merge.** Refined points closer than ``merge_tol`` (max-abs over the endpoints) are one
   mode e_m; the CVAE's share of proposals per mode is *not* used from here on.
4. **Complete by translation.** Periodic F repeat their solutions: two modes that differ by a
   2π turn of a phase have neighbours that differ by the same vector. The shortest differences
   between modes that fit y are added to every such mode, and the new starting points (inside
   the box, away from known modes) are refined and merged in turn, for up to
   ``translation_rounds`` rounds or until no new mode appears. This finds the low-weight modes
   that no proposal reaches (on the function pair it was developed on, 44 of 1,883 exact
   solutions were missed by 2,000 proposals, 3 by 1,000 proposals and this step, in less time;
   README, "Completing the modes by translation"). It repeats only what was found: a class of
   solutions none of whose members was proposed stays missing. For an F without such repeats,
   the starts refine onto known modes or onto misfits, which the weights then discount.
5. **Weigh (Laplace).** Around e_m, with J_m = ∂F/∂e at e_m (autograd, ``torch.func.jacfwd``)
   and the Gauss-Newton curvature H_m = J_mᵀJ_m / σ² (the prior's curvature is negligible beside
   it: log p is smooth and H grows as n/σ²),

       ∫ p(e | y) de near e_m  ≈  p(e_m) · N(y; F(e_m), σ²) · (2π)^{d/2} · det(H_m)^{-1/2},

   so, dropping factors common to every mode,

       log w_m = log p(e_m) − ‖F(e_m) − y‖² / (2σ²) − ½ log det(J_mᵀJ_m).

   A local minimum that does not explain y gets its misfit penalty; under noise-free y only
   the modes that reproduce y (misfit RMSE below ``solution_tol``, 1e-5: y stored in float32
   is reproduced to ~1e-7) are kept, and the limit σ → 0 of the same formula gives
   w_m ∝ p(e_m) det(J_mᵀJ_m)^{-1/2}. (If no mode reproduces y, y was not noise-free: the best
   fit's misfit then stands in for σ; give the real ``noise_scale`` instead.)
   Each Gaussian is truncated to the prior's box (the posterior is 0 outside), so w_m also
   carries the mass Z_m of N(e_m, H_m⁻¹) inside the box.
6. **Correct (σ > 0).** The mixture q(e) = Σ w_m N(e; e_m, H_m⁻¹) / Z_m is a proposal whose
   density is known, so importance weights p(e | y) / q(e) of 16,384 of its draws move each
   mode's probability to the posterior mass of its basin (the draws nearest to e_m). This
   removes the Laplace error where a mode is not Gaussian (wide modes, low-frequency F). The
   weights are the suite's general ``diagnostics.weights.ImportanceWeights`` (the same as
   ``pyro_cvae.posterior.importance_corrected`` for any known likelihood); their ESS and
   Pareto k̂ are kept in ``Modes.correction``.
7. **Draw.** σ = 0: m ~ Categorical(w), e = e_m. σ > 0: sampling-importance-resampling from
   q with each Gaussian twice as wide (``PROPOSAL_WIDTH``: the tails must be covered), 20
   proposals per sample resampled by the same weights, so the draws follow the posterior within
   each mode as well. A thousand samples cost about what the proposals cost.

Where this is exact. For noise-free y and F = (cos or sin of an affine function of x0 and x1)
per signal, every solution's phases differ from the truth's by signs and 2π turns, so ``|∂F/∂e|``
is the same at every solution, the determinant factor cancels, and w_m ∝ p(e_m) is the exact
posterior (``exact.solution_weights``) over the modes found. The approximation error is then
only in finding every mode (recall). With noise, the importance correction makes the weights
and the draws consistent for the posterior as the draws grow; what remains is, again, a mode
no proposal found. ``tests/twobirds/test_posterior.py`` checks both against exact answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch

from ..checks import check_non_negative_int, check_positive_int
from ..diagnostics.weights import ImportanceWeights
from ..model import CVAE
from ..sampling.predictive import sample
from .lines import HIGH, LOW, endpoints_from_lines, lines_from_endpoints, log_prior_density, sample_endpoints
from .refine import Forward, jacobian, refine_endpoints

#: the importance proposal's Gaussians are this many times wider than the Laplace ones: an
#: importance proposal should have heavier tails than its target, or the tails go unsampled.
#: (On 300 tuning conditions, seed 7, σ = 0.05, 499 samples each, widths 1 and 2 both gave
#: calibrated intervals: 50% / 90% covered 0.493 / 0.900 and 0.499 / 0.895.)
PROPOSAL_WIDTH = 2.0
#: draws of the importance correction of the mode probabilities: their Monte Carlo error is
#: about sqrt(p (1 - p) / ESS), 0.015 for two even modes at 4,096 draws, 0.008 at 16,384
CORRECTION_DRAWS = 16384


@dataclass
class Modes:
    """The posterior of one condition as a mixture: mode m has probability ``probabilities[m]``,
    endpoints ``endpoints[m]`` and (σ > 0) covariance ``covariances[m]``."""

    endpoints: torch.Tensor  # (M, 4) float64
    probabilities: torch.Tensor  # (M,)
    covariances: torch.Tensor  # (M, 4, 4); zeros for noise-free y
    misfit: torch.Tensor  # (M,) RMSE of F(e_m) - y
    num_proposals: int
    #: with noise: log P(the prior's box) under each proposal Gaussian N(e_m, (k Σ_m)²), and the
    #: unnormalized log posterior density, which importance weights correct the mixture towards
    log_mass: Optional[torch.Tensor] = None
    log_target: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    #: the Laplace weights before that correction (``probabilities`` after it)
    laplace_probabilities: Optional[torch.Tensor] = None
    #: with noise: the correction's importance weights, with their ESS and Pareto k̂
    correction: Optional[ImportanceWeights] = None

    @property
    def spreads(self) -> torch.Tensor:
        """The standard deviation of each endpoint within each mode, ``(M, 4)``."""
        return self.covariances.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()

    def __len__(self) -> int:
        return self.endpoints.shape[0]


@torch.no_grad()
def posterior_modes(
    model: CVAE,
    y: torch.Tensor,
    forward: Forward,
    noise_scale: float = 0.0,
    num_proposals: int = 256,
    iterations: int = 30,
    merge_tol: float = 2e-3,
    solution_tol: float = 1e-5,
    chunk: int = 25,
    prior_fraction: float = 0.0625,
    translation_rounds: int = 3,
) -> List[Modes]:
    """The posterior mixture (see the module docstring) for each condition of ``y (N, n, 2)``.

    ``prior_fraction`` of the proposals come from the prior instead of the CVAE: starting
    points spread over the whole box, so that a mode the CVAE never proposes can still be found
    (they only find modes; the weights come from the Laplace formula either way).
    ``translation_rounds`` rounds of completion by translation (step 4; 0: none)."""
    if not noise_scale >= 0:
        raise ValueError(f"noise_scale must be >= 0, got {noise_scale!r}")
    check_positive_int(num_proposals, "num_proposals")
    check_non_negative_int(translation_rounds, "translation_rounds")
    modes: List[Modes] = []
    for start in range(0, y.shape[0], chunk):
        part = y[start : start + chunk]
        from_prior = int(prior_fraction * num_proposals)
        proposals = endpoints_from_lines(
            # one pass: memory is bounded by the chunks of conditions (``chunk``) instead
            sample(model, part, num_samples=num_proposals - from_prior, mean=True, chunk_size=num_proposals).double()
        )
        if from_prior:
            spread = sample_endpoints(from_prior * part.shape[0], dtype=torch.float64).to(proposals.device)
            proposals = torch.cat([proposals, spread.reshape(from_prior, part.shape[0], 4)])
        refined = refine_endpoints(proposals, part.to(proposals.device), forward, iterations)  # (K, n, 4)
        for i in range(part.shape[0]):
            y_i = part[i].double().cpu()
            points, misfit = _completed_by_translation(
                refined[:, i].cpu(), y_i, forward, noise_scale, merge_tol, solution_tol, iterations, translation_rounds
            )
            modes.append(_weigh(points, misfit, y_i, forward, noise_scale, solution_tol, num_proposals))
    return modes


#: translation vectors tried per round: the shortest distinct differences between fitting modes
#: (a 2π turn of either phase, at either end, in either direction, and their sums, are the
#: short ones; longer differences are sums of these and come from later rounds)
TRANSLATIONS = 16


def _misfit(points: torch.Tensor, y: torch.Tensor, forward: Forward) -> torch.Tensor:
    """RMSE of F(lines(e)) - y for endpoints ``(B, 4)``."""
    return (forward(lines_from_endpoints(points, y.shape[0])) - y).pow(2).mean((-2, -1)).sqrt()


def _completed_by_translation(
    points: torch.Tensor,
    y: torch.Tensor,
    forward: Forward,
    noise_scale: float,
    merge_tol: float,
    solution_tol: float,
    iterations: int,
    rounds: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The modes among ``points`` (refined proposals of one condition), one point each, with
    those that step 4 adds, best-fitting first, and their misfits."""
    # a mode "fits" y when its misfit is what the noise gives (noise-free: it reproduces y)
    fit_limit = max(solution_tol, 1.5 * noise_scale)
    # starts closer than this to a known mode, or to each other, would refine onto the same one
    reach = 5 * merge_tol
    misfit = _misfit(points, y, forward)
    keep = _merge(points, misfit, merge_tol)
    modes, misfit = points[keep], misfit[keep]
    for _ in range(rounds):
        fitting = modes[misfit <= fit_limit]
        if len(fitting) < 2:
            break
        differences = (fitting[:, None, :] - fitting[None]).reshape(-1, 4)
        differences = differences[differences.abs().amax(-1) > reach]
        shortest = differences[_merge(differences, differences.abs().amax(-1), reach)][:TRANSLATIONS]
        starts = (fitting[:, None, :] + shortest[None]).reshape(-1, 4)
        starts = starts[torch.isfinite(log_prior_density(starts))]
        starts = starts[(starts[:, None, :] - modes[None]).abs().amax(-1).amin(-1) > reach]
        starts = starts[_merge(starts, torch.zeros(len(starts), dtype=starts.dtype), reach)]
        if len(starts) == 0:
            break
        found = refine_endpoints(starts, y, forward, iterations)
        points = torch.cat([modes, found])
        misfit = torch.cat([misfit, _misfit(found, y, forward)])
        keep = _merge(points, misfit, merge_tol)
        before = len(fitting)
        modes, misfit = points[keep], misfit[keep]
        if int((misfit <= fit_limit).sum()) == before:  # nothing new fits: another round finds nothing
            break
    return modes, misfit


def _merge(points: torch.Tensor, misfit: torch.Tensor, tol: float) -> torch.Tensor:
    """Indices of one representative per cluster, the best-fitting first."""
    order = torch.argsort(misfit)
    keep: List[int] = []
    for index in order.tolist():
        if not keep or (points[keep] - points[index]).abs().amax(-1).min() > tol:
            keep.append(index)
    return torch.tensor(keep, dtype=torch.long)


def _weigh(points, misfit, y, forward, noise_scale, solution_tol, num_proposals) -> Modes:
    """The posterior mixture over the modes ``points`` (merged, with their ``misfit``): steps 5 and 6."""
    n = y.shape[0]
    squared = (forward(lines_from_endpoints(points, n)) - y).pow(2).sum((-2, -1))
    misfit_scale = noise_scale
    if noise_scale == 0:
        solved = misfit <= solution_tol
        if solved.any():  # noise-free: only the modes that reproduce y
            points, misfit, squared = points[solved], misfit[solved], squared[solved]
        else:  # no mode reproduces y (it is not noise-free after all): the best fits dominate
            misfit_scale = float(misfit.min())
    jac = jacobian(forward, points, n)
    # σ² H_m = JᵀJ + (σ / box width)² I: the second term is the precision of a Gaussian as wide
    # as the prior's box, so a mode where F barely moves along some direction (JᵀJ nearly
    # singular) still gets a proper covariance, bounded by the box; the importance correction
    # below removes what it changes. Noise-free, it vanishes.
    gram = jac.transpose(-1, -2) @ jac + max(1e-12, (noise_scale / (HIGH - LOW)) ** 2) * torch.eye(4, dtype=jac.dtype)
    log_w = log_prior_density(points.clamp(LOW, HIGH)) - 0.5 * torch.logdet(gram)
    if misfit_scale > 0:
        log_w = log_w - squared / (2 * misfit_scale**2)
    probabilities = torch.softmax(torch.nan_to_num(log_w, neginf=-1e30), 0)
    if noise_scale == 0:
        return Modes(points, probabilities, torch.zeros(len(points), 4, 4, dtype=points.dtype), misfit, num_proposals)

    def log_target(e: torch.Tensor) -> torch.Tensor:
        residual = forward(lines_from_endpoints(e, n)) - y
        return log_prior_density(e) - residual.pow(2).sum((-2, -1)) / (2 * noise_scale**2)

    covariances = noise_scale**2 * torch.linalg.inv(gram)
    covariances = (covariances + covariances.transpose(-1, -2)) / 2  # exactly symmetric for Cholesky
    laplace = torch.softmax(torch.nan_to_num(log_w + _log_mass_inside_box(points, covariances), neginf=-1e30), 0)
    proposal_mass = _log_mass_inside_box(points, PROPOSAL_WIDTH**2 * covariances)
    mixture = Modes(points, laplace, covariances, misfit, num_proposals, proposal_mass, log_target, laplace)
    # the Laplace mixture is a proposal whose density is known: importance weights from 16,384
    # of its draws move each mode's probability to the posterior's (exact as draws grow)
    e, _ = _draw_mixture(mixture, CORRECTION_DRAWS, torch.Generator().manual_seed(0))
    weights = ImportanceWeights.from_densities(log_target(e), log_mixture_density(mixture, e))
    mixture.probabilities = torch.zeros_like(laplace).index_add_(0, nearest_mode(mixture, e), weights.normalized)
    mixture.correction = weights
    return mixture


def nearest_mode(mixture: Modes, endpoints: torch.Tensor) -> torch.Tensor:
    """The index of the mode nearest to each of ``endpoints (B, 4)`` (max-abs distance): the
    partition of the box into basins that a mode's probability refers to."""
    return (endpoints[:, None, :] - mixture.endpoints[None]).abs().amax(-1).argmin(-1)


def _log_mass_inside_box(centres: torch.Tensor, covariances: torch.Tensor, draws: int = 4096) -> torch.Tensor:
    """log P(e in the prior's support) under each N(e_m, Σ_m): a mode near the box's edge has
    part of its Gaussian outside, where the posterior is 0, and ``sample_modes`` draws it
    truncated, so its weight is that of the truncated Gaussian (Monte Carlo, fixed draws)."""
    noise = torch.randn(draws, 4, 1, generator=torch.Generator().manual_seed(0), dtype=centres.dtype)
    chol = torch.linalg.cholesky(covariances)  # (M, 4, 4)
    e = centres[:, None, :] + (chol[:, None] @ noise[None]).squeeze(-1)  # (M, draws, 4)
    inside = torch.isfinite(log_prior_density(e)).double().mean(-1)
    return inside.clamp_min(1.0 / draws).log()


def sample_modes(
    modes: List[Modes],
    num_samples: int,
    n_points: int,
    generator: Optional[torch.Generator] = None,
    oversample: int = 20,
) -> torch.Tensor:
    """Draws ``(num_samples, N, n_points, 2)`` from each condition's posterior.

    Noise-free: m ~ Categorical(probabilities), e = e_m. With noise: sampling-importance-
    resampling, ``oversample × num_samples`` draws from the (truncated) mixture, weighted by the
    posterior density over the mixture's, ``num_samples`` resampled with replacement; the draws
    then follow the posterior within each mode too, not only the Laplace Gaussian."""
    draws = []
    for mixture in modes:
        if mixture.log_target is None:
            pick = torch.multinomial(mixture.probabilities, num_samples, replacement=True, generator=generator)
            e = mixture.endpoints[pick]
        else:
            proposals, _ = _draw_mixture(mixture, oversample * num_samples, generator)
            weights = ImportanceWeights.from_densities(
                mixture.log_target(proposals), log_mixture_density(mixture, proposals)
            )
            e = proposals[weights.resample(num_samples, generator)]
        draws.append(lines_from_endpoints(e, n_points))
    return torch.stack(draws, dim=1).float()


def _draw_mixture(mixture: Modes, num: int, generator: Optional[torch.Generator]):
    """``(e, component)``: ``num`` draws of the importance proposal (the mixture with each
    Gaussian ``PROPOSAL_WIDTH`` times wider, truncated to the box) and their components."""
    component = torch.multinomial(mixture.probabilities, num, replacement=True, generator=generator)
    covariances = PROPOSAL_WIDTH**2 * mixture.covariances[component]
    return _gaussian_in_box(mixture.endpoints[component], covariances, generator), component


def _gaussian_in_box(centres: torch.Tensor, covariances: torch.Tensor, generator, tries: int = 20) -> torch.Tensor:
    """e ~ N(centre, covariance) conditioned on the prior's support (rejection, per draw)."""
    chol = torch.linalg.cholesky(covariances)
    out = centres.clone()
    pending = torch.ones(len(centres), dtype=torch.bool)
    for _ in range(tries):
        noise = torch.randn(int(pending.sum()), 4, 1, generator=generator, dtype=centres.dtype)
        proposal = centres[pending] + (chol[pending] @ noise).squeeze(-1)
        inside = torch.isfinite(log_prior_density(proposal))
        index = pending.nonzero().squeeze(-1)
        out[index[inside]] = proposal[inside]
        pending[index[inside]] = False
        if not pending.any():
            break
    return out  # a draw still outside after ``tries`` stays at its mode (a mode at the box's edge)


def mode_probabilities_against(modes: Modes, solutions: torch.Tensor, tol: float = 0.02) -> torch.Tensor:
    """The probability this mixture gives each exact solution ``(K, 4)``: the summed weight of
    its modes within ``tol`` of it (the nearest solution only). Used for reliability diagrams."""
    if len(solutions) == 0 or len(modes) == 0:
        return torch.zeros(len(solutions), dtype=torch.float64)
    distance = (modes.endpoints[:, None, :] - solutions[None].double()).abs().amax(-1)  # (M, K)
    nearest = distance.argmin(-1)
    matched = distance.gather(1, nearest[:, None]).squeeze(-1) <= tol
    out = torch.zeros(len(solutions), dtype=torch.float64)
    out.index_add_(0, nearest[matched], modes.probabilities[matched].double())
    return out


def log_mixture_density(
    mixture: Modes, endpoints: torch.Tensor, truncated: bool = True, width: Optional[float] = None
) -> torch.Tensor:
    """log q(e) at ``endpoints (B, 4)`` of the mixture (σ > 0) with each Gaussian ``width`` times
    wider (default ``PROPOSAL_WIDTH``) and truncated to the prior's box: the density of what
    ``_draw_mixture`` draws. ``truncated=False, width=1`` is the plain Laplace mixture."""
    width = PROPOSAL_WIDTH if width is None else width
    normals = torch.distributions.MultivariateNormal(
        mixture.endpoints, covariance_matrix=width**2 * mixture.covariances
    )
    log_components = normals.log_prob(endpoints[:, None, :])  # (B, M)
    if truncated and mixture.log_mass is not None:
        log_components = log_components - mixture.log_mass
    return torch.logsumexp(log_components + mixture.probabilities.log(), dim=-1)

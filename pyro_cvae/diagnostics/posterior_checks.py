"""Can this posterior over θ be trusted? Checks against the simulator's truths.

Each check takes a posterior (anything with ``sample(x, n)`` returning ``(n, B, D)`` for a batch
of observations, and for ``hpd_coverage`` a ``log_prob(theta, x)``: an
``AmortizedPosterior``, or sbi's posteriors through a two-line adapter) and held-out pairs
(θ*, x*) simulated from the prior (``simulate``); it returns numbers, and its ``plot_*``
function a figure. For a calibrated posterior, averaged over the prior's simulations:

- **SBC** (Talts et al. 2018): the rank of θ*_d among the draws for x* is uniform, for every
  parameter d; a χ² test per parameter gives the p-values (``rank_uniformity``).
- **TARP** (Lemos et al. 2023): the share f of draws closer than θ* to a random reference point
  is uniform; the expected coverage ECP(α) = P(f < α) lies on the diagonal. It sees the whole
  joint, not one parameter at a time.
- **HPD coverage** (Hermans et al. 2022): the share of truths inside the posterior's
  highest-density region of credibility α is α. Below the diagonal: over-confident.

What each check cannot see: all three average over the prior, so a posterior that is right on
average and wrong for some x passes them; C2ST against reference draws checks one x at a time.
``widened`` makes the negative controls: the same posterior 1.5× too wide or too narrow, which a
check worth running rejects.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..checks import as_tensor, check_positive_int
from ..figures import finish, panel
from ..protocols import WrapsPosterior, read_observations_of
from .calibration import rank_uniformity

__all__ = [
    "PAIRS_PER_CALL",
    "CoverageCurve",
    "Widened",
    "denser_counts",
    "denser_than",
    "hpd_coverage",
    "ks_uniform_pvalue",
    "log_density",
    "plot_coverage",
    "plot_sbc",
    "sbc",
    "tarp",
    "widened",
]

#: how many pairs ``denser_counts`` (the HPD check, ``recalibrate_regions``) draws for together
PAIRS_PER_CALL = 500


class CoverageCurve(NamedTuple):
    """Expected coverage at credibility levels ``alpha``; ``p_value`` of the test that the
    underlying statistic is uniform (small: not calibrated); ``atc``: the signed area between
    the curve and the diagonal (TARP's; positive: too wide, negative: over-confident)."""

    alpha: torch.Tensor
    coverage: torch.Tensor
    p_value: float
    atc: float


def ks_uniform_pvalue(values: torch.Tensor) -> float:
    """p-value of the Kolmogorov–Smirnov test that ``values`` are U(0, 1) (asymptotic
    Kolmogorov distribution; fine from ~30 values)."""
    v = torch.sort(as_tensor(values).double().flatten()).values
    n = len(v)
    grid = torch.arange(1, n + 1, dtype=torch.float64) / n
    d = max(float((grid - v).max()), float((v - (grid - 1 / n)).max()))
    t = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d  # Stephens' small-sample correction
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * t * t) for k in range(1, 101))
    return min(1.0, max(0.0, p))


def _pairs(theta, x):
    theta, x = as_tensor(theta).float(), as_tensor(x).float()
    if theta.dim() != 2 or x.shape[0] != theta.shape[0]:
        raise ValueError(
            f"theta must be (N, num_parameters) and x (N, ...), got {tuple(theta.shape)}, {tuple(x.shape)}"
        )
    return theta, x


def _draws(posterior, x: torch.Tensor, num_draws: int) -> torch.Tensor:
    draws = posterior.sample(x, num_draws)
    return draws[:, None] if draws.dim() == 2 else draws  # (S, N, D)


def sbc(posterior, theta, x, num_draws: int = 100, bins: int = 10) -> Dict[str, Any]:
    """Ranks of each θ* among ``num_draws`` draws for its x*, and their uniformity per parameter:
    ``{"ranks": (N, D), "p_values": [D], "p_value": Bonferroni-combined, "counts": (bins, D)}``."""
    check_positive_int(num_draws, "num_draws")
    theta, x = _pairs(theta, x)
    draws = _draws(posterior, x, num_draws)
    ranks = (draws < theta).sum(0)
    return {"ranks": ranks, "num_draws": num_draws, **rank_uniformity(ranks, num_draws, bins)}


def _curve(statistic: torch.Tensor, levels: int) -> CoverageCurve:
    alpha = torch.linspace(0, 1, levels, dtype=torch.float64)
    coverage = (statistic.double()[None, :] < alpha[:, None]).double().mean(1)
    atc = float(torch.trapezoid(coverage - alpha, alpha))
    return CoverageCurve(alpha, coverage, ks_uniform_pvalue(statistic), atc)


def tarp(posterior, theta, x, num_draws: int = 200, levels: int = 51, seed: Optional[int] = None) -> CoverageCurve:
    """TARP's expected coverage. θ is z-scored by the truths' mean and spread, and each truth
    gets a reference point drawn uniformly from the box the truths span (Lemos et al. 2023),
    from torch's global generator, or from a private one seeded with ``seed``. (The reference
    points must be independent of the truths: a private generator seeded as the truths were
    would replay their random stream, and bias the check.)"""
    check_positive_int(num_draws, "num_draws")
    theta, x = _pairs(theta, x)
    draws = _draws(posterior, x, num_draws)
    loc, scale = theta.mean(0), theta.std(0).clamp_min(1e-12)
    truth, draws = (theta - loc) / scale, (draws - loc) / scale
    generator = None if seed is None else torch.Generator().manual_seed(seed)
    low, high = truth.min(0).values, truth.max(0).values
    reference = low + (high - low) * torch.rand(truth.shape, generator=generator)
    closer = (draws - reference).norm(dim=-1) < (truth - reference).norm(dim=-1)
    return _curve(closer.double().mean(0), levels)


def hpd_coverage(
    posterior, theta, x, num_draws: int = 200, levels: int = 51, progress: bool = False, **log_prob_options
) -> CoverageCurve:
    """Expected coverage of highest-density regions: for each truth, the credibility of the
    smallest HPD region that holds it is the share of draws denser than θ* (densities from
    ``posterior.log_prob``, a tensor or a ``LogProb``).

    What it costs: ``num_draws`` + 1 densities per truth. An ``AmortizedPosterior`` estimates
    each from ``num_particles`` importance draws (256 by default), so 200 truths at the defaults
    score about ten million particles (a minute or more on a CPU core); further keywords go to
    every ``log_prob`` call (``num_particles=64``: a quarter of that, noisier densities), and
    ``progress=True`` shows a bar over the truths."""
    check_positive_int(num_draws, "num_draws")
    theta, x = _pairs(theta, x)
    counts = denser_counts(posterior, theta, x, num_draws, progress=progress, **log_prob_options)
    return _curve(counts.double() / num_draws, levels)


def denser_counts(
    posterior, theta: torch.Tensor, x: torch.Tensor, num_draws: int, progress: bool = False, **log_prob_options
) -> torch.Tensor:
    """For each pair, how many of ``num_draws`` fresh draws for x*_n the posterior finds denser
    than θ*_n: ``(N,)`` integers in 0..num_draws, uniform for a calibrated posterior. One
    ``log_prob`` call per pair (the truth and its draws together, one observation), with
    ``log_prob_options``; ``progress``: a bar over the pairs. Pairs go ``PAIRS_PER_CALL`` at a
    time: their draws in one call, and where the posterior has ``read_observations`` (this
    suite's posteriors do), what it reads once per observation (a recalibration's reference
    draws, the share inside the support) is read for all of them in one batch first."""
    counts = torch.empty(len(theta), dtype=torch.long)
    with tqdm(total=len(theta), desc="HPD counts", unit="pair", disable=not progress) as bar:
        for start in range(0, len(theta), PAIRS_PER_CALL):
            pairs = slice(start, start + PAIRS_PER_CALL)
            draws = _draws(posterior, x[pairs], num_draws)  # (S, n, D)
            read_observations_of(posterior, x[pairs])
            for j in range(draws.shape[1]):
                i = start + j
                log_q = log_density(posterior, torch.cat([theta[i : i + 1], draws[:, j]]), x[i], **log_prob_options)
                counts[i] = denser_than(log_q[:1], log_q[1:])[0]
                bar.update()
    return counts


def denser_than(log_q: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """For each log-density in ``log_q`` ``(N,)``, how many of ``reference`` ``(M,)`` are larger."""
    return (reference[None] > log_q[:, None]).sum(1)


def log_density(posterior, theta: torch.Tensor, x, **log_prob_options) -> torch.Tensor:
    """``posterior.log_prob(theta, x)`` as float64, whether it returns a tensor or a ``LogProb``."""
    value = posterior.log_prob(theta, x, **log_prob_options)
    return getattr(value, "value", value).double()


class Widened(WrapsPosterior):
    """A negative control: ``posterior`` with every draw moved ``factor`` times as far from the
    posterior mean for its observation (1.5: too wide; 1/1.5: too narrow), and the density that
    goes with it, log q_f(θ) = log q(m + (θ - m) / f) - D log f. The mean m comes from
    ``mean_draws`` draws, read once per observation and kept (its samples and densities then
    agree, and a check that asks again pays nothing)."""

    def __init__(self, posterior, factor: float, mean_draws: int = 2000):
        from ..posterior.per_observation import PerObservation  # here: the posterior package reads this module

        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor!r}")
        self.posterior, self.factor, self.mean_draws = posterior, float(factor), mean_draws
        self._means = PerObservation(getattr(posterior, "num_parameters", None) or 1)

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior's mean for each observation of ``x`` ``(B, D)`` (``(1, D)`` for one)."""
        batch, _ = self._observation_batch(x)

        def read_missing(missing: torch.Tensor, keys) -> List[torch.Tensor]:
            return list(_draws(self.posterior, missing, self.mean_draws).mean(0))

        return torch.stack(self._means.read(batch, read_missing))

    def sample(self, x, num_samples: int) -> torch.Tensor:
        x = as_tensor(x)
        draws = self.posterior.sample(x, num_samples)
        # The kept mean, never these draws' own: log_prob below moves θ about the same point.
        # By the draws' shape, not x's: a posterior may answer a batch of one as one observation.
        mean = self._mean(x)  # (B, D): (1, D) for one observation
        if draws.dim() == 3:  # (num_samples, B, D)
            mean = mean[None]
        return mean + self.factor * (draws - mean)

    def log_prob(self, theta, x) -> torch.Tensor:
        theta, x = as_tensor(theta), as_tensor(x)
        mean = self._mean(x)
        inner = mean + (theta - mean) / self.factor
        return log_density(self.posterior, inner, x) - theta.shape[-1] * math.log(self.factor)


def widened(posterior, factor: float) -> Widened:
    """``Widened(posterior, factor)``: the negative control of a check."""
    return Widened(posterior, factor)


def plot_sbc(result: Dict[str, Any], names: Optional[Sequence[str]] = None, path=None) -> Figure:
    """One rank histogram per parameter, with the band that 99% of uniform histograms stay in."""
    from ..figures import subplots

    counts = result["counts"]
    bins, dims = counts.shape
    names = list(names or [f"theta_{d}" for d in range(dims)])
    fig, axes = subplots(1, dims, figsize=(2.4 * dims, 2.4), squeeze=False)
    n = float(counts[:, 0].sum())
    expected, spread = n / bins, math.sqrt(n / bins * (1 - 1 / bins))
    for d, ax in enumerate(axes[0]):
        ax.bar(range(bins), counts[:, d].tolist(), width=1.0, color="tab:blue", alpha=0.7)
        ax.axhspan(expected - 2.58 * spread, expected + 2.58 * spread, color="grey", alpha=0.2, lw=0)
        ax.set(title=f"{names[d]}  p={result['p_values'][d]:.2g}", xticks=[], xlabel="rank")
    return finish(fig, path)


def plot_coverage(curves: Dict[str, CoverageCurve], title: str = "expected coverage", ax=None, path=None) -> Figure:
    """Expected coverage against credibility, one line per named curve, the diagonal marked."""
    own = ax is None
    fig, ax = panel(ax)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for label, curve in curves.items():
        ax.plot(curve.alpha, curve.coverage, label=f"{label} (p={curve.p_value:.2g})")
    ax.set(xlabel="credibility level", ylabel="expected coverage", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7)
    return finish(fig, path, layout=own)

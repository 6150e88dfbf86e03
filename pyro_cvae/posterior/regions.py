"""``recalibrate_regions``: a posterior whose highest-density regions hold their truths as often as
they say, on average over the prior, from simulations it was not trained on.

The expected-coverage check (``hpd_coverage``, Hermans et al. 2022) reads, for each pair
(θ*, x*) simulated from the prior, the credibility of the smallest highest-density region of
p(θ | x*) that holds θ*,

    α(θ*, x*) = P_{θ ~ p(θ | x*)}[p(θ | x*) > p(θ* | x*)],

uniform on [0, 1] for a calibrated posterior. When it is not, its density h over the prior's
pairs says how the regions err: piled near 1, truths fall outside regions that should hold them
(over-confident); piled near 0, the regions are too wide. Reweighting the posterior by h at each
point's own credibility,

    p''(θ | x) = p(θ | x) · h(α(θ, x)),

gives a density (under p, α(θ, x) is uniform, so E_p[h(α)] = ∫ h = 1) that puts mass H(a) = ∫₀ᵃ h
on p's region of credibility a. Where p'' ranks points as p does (h changes slowly beside the
density), that region is p'''s region of credibility H(a), and the truths fall in it with
probability H(a): p'''s regions hold them as often as they say. Where h varies faster than the
density falls, p'' ranks some points otherwise and the mend is partial; ``hpd_coverage`` on
fresh truths says how far it went.

α comes from ``num_draws`` = M reference draws of p for x: the count k of them denser than θ.
For θ ~ p the count is uniform on 0..M (θ and the draws are exchangeable), so h is tabulated at
the M + 1 counts with mean 1, and p'' integrates to 1 in expectation over the reference draws
(for one set of M = 100 of them, within a few percent on the tests' linear-Gaussian problem,
and up to 40% off where many truths fall beyond the least dense draw: the masses between
the draws' densities are 1 / (M + 1) only on average, and h weighs the last of them heavily).
An observation's reference draws are drawn at its first use and their densities kept (up to
``NUMBERS_KEPT`` numbers in all), so that ``sample`` and ``log_prob`` read its regions alike.
Sampling is by rejection from p: a draw of count k is kept with probability h_k / max h.

What it costs: the first use of an observation scores its M reference draws with p's
``log_prob``, and sampling scores max h proposals per draw kept (``recalibrate_regions`` passes
``log_prob`` options such as ``num_particles``, the main cost of an ``AmortizedPosterior``'s).
What it mends is the regions' coverage averaged over the prior, as ``recalibrate`` mends the
marginals': one h for every x. The two compose: ``recalibrate_regions(recalibrate(p, θ, x), θ, x)``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ..checks import as_tensor, check_positive_int
from ..diagnostics.posterior_checks import denser_counts, denser_than, log_density
from ..protocols import read_observations_of
from ..seeding import seeded
from .kernels import log_probit_density
from .per_observation import PerObservation
from .recalibrate import check_calibration_pairs, where_it_can_be_sampled
from .wrapped import WrappedPosterior, register_composite

__all__ = ["REGIONS_FILE", "RegionRecalibratedPosterior", "recalibrate_regions"]

PathLike = Union[str, Path]

#: the file in a region-recalibrated posterior's folder that holds the truths' counts
REGIONS_FILE = "regions.pt"


def _log_level_weights(counts: torch.Tensor, num_draws: int) -> torch.Tensor:
    """log h at the counts 0..M ``(M + 1,)``, their mean (of h) 1: a kernel estimate of the
    truths' levels (k + 1/2) / (M + 1) on the probit scale (``log_probit_density``)."""
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
    probit = lambda k: normal.icdf((k.double() + 0.5) / (num_draws + 1))  # noqa: E731
    log_h = log_probit_density(probit(torch.arange(num_draws + 1))[:, None], probit(counts)[:, None]).squeeze(1)
    return log_h - (torch.logsumexp(log_h, 0) - math.log(num_draws + 1))


class RegionRecalibratedPosterior(WrappedPosterior):
    """``posterior`` reweighted so that its highest-density regions are calibrated on average
    over the prior: p'' = p · h(α) (module docstring). ``sample`` as the posterior's (same
    shapes), ``log_prob`` (an estimate, the posterior's kind of result), parameter names and
    ``save``/``load``. Made by ``recalibrate_regions``. ``log_prob_options`` go to every call
    of the posterior's ``log_prob`` (e.g. ``{"num_particles": 64}``), the same for the counts
    and for every density read later, so that truths and draws are ranked alike."""

    def __init__(self, posterior, counts: Any, num_draws: int, log_prob_options: Optional[Dict[str, Any]] = None):
        check_positive_int(num_draws, "num_draws")
        if not callable(getattr(posterior, "log_prob", None)):
            raise TypeError(
                f"the posterior ({type(posterior).__name__}) has no log_prob: its highest-density regions "
                "cannot be read; recalibrate its marginals with recalibrate, which needs draws only"
            )
        counts = as_tensor(counts)
        if counts.dim() != 1 or len(counts) < 2 or counts.is_floating_point():
            raise ValueError(f"counts must be (N >= 2,) integers: one per calibration pair, got {tuple(counts.shape)}")
        if not bool(((counts >= 0) & (counts <= num_draws)).all()):
            raise ValueError(f"counts must lie in 0..{num_draws} (num_draws): draws denser than the truth")
        self.posterior, self.counts, self.num_draws = posterior, counts.long(), int(num_draws)
        self.log_prob_options: Dict[str, Any] = dict(log_prob_options or {})
        self.log_weights = _log_level_weights(self.counts, self.num_draws)  # log h_k, k = 0..M
        self._references = PerObservation(self.num_draws)  # per observation: log p of its reference draws

    def _references_of(self, x_o: torch.Tensor) -> List[torch.Tensor]:
        """log p of the M reference draws of each observation of the batch ``x_o`` ``(B, ...)``,
        one ``(M,)`` tensor each: drawn at an observation's first use, then kept, so that
        ``sample`` and ``log_prob`` read an observation's regions alike and later calls cost no
        more draws. The observations not yet seen are drawn for together."""
        return self._references_and_proposals(x_o, 0)[0]

    def _references_and_proposals(
        self, x_o: torch.Tensor, wanted: int
    ) -> Tuple[List[torch.Tensor], Optional[torch.Tensor]]:
        """``_references_of`` the batch ``x_o``, and where ``wanted`` > 0 and ``x_o`` is one
        observation not yet seen, ``wanted`` fresh draws for it from the same call as its
        reference draws (else None)."""
        proposals: List[torch.Tensor] = []

        def score(missing: torch.Tensor, _keys: List[bytes]) -> List[torch.Tensor]:
            if wanted and len(missing) == 1:
                draws = self.posterior.sample(missing[0], wanted + self.num_draws)
                proposals.append(draws[:wanted])
                fresh = draws[wanted:, None]
            else:
                fresh = self.posterior.sample(missing, self.num_draws)
                fresh = fresh[:, None] if fresh.dim() == 2 else fresh  # (M, len(missing), D)
            # one observation per density call: a posterior of one's own may take one at a time
            # (sbi's does), and on a CPU larger calls are no faster per draw
            return [
                log_density(self.posterior, fresh[:, b], observation, **self.log_prob_options)
                for b, observation in enumerate(missing)
            ]

        references = self._references.read(x_o, score)
        return references, (proposals[0] if proposals else None)

    @torch.no_grad()
    def read_observations(self, x: Any) -> None:
        """Read now, for the batch of observations ``x`` ``(B, ...)``, what ``sample`` and
        ``log_prob`` read once per observation and keep (the posterior's own reads first, then
        each observation's M reference densities): one batch instead of one call each."""
        read_observations_of(self.posterior, x)
        self._references_of(self._observation_batch(x)[0])

    def _log_weight(self, log_q: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return self.log_weights[denser_than(log_q, reference)]

    @torch.no_grad()
    def log_prob(self, theta: Any, x_o: Any):
        """log p''(θ | x_o) = log p(θ | x_o) + log h(α(θ, x_o)), α from the observation's M
        reference draws. ``theta`` ``(N, D)`` or one θ; ``x_o`` one observation (for every θ) or N of
        them (M draws each). It returns the posterior's kind of result (a ``LogProb`` with the
        posterior's standard error, or a tensor)."""
        given = as_tensor(theta)
        one = given.dim() == 1
        theta = given[None] if one else given
        x, batched = self._observation_batch(x_o)
        many = batched and x.shape[0] > 1
        if many and x.shape[0] != len(theta):
            raise ValueError(f"x_o must hold one observation or one per theta ({len(theta)}), got {x.shape[0]}")
        result = self.posterior.log_prob(theta, x_o, **self.log_prob_options)
        log_q = getattr(result, "value", result).double()
        if many:
            reference = torch.stack(self._references_of(x))  # (N, M): each θ's own observation's
            shift = self.log_weights[(reference > log_q[:, None]).sum(1)]
        else:
            shift = self._log_weight(log_q, self._references_of(x)[0])
        value = getattr(result, "value", result)
        value = (log_q + torch.where(torch.isfinite(log_q), shift, torch.zeros_like(shift))).to(value.dtype)
        if one:
            value = value[0]
        if hasattr(result, "value"):
            return result._replace(value=value, stderr=result.stderr[0] if one else result.stderr)
        return value

    @torch.no_grad()
    def sample(self, x_o: Any, num_samples: int = 1000, chunk_size: Optional[int] = None) -> torch.Tensor:
        """θ ~ p''(θ | x_o), shapes as the posterior's ``sample``: draws of the posterior, each kept
        with probability h(α) / max h (α from the observation's M reference draws)."""
        check_positive_int(num_samples, "num_samples")
        observations, batched = self._observation_batch(x_o)
        kept = [self._sample_one(observation, num_samples) for observation in observations]
        return torch.stack(kept, 1) if batched else kept[0]

    def _sample_one(self, x_o: torch.Tensor, num_samples: int) -> torch.Tensor:
        accept = (self.log_weights - self.log_weights.max()).exp()  # h_k / max h
        kept: List[torch.Tensor] = []
        total = 0
        reference: Optional[torch.Tensor] = None
        while total < num_samples:
            # a round: enough proposals for what is missing at the mean acceptance, and some more;
            # the first round of an observation not yet seen draws its reference draws with them
            wanted = math.ceil(1.2 * (num_samples - total) / float(accept.mean())) + 8
            proposals = None
            if reference is None:
                references, proposals = self._references_and_proposals(x_o[None], wanted)
                reference = references[0]
            if proposals is None:
                proposals = self.posterior.sample(x_o, wanted)
            counts = denser_than(log_density(self.posterior, proposals, x_o, **self.log_prob_options), reference)
            chosen = proposals[torch.rand(len(proposals)) < accept[counts]]
            kept.append(chosen)
            total += len(chosen)
        return torch.cat(kept)[:num_samples]

    def save(self, folder: PathLike, overwrite: bool = False) -> Path:
        """The posterior into ``folder/posterior``, the counts into ``folder/regions.pt``;
        ``load_posterior(folder)`` reads it back."""
        state = {"counts": self.counts, "num_draws": self.num_draws, "log_prob_options": self.log_prob_options}
        return self._save(folder, REGIONS_FILE, state, overwrite)

    @classmethod
    def load(cls, folder: PathLike, device: Union[str, torch.device] = "cpu") -> "RegionRecalibratedPosterior":
        """The region-recalibrated posterior saved in ``folder`` by ``save``."""
        kind, holds = "region-recalibrated posterior", "the counts of a region recalibration"
        keys = ("counts", "num_draws", "log_prob_options")
        posterior, counts, num_draws, options = cls._read(folder, REGIONS_FILE, kind, holds, keys, device)
        return cls(posterior, counts, int(num_draws), dict(options))

    def __repr__(self) -> str:
        return f"RegionRecalibratedPosterior({len(self.counts)} calibration pairs, of {self.posterior!r})"


register_composite(REGIONS_FILE, RegionRecalibratedPosterior)


def recalibrate_regions(
    posterior,
    theta: Any,
    x: Any,
    num_draws: int = 100,
    seed: Optional[int] = None,
    progress: bool = False,
    **log_prob_options,
) -> RegionRecalibratedPosterior:
    """``posterior`` (anything with ``sample`` and ``log_prob``) with its highest-density regions
    recalibrated on the pairs (``theta``, ``x``): simulations from the prior that the fit did not
    see and the checks will not use. For each pair, the count of ``num_draws`` fresh draws denser
    than the truth; their distribution is the reweighting (module docstring). Further keywords
    go to every call of the posterior's ``log_prob``, now and later (e.g. ``num_particles=64``:
    a quarter of an ``AmortizedPosterior``'s default cost). How many pairs: several times as many
    as the truths it will be checked on, as for ``recalibrate``; pairs whose observation the
    posterior cannot draw for inside the prior's support are left out with a warning, as there.
    It scores ``num_draws`` + 1 densities per pair (``hpd_coverage``'s cost); ``progress=True``
    shows a bar over the pairs."""
    theta, x = check_calibration_pairs(posterior, theta, x)
    check_positive_int(num_draws, "num_draws")
    if not callable(getattr(posterior, "log_prob", None)):
        RegionRecalibratedPosterior(posterior, torch.zeros(2, dtype=torch.long), num_draws)  # raises, naming why
    with seeded(seed):
        read = lambda t, o: denser_counts(posterior, t, o, num_draws, progress, **log_prob_options)  # noqa: E731
        counts = where_it_can_be_sampled(read, theta, x, "recalibrate_regions", "the reweighting")
    return RegionRecalibratedPosterior(posterior, counts, num_draws, log_prob_options)

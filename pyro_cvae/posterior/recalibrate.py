"""``recalibrate``: a posterior whose per-parameter credible intervals hold their truths as often as
they say, on average over the prior, from simulations it was not trained on.

SBC asks of each parameter d whether the truth's quantile under the posterior,
u_d = F_d(θ*_d | x*), is uniform over the prior's simulations (θ*, x*). When it is not, the
distribution G_d of those quantiles says how the posterior errs: piled near 0 and 1, it is too
narrow; near 1/2, too wide; to one side, shifted. Quantile recalibration (Kuleshov et al. 2018,
for regression) composes the posterior's marginal CDF with G_d,

    F'_d(θ_d | x) = G_d(F_d(θ_d | x)),

so that F'_d(θ*_d | x*) = G_d(u_d) is uniform by construction (the probability integral
transform of u_d). Draws are made by moving each coordinate of a draw θ ~ p(θ | x) to

    θ'_d = F_d⁻¹(G_d⁻¹(F_d(θ_d | x)) | x),

a map that is monotone in every coordinate, so the dependence between parameters (the copula of
the draws) is the posterior's own; F_d comes from ``min_draws`` reference draws for x (drawn at
the observation's first use and kept, up to ``NUMBERS_KEPT`` numbers in all, so that ``sample``
and ``log_prob`` read the same map for it), G_d from ``theta``/``x``, pairs simulated from the
prior that neither the fit nor the later checks use.

What it buys and what it costs, measured (docs/inverse_problem.md): it fixes what the average over
the prior sees (SBC per parameter; TARP follows on the tasks measured), not what one observation
sees. G_d is one map for every x, so an error that differs from one x to another is evened out
on average and can grow at a given x_o (C2ST against a reference posterior is the check of that).
A posterior already calibrated gets G_d ≈ the identity and is left about as it was. The map
moves draws between the reference draws, never beyond them (a coordinate outside their range is
left where it is): each coordinate stays within the range the posterior's draws span (inside a
box support), and mass the posterior never reaches cannot be put back.

Its density follows from the change of variables θ = T⁻¹(θ'), coordinate by coordinate:

    log p'(θ' | x) = log p(θ | x) + Σ_d [log g_d(F_d(θ'_d | x)) + log f_d(θ'_d | x) - log f_d(θ_d | x)],

with f_d the posterior's marginal density (a kernel estimate from its draws for x) and g_d the
density of the truths' quantiles (a kernel estimate on the probit scale). It is an
estimate, as the posterior's own ``log_prob`` is; what ``hpd_coverage`` needs of it is that
truths and draws are ranked by the same function, which it is.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, List, Optional, Union

import torch

from ..checks import as_tensor, check_positive_int
from ..errors import SupportLeak
from ..protocols import read_observations_of
from ..seeding import seeded
from .kernels import interpolate, interpolate_inverse, log_kernel_density, log_probit_density, mid_ranks, silverman
from .per_observation import PerObservation
from .wrapped import WrappedPosterior, register_composite

__all__ = ["RecalibratedPosterior", "recalibrate", "RECALIBRATION_FILE"]

PathLike = Union[str, Path]

#: the file in a recalibrated posterior's folder that holds the truths' quantiles
RECALIBRATION_FILE = "recalibration.pt"


def truth_quantiles(posterior, theta: torch.Tensor, x: torch.Tensor, num_draws: int) -> torch.Tensor:
    """u_nd = F_d(θ*_nd | x*_n) from ``num_draws`` draws per pair, ties and the draws' granularity
    smoothed by a uniform jitter ((rank + U) / (S + 1), uniform exactly for a calibrated
    posterior): ``(N, D)`` float64, sorted per parameter."""
    draws = posterior.sample(x, num_draws)
    draws = draws[:, None] if draws.dim() == 2 else draws  # (S, N, D)
    below = (draws < theta[None]).sum(0).double()
    jitter = torch.rand(below.shape, dtype=torch.float64)
    return ((below + jitter) / (num_draws + 1)).sort(0).values


class RecalibratedPosterior(WrappedPosterior):
    """``posterior`` with each parameter's marginal recalibrated: F'_d = G_d ∘ F_d (module
    docstring). ``sample`` as the posterior's (same shapes, inside its support), ``log_prob`` (an
    estimate), parameter names and ``save``/``load``. Made by ``recalibrate``. Each
    observation's F_d comes from ``min_draws`` reference draws, drawn at its first use and kept."""

    def __init__(self, posterior, quantiles: torch.Tensor, min_draws: int = 2000):
        check_positive_int(min_draws, "min_draws")
        quantiles = as_tensor(quantiles).double()
        width = _num_parameters(posterior, quantiles.shape[-1] if quantiles.dim() else 0)
        if quantiles.dim() != 2 or quantiles.shape[1] != width or len(quantiles) < 2:
            raise ValueError(
                f"quantiles must be (N >= 2, {width}): one row per calibration pair, got {tuple(quantiles.shape)}"
            )
        if not bool(((quantiles >= 0) & (quantiles <= 1)).all()):
            raise ValueError("quantiles must lie in [0, 1]: they are the truths' posterior quantiles")
        self.posterior, self.min_draws = posterior, int(min_draws)
        self.quantiles = quantiles.sort(0).values
        n, d = self.quantiles.shape
        # G_d⁻¹ through the points ((i + 1/2) / N, u_(i)), pinned at (0, 0) and (1, 1)
        self._grid = torch.cat([torch.zeros(1), (torch.arange(n) + 0.5) / n, torch.ones(1)]).double()
        self._values = torch.cat([torch.zeros(1, d), self.quantiles, torch.ones(1, d)]).double()
        self._references = PerObservation(self.min_draws * d)  # per observation: its sorted reference draws

    @property
    def num_parameters(self) -> int:
        return self.quantiles.shape[1]

    @torch.no_grad()
    def sample(self, x_o: Any, num_samples: int = 1000, chunk_size: Optional[int] = None) -> torch.Tensor:
        """θ' ~ the recalibrated p(θ | x_o), shapes as the posterior's ``sample``: ``num_samples``
        draws of the posterior, each coordinate moved by the map its observation's reference
        draws give (a coordinate beyond their range is left where it is)."""
        check_positive_int(num_samples, "num_samples")
        ordered, draws = self._references_and_draws(x_o, num_samples, chunk_size)  # (m, B·D), (n, [B,] D)
        query = draws.reshape(num_samples, -1).double()  # (n, B·D): the same columns
        if query.shape[1] != ordered.shape[1]:
            raise ValueError(
                f"the posterior drew {tuple(draws.shape)} for x_o, its reference draws {ordered.shape[1]} columns: "
                "it reads x_o's batch otherwise than the recalibration does (observation_shape)"
            )
        levels = mid_ranks(len(ordered))
        level = interpolate_inverse(query, ordered, levels)  # F_d(θ_d)
        target = interpolate(level.reshape(-1, self.num_parameters), self._grid, self._values)  # G_d⁻¹(F_d(θ_d))
        moved = interpolate(target.reshape(query.shape), levels, ordered)  # F_d⁻¹ of that
        inside = (query > ordered[0]) & (query < ordered[-1])
        return torch.where(inside, moved, query).reshape(draws.shape).to(draws.dtype)

    def _base_draws(self, x_o: Any, m: int, chunk_size: Optional[int] = None) -> torch.Tensor:
        # chunk_size only where given: a posterior of one's own may take (x, n) alone
        return self.posterior.sample(x_o, m) if chunk_size is None else self.posterior.sample(x_o, m, chunk_size)

    def _ordered_references(self, x_o: Any, chunk_size: Optional[int] = None) -> torch.Tensor:
        """Each observation's ``min_draws`` reference draws, sorted per parameter, side by side:
        ``(min_draws, B·D)`` float64, one column per observation and parameter (``(min_draws, D)``
        for one observation). Observations seen before cost no draws; the others' are drawn in
        one call and kept."""
        return self._references_and_draws(x_o, 0, chunk_size)[0]

    @torch.no_grad()
    def read_observations(self, x: Any) -> None:
        """Read now, for the batch of observations ``x`` ``(B, ...)``, what ``sample`` and
        ``log_prob`` read once per observation and keep (each one's reference draws, then the
        posterior's own reads): one batch instead of one call each."""
        self._read_references(x, 0, None)  # kept, not stacked: nobody reads them side by side now
        read_observations_of(self.posterior, x)

    def _references_and_draws(self, x_o: Any, fresh: int, chunk_size: Optional[int]):
        """``_ordered_references`` and, where ``fresh`` = n > 0, n fresh draws of the posterior
        for ``x_o`` shaped as its ``sample`` gives them (else None): drawn in the same call as the
        references where every observation of ``x_o`` is new, in a call of their own otherwise."""
        references, draws = self._read_references(x_o, fresh, chunk_size)
        ordered = torch.stack(references, 1).reshape(self.min_draws, -1).double()
        if not fresh:
            return ordered, None
        return ordered, draws if draws is not None else self._base_draws(x_o, fresh, chunk_size)

    def _read_references(self, x_o: Any, fresh: int, chunk_size: Optional[int]):
        """Each observation's sorted reference draws ``(min_draws, D)`` float32, one per observation
        of ``x_o``, and the ``fresh`` draws where they came in the same call (every observation
        new), else None."""
        observations, batched = self._observation_batch(x_o)
        together: List[torch.Tensor] = []  # the fresh draws, where they came with the references

        def draw_references(missing: torch.Tensor, _keys: List[bytes]):
            extra = fresh if len(missing) == len(observations) else 0  # every observation new: one call
            draws = self._base_draws(missing if batched else missing[0], self.min_draws + extra, chunk_size)
            given = tuple(draws.shape)
            draws = draws[:, None] if draws.dim() == 2 else draws
            expected = (self.min_draws + extra, len(missing), self.num_parameters)
            if tuple(draws.shape) != expected:
                raise ValueError(
                    f"the posterior drew {given} for {len(missing)} observations of x_o, expected "
                    f"{expected} (draws, observations, parameters): it reads x_o's batch otherwise than the "
                    "recalibration does (observation_shape)"
                )
            if extra:  # shaped as the posterior gave them
                together.append(draws[self.min_draws :, 0] if len(given) == 2 else draws[self.min_draws :])
            # kept as float32, as the draws come: half the memory
            return draws[: self.min_draws].float().sort(0).values.unbind(1)

        references = self._references.read(observations, draw_references)
        return references, (together[0] if together else None)

    @torch.no_grad()
    def log_prob(self, theta: Any, x_o: Any, *args, **kwargs):
        """log p'(θ | x_o), estimated (module docstring): ``theta`` ``(N, D)`` or one θ, ``x_o``
        one observation (for every θ) or N of them. Each observation's F_d and f_d come from its
        reference draws (those ``sample`` reads); a coordinate beyond their range is taken as not
        moved. Further arguments go to the posterior's ``log_prob``, whose kind of result it
        returns (a ``LogProb`` with the posterior's standard error, or a tensor)."""
        if not callable(getattr(self.posterior, "log_prob", None)):
            raise TypeError(
                f"the posterior it recalibrates ({type(self.posterior).__name__}) has no log_prob: "
                "check the recalibrated posterior with sbc and tarp, which need draws only"
            )
        given = as_tensor(theta)
        one = given.dim() == 1
        theta = given[None] if one else given
        width = self.num_parameters
        if theta.dim() != 2 or theta.shape[1] != width:
            raise ValueError(f"theta must be ({width},) or (N, {width}), got {tuple(given.shape)}")
        theta = theta.double()
        observations, _ = self._observation_batch(x_o)
        if len(observations) not in (1, len(theta)):
            raise ValueError(f"x_o must hold one observation or one per theta ({len(theta)}), got {len(observations)}")
        ordered = self._ordered_references(x_o)  # (m, B·D): one column per observation and parameter
        # every θ against its own observation's columns: (N, D) for one observation, (1, N·D) for N
        query = theta.reshape(1, -1) if len(observations) > 1 else theta
        inside = (query > ordered[0]) & (query < ordered[-1])
        levels = mid_ranks(len(ordered))
        level = interpolate_inverse(query, ordered, levels)  # F_d(θ'_d)
        moved_level = interpolate_inverse(level.reshape(-1, width), self._values, self._grid)  # G_d(F_d(θ'_d))
        before = interpolate(moved_level.reshape(query.shape), levels, ordered)  # θ_d = T_d⁻¹(θ'_d)
        before = torch.where(inside, before, query)
        kernel = silverman(ordered)
        correction = (
            log_kernel_density(query, ordered, kernel)
            - log_kernel_density(before, ordered, kernel)
            + self._log_quantile_density(level.reshape(-1, width)).reshape(query.shape)
        )
        correction = torch.where(inside, correction, torch.zeros_like(correction)).reshape(theta.shape).sum(-1)
        base = self.posterior.log_prob(before.reshape(theta.shape).float(), x_o, *args, **kwargs)
        value = getattr(base, "value", base)
        value = (value.double() + correction).to(value.dtype)
        if one:
            value = value[0]
        if hasattr(base, "value"):
            return base._replace(value=value, stderr=base.stderr[0] if one else base.stderr)
        return value

    def _log_quantile_density(self, level: torch.Tensor) -> torch.Tensor:
        """log g_d at ``level`` ``(n, D)``: the density of the truths' quantiles u, a kernel
        estimate on the probit scale (``log_probit_density``). Tabulated once."""
        if not hasattr(self, "_quantile_density"):
            normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)
            probits = normal.icdf(self.quantiles.clamp(1e-6, 1 - 1e-6))
            grid = torch.linspace(-6, 6, 1201, dtype=torch.float64)
            table = log_probit_density(grid[:, None].expand(-1, probits.shape[1]), probits)
            self._quantile_density = (normal, grid, table)
        normal, grid, table = self._quantile_density
        return interpolate(normal.icdf(level.clamp(1e-6, 1 - 1e-6)), grid, table)

    def save(self, folder: PathLike, overwrite: bool = False) -> Path:
        """The posterior into ``folder/posterior``, the quantiles into ``folder/recalibration.pt``;
        ``load_posterior(folder)`` reads it back."""
        state = {"quantiles": self.quantiles, "min_draws": self.min_draws}
        return self._save(folder, RECALIBRATION_FILE, state, overwrite)

    @classmethod
    def load(cls, folder: PathLike, device: Union[str, torch.device] = "cpu") -> "RecalibratedPosterior":
        """The recalibrated posterior saved in ``folder`` by ``save``."""
        kind, holds = "recalibrated posterior", "the quantiles of a recalibration"
        posterior, quantiles, min_draws = cls._read(
            folder, RECALIBRATION_FILE, kind, holds, ("quantiles", "min_draws"), device
        )
        return cls(posterior, quantiles, int(min_draws))

    def __repr__(self) -> str:
        return f"RecalibratedPosterior({len(self.quantiles)} calibration pairs, of {self.posterior!r})"


def recalibrate(
    posterior, theta: Any, x: Any, num_draws: int = 200, min_draws: int = 2000, seed: Optional[int] = None
) -> RecalibratedPosterior:
    """``posterior`` recalibrated on the pairs (``theta``, ``x``): simulations from the prior that
    the fit did not see and the checks will not use (``simulate(prior, simulator, 5000)``). The
    truth's quantile among ``num_draws`` draws is read for each pair; their distribution per
    parameter is the map (module docstring). How many pairs: several times as many as the truths
    it will be checked on. The map carries its own sampling error, about as large as a check's on
    as many truths, so SBC on M truths of a posterior recalibrated on N pairs sees about 1 + M/N
    times the scatter it expects: at N = M a calibrated map still fails SBC at the 1% level
    about 3 times in 10 per parameter, at N = 5M about 1 time in 30. A pair whose observation the
    posterior cannot draw for inside the prior's support is left out with a warning (up to 1 in
    100 pairs)."""
    check_positive_int(num_draws, "num_draws")
    theta, x = check_calibration_pairs(posterior, theta, x)
    with seeded(seed):
        read = lambda t, o: truth_quantiles(posterior, t, o, num_draws)  # noqa: E731
        quantiles = where_it_can_be_sampled(read, theta, x, "recalibrate", "the map")
    return RecalibratedPosterior(posterior, quantiles, min_draws)


def check_calibration_pairs(posterior, theta: Any, x: Any):
    """``theta`` ``(N, D)`` and ``x`` ``(N, ...)`` as float tensors, or the error that names what
    is wrong with them as calibration pairs of ``posterior``."""
    theta, x = as_tensor(theta).float(), as_tensor(x).float()
    width = _num_parameters(posterior, theta.shape[-1] if theta.dim() else 0)
    if theta.dim() != 2 or theta.shape[1] != width:
        raise ValueError(f"theta must be (N, {width}): one row of parameters per pair, got {tuple(theta.shape)}")
    if x.shape[0] != theta.shape[0]:
        raise ValueError(f"x must hold one observation per row of theta ({len(theta)}), got {x.shape[0]}")
    if len(theta) < 2:
        raise ValueError(f"theta and x must hold at least 2 pairs (a thousand or more is better), got {len(theta)}")
    if not bool(torch.isfinite(theta).all()):
        raise ValueError("theta holds NaN or inf: recalibrate on pairs the simulator gave without failing")
    return theta, x


def where_it_can_be_sampled(read, theta: torch.Tensor, x: torch.Tensor, caller: str, what: str):
    """``read(theta, x)`` on the pairs whose observation the posterior can draw for: the pairs
    whose posterior puts (almost) nothing inside the prior's support (``SupportLeak``, every one
    it names) are left out with a warning, up to 1 in 100 of them; more, and the error stands
    (the posterior needs mending). ``caller`` and ``what`` (what is read on the others) name the
    warning's source."""
    keep = torch.ones(len(theta), dtype=torch.bool)
    while True:
        index = keep.nonzero().squeeze(1)
        try:
            result = read(theta[index], x[index])
            break
        except SupportLeak as error:
            keep[index[error.observations]] = False
            if int((~keep).sum()) > max(1, len(theta) // 100):
                raise
    left_out = int((~keep).sum())
    if left_out:
        warnings.warn(
            f"{caller}: {left_out} of {len(theta)} pairs left out: for their observations the posterior puts almost no "
            f"draws inside the prior's support (SupportLeak); {what} is read on the others",
            stacklevel=3,
        )
    return result


def _num_parameters(posterior, otherwise: int) -> int:
    """The posterior's number of parameters where it says (``AmortizedPosterior`` and the
    ensemble do), else ``otherwise``: the width of what it is given."""
    value = getattr(posterior, "num_parameters", None)
    return otherwise if value is None else int(value)


register_composite(RECALIBRATION_FILE, RecalibratedPosterior)

"""``AmortizedPosterior``: p(θ | x) for a user's inverse problem, as a trained CVAE.

The field's vocabulary and the CVAE's meet here. An inverse problem has parameters θ and
observations x; the CVAE generates its ``x`` given a condition ``y``. So the CVAE's x is θ (in the
standardized unconstrained space u of ``standardize``) and its y is the observation x̃::

    c = embedding(x̃)                  one network reads the observation
    z ~ r(z | c)                      the learnable prior network (a conditional flow by default)
    u ~ N(μ(z, c), diag σ(z, c)²)     the decoder is the likelihood of θ's image u
    θ = g(m + s·u)                    back to the prior's support (``ParameterSpace``)
    guide: z ~ q(z | u, c)            the recognition encoder, used in training and ``log_prob``

One posterior serves every observation (it is amortized): ``sample(x_o, n)`` costs one pass of
the prior network and decoder, with no retraining per x_o.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Union

import torch

from ..checks import as_tensor, check_positive_int, check_tensor
from ..errors import SupportLeak
from ..model import CVAE
from ..sampling.evaluate import eval_mode
from ..sampling.predictive import sample as predictive_sample
from ..train.history import History
from ..train.run import Run
from .per_observation import PerObservation
from .standardize import ObservationScaler, ParameterSpace

__all__ = ["AmortizedPosterior", "LogProb"]

PathLike = Union[str, Path]

#: ``Run.metadata["app"]`` of a saved posterior
APP = "posterior"
#: how many draws per observation give the share inside the prior's support (``inside_share``;
#: at most, for ``log_prob``'s normalizer)
INSIDE_DRAWS = 10_000
#: ``log_prob``'s normalizer: draws in rounds of this many until the share's relative standard
#: error is at most ``SHARE_PRECISION`` (or ``INSIDE_DRAWS`` are drawn)
SHARE_ROUND, SHARE_PRECISION = 1_000, 0.01
#: how many importance particles (θ's times ``num_particles``) one pass of ``log_prob`` scores at most
LOG_PROB_ROWS = 2**13


class LogProb(NamedTuple):
    """An importance-sampling estimate of log p(θ | x) and its Monte Carlo standard error."""

    value: torch.Tensor
    stderr: torch.Tensor


class AmortizedPosterior:
    """A trained posterior p(θ | x): ``sample``, ``log_prob``, ``save``/``load``, parameter names.

    Made by ``pyro_cvae.posterior.fit_posterior``; ``run`` holds the CVAE, its fit config and
    history, and (in its metadata) the standardization and parameter names, so
    ``AmortizedPosterior.load(folder)`` gives back the same posterior.
    """

    def __init__(
        self,
        model: CVAE,
        space: ParameterSpace,
        observations: ObservationScaler,
        parameter_names: Optional[Sequence[str]] = None,
        run: Optional[Run] = None,
    ):
        self.model, self.space, self.observations = model, space, observations
        num = space.loc.numel()
        self.parameter_names: List[str] = list(parameter_names or [f"theta_{i}" for i in range(num)])
        if len(self.parameter_names) != num:
            raise ValueError(f"parameter_names must name all {num} parameters, got {self.parameter_names}")
        self.run = run if run is not None else Run(model)
        self.run.metadata.update(self._metadata())
        # log_prob's normalizer per observation, and the state of the weights it was read under
        # per observation: the share inside the support log_prob divides by, once read; and the
        # draws sample made and kept inside, counted toward that share before it is read
        self._shares, self._tallies, self._kept_under = PerObservation(1), PerObservation(2), self._weights_state()

    # ------------------------------------------------------------------ shapes

    @property
    def num_parameters(self) -> int:
        return len(self.parameter_names)

    @property
    def observation_shape(self) -> tuple:
        assert self.model.y_shape is not None
        return self.model.y_shape

    @property
    def history(self) -> History:
        return self.run.history

    def condition(self, x_o: Any) -> torch.Tensor:
        """The CVAE's condition for observations ``x_o`` (one, or a batch ``(B, ...)``): x̃, the
        standardized observations ``(B, *observation_shape)`` on the model's device, in its float type."""
        return self._observations(x_o)[0]

    def _observations(self, x: Any, name: str = "x_o") -> tuple:
        """x̃ ``(batch, *observation_shape)`` on the model's device, and whether one was given."""
        x = check_tensor(as_tensor(x), name, self.observation_shape, allow_batchless=True)
        single = x.shape[0] == 1
        return self.observations(x.float()).to(self.model.device, self.model.float_type), single

    # ------------------------------------------------------------------ the posterior

    @torch.no_grad()
    def sample(self, x_o: Any, num_samples: int = 1000, chunk_size: Optional[int] = None) -> torch.Tensor:
        """θ ~ p(θ | x_o), drawn with ``pyro.infer.Predictive`` on the CVAE.

        ``x_o``: one observation shaped ``observation_shape`` (or ``(1, ...)``), giving
        ``(num_samples, num_parameters)``; or a batch ``(B, ...)``, giving
        ``(num_samples, B, num_parameters)``. Every draw lies in the prior's support: draws
        outside it are rejected and drawn again (``ParameterSpace``), for the observations of a
        batch still short of draws only; a ``SupportLeak`` (a ``RuntimeError`` naming the
        observation) says so when fewer than 1 in 1,000 land inside.
        """
        check_positive_int(num_samples, "num_samples")
        y, single = self._observations(x_o)
        theta = self._draw_inside(y, num_samples, chunk_size)
        return theta[:, 0] if single else theta

    def _draw(self, y: torch.Tensor, num_samples: int, chunk_size: Optional[int]) -> torch.Tensor:
        chunk = chunk_size or max(1, min(num_samples, 2_000_000 // (y.shape[0] * self.num_parameters)))
        u = predictive_sample(self.model, y, num_samples=num_samples, chunk_size=chunk)
        return self.space.from_network(u.cpu().float())

    def _draw_inside(self, y: torch.Tensor, num_samples: int, chunk_size: Optional[int]) -> torch.Tensor:
        if not self.space.rejects:
            return self._draw(y, num_samples, chunk_size)
        out = torch.empty(num_samples, y.shape[0], self.num_parameters)
        filled = torch.zeros(y.shape[0], dtype=torch.long)
        drawn, kept = torch.zeros(y.shape[0]), torch.zeros(y.shape[0])  # per observation
        round_size = torch.full((y.shape[0],), num_samples)  # draws each observation gets this round
        short = torch.arange(y.shape[0])
        while len(short):
            # observations are drawn in groups of equal round size (powers of two after the first
            # round): one observation near the support's edge, which needs many draws, costs its
            # own draws and not every other observation's
            for size in round_size[short].unique().tolist():
                group = short[round_size[short] == size]
                theta = self._draw(y[group], size, chunk_size)  # (size, len(group), D)
                inside = self.space.inside(theta)
                drawn[group] += size
                kept[group] += inside.sum(0).float()
                for j, b in enumerate(group.tolist()):
                    got = theta[inside[:, j], j][: num_samples - int(filled[b])]
                    out[filled[b] : filled[b] + len(got), b] = got
                    filled[b] += len(got)
            short = short[filled[short] < num_samples]
            leaking = short[(drawn[short] >= 10_000) & (kept[short] < drawn[short] / 1000)]
            if len(leaking):
                b = int(leaking[0])
                others = f" (and for {len(leaking) - 1} more observations of this batch)" if len(leaking) > 1 else ""
                raise SupportLeak(
                    f"only {int(kept[b])} of {int(drawn[b])} draws for observation {b} fell inside the "
                    f"prior's support{others}; the posterior leaks out of it: train it on more simulations, or fit "
                    "it with support='transform'",
                    observation=b,
                    observations=leaking.tolist(),
                )
            rate = (kept[short] / drawn[short]).clamp(min=1e-3)
            needed = (num_samples - filled[short]).float() / rate * 1.2
            round_size[short] = (2 ** needed.log2().ceil()).clamp(max=100 * num_samples).long()
        self._forget_if_retrained()
        self._tallies.add(y, torch.stack([drawn, kept], 1).double())  # every draw counts toward the share
        return out

    @torch.no_grad()
    def read_observations(self, x: Any) -> None:
        """Read now, for the batch of observations ``x`` ``(B, ...)``, what ``log_prob`` reads once
        per observation and keeps (the share inside the support, ``log_prob``'s normalizer): one
        batch instead of one call each."""
        self._kept_inside_share(self._observations(x)[0])

    @torch.no_grad()
    def inside_share(self, x_o: Any, num_draws: int = INSIDE_DRAWS) -> torch.Tensor:
        """The share of the unrejected posterior's draws inside the prior's support, per
        observation ``(B,)`` (1 where nothing is rejected), from ``num_draws`` fresh draws each:
        the normalizer of ``log_prob``."""
        return self._inside_share(self._observations(x_o)[0], num_draws)

    def _inside_share(self, y: torch.Tensor, num_draws: int = INSIDE_DRAWS) -> torch.Tensor:
        if not self.space.rejects:
            return torch.ones(y.shape[0])
        inside = self.space.inside(self._draw(y, num_draws, None))
        return inside.double().mean(0).clamp_min(1 / num_draws).float()

    def _kept_inside_share(self, y: torch.Tensor) -> torch.Tensor:
        """``log_prob``'s normalizer: the share inside the support of each observation of ``y``
        (``_share_to_precision``, counting the draws ``sample`` made for it first), read at its
        first use and kept while the model's weights stay as they were (training them further,
        or loading others, forgets them): one normalizer per observation, the same in every
        ``log_prob`` call."""
        if not self.space.rejects:
            return torch.ones(y.shape[0])
        self._forget_if_retrained()
        none = torch.zeros(2, dtype=torch.float64)

        def read_missing(missing: torch.Tensor, keys: List[bytes]):
            counted = torch.stack([self._tallies.kept(key, none) for key in keys])  # both stores key alike
            return self._share_to_precision(missing, counted).unbind(0)

        return torch.stack(self._shares.read(y, read_missing))

    def _share_to_precision(self, y: torch.Tensor, counted: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The share s inside the support per observation, from the draws ``counted`` already
        ``(B, 2)`` (drawn, inside; none if not given) and rounds of ``SHARE_ROUND`` more, until
        its relative standard error sqrt((1 - s) / (s n)) is at most ``SHARE_PRECISION``, or
        ``INSIDE_DRAWS`` draws are made: no round where ``sample`` drew enough for it, one where
        nearly every draw lands inside, ten where half do. (Stopping on the estimate biases it
        by far less than its 1% error, which is far below ``log_prob``'s own.)"""
        counted = torch.zeros(len(y), 2, dtype=torch.float64) if counted is None else counted.double()
        drawn, kept = counted[:, 0].clone(), counted[:, 1].clone()

        def still_short(index: torch.Tensor) -> torch.Tensor:
            share = kept[index] / drawn[index].clamp_min(1)
            precise = (kept[index] > 0) & ((1 - share) <= SHARE_PRECISION**2 * share * drawn[index])
            return index[~(precise | (drawn[index] >= INSIDE_DRAWS))]

        short = still_short(torch.arange(len(y)))
        while len(short):
            inside = self.space.inside(self._draw(y[short], SHARE_ROUND, None))  # (round, len(short))
            drawn[short] += SHARE_ROUND
            kept[short] += inside.sum(0).double()
            short = still_short(short)
        return (kept / drawn).clamp_min(1 / INSIDE_DRAWS).float()

    def _forget_if_retrained(self) -> None:
        """Forget the shares and the counts toward them where the weights changed since."""
        state = self._weights_state()
        if state != self._kept_under:
            self._shares.clear()
            self._tallies.clear()
            self._kept_under = state

    def _weights_state(self) -> tuple:
        # every in-place change of a tensor (an optimizer step, load_state_dict) bumps its version
        return tuple((id(p), p._version) for p in self.model.parameters())

    @torch.no_grad()
    def log_prob(self, theta: Any, x_o: Any, num_particles: int = 256) -> LogProb:
        """log p(θ | x_o), estimated by importance sampling with the guide as proposal::

            p(u | x) ≈ (1/K) Σ_k r(z_k | c) p(u | z_k, c) / q(z_k | u, c),   z_k ~ q(z | u, c)

        then moved to θ's space with the change of variables. ``theta``: ``(N, num_parameters)``
        or one θ; ``x_o``: one observation (used for every θ) or ``N`` of them. Returns
        ``LogProb(value, stderr)``, each ``(N,)`` (``()`` for one θ): the estimate and its
        delta-method standard error, sqrt(var(w) / K) / mean(w). The estimate is a lower bound in
        expectation (Jensen), tight as K grows; θ outside the prior's support gets -inf. Where
        draws outside the support are rejected, the density is divided by the share inside, read
        at each observation's first use to a 1% relative error (the draws ``sample`` made for it
        count; more are drawn up to 10,000) and kept; its error is not in ``stderr``.
        """
        check_positive_int(num_particles, "num_particles")
        given = as_tensor(theta)
        one = given.dim() == 1  # one θ: a value of shape (), as torch's log_prob gives for one point
        theta = check_tensor(given, "theta", (self.num_parameters,), allow_batchless=True).float()
        y, _ = self._observations(x_o)
        if y.shape[0] not in (1, theta.shape[0]):
            raise ValueError(f"x_o must hold one observation or one per theta ({theta.shape[0]}), got {y.shape[0]}")
        inside = self.space.inside(theta)
        safe = torch.where(inside[:, None], theta, self.space.from_network(torch.zeros_like(theta)))
        u = self.space.to_network(safe).to(y.device, y.dtype)
        share = self._kept_inside_share(y)  # one per observation: read before y is expanded
        y = y.expand(u.shape[0], *y.shape[1:])
        model = self.model
        # θ in passes of LOG_PROB_ROWS particles in all: one large pass is slower per particle
        # (2.2 times at 130,000 on a CPU: bench/inside_share.py --rows) and its memory grows with N·K
        per_chunk = max(1, LOG_PROB_ROWS // num_particles)
        chunks: List[torch.Tensor] = []
        with eval_mode(model):
            for start in range(0, max(1, len(u)), per_chunk):
                u_n, y_n = u[start : start + per_chunk], y[start : start + per_chunk]
                c = model.features(y_n)
                guide = model.encoder(u_n, c)
                z = guide.sample((num_particles,))  # (K, n, latent)
                log_p = model.prior(c).log_prob(z) + model.likelihood(model.decoder(z, c)).log_prob(u_n)
                chunks.append((log_p - guide.log_prob(z)).double().cpu())
        log_w = torch.cat(chunks, 1)  # (K, N)
        value = torch.logsumexp(log_w, 0) - math.log(num_particles)
        w = (log_w - log_w.max(0).values).exp()
        stderr = w.std(0) / (w.mean(0) * math.sqrt(num_particles))
        value = value + self.space.log_abs_det(safe).double()
        if self.space.rejects:
            value = value - share.double().log()
        value = value.float()
        value = torch.where(inside, value, torch.tensor(-math.inf))
        stderr = torch.where(inside, stderr.float(), torch.tensor(0.0))
        return LogProb(value[0], stderr[0]) if one else LogProb(value, stderr)

    # ------------------------------------------------------------------ saving

    def _metadata(self) -> Dict[str, Any]:
        return {
            "app": APP,
            "parameter_names": self.parameter_names,
            "parameter_space": self.space.to_dict(),
            "observation_scaler": self.observations.to_dict(),
        }

    def save(self, folder: PathLike, overwrite: bool = False) -> Path:
        """Write the posterior into ``folder`` through ``Run.save`` (weights, configs, history,
        standardization and names); refused if the folder holds a run, unless ``overwrite``."""
        return self.run.save(folder, overwrite=overwrite)

    @classmethod
    def load(cls, folder: PathLike, device: Union[str, torch.device] = "cpu") -> "AmortizedPosterior":
        """The posterior saved in ``folder`` (by ``save`` or ``fit_posterior(..., checkpoint_dir=)``)."""
        run = Run.load(folder, device=device).require_app(APP)
        meta = run.metadata
        return cls(
            run.model,
            ParameterSpace.from_dict(meta["parameter_space"]),
            ObservationScaler.from_dict(meta["observation_scaler"]),
            meta["parameter_names"],
            run,
        )

    def __repr__(self) -> str:
        config = self.model.config
        return (
            f"AmortizedPosterior(parameters={self.parameter_names}, observation_shape={self.observation_shape}, "
            f"prior={config.prior!r}, likelihood={config.likelihood!r}, embedding={config.embedding!r})"
        )

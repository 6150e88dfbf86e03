"""Spending a simulation budget: θ ~ prior, x = simulator(θ), in batches, in worker processes when
asked, with a progress bar. A simulation that fails (raises, or returns NaN or ±inf) is counted
and reported, and never trained on.

``simulator(theta)`` takes a batch ``(n, num_parameters)`` and returns ``(n, *observation_shape)``
(sbi's and sbibm's convention). For parallel workers it must be picklable: a function defined at
module level, not a lambda or a closure in a notebook cell.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

import torch
from tqdm.auto import tqdm

from ..checks import as_tensor, check_positive_int, check_tensor
from ..seeding import seeded

__all__ = ["Simulations", "simulate"]

Simulator = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Simulations:
    """The pairs of a simulation budget that can be trained on, and what failed.

    ``theta``: ``(n, num_parameters)``; ``x``: ``(n, *observation_shape)``; ``failed``: how many
    draws of θ gave no usable x (an exception, NaN or ±inf), left out of ``theta`` and ``x``;
    ``errors``: the first few exception messages, to show the user what went wrong."""

    theta: torch.Tensor
    x: torch.Tensor
    failed: int = 0
    errors: Tuple[str, ...] = ()

    def __len__(self) -> int:
        return self.theta.shape[0]

    def nearest(self, x_o, k: int) -> "Simulations":
        """The ``k`` pairs whose x lie nearest ``x_o`` (Euclidean, each feature divided by its
        spread over these pairs), for checks at one observation: the pairs are independent, so
        which are kept depends on their x alone, and a calibrated posterior's SBC ranks stay
        uniform on the kept ones (they are uniform given x), while the check then reads the
        posterior near x_o rather than on average over the prior."""
        check_positive_int(k, "k")
        if k > len(self):
            raise ValueError(f"k ({k}) must be at most the number of pairs ({len(self)})")
        x_o = check_tensor(_as_observations(x_o), "x_o")
        if x_o.shape != self.x.shape[1:]:
            raise ValueError(f"x_o must be one observation shaped {tuple(self.x.shape[1:])}, got {tuple(x_o.shape)}")
        flat = self.x.reshape(len(self), -1)
        spread = flat.std(0).clamp_min(1e-12)
        distance = ((flat - x_o.reshape(-1)) / spread).norm(dim=-1)
        kept = distance.argsort()[:k]
        return Simulations(self.theta[kept], self.x[kept])


def _as_observations(value) -> torch.Tensor:
    return torch.as_tensor(as_tensor(value)).float()


def _batch_seed(seed: Optional[int], index: int) -> Optional[int]:
    """The seed of batch ``index``'s simulations: its own stream, never the one θ came from."""
    return None if seed is None else (seed * 1_000_003 + index + 1) % (2**62)


def _run_batch(
    simulator: Simulator, theta: torch.Tensor, seed: Optional[int] = None
) -> Tuple[Optional[torch.Tensor], List[str]]:
    """x for one batch, with NaN rows where a simulation failed. A batch that raises is retried
    one θ at a time, so one bad θ costs its own row, not the batch's."""
    with seeded(seed):
        return _simulate_rows(simulator, theta)


def _simulate_rows(simulator: Simulator, theta: torch.Tensor) -> Tuple[Optional[torch.Tensor], List[str]]:
    try:
        return _as_observations(simulator(theta)), []
    except Exception as error:  # noqa: BLE001 - a user's simulator may raise anything; we count it
        first = f"{type(error).__name__}: {error}"
    rows: List[Optional[torch.Tensor]] = []
    errors = [first]
    for one in theta:
        try:
            rows.append(_as_observations(simulator(one[None]))[0])
        except Exception as error:  # noqa: BLE001
            rows.append(None)
            errors.append(f"{type(error).__name__}: {error}")
    shape = next((r.shape for r in rows if r is not None), None)
    if shape is None:
        return None, errors
    return torch.stack([r if r is not None else torch.full(shape, float("nan")) for r in rows]), errors


def _batches(theta: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, theta.shape[0], batch_size):
        yield theta[start : start + batch_size]


def simulate(
    prior: torch.distributions.Distribution,
    simulator: Simulator,
    num_simulations: int,
    batch_size: int = 1000,
    num_workers: int = 1,
    seed: Optional[int] = 0,
    progress: bool = True,
) -> Simulations:
    """Draw ``num_simulations`` θ from ``prior`` and simulate each, ``batch_size`` θ per call.

    ``num_workers > 1`` runs the batches in that many processes (``ProcessPoolExecutor``). The θ
    are drawn under ``seed``, and each batch's simulations under a seed of its own derived from
    it, so a simulator that draws its noise from torch gives the same pairs for any number of
    workers. (Drawing the noise from the stream θ came from would correlate the two, and bias
    the posterior.) ``seed=None`` leaves torch's global generator to run on. Failed simulations
    are dropped from the result, counted in ``Simulations.failed`` and reported in a warning; if
    every one fails, a ``RuntimeError`` quotes the simulator's first error.
    """
    check_positive_int(num_simulations, "num_simulations")
    check_positive_int(batch_size, "batch_size")
    check_positive_int(num_workers, "num_workers")
    with seeded(seed):
        theta = prior.sample((num_simulations,)).float()
    if theta.dim() == 1:  # a scalar prior: one parameter
        theta = theta[:, None]
    batches = list(_batches(theta, batch_size))
    bar = tqdm(total=num_simulations, desc="simulating", unit="sim", disable=not progress)
    results: List[Tuple[Optional[torch.Tensor], List[str]]] = []
    seeds = [_batch_seed(seed, index) for index in range(len(batches))]
    if num_workers == 1:
        for batch, batch_seed in zip(batches, seeds):
            results.append(_run_batch(simulator, batch, batch_seed))
            bar.update(len(batch))
    else:
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            for batch, result in zip(batches, pool.map(_run_batch, [simulator] * len(batches), batches, seeds)):
                results.append(result)
                bar.update(len(batch))
    bar.close()
    return _collect(theta, batches, results)


def _collect(theta, batches, results) -> Simulations:
    errors = [message for _, batch_errors in results for message in batch_errors]
    shapes = {tuple(x.shape[1:]) for x, _ in results if x is not None}
    if not shapes:
        raise RuntimeError(f"every simulation failed; the simulator's first error: {errors[0]}")
    if len(shapes) > 1:
        raise ValueError(f"the simulator returned observations of different shapes: {sorted(shapes)}")
    shape = shapes.pop()
    x = torch.cat(
        [r if r is not None else torch.full((len(b), *shape), float("nan")) for (r, _), b in zip(results, batches)]
    )
    if x.shape[0] != theta.shape[0]:
        raise ValueError(f"the simulator returned {x.shape[0]} observations for {theta.shape[0]} parameter sets")
    usable = torch.isfinite(x.reshape(x.shape[0], -1)).all(-1)
    failed = int((~usable).sum())
    if failed:
        warnings.warn(
            f"{failed} of {len(usable)} simulations failed (raised, or gave NaN or inf) and are left out"
            + (f"; first error: {errors[0]}" if errors else ""),
            stacklevel=3,
        )
    return Simulations(theta[usable], x[usable], failed, tuple(errors[:5]))

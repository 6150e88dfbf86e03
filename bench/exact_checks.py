"""Do the calibration checks pass an *exact* posterior on the sbibm tasks' own truths, and reject
it 1.5× too wide or too narrow there? A check that failed the exact answer would make every
"not calibrated" verdict of ``bench/posterior_checks.py`` an artefact; this is its control on
three of the four scored tasks (slcp's posterior has no exact sampler).

The exact posteriors, each from its task's generative story:

- ``two_moons``: θ ~ U([-1, 1]²), z = R(-π/4) θ, x = p + (-|z₀|, z₁) with p a point of a noisy
  half ring (angle a ~ U(-π/2, π/2), radius r ~ N(0.1, 0.01²), centre (0.25, 0)). Given x, a
  fresh p gives w = x - p; if w₀ ≤ 0, z = (±w₀, w₁) with either sign (the fold |z₀| is two to
  one, and the rotation keeps volume), θ = R⁻¹ z, kept when inside the box: rejection sampling
  from the exact posterior. Its density up to a constant is the density of p at x - g(θ):
  N(r; 0.1, 0.01²) / (π r) in the ring's polar coordinates.
- ``gaussian_mixture``: θ ~ U([-10, 10]²), x ~ ½ N(θ, I) + ½ N(θ, 0.1² I): the posterior is the
  same two Gaussians centred on x, cut to the box, each weighted by ½ times its mass inside.
- ``gaussian_linear``: θ ~ N(0, 0.1 I), x ~ N(θ, 0.1 I) in 10 dimensions: N(x / 2, 0.05 I).

Truths are drawn as ``bench/posterior_checks.py`` draws them (``--seed`` + 1), so its rows and
these read the same (θ*, x*) pairs. Each exact sampler is also scored by C2ST against sbibm's
reference posterior on ``--observations`` (``--draws`` each): about 0.5 if it is right. One JSON
line per task and factor (1: the exact posterior; 1.5 and 1/1.5: ``widened``, the negative
controls)::

    python bench/exact_checks.py [--task two_moons gaussian_mixture gaussian_linear] [--truths 1000]
        [--observations 1 2] [--draws 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
import warnings
from pathlib import Path

import torch

from pyro_cvae.diagnostics import c2st, widened

# this folder holds a file named after the sbibm package; keep it off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

#: two_moons' rotation angle
ROTATION = -math.pi / 4


def _per_observation(draw_one, x: torch.Tensor, n: int) -> torch.Tensor:
    """``draw_one(x_i, n)`` for one observation (n, D) or each row of a batch (n, N, D)."""
    x = torch.as_tensor(x).float()
    if x.dim() == 1:
        return draw_one(x, n)
    return torch.stack([draw_one(one, n) for one in x], 1)


class ExactTwoMoons:
    """two_moons' exact posterior: ``sample(x, n)`` by rejection, ``log_prob(θ, x)`` up to a
    constant per x (all that highest-density regions need)."""

    def _rotate(self, theta: torch.Tensor) -> torch.Tensor:
        c, s = math.cos(ROTATION), math.sin(ROTATION)
        return torch.stack([c * theta[..., 0] - s * theta[..., 1], s * theta[..., 0] + c * theta[..., 1]], -1)

    def _unrotate(self, z: torch.Tensor) -> torch.Tensor:
        c, s = math.cos(ROTATION), math.sin(ROTATION)
        return torch.stack([c * z[..., 0] + s * z[..., 1], -s * z[..., 0] + c * z[..., 1]], -1)

    def _draw_one(self, x: torch.Tensor, n: int) -> torch.Tensor:
        kept = torch.empty(0, 2)
        while len(kept) < n:
            m = 20 * n + 1000
            angle = (torch.rand(m) - 0.5) * math.pi
            radius = 0.1 + 0.01 * torch.randn(m)
            w = x - torch.stack([torch.cos(angle) * radius + 0.25, torch.sin(angle) * radius], -1)
            sign = torch.where(torch.rand(m) < 0.5, 1.0, -1.0)  # either branch of the fold
            theta = self._unrotate(torch.stack([sign * w[:, 0], w[:, 1]], -1))
            ok = (w[:, 0] <= 0) & (theta.abs() <= 1).all(-1)
            kept = torch.cat([kept, theta[ok]])
        return kept[:n]

    def sample(self, x, num_samples: int) -> torch.Tensor:
        return _per_observation(self._draw_one, x, num_samples)

    def log_prob(self, theta, x) -> torch.Tensor:
        theta, x = torch.as_tensor(theta).float(), torch.as_tensor(x).float()
        z = self._rotate(theta)
        ring = x - torch.stack([-z[..., 0].abs(), z[..., 1]], -1) - torch.tensor([0.25, 0.0])
        radius = ring.norm(dim=-1)
        log_p = torch.distributions.Normal(0.1, 0.01).log_prob(radius) - math.log(math.pi) - radius.log()
        possible = (ring[..., 0] > 0) & (theta.abs() <= 1).all(-1)  # the ring's right half, the box
        return torch.where(possible, log_p, torch.full_like(log_p, -math.inf))


class ExactGaussianMixture:
    """gaussian_mixture's exact posterior: the two Gaussians around x, truncated to the box."""

    weights, scales, low, high = (0.5, 0.5), (1.0, 0.1), -10.0, 10.0

    def _component_probs(self, x: torch.Tensor) -> torch.Tensor:
        normal = torch.distributions.Normal(0.0, 1.0)
        mass = [(normal.cdf((self.high - x) / s) - normal.cdf((self.low - x) / s)).prod() for s in self.scales]
        probs = torch.tensor([w * float(m) for w, m in zip(self.weights, mass)])
        return probs / probs.sum()

    def _draw_one(self, x: torch.Tensor, n: int) -> torch.Tensor:
        picks = torch.multinomial(self._component_probs(x), n, replacement=True)
        draws = torch.empty(n, len(x))
        for k, scale in enumerate(self.scales):
            need = int((picks == k).sum())
            kept = torch.empty(0, len(x))
            while len(kept) < need:
                proposal = x + scale * torch.randn(4 * need + 100, len(x))
                kept = torch.cat([kept, proposal[((proposal > self.low) & (proposal < self.high)).all(-1)]])
            draws[picks == k] = kept[:need]
        return draws

    def sample(self, x, num_samples: int) -> torch.Tensor:
        return _per_observation(self._draw_one, x, num_samples)

    def log_prob(self, theta, x) -> torch.Tensor:
        theta, x = torch.as_tensor(theta).float(), torch.as_tensor(x).float()
        parts = [
            math.log(w) + torch.distributions.Normal(x, s).log_prob(theta).sum(-1)
            for w, s in zip(self.weights, self.scales)
        ]
        inside = ((theta > self.low) & (theta < self.high)).all(-1)
        log_p = torch.logsumexp(torch.stack(parts), 0)
        return torch.where(inside, log_p, torch.full_like(log_p, -math.inf))


class ExactGaussianLinear:
    """gaussian_linear's exact posterior, N(x / 2, 0.05 I)."""

    scale = math.sqrt(0.05)

    def sample(self, x, num_samples: int) -> torch.Tensor:
        x = torch.as_tensor(x).float()
        return x / 2 + self.scale * torch.randn(num_samples, *x.shape)

    def log_prob(self, theta, x) -> torch.Tensor:
        theta, x = torch.as_tensor(theta).float(), torch.as_tensor(x).float()
        return torch.distributions.Normal(x / 2, self.scale).log_prob(theta).sum(-1)


EXACT = {"two_moons": ExactTwoMoons, "gaussian_mixture": ExactGaussianMixture, "gaussian_linear": ExactGaussianLinear}


def _sibling(name: str):
    """Another script of this folder as a module (``bench`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_task(name: str, truths: int, observations, draws: int, seed: int, factors) -> list:
    import sbibm

    task, exact = sbibm.get_task(name), EXACT[name]()
    torch.manual_seed(seed)
    scores = [
        c2st(exact.sample(task.get_observation(k)[0], draws), task.get_reference_posterior_samples(k)[:draws])
        for k in observations
    ]
    torch.manual_seed(seed + 1)  # the truths of bench/posterior_checks.py
    theta_true = task.get_prior()(num_samples=truths)
    x_true = task.get_simulator()(theta_true)
    calibration = _sibling("posterior_checks").calibration
    rows = []
    for factor in factors:
        torch.manual_seed(seed + 2)
        posterior = exact if factor == 1 else widened(exact, factor)
        figures, _, _ = calibration(posterior, theta_true, x_true)
        row = {"task": name, "posterior": "exact", "factor": round(factor, 4), "truths": truths, **figures}
        if factor == 1 and scores:
            row.update(c2st_vs_reference=[round(s, 4) for s in scores], observations=list(observations))
        rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=list(EXACT), choices=list(EXACT))
    parser.add_argument("--truths", type=int, default=1000)
    parser.add_argument("--observations", nargs="*", type=int, default=[1, 2])
    parser.add_argument("--draws", type=int, default=5000, help="exact draws per observation for C2ST")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--factors", nargs="+", type=float, default=[1.0, 1.5, 1 / 1.5], help="1: exact; others: widened by it"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    for name in args.task:
        for row in check_task(name, args.truths, args.observations, args.draws, args.seed, args.factors):
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

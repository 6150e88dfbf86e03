"""Which fitting choice makes an over-confident posterior honest? Calibration of candidates on a
held-out task (slcp_distractors by default: slcp's posterior, 92 distractor features added; the
suite is never scored on it).

Per candidate: fit on ``--budget`` simulations, C2ST over observations 1 and 2 (``--draws``),
then SBC per parameter, HPD coverage at 50% / 90% and TARP on ``--truths`` fresh (θ*, x*) pairs,
as ``bench/posterior_checks.py`` measures them. One JSON line per candidate (with ``error`` in
place of the figures when a check stopped, e.g. a posterior that leaks out of the prior's support). The simulations are
made once per task, budget and seed and kept in ``--cache`` (slcp_distractors' simulator peaks
at about 14 GB while it runs: two at once exhaust a 24 GB machine).

    python bench/calibration_candidates.py --candidate default ensemble-3 npe [--task slcp_distractors]
        [--figure calibration.png]

Candidates: ``default`` (``fit_posterior``'s defaults), ``weight-decay`` (AdamW with decay 0.01
in place of Adam, patched into the training step for this run only), ``small-batches`` (sbi's
batch size 50 and learning rate 5e-4), ``ensemble-3`` (``fit_posterior(..., ensemble=3)``),
``splines`` (three spline layers in place of the affine flow over θ), ``npe`` (sbi 0.27's NPE
with its defaults, the yardstick) and ``exact`` (the exact posterior of ``bench/exact_checks.py``,
on two_moons, gaussian_mixture and gaussian_linear: what a calibrated row reads on these truths).
Several ``--task`` run one after the other; ``--figure`` draws each task's expected coverage of
the highest-density regions and TARP's, one line per candidate, the diagonal being calibrated.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

import torch

import pyro_cvae.train.step as training_step
from pyro_cvae.posterior import fit_posterior

# this folder holds a file named after the sbibm package; keep it off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

CANDIDATES = {
    "default": {},
    "weight-decay": {},
    "small-batches": {"batch_size": 50, "learning_rate": 5e-4},
    "ensemble-3": {"ensemble": 3},
    "splines": {"model": {"flow_type": "nsf", "flow_layers": 3}},
}


@functools.lru_cache(maxsize=None)
def _sibling(name: str):
    """Another script of this folder as a module (``bench`` is not a package), loaded once and
    under a name of its own: ``sbibm.py`` must not stand in for the sbibm package."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ExactPosterior:
    """An exact posterior of ``bench/exact_checks.py`` read as the others here are: one
    observation shaped (1, D) gives draws (n, D), as for the fitted posteriors."""

    def __init__(self, exact):
        self.exact = exact

    def sample(self, x, n):
        x = torch.as_tensor(x).float()
        return self.exact.sample(x[0] if x.dim() == 2 and x.shape[0] == 1 else x, n)

    def log_prob(self, theta, x):
        return self.exact.log_prob(theta, x)


def _with_weight_decay(decay: float):
    def make_optimizer(parameters, learning_rate):
        return torch.optim.AdamW(list(parameters), lr=learning_rate, weight_decay=decay)

    return make_optimizer


def run(
    task_name: str, candidate: str, budget: int, truths: int, seed: int, cache: Path, draws: int = 5000, curves=None
) -> dict:
    """One JSON row; the candidate's HPD and TARP curves go into ``curves[task, candidate]``."""
    curves = {} if curves is None else curves
    from sbibm.metrics import c2st

    task, simulator, observation, reference = _sibling("posterior_defaults")._task(task_name)
    prior = task.get_prior_dist()
    stored = cache / f"{task_name}_{budget}_{seed}_{truths}.pt"
    if stored.exists():
        theta, x, theta_true, x_true = torch.load(stored, weights_only=True)
    else:
        torch.manual_seed(seed)
        theta = prior.sample((budget,))
        x = simulator(theta)
        torch.manual_seed(seed + 1)  # fresh truths, never trained on
        theta_true = prior.sample((truths,))
        x_true = simulator(theta_true)
        cache.mkdir(parents=True, exist_ok=True)
        torch.save((theta, x, theta_true, x_true), stored)
    start = time.perf_counter()
    if candidate == "exact":
        posterior = ExactPosterior(_sibling("exact_checks").EXACT[task_name]())
    elif candidate == "npe":
        posterior = _sibling("sbibm").fit_npe(task, theta, x, seed)  # trained, and read, as bench/sbibm.py does
    else:
        adam = training_step.make_optimizer
        if candidate == "weight-decay":
            training_step.make_optimizer = _with_weight_decay(1e-2)  # type: ignore[assignment]
        try:
            posterior = fit_posterior(prior, theta=theta, x=x, seed=seed, progress=False, **CANDIDATES[candidate])
        finally:  # the patch is this fit's only
            training_step.make_optimizer = adam
    fit_s = time.perf_counter() - start
    scores = [float(c2st(reference(k, draws), posterior.sample(observation(k), draws))[0]) for k in (1, 2)]
    start = time.perf_counter()
    figures, hpd, joint = _sibling("posterior_checks").calibration(posterior, theta_true, x_true)
    curves[task_name, candidate] = hpd, joint
    return {
        "task": task_name,
        "candidate": candidate,
        "budget": budget,
        "seed": seed,
        "c2st_mean": round(sum(scores) / 2, 4),
        "c2st": [round(s, 4) for s in scores],
        **figures,
        "fit_s": round(fit_s, 1),
        "checks_s": round(time.perf_counter() - start, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=["slcp_distractors"])
    parser.add_argument(
        "--candidate", nargs="+", default=["default", "ensemble-3", "npe"], choices=[*CANDIDATES, "npe", "exact"]
    )
    parser.add_argument("--budget", type=int, default=10000)
    parser.add_argument("--truths", type=int, default=300)
    parser.add_argument("--draws", type=int, default=5000, help="posterior draws per observation for C2ST")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="runs/calibration_candidates", help="folder for the simulations")
    parser.add_argument("--figure", help="a PNG of each task's HPD and TARP coverage curves, one line per candidate")
    args = parser.parse_args(argv)
    exact_tasks = set(_sibling("exact_checks").EXACT)
    if "exact" in args.candidate and not set(args.task) <= exact_tasks:
        parser.error(f"--candidate exact needs tasks with an exact posterior: {sorted(exact_tasks)}")
    warnings.filterwarnings("ignore")
    curves: dict = {}
    for task in args.task:
        for candidate in args.candidate:
            try:
                row = run(task, candidate, args.budget, args.truths, args.seed, Path(args.cache), args.draws, curves)
            except RuntimeError as error:  # e.g. a posterior that leaks out of the prior for some truth
                row = {"task": task, "candidate": candidate, "budget": args.budget, "error": str(error)}
            print(json.dumps(row), flush=True)
    if args.figure:
        coverage_figure(curves, args.task, args.truths, args.budget).savefig(args.figure, dpi=120)


def coverage_figure(curves: dict, tasks, truths: int, budget: int):
    """One column per task: the expected coverage of the highest-density regions (top) and
    TARP's (bottom) against the credibility level, a line per candidate that finished."""
    import matplotlib.pyplot as plt

    from pyro_cvae.diagnostics import plot_coverage

    fig, axes = plt.subplots(2, len(tasks), figsize=(4 * len(tasks), 7.5), squeeze=False)
    for column, task in enumerate(tasks):
        measured = {candidate: pair for (name, candidate), pair in curves.items() if name == task}
        plot_coverage({c: hpd for c, (hpd, _) in measured.items()}, f"{task}: HPD regions", ax=axes[0, column])
        plot_coverage({c: joint for c, (_, joint) in measured.items()}, f"{task}: TARP", ax=axes[1, column])
    fig.suptitle(f"expected coverage on {truths} fresh truths, {budget} simulations (diagonal: calibrated)")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()

"""Is the posterior right at the observation? L-C2ST (``pyro_cvae.diagnostics.LocalC2ST``) on sbibm
tasks, against the verdict of sbibm's reference draws at the same observations; and its power.

For each task: ``fit_posterior`` on ``--budget`` simulations (its defaults), L-C2ST's classifiers
trained on ``--truths`` fresh pairs with ``--null`` classifiers for the null; then, at each of
sbibm's ``--observations``, the L-C2ST statistic and p-value (on ``--draws`` draws of the
posterior) beside the C2ST of as many draws against the task's reference draws, which a user of
their own simulator does not have. One JSON line per task; ``--figure``: the L-C2ST figure of the
first observation, the task's name added.

``--power`` instead counts how often L-C2ST rejects (p <= 0.05) the exact posterior of the
linear-Gaussian problem of ``tests/diagnostics/test_posterior_checks.py`` at one observation, and
the same posterior 1.5× too wide and 1.5× too narrow, over ``--repeats`` seeds (``--truths``
pairs, ``--null`` classifiers); and how often it rejects the exact posterior when its null
permutes all 2N rows' labels, as sbi's ``LC2ST`` does, instead of swapping within pairs.

    python bench/local_c2st.py --task two_moons gaussian_mixture [--budget 10000] [--truths 5000]
        [--null 50] [--observations 1 2 3 4 5] [--draws 5000] [--figure lc2st.png]
    python bench/local_c2st.py --power [--repeats 20] [--truths 1000] [--null 20]

Needs the benchmark-only extras (task mode): ``pip install sbi==0.27.0 pandas autograd future &&
pip install --no-deps sbibm==1.1.0``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pyro_cvae.diagnostics import LocalC2ST, c2st, plot_local_c2st, widened
from pyro_cvae.posterior import fit_posterior

# bench/sbibm.py would stand in for the sbibm package: keep this folder off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


class AllRowsPermuted(LocalC2ST):
    """L-C2ST with sbi's null: the 2N labels permuted over all rows, which breaks the pairs."""

    def _null_labels(self, generator: torch.Generator) -> np.ndarray:
        return self._labels[torch.randperm(len(self._labels), generator=generator).numpy()]


def check_task(name: str, budget: int, truths: int, null: int, observations, draws: int, seed: int, figure=None):
    import sbibm

    task = sbibm.get_task(name)
    torch.manual_seed(seed)
    theta = task.get_prior()(num_samples=budget)
    posterior = fit_posterior(
        task.get_prior_dist(), theta=theta, x=task.get_simulator()(theta), seed=seed, progress=False
    )
    torch.manual_seed(seed + 1)  # fresh pairs, never trained on
    theta_true = task.get_prior()(num_samples=truths)
    x_true = task.get_simulator()(theta_true)
    start = time.perf_counter()
    test = LocalC2ST(posterior, theta_true, x_true, num_null=null, seed=seed, progress=True)
    row = {
        "task": name,
        "budget": budget,
        "pairs": truths,
        "null": null,
        "train_s": round(time.perf_counter() - start, 1),
    }
    statistics, p_values, scores, seconds = [], [], [], []
    for number in observations:
        x_o, reference = task.get_observation(number)[0], task.get_reference_posterior_samples(number)[:draws]
        start = time.perf_counter()
        result = test.test(x_o, num_draws=draws)
        seconds.append(round(time.perf_counter() - start, 1))
        statistics.append(round(result.statistic, 5))
        p_values.append(round(result.p_value, 4))
        scores.append(round(c2st(result.draws, reference), 4))
        if figure and number == observations[0]:
            path = Path(figure)
            names = [f"theta_{d + 1}" for d in range(result.draws.shape[1])]
            plot_local_c2st(result, names=names, path=path.with_name(f"{path.stem}_{name}{path.suffix}"))
        print(f"{name} observation {number}: L-C2ST {statistics[-1]} (p {p_values[-1]}), C2ST {scores[-1]}", flush=True)
    row.update(observations=list(observations), lc2st=statistics, lc2st_p=p_values, c2st=scores, test_s=seconds)
    return row


def power(repeats: int, truths: int, null: int):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.diagnostics.test_posterior_checks import ExactPosterior
    from tests.diagnostics.test_posterior_checks import truths as make_truths

    x_o = torch.tensor([0.5, -0.3])
    cases = {
        "exact": (LocalC2ST, lambda: ExactPosterior()),
        "wide": (LocalC2ST, lambda: widened(ExactPosterior(), 1.5)),
        "narrow": (LocalC2ST, lambda: widened(ExactPosterior(), 1 / 1.5)),
        "exact, all rows permuted (sbi's null)": (AllRowsPermuted, lambda: ExactPosterior()),
    }
    rejected = {label: 0 for label in cases}
    for seed in range(repeats):
        for label, (kind, make) in cases.items():
            torch.manual_seed(1000 + seed)  # the posterior's draws; the truths have their own generator
            test = kind(make(), *make_truths(truths, seed=seed), num_null=null, seed=seed)
            rejected[label] += test.test(x_o, num_draws=1000).p_value <= 0.05
        print(f"seed {seed}: {rejected}", file=sys.stderr, flush=True)
    return {
        "repeats": repeats,
        "pairs": truths,
        "null": null,
        "rejected_at_0.05": {label: round(count / repeats, 3) for label, count in rejected.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=["two_moons", "gaussian_mixture"])
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--truths", type=int, default=None, help="held-out pairs (5000; 1000 with --power)")
    parser.add_argument("--null", type=int, default=None, help="null classifiers (50; 20 with --power)")
    parser.add_argument("--observations", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--draws", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--figure", default=None)
    parser.add_argument("--power", action="store_true", help="rejection rates on the linear-Gaussian problem")
    parser.add_argument("--repeats", type=int, default=20, help="seeds of --power")
    args = parser.parse_args(argv)
    if args.power:
        print(json.dumps(power(args.repeats, args.truths or 1000, args.null or 20)), flush=True)
        return
    for name in args.task:
        row = check_task(
            name,
            args.budget,
            args.truths or 5000,
            args.null or 50,
            args.observations,
            args.draws,
            args.seed,
            args.figure,
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

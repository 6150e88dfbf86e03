"""Is the posterior right at the observation? L-C2ST (``pyro_cvae.diagnostics.LocalC2ST``) on sbibm
tasks, against the verdict of sbibm's reference draws at the same observations; and its power.

For each task: ``fit_posterior`` on ``--budget`` simulations (its defaults), L-C2ST's classifiers
trained on ``--truths`` fresh pairs with ``--null`` classifiers for the null; then, at each of
sbibm's ``--observations``, the L-C2ST statistic and p-value (on ``--draws`` draws of the
posterior) beside the C2ST of as many draws against the task's reference draws, which a user of
their own simulator does not have. One JSON line per task; ``--figure``: the L-C2ST figure of the
first observation, the task's name added.

``--power`` instead counts how often L-C2ST rejects the exact posterior of the
linear-Gaussian problem of ``tests/diagnostics/test_posterior_checks.py`` at one observation, and
the same posterior 1.5× too wide and 1.5× too narrow, over ``--repeats`` seeds (``--truths``
pairs, ``--null`` classifiers; it rejects when the observed statistic is above every null one,
p = 1 / (1 + null): 0.048 at the default 20), with its default whitened features and with the
raw (θ, x) the paper's classifier reads; how often it rejects the exact posterior when its
null permutes all 2N rows' labels, as sbi's ``LC2ST`` does, instead of swapping within pairs; and how
often sbi's own ``LC2ST`` (0.27, its defaults) rejects each of the three on the same pairs.

    python bench/local_c2st.py --task two_moons gaussian_mixture [--budget 10000] [--truths 5000]
        [--null 50] [--observations 1 2 3 4 5] [--draws 5000] [--figure lc2st.png]
    python bench/local_c2st.py --power [--repeats 20] [--truths 1000] [--null 20]

Needs the benchmark-only extras: ``pip install sbi==0.27.0 pandas autograd future &&
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


def sbi_rejects(posterior, theta, x, x_o, null: int, seed: int) -> bool:
    """sbi's own ``LC2ST`` on the same pairs (its defaults: no z-scoring, all rows permuted for the
    null), rejecting as ours does here: the observed statistic above every null one."""
    from sbi.diagnostics.lc2st import LC2ST

    draws = posterior.sample(x, 1)[0]
    test = LC2ST(prior_samples=theta, xs=x, posterior_samples=draws, num_trials_null=null, seed=seed)
    test.train_on_observed_data(verbosity=0).train_under_null_hypothesis(verbosity=0)
    return test.p_value(theta_o=posterior.sample(x_o, 1000), x_o=x_o) == 0  # sbi's p: the share of nulls above


def power(repeats: int, truths: int, null: int):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.diagnostics.test_posterior_checks import ExactPosterior
    from tests.diagnostics.test_posterior_checks import truths as make_truths

    x_o = torch.tensor([0.5, -0.3])
    posteriors = {
        "exact": lambda: ExactPosterior(),
        "wide": lambda: widened(ExactPosterior(), 1.5),
        "narrow": lambda: widened(ExactPosterior(), 1 / 1.5),
    }
    cases = {label: (LocalC2ST, make, "whitened") for label, make in posteriors.items()}
    cases.update({f"{label}, raw features": (LocalC2ST, make, "raw") for label, make in posteriors.items()})
    cases["exact, all rows permuted (sbi's null)"] = (AllRowsPermuted, posteriors["exact"], "whitened")
    rejected = {label: 0 for label in [*cases, *(f"sbi's LC2ST, {label}" for label in posteriors)]}
    for seed in range(repeats):
        for label, (kind, make, features) in cases.items():
            torch.manual_seed(1000 + seed)  # the posterior's draws; the truths have their own generator
            test = kind(make(), *make_truths(truths, seed=seed), num_null=null, seed=seed, features=features)
            result = test.test(x_o, num_draws=1000)
            rejected[label] += bool((result.null < result.statistic).all())  # p = 1 / (1 + null)
        for label, make in posteriors.items():
            torch.manual_seed(1000 + seed)
            rejected[f"sbi's LC2ST, {label}"] += sbi_rejects(make(), *make_truths(truths, seed=seed), x_o, null, seed)
        print(f"seed {seed}: {rejected}", file=sys.stderr, flush=True)
    return {
        "repeats": repeats,
        "pairs": truths,
        "null": null,
        "rejected": {label: round(count / repeats, 3) for label, count in rejected.items()},
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

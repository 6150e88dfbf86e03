"""The amortized CVAE posterior (``pyro_cvae.posterior.fit_posterior``, its defaults) against sbi's
NPE (its defaults), on sbibm tasks (Lueckmann et al. 2021) with their reference posteriors.

Both methods train on the same simulations, in the same process; each is scored by sbibm's C2ST
(0.5: the draws cannot be told from the reference posterior's) per observation. Prints one JSON
line per task, budget and method: ``task``, ``budget``, ``method``, ``c2st_mean``, ``c2st`` (per
observation), ``fit_s``, ``sample_s``, ``outside_support`` (draws outside the prior's support).
``--methods cvae-truncated`` adds ``fit_truncated`` with its defaults: not amortized, one fit per
observation on a budget of its own (the same size), spent in rounds near that observation, to
set beside the published sequential figures; its ``fit_s`` sums the observations' fits, and
``pooled_sbc_p`` gives, per observation, SBC's Bonferroni-combined p on ``--check-truths`` truths
drawn as that fit's pairs were (``pooled_proposal``: the check that applies to it). Every
method's row has ``near_sbc_p``: per observation, the same p on the ``--check-truths`` of ten times
as many truths whose x lie nearest x_o (``Simulations.nearest``; truths from the prior for the
amortized methods, from the fit's pooled proposal for ``cvae-truncated``): is the posterior
calibrated at that observation, where C2ST reads it against the reference. A p is null where the
posterior could not draw inside the prior's support for one of the truths' x (``SupportLeak``: a
failed check). ``--figure`` draws C2ST against the budget, ``--near-sbc-figure`` each
observation's SBC p near x_o against its C2ST.

    python bench/sbibm.py --task two_moons slcp --budget 1000 10000 [--observations 1 2 3]
        [--methods cvae npe cvae-truncated] [--draws 10000] [--seed 0] [--check-truths 300]
        [--figure sbibm.png] [--near-sbc-figure near_sbc.png]
    python bench/sbibm.py --rows run1.jsonl run2.jsonl --figure sbibm.png      # redraw, run nothing

Needs the benchmark-only extras (never dependencies of the package)::

    pip install sbi==0.27.0 pandas autograd future && pip install --no-deps sbibm==1.1.0
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from pyro_cvae.posterior import fit_posterior

# this file is named after the benchmark; python puts its folder first on sys.path, where it would
# stand in for the sbibm package itself
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

TASKS = ("two_moons", "gaussian_mixture", "gaussian_linear", "slcp")


def _simulations(task, budget: int, seed: int) -> Tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    theta = task.get_prior()(num_samples=budget)
    return theta, task.get_simulator()(theta)


def fit_cvae(task, theta, x, seed: int):
    return fit_posterior(task.get_prior_dist(), theta=theta, x=x, seed=seed, progress=False)


def train_npe(prior, theta, x, seed: int):
    """sbi's NPE with its defaults on the pairs (θ, x): sbi's posterior object."""
    from sbi.inference import SNPE

    torch.manual_seed(seed)
    inference = SNPE(prior=prior, show_progress_bars=False)
    with contextlib.redirect_stdout(io.StringIO()):  # sbi prints its epoch count without a newline
        estimator = inference.append_simulations(theta, x).train()
    return inference.build_posterior(estimator)


class NPEPosterior:
    """sbi's posterior behind the interface the checks read: ``sample(x, n)`` for one observation
    (draws ``(n, D)``) or a batch of them (``(n, B, D)``, one sbi call per observation), and
    ``log_prob(θ, x)`` for one observation (``bench/calibration_candidates.py`` reads it too)."""

    def __init__(self, posterior, observation_dims: int):
        self.posterior, self.observation_dims = posterior, observation_dims

    def sample(self, x, n: int) -> torch.Tensor:
        x = torch.as_tensor(x).float()
        if x.dim() == self.observation_dims or x.shape[0] == 1:
            return self.posterior.sample((n,), x=x, show_progress_bars=False)
        return torch.stack([self.posterior.sample((n,), x=one, show_progress_bars=False) for one in x], 1)

    def log_prob(self, theta, x) -> torch.Tensor:
        return self.posterior.log_prob(theta, x=x)


def fit_npe(task, theta, x, seed: int):
    return NPEPosterior(train_npe(task.get_prior_dist(), theta, x, seed), x.dim() - 1)


def fit_cvae_truncated(task, theta, x, seed: int):
    """``fit_truncated`` at each observation: a fit per x_o on its own simulations (as many as the
    amortized methods' budget, in its default rounds); ``theta``, ``x`` give only the budget."""
    from pyro_cvae.posterior.truncated import fit_truncated

    def fit_at(x_o):
        x_o = x_o.reshape(x.shape[1:])
        return fit_truncated(task.get_prior_dist(), task.get_simulator(), x_o, len(theta), seed=seed, progress=False)

    return fit_at


METHODS = {"cvae": fit_cvae, "npe": fit_npe, "cvae-truncated": fit_cvae_truncated}
#: methods that fit once per observation: their ``fit_s`` sums those fits
PER_OBSERVATION = {"cvae-truncated"}


def _outside(task, theta: torch.Tensor) -> int:
    support = task.get_prior_dist().support
    return int((~support.check(theta)).sum())


def _rounded(p: Optional[float]) -> Optional[float]:
    return None if p is None else round(p, 6)


def _sbc_p(posterior, theta, x) -> Optional[float]:
    """SBC's combined p, or None where the posterior cannot draw inside the prior's support for
    one of the x (``SupportLeak``): a failed check, which the row shows as null."""
    from pyro_cvae.diagnostics import sbc
    from pyro_cvae.errors import SupportLeak

    try:
        return float(sbc(posterior, theta, x)["p_value"])
    except SupportLeak:
        return None


def _near_sbc_p(posterior, pairs, x_o, truths: int) -> Optional[float]:
    """SBC's combined p on the ``truths`` of ``pairs`` whose x lie nearest x_o."""
    near = pairs.nearest(x_o.reshape(pairs.x.shape[1:]), truths)
    return _sbc_p(posterior, near.theta, near.x)


def _pooled_sbc_p(task, posterior, x_o, truths: int, seed: int) -> Tuple[Optional[float], Optional[float]]:
    """SBC's combined p for a truncated fit on ``truths`` pairs drawn as its own pairs were, and on
    the ``truths`` of ten times as many whose x lie nearest x_o."""
    from pyro_cvae.posterior import pooled_proposal, simulate

    proposal = pooled_proposal(task.get_prior_dist(), posterior)
    pairs = simulate(proposal, task.get_simulator(), 10 * truths, seed=seed + 1, progress=False)
    anywhere = _sbc_p(posterior, pairs.theta[:truths], pairs.x[:truths])
    return anywhere, _near_sbc_p(posterior, pairs, x_o, truths)


def run(
    task_name: str,
    budget: int,
    methods: List[str],
    observations: List[int],
    draws: int,
    seed: int,
    check_truths: int = 300,
):
    import sbibm
    from sbibm.metrics import c2st

    from pyro_cvae.posterior import simulate

    task = sbibm.get_task(task_name)
    theta, x = _simulations(task, budget, seed)
    prior_pairs = None  # truths from the prior, for the amortized methods' SBC near each x_o
    for method in methods:
        start = time.perf_counter()
        sampler = METHODS[method](task, theta, x, seed)
        fit_s = time.perf_counter() - start
        scores, sample_s, outside, pooled_sbc, near_sbc = [], 0.0, 0, [], []
        for number in observations:
            x_o = task.get_observation(number)
            if method in PER_OBSERVATION:
                start = time.perf_counter()
                posterior = sampler(x_o)
                fit_s += time.perf_counter() - start
                if check_truths:
                    anywhere, near = _pooled_sbc_p(task, posterior, x_o, check_truths, seed)
                    pooled_sbc.append(_rounded(anywhere))
                    near_sbc.append(_rounded(near))
            else:
                posterior = sampler
            start = time.perf_counter()
            draw = posterior.sample(x_o, draws)
            sample_s += time.perf_counter() - start
            outside += _outside(task, draw)
            reference = task.get_reference_posterior_samples(number)[:draws]
            scores.append(float(c2st(reference, draw[: len(reference)])[0]))
        if check_truths and method not in PER_OBSERVATION:
            # after the draws C2ST scores, so that these are the draws the rows before this check had
            if prior_pairs is None:
                prior_pairs = simulate(
                    task.get_prior_dist(), task.get_simulator(), 10 * check_truths, seed=seed + 1, progress=False
                )
            for number in observations:
                near_sbc.append(_rounded(_near_sbc_p(sampler, prior_pairs, task.get_observation(number), check_truths)))
        row = {
            "task": task_name,
            "budget": budget,
            "method": method,
            "c2st_mean": round(sum(scores) / len(scores), 4),
            "c2st": [round(s, 4) for s in scores],
            "fit_s": round(fit_s, 1),
            "sample_s": round(sample_s, 2),
            "outside_support": outside,
            "observations": observations,
            "draws": draws,
            "seed": seed,
        }
        if near_sbc:
            row.update(near_sbc_p=near_sbc, check_truths=check_truths)
        if pooled_sbc:
            row.update(pooled_sbc_p=pooled_sbc)
        yield row


def figure(rows: List[Dict], path: str) -> None:
    """C2ST against the budget, one panel per task, a line per method."""
    from pyro_cvae.figures import finish, subplots

    tasks = sorted({r["task"] for r in rows})
    fig, axes = subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for method in sorted({r["method"] for r in rows}):
            mine = sorted((r["budget"], r["c2st_mean"]) for r in rows if r["task"] == task and r["method"] == method)
            ax.plot(*zip(*mine), marker="o", label=method)
        ax.set(xscale="log", title=task, xlabel="simulations", ylabel="C2ST (0.5 best)", ylim=(0.45, 1.0))
        ax.axhline(0.5, color="grey", lw=0.5)
        ax.legend()
    finish(fig, path)


def near_sbc_figure(rows: List[Dict], path: str) -> None:
    """Does SBC near x_o say what the reference says? Per observation, its p against C2ST, one
    panel per task, a colour per method and a marker per budget; below the dotted line SBC fails."""
    from pyro_cvae.figures import finish, subplots

    tasks = sorted({r["task"] for r in rows})
    budgets = sorted({r["budget"] for r in rows})
    markers = dict(zip(budgets, "os^Dv"))
    fig, axes = subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for number, method in enumerate(sorted({r["method"] for r in rows})):
            for row in (r for r in rows if r["task"] == task and r["method"] == method):
                # p = 0 drawn at the floor; null (the posterior could not draw inside the support) under it
                p = [5e-7 if value is None else max(value, 1e-6) for value in row["near_sbc_p"]]
                label = f"{method}, {row['budget']:g}"
                ax.scatter(row["c2st"], p, color=f"C{number}", marker=markers[row["budget"]], label=label)
        ax.axhline(0.01, color="grey", lw=0.5, ls=":")
        ax.set(yscale="log", ylim=(5e-7, 1.5), title=task, xlabel="C2ST at x_o (0.5 best)", ylabel="SBC p near x_o")
        ax.legend(fontsize="small")
    finish(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=list(TASKS))
    parser.add_argument("--budget", nargs="+", type=int, default=[1000, 10000, 100000])
    parser.add_argument("--methods", nargs="+", default=["cvae", "npe"], choices=sorted(METHODS))
    parser.add_argument("--observations", nargs="+", type=int, default=list(range(1, 11)))
    parser.add_argument("--draws", type=int, default=10000, help="posterior draws per observation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--check-truths",
        "--pooled-truths",  # its name before the amortized methods were checked too
        type=int,
        default=300,
        help="SBC truths per observation, near x_o (and, for cvae-truncated, from its pooled proposal); 0: none",
    )
    parser.add_argument("--figure", help="write a PNG of C2ST against the budget")
    parser.add_argument("--near-sbc-figure", help="write a PNG of each observation's SBC p near x_o against its C2ST")
    parser.add_argument("--rows", nargs="+", help="draw the figures from the JSON lines of earlier runs; run nothing")
    args = parser.parse_args(argv)
    if args.rows:
        if not (args.figure or args.near_sbc_figure):
            parser.error("--rows draws a figure: give --figure or --near-sbc-figure")
        lines = [line for path in args.rows for line in Path(path).read_text().splitlines() if "{" in line]
        rows = [json.loads(line[line.index("{") :]) for line in lines]  # older runs let sbi print before a row
        figures(rows, args)
        return
    warnings.filterwarnings("ignore")  # sbi and sklearn warn on every fit; the JSON lines are the output
    rows = []
    for task in args.task:
        for budget in args.budget:
            for row in run(task, budget, args.methods, args.observations, args.draws, args.seed, args.check_truths):
                rows.append(row)
                print(json.dumps(row), flush=True)
    figures(rows, args)


def figures(rows: List[Dict], args) -> None:
    if args.figure:
        figure(rows, args.figure)
    if args.near_sbc_figure:
        checked = [r for r in rows if r.get("near_sbc_p")]
        if not checked:
            raise SystemExit("--near-sbc-figure: no row has near_sbc_p (run with --check-truths above 0)")
        near_sbc_figure(checked, args.near_sbc_figure)


if __name__ == "__main__":
    main()

"""What ``AmortizedPosterior.log_prob`` costs: its normalizer per observation, and (``--rows``)
its cost per importance particle against how many one pass scores.

The defaults' fit on an sbibm task (two_moons at 10^4 simulations, seed 0, as
``bench/posterior_checks.py``); observations simulated from the prior (seed 2). Every
comparison is timed interleaved in one process; medians. One JSON line is printed.

The normalizer: the share of the posterior's draws inside the prior's box, read with a fixed
10,000 draws (as every call did before it was kept) against rounds of 1,000 draws until its
relative error is 1% (as now), per observation. Printed: the median seconds of each, their
median ratio (target >= 3 on two_moons: the normalizer was three quarters of the region
recalibration's time), the rounds drawn, and how far the two shares part (the 1% rule against
10,000 draws, whose own relative error is about 1% at a share of 1/2).

``--rows``: ``log_prob`` of several observations' 101 draws each (a truth and its draws in the
HPD check) in one call, at 64 particles, with each cap on the rows of a pass
(``LOG_PROB_ROWS``: θ's times particles), the default's among them. Printed: the median
microseconds per particle at each cap, and the ratio of one pass to the default's (target >= 1:
the cap costs nothing where one pass would do).

    python bench/inside_share.py [--task two_moons] [--budget 10000] [--observations 200] [--threads 1] [--epochs N]
    python bench/inside_share.py --rows [--observations 20] [--repeats 20] [--threads 1]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from pyro_cvae.posterior import amortized, fit_posterior
from pyro_cvae.posterior.amortized import INSIDE_DRAWS

# run as ``python bench/inside_share.py``, this folder comes first on the path and its sbibm.py
# would hide the sbibm package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="two_moons")
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--observations", type=int, help="observations from the prior (default 200; 20 with --rows)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", action="store_true", help="log_prob's cost per particle against LOG_PROB_ROWS")
    parser.add_argument("--repeats", type=int, default=20, help="--rows: log_prob calls timed per cap")
    parser.add_argument("--epochs", type=int, help="at most this many epochs of the fit (default: the defaults')")
    args = parser.parse_args(argv)
    if args.observations is None:
        args.observations = 20 if args.rows else 200
    torch.set_num_threads(args.threads)
    import sbibm

    task = sbibm.get_task(args.task)
    torch.manual_seed(0)
    theta = task.get_prior()(num_samples=args.budget)
    # --epochs only shortens the fit (the tests' tiny runs): what is timed is reading a fitted posterior
    cap = {} if args.epochs is None else {"epochs": args.epochs}
    simulated = task.get_simulator()(theta)
    posterior = fit_posterior(task.get_prior_dist(), theta=theta, x=simulated, seed=0, progress=False, **cap)
    if args.rows:
        return rows(posterior, task, args)
    if not posterior.space.rejects:
        raise SystemExit(f"{args.task}: its posterior rejects no draws (an unbounded prior): no share to read")
    torch.manual_seed(2)
    x = task.get_simulator()(task.get_prior()(num_samples=args.observations))
    rounds: list = []
    draw = posterior._draw
    posterior._draw = lambda y, n, chunk: rounds.append(n) or draw(y, n, chunk)  # count the rounds
    fixed, adaptive, per_observation, gaps, shares = [], [], [], [], []
    for x_o in x:
        y = posterior.condition(x_o)
        start = time.perf_counter()
        before = float(posterior._inside_share(y, INSIDE_DRAWS))
        fixed.append(time.perf_counter() - start)
        rounds.clear()
        start = time.perf_counter()
        now = float(posterior._share_to_precision(y))
        adaptive.append(time.perf_counter() - start)
        per_observation.append(len(rounds))
        shares.append(before)
        gaps.append(abs(now / before - 1))
    row = {
        "task": args.task,
        "budget": args.budget,
        "observations": args.observations,
        "fixed_s": round(statistics.median(fixed), 4),
        "to_precision_s": round(statistics.median(adaptive), 4),
        "fixed_over_to_precision_ratio": round(statistics.median(f / a for f, a in zip(fixed, adaptive)), 2),
        "rounds_mean": round(statistics.mean(per_observation), 2),
        "rounds_max": max(per_observation),
        "share_min": round(min(shares), 3),
        "share_gap_median": round(statistics.median(gaps), 4),
        "share_gap_max": round(max(gaps), 4),
    }
    print(json.dumps(row))


#: a cap on the rows of a pass that no call here reaches
ONE_PASS = 2**30


def rows(posterior, task, args) -> None:
    """``--rows``: log_prob's microseconds per particle at each cap on a pass's rows."""
    particles_each = 64
    torch.manual_seed(2)
    x = task.get_simulator()(task.get_prior()(num_samples=args.observations))
    draws = posterior.sample(x, 101)  # (101, B, D)
    theta_batch = draws.transpose(0, 1).reshape(-1, draws.shape[-1])
    x_batch = x.repeat_interleave(101, 0)
    particles = len(theta_batch) * particles_each
    default = amortized.LOG_PROB_ROWS
    seconds: dict = {cap: [] for cap in sorted({2**11, 2**13, 2**15, default, ONE_PASS})}
    posterior.log_prob(theta_batch, x_batch, num_particles=particles_each)  # shares read, warm
    try:
        for _ in range(args.repeats):
            for cap in seconds:
                amortized.LOG_PROB_ROWS = cap
                start = time.perf_counter()
                posterior.log_prob(theta_batch, x_batch, num_particles=particles_each)
                seconds[cap].append(time.perf_counter() - start)
    finally:
        amortized.LOG_PROB_ROWS = default
    per_particle = {cap: 1e6 * statistics.median(values) / particles for cap, values in seconds.items()}
    row = {
        "task": args.task,
        "budget": args.budget,
        "particles_per_call": particles,
        "default_rows": default,
        "us_per_particle": {str(cap): round(value, 3) for cap, value in per_particle.items()},
        "one_pass_over_default": round(per_particle[ONE_PASS] / per_particle[default], 2),
    }
    print(json.dumps(row))


if __name__ == "__main__":
    main()

"""What ``AmortizedPosterior.log_prob``'s normalizer costs per observation: the share of the
posterior's draws inside the prior's box, read with a fixed 10,000 draws (as every call did
before it was kept) against rounds of 1,000 draws until its relative error is 1% (as now).

The defaults' fit on an sbibm task (two_moons at 10^4 simulations, seed 0, as
``bench/posterior_checks.py``); observations simulated from the prior (seed 2). Both ways are
timed interleaved per observation in one process; medians. Printed: one JSON line with the
median seconds of each, their median ratio (target >= 3 on two_moons: the normalizer was three
quarters of the region recalibration's time), the rounds drawn, and how far the two shares
part (the 1% rule against 10,000 draws, whose own relative error is about 1% at a share of 1/2).

    python bench/inside_share.py [--task two_moons] [--budget 10000] [--observations 200] [--threads 1]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from pyro_cvae.posterior import fit_posterior
from pyro_cvae.posterior.amortized import INSIDE_DRAWS

# run as ``python bench/inside_share.py``, this folder comes first on the path and its sbibm.py
# would hide the sbibm package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="two_moons")
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--observations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import sbibm

    task = sbibm.get_task(args.task)
    torch.manual_seed(0)
    theta = task.get_prior()(num_samples=args.budget)
    posterior = fit_posterior(task.get_prior_dist(), theta=theta, x=task.get_simulator()(theta), seed=0, progress=False)
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


if __name__ == "__main__":
    main()

"""How ``AmortizedPosterior.log_prob``'s cost per importance particle depends on how many it
scores in one pass (``LOG_PROB_ROWS``: θ's times ``num_particles``), the choice behind the
default.

The defaults' fit on an sbibm task (two_moons at 10^4 simulations, seed 0, as
``bench/posterior_checks.py``); observations simulated from the prior (seed 2), 101 draws of the
posterior each (a truth and its draws in the HPD check). ``log_prob`` of several observations'
draws in one call, at 64 particles, with each cap on the rows of a pass, interleaved per call in
one process; medians. Printed: one JSON line with the median microseconds per particle at each
cap, and the ratio of no cap (one pass) to the default's (target >= 1: the cap costs nothing
where one pass would do, and saves where one pass is large).

    python bench/log_prob_rows.py [--task two_moons] [--budget 10000] [--repeats 20] [--observations 20] [--threads 1]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from pyro_cvae.posterior import amortized, fit_posterior

# run as ``python bench/log_prob_rows.py``, this folder comes first on the path and its sbibm.py
# would hide the sbibm package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ONE_PASS = 2**30  # a cap no call here reaches


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="two_moons")
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=20, help="log_prob calls timed per cap")
    parser.add_argument("--observations", type=int, default=20, help="observations (101 θ each) per call")
    parser.add_argument("--particles", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    import sbibm

    task = sbibm.get_task(args.task)
    torch.manual_seed(0)
    theta = task.get_prior()(num_samples=args.budget)
    posterior = fit_posterior(task.get_prior_dist(), theta=theta, x=task.get_simulator()(theta), seed=0, progress=False)
    torch.manual_seed(2)
    x = task.get_simulator()(task.get_prior()(num_samples=args.observations))
    draws = posterior.sample(x, 101)  # (101, B, D)
    theta_batch = draws.transpose(0, 1).reshape(-1, draws.shape[-1])
    x_batch = x.repeat_interleave(101, 0)
    particles = len(theta_batch) * args.particles
    default = amortized.LOG_PROB_ROWS
    seconds: dict = {cap: [] for cap in sorted({2**11, 2**13, 2**15, default, ONE_PASS})}
    posterior.log_prob(theta_batch, x_batch, num_particles=args.particles)  # shares read, warm
    try:
        for _ in range(args.repeats):
            for cap in seconds:
                amortized.LOG_PROB_ROWS = cap
                start = time.perf_counter()
                posterior.log_prob(theta_batch, x_batch, num_particles=args.particles)
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
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

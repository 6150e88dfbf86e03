"""Guides, priors and objectives on the digits: test ELBO, test log p(x) and the gap between them.

The issue's protocol: scikit-learn's 8x8 digits in [0, 1], ``split_indices(1797, test_size=360,
seed=0)``, MLPs 256-256, latent 8, Bernoulli, Adam 1e-3, batch 64, 50 epochs, 3 seeds. Each
row changes one name from the first. Printed per row (mean ± sd over seeds): the test ELBO
(one draw per digit, averaged), the test log p(x) by importance sampling (K = 1000), their gap
(how far the guide is from the posterior) and seconds per epoch. Targets: the flow guide's gap
below the diagonal guide's; the IWAE-trained (K = 50) model's log p(x) above the ELBO-trained
one's; ``analytic-kl`` (default) at least as good as ``trace``.

    python bench/objectives.py [--seeds 0,1,2] [--epochs 50] [--rows ...]
"""

import argparse
import statistics
import time

import torch

import pyro_cvae as pc
from pyro_cvae.data.digits import load_digits_data
from pyro_cvae.data.tensors import split_indices
from pyro_cvae.diagnostics import iwae_log_likelihood
from pyro_cvae.sampling.evaluate import pointwise_elbo_terms

ROWS = {
    "diagonal guide, analytic-kl (default)": ({}, {}),
    "diagonal guide, trace (Monte Carlo KL)": ({}, {"elbo": "trace"}),
    "full-covariance guide": ({"guide": "full-covariance-x"}, {}),
    "flow guide (2 MAF layers)": ({"guide": "flow-x", "flow_type": "maf"}, {}),
    "flow guide (2 NSF layers)": ({"guide": "flow-x", "flow_type": "nsf"}, {}),
    "VampPrior, 50 pseudo-inputs": ({"prior": "vamp", "pseudo_inputs": 50}, {}),
    "IWAE-trained, K = 50": ({}, {"elbo": "iwae", "num_particles": 50}),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--rows", default=",".join(str(i) for i in range(len(ROWS))))
    parser.add_argument("--k", type=int, default=1000, help="importance samples of the log p(x) estimate")
    args = parser.parse_args(argv)
    x, _, _ = load_digits_data()
    train, test = split_indices(len(x), test_size=360, seed=0)
    names = [list(ROWS)[int(i)] for i in args.rows.split(",")]
    results = {name: [] for name in names}
    for seed in (int(s) for s in args.seeds.split(",")):
        for name in names:  # interleaved over seeds
            model_fields, fit_fields = ROWS[name]
            model = pc.build("vae", x_shape=(64,), latent_dim=8, likelihood="bernoulli", seed=seed, **model_fields)
            start = time.perf_counter()
            pc.fit(model, x[train], epochs=args.epochs, batch_size=64, seed=seed, progress=False, **fit_fields)
            seconds = (time.perf_counter() - start) / args.epochs
            torch.manual_seed(seed)
            elbo = float(torch.stack([pointwise_elbo_terms(model, x[test])["elbo"] for _ in range(10)]).mean())
            log_px = float(iwae_log_likelihood(model, x[test], num_samples=args.k, chunk=250).mean())
            results[name].append((elbo, log_px, log_px - elbo, seconds))
            print(f"seed {seed} {name}: ELBO {elbo:.2f}, log p(x) {log_px:.2f}, {seconds:.2f} s/epoch", flush=True)

    def cell(values, digits=2):
        return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values) if len(values) > 1 else 0:.{digits}f}"

    print(f"\n| model | test ELBO | test log p(x), K = {args.k} | gap | s / epoch |")
    print("|---|---|---|---|---|")
    for name, rows in results.items():
        elbo, log_px, gap, seconds = zip(*rows)
        print(f"| {name} | {cell(elbo)} | {cell(log_px)} | {cell(gap)} | {statistics.median(seconds):.2f} |")


if __name__ == "__main__":
    main()

"""Posterior predictive sampling through ``pyro_cvae.sample`` (``pyro.infer.Predictive`` with
``parallel=True``) against a direct batched call of the same networks.

Dual-encoder CVAE (MLPs of width 256, x and y shaped (50, 2)), 50 conditions, 1000 samples each:
z ~ r(z | y), x ~ p(x | z, y). Both ways are timed interleaved in one process; medians.
Last line: ``predictive_over_direct_ratio <value>``. Target <= 1.2.

    python bench/sampling.py [--repeats 40] [--num-samples 1000]
"""

import argparse
import statistics
import time

import torch

import pyro_cvae as pc

SHAPE, CONDITIONS = (50, 2), 50


@torch.no_grad()
def direct(model, y, num_samples):
    z = model.prior(y).sample((num_samples,))
    return model.likelihood(model.decoder(z, y)).sample()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    model = pc.build("dual-encoder", x_shape=SHAPE, y_shape=SHAPE, latent_dim=8, hidden_sizes=(256, 256)).eval()
    y = torch.randn(CONDITIONS, *SHAPE)
    runners = {
        "predictive": lambda: pc.sample(model, y, num_samples=args.num_samples),
        "direct": lambda: direct(model, y, args.num_samples),
    }
    assert runners["predictive"]().shape == runners["direct"]().shape == (args.num_samples, CONDITIONS, *SHAPE)
    times = {name: [] for name in runners}
    for i in range(args.repeats + 3):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            if i >= 3:
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    rate = args.num_samples * CONDITIONS / medians["predictive"]
    for name, median in medians.items():
        print(f"{name:<11} median {1e3 * median:8.2f} ms")
    print(f"predictive samples/s {rate:.3g}")
    print(f"predictive_over_direct_ratio {medians['predictive'] / medians['direct']:.3f}")


if __name__ == "__main__":
    main()

"""Posterior predictive sampling through ``pyro_cvae.sample`` (``pyro.infer.Predictive`` with
``parallel=True``) against a direct batched call of the same networks.

Dual-encoder CVAE (MLPs of width 256, x and y shaped (50, 2)), 50 conditions, 1000 samples each:
z ~ r(z | y), x ~ p(x | z, y). Both ways are timed interleaved in one process; medians.
Last line: ``predictive_over_direct_ratio <value>``. Target <= 1.2.

``--memory``: peak memory of ``pc.sample`` over the size of its output, for 10^3 to 10^6 samples
of each of 10 digit conditions (a class-conditional CVAE on the 8x8 digits, x of 64 values; 10^5
samples are 256 MB of output), each count in a fresh process whose peak resident memory is
reset just before the draw (``/proc/self/clear_refs``, Linux). Target: peak over output <= 2 at
every count, and samples per second flat as the count grows. Then the same draws streamed to a
NetCDF file (``pc.sample_to_netcdf``): peak memory in MB, which should stay flat however large
the file grows.

``--draw-density``: ``AmortizedPosterior.sample`` (the default posterior of ``fit_posterior``, a
flow prior r(z | x) and a flow over θ, fitted briefly on x = θ + noise for θ of 2, 5 and 10
parameters), its flows drawing without their draws' log-density (as they do: ``ZukoFlow``'s
``keep_draw_density=False``) against computing it beside each draw (as they did), interleaved,
medians; one line per size, ``draw_density_ratio D <with over without>``. The gain shrinks with
D, as one pass per layer is saved of the D + 1 a draw took.

    python bench/sampling.py [--repeats 40] [--num-samples 1000]
    python bench/sampling.py --memory [--counts 1000,10000,100000,1000000]
    python bench/sampling.py --draw-density --threads 1 [--repeats 7] [--num-samples 10000] [--sizes 2,5,10]
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

import pyro_cvae as pc

SHAPE, CONDITIONS = (50, 2), 50


@torch.no_grad()
def direct(model, y, num_samples):
    z = model.prior(y).sample((num_samples,))
    return model.likelihood(model.decoder(z, y)).sample()


def _kilobytes(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def measure_one(count: int, to_file: str = "") -> dict:
    """In this process: draw ``count`` samples for each of 10 digit conditions, in memory or
    streamed to the NetCDF file ``to_file``; peak memory."""
    model = pc.build("cvae", x_shape=(64,), y_shape=(10,), latent_dim=8, likelihood="bernoulli").eval()
    y = torch.eye(10)
    pc.sample(model, y, 10)  # warm up: first-call allocations are not the draw's
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak resident size to the current one
    before = _kilobytes("VmRSS:")
    start = time.perf_counter()
    if to_file:
        pc.sample_to_netcdf(model, y, to_file, count)
    else:
        pc.sample(model, y, count)  # the high-water mark keeps its peak after it is freed
    seconds = time.perf_counter() - start
    peak = _kilobytes("VmHWM:")
    output = count * 10 * 64 * 4  # float32 x
    return {"count": count, "output_mb": output / 2**20, "peak_over_output": (peak - before) * 1024 / output,
            "peak_mb": (peak - before) / 1024, "samples_per_s": count * 10 / seconds}  # fmt: skip


def _in_fresh_process(count: int, to_file: str = "") -> dict:
    code = f"import json, runpy; print(json.dumps(runpy.run_path({__file__!r})['measure_one']({count}, {to_file!r})))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory(counts) -> None:
    import tempfile

    print("| samples per condition | output | peak memory over output | samples / s |")
    print("|---|---|---|---|")
    for count in counts:
        row = _in_fresh_process(count)
        cells = f"{row['output_mb']:.1f} MB | {row['peak_over_output']:.2f} | {row['samples_per_s']:.3g}"
        print(f"| {count:.0e} | {cells} |", flush=True)
    print()
    print("| samples per condition | file | peak memory, streamed to the file | samples / s |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for count in counts:
            # a file each: the writers refuse to replace a file without overwrite=True
            row = _in_fresh_process(count, f"{folder}/draws_{count}.nc")
            cells = f"{row['output_mb']:.1f} MB | {row['peak_mb']:.1f} MB | {row['samples_per_s']:.3g}"
            print(f"| {count:.0e} | {cells} |", flush=True)


def draw_density(sizes, repeats: int, num_samples: int, train: int = 2000, epochs: int = 3) -> None:
    """``--draw-density``: the posterior's draws without and with each flow draw's log-density."""
    from pyro_cvae.components.flows import ZukoFlow
    from pyro_cvae.posterior import fit_posterior

    without = ZukoFlow.rsample

    def with_density(flow, sample_shape=()):  # the flow as it drew before: the density beside each draw
        flow.keep_draw_density = True
        return without(flow, sample_shape)

    for size in sizes:
        torch.manual_seed(0)
        theta = torch.rand(train, size) * 2 - 1
        posterior = fit_posterior(theta=theta, x=theta + 0.1 * torch.randn(train, size), epochs=epochs, progress=False)
        x_o = theta[0] + 0.1 * torch.randn(size)
        times: dict = {"without": [], "with": []}
        try:
            for i in range(repeats + 1):
                for name, rsample in (("without", without), ("with", with_density)):
                    ZukoFlow.rsample = rsample  # type: ignore[method-assign]
                    torch.manual_seed(i)
                    start = time.perf_counter()
                    draws = posterior.sample(x_o, num_samples)
                    if i:  # the first round warms up
                        times[name].append(time.perf_counter() - start)
                    assert draws.shape == (num_samples, size)
        finally:
            ZukoFlow.rsample = without  # type: ignore[method-assign]
        ratio = statistics.median(a / b for a, b in zip(times["with"], times["without"]))
        print(f"D = {size}: {1e3 * statistics.median(times['without']):.1f} ms without the draws' density, "
              f"{1e3 * statistics.median(times['with']):.1f} ms with it")  # fmt: skip
        print(f"draw_density_ratio {size} {ratio:.3f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", action="store_true", help="peak memory over output size, 10^3..10^6 samples")
    parser.add_argument("--counts", default="1000,10000,100000,1000000")
    parser.add_argument("--draw-density", action="store_true", help="posterior draws without and with their density")
    parser.add_argument("--sizes", default="2,5,10", help="--draw-density: numbers of parameters")
    parser.add_argument("--train", type=int, default=2000, help="--draw-density: pairs the posterior is fitted on")
    parser.add_argument("--epochs", type=int, default=3, help="--draw-density: epochs of that fit")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory:
        memory([int(c) for c in args.counts.split(",")])
        return
    if args.draw_density:
        draw_density([int(s) for s in args.sizes.split(",")], args.repeats, args.num_samples, args.train, args.epochs)
        return

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

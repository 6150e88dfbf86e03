"""Cost of training on Lightning (``engine="lightning"``) against the built-in loop, and what a
second DDP process buys on this machine.

1. Per-epoch time, one process, for two workloads:

   - ``digits``: a dual-encoder CVAE on the embedded digits (1,497 training and 300 validation
     digits, batch 64): a small step, about 2.3 ms on two cores;
   - ``twobirds``: the default Two Birds model (``twobirds_model()``, MLPs of 256, a 32-component
     mixture prior) on 10,000 generated pairs and 1,000 validation pairs, batch 256 as in
     ``fit_twobirds``.

   ``--epochs`` epochs of ``pc.fit`` with each engine, interleaved ``--repeats`` times. An epoch
   is timed from the end of the one before (the first is left out), so once-per-fit costs
   (building the ``Trainer``) are not charged to an epoch. Lines:
   ``lightning_over_loop_epoch_ratio[WORKLOAD] <median / median>``. Target <= 1.10. Lightning
   adds a fixed cost to every step (its loop, hooks and batch hand-over; about 0.2 ms with an
   empty step here), so the smaller the step, the larger the ratio.

2. Throughput, ``--ddp``: the same fit as one process and as two DDP processes (gloo, CPU),
   each started as a user would start it (this script again, as a subprocess, which
   Lightning's launcher runs once per process). Training samples per second over the timed
   epochs, for one process with all the cores, and for two with ``cores / 2`` threads each.

    python bench/lightning_overhead.py [--repeats 7] [--epochs 5] [--ddp]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch

import pyro_cvae as pc
from pyro_cvae.train.distributed import is_main_process

SETTINGS = dict(x_shape=(64,), y_shape=(10,), latent_dim=8, likelihood="continuous-bernoulli")


class LoopClock(pc.Callback):
    def __init__(self):
        self.ends = []

    def on_epoch_end(self, state):
        self.ends.append(time.perf_counter())


def lightning_clock():
    """A Lightning callback stamping each epoch's end, after the module has scored it."""
    import pytorch_lightning as pl

    class LightningClock(pl.Callback):
        def __init__(self):
            self.ends = []

        def on_epoch_scored(self, trainer, module):
            self.ends.append(time.perf_counter())

    return LightningClock()


def workload(name: str, seed: int, size: int):
    """``(model, train, val, batch_size)``; ``size`` caps the training points (for quick runs)."""
    if name == "digits":
        x, y, _ = pc.data.load_digits_data()
        train, val = pc.data.split_indices(len(x), test_size=300)
        model = pc.build("dual-encoder", seed=seed, **SETTINGS)
        return model, (x[train][:size], y[train][:size]), (x[val], y[val]), 64
    from pyro_cvae.twobirds import generate
    from pyro_cvae.twobirds.train import twobirds_model

    model = twobirds_model(seed=seed)
    return model, generate(min(size, 10_000), seed=0), generate(1000, seed=1), 256


def fit_epochs(engine: str, epochs: int, seed: int, name: str = "digits", size: int = 10**9, **where):
    """Per-epoch seconds of one fit (each epoch from the end of the one before)."""
    model, train, val, batch_size = workload(name, seed, size)
    clock = LoopClock() if engine == "loop" else lightning_clock()
    pc.fit(model, train, val_data=val, epochs=epochs + 1, batch_size=batch_size, progress=False, seed=seed,
           engine=engine, callbacks=[clock], **where)  # fmt: skip
    return [b - a for a, b in zip(clock.ends, clock.ends[1:])], len(train[0])


def overhead(name: str, repeats: int, epochs: int, size: int) -> float:
    times = {"loop": [], "lightning": []}
    for repeat in range(repeats):
        for engine in times:
            where = {"device": "cpu"} if engine == "lightning" else {}
            times[engine] += fit_epochs(engine, epochs, repeat, name, size, **where)[0]
    medians = {engine: statistics.median(t) for engine, t in times.items()}
    for engine, median in medians.items():
        print(f"{name:<9} {engine:<10} epoch median {1e3 * median:8.1f} ms")
    return medians["lightning"] / medians["loop"]


def worker(devices: int, epochs: int, name: str, size: int) -> None:
    """One fit as ``devices`` DDP processes; rank 0 prints samples/s as JSON."""
    seconds, num_data = fit_epochs(
        "lightning", epochs, 0, name, size, device="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto"
    )
    if is_main_process():
        # every process sees each point once per epoch between them (up to devices - 1 sit out)
        print(json.dumps({"devices": devices, "samples_per_s": num_data * len(seconds) / sum(seconds)}))


def throughput(names, epochs: int, size: int) -> None:
    cores = os.cpu_count() or 1
    print("| workload | processes | threads each | training samples / s |")
    print("|---|---|---|---|")
    for name in names:
        for devices in (1, 2):
            threads = max(1, cores // devices)
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            command = [sys.executable, __file__, "--worker", str(devices), "--epochs", str(epochs),
                       "--workloads", name, "--size", str(size)]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(f"| {name} | {devices} | {threads} | {row['samples_per_s']:.0f} |", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workloads", default="digits,twobirds")
    parser.add_argument("--size", type=int, default=10**9, help="at most this many training points")
    parser.add_argument("--ddp", action="store_true", help="also 1 process against 2 DDP processes")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # one DDP fit (see throughput)
    args = parser.parse_args(argv)
    if args.worker:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        worker(args.worker, args.epochs, args.workloads.split(",")[0], args.size)
        return
    torch.set_num_threads(args.threads)
    if args.ddp:
        throughput(args.workloads.split(","), args.epochs, args.size)
    for name in args.workloads.split(","):
        ratio = overhead(name, args.repeats, args.epochs, args.size)
        print(f"lightning_over_loop_epoch_ratio[{name}] {ratio:.3f}", flush=True)


if __name__ == "__main__":
    main()

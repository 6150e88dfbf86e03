"""The benchmarks run (a few steps, no timing asserted: speed targets live in bench/ only)."""

import runpy
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_svi_overhead_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "svi_overhead.py"))["main"](["--steps", "2", "--warmup", "1", "--threads", "1"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("svi_over_torch_ratio ")


def test_sampling_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "sampling.py"))["main"](["--repeats", "1", "--num-samples", "5", "--threads", "1"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("predictive_over_direct_ratio ")

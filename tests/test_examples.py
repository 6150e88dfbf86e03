"""Every example and the main job run end to end with tiny settings, through their CLIs."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
#: extra flags that make an example tiny, beyond --epochs 1
TINY = {
    "twobirds.py": ["--num-train", "1024", "--num-samples", "4"],
    "quadrants.py": ["--num-importance", "3", "--limit", "200"],
    "image_vae.py": ["--num-importance", "3", "--limit", "200"],
    "image_penalties.py": ["--perception-epochs", "1", "--num-importance", "3", "--limit", "300"],
    "own_inverse_problem.py": [
        "--num-simulations",
        "300",
        "--truths",
        "40",
        "--mcmc-steps",
        "3",
        "--truncated-rounds",
        "2",
    ],
}


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(script, tmp_path, monkeypatch):
    argv = [str(script), "--epochs", "1", "--out", str(tmp_path), *TINY.get(script.name, [])]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit:  # scripts that wrap the CLI end with its exit code
        assert exit.code == 0
    assert list(tmp_path.glob("*.png"))


@pytest.mark.slow
def test_main_job_runs_as_a_module(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pyro_cvae", "--epochs", "1", "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    metrics = json.loads(result.stdout)
    assert metrics["epochs"] == 1 and "elbo" in metrics["test"]
    assert (tmp_path / "samples_per_digit.png").is_file() and (tmp_path / "checkpoint.pt").is_file()

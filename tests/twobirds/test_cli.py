import json

import arviz as az
import pytest
import torch

from pyro_cvae.cli import main
from pyro_cvae.twobirds.data import generate, load_challenge, save_challenge


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_fit_sample_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    assert (
        main(
            [
                "twobirds",
                "fit",
                "--functions",
                "data2",
                "--out",
                str(run),
                "--num-train",
                "512",
                "--epochs",
                "1",
                "--batch-size",
                "128",
                "--components",
                "2",
                "--forward-term",
                "--quiet",
            ]
        )
        == 0
    )
    x, y = generate(3, "data2", seed=9)
    save_challenge(tmp_path / "conditions.pt", x, y)
    assert (
        main(
            [
                "twobirds",
                "sample",
                "--checkpoint",
                str(run),
                "--conditions",
                str(tmp_path / "conditions.pt"),
                "--num-samples",
                "4",
                "--out",
                str(tmp_path / "submission.pt"),
            ]
        )
        == 0
    )
    x_out, y_out = load_challenge(tmp_path / "submission.pt")
    assert x_out.shape == (12, 50, 2) and torch.equal(y_out[4:8], y[1].expand(4, 50, 2))
    # the same draw streamed to an ArviZ NetCDF file, condition chunk by condition chunk
    command = ["twobirds", "sample", "--checkpoint", str(run), "--conditions", str(tmp_path / "conditions.pt")]
    assert main([*command, "--num-samples", "4", "--out", str(tmp_path / "draws.nc")]) == 0
    draws = az.from_netcdf(tmp_path / "draws.nc")
    assert draws.posterior_predictive["x"].shape == (1, 4, 3, 50, 2)
    assert torch.equal(torch.from_numpy(draws.constant_data["y"].values), y)
    capsys.readouterr()
    assert (
        main(["twobirds", "evaluate", "--checkpoint", str(run), "--num-conditions", "3", "--num-samples", "2,5"]) == 0
    )
    printed = capsys.readouterr().out
    metrics = json.loads(printed[: printed.rindex("}") + 1])
    assert set(metrics) == {"2 samples", "5 samples", "calibration"} and 0 <= metrics["5 samples"]["pass_rate"] <= 1
    for name in (
        "report.md",
        "metrics.json",
        "solutions.png",
        "reproduced_y.png",
        "coverage.png",
        "sbc_ranks.png",
        "training_curves.png",
    ):
        assert (run / "report" / name).stat().st_size > 0


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["twobirds", "fit", "--functions", "cos(x0, x1)", "--out", str(tmp_path), "--quiet"]) == 2
    assert "two comma-separated" in capsys.readouterr().err
    assert main(["twobirds", "evaluate", "--checkpoint", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err

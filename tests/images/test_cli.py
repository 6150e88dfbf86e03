import json

import pytest

from pyro_cvae.cli import main


def _json(text):
    return json.loads(text[text.index("{") : text.rindex("}") + 1])


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_fit_and_evaluate_make_the_figures(tmp_path, capsys):
    run = tmp_path / "vae"
    assert (
        main(["images", "fit", "--variant", "vae", "--epochs", "2", "--limit", "300", "--out", str(run), "--quiet"])
        == 0
    )
    assert (run / "reconstructions_over_epochs.png").is_file()
    capsys.readouterr()
    assert main(["images", "evaluate", "--checkpoint", str(run), "--num-importance", "5"]) == 0
    metrics = _json(capsys.readouterr().out)
    assert metrics["test_iwae_k5"] >= metrics["test_elbo"] - 1.0 and metrics["num_test"] == 30
    for name in (
        "samples.png",
        "reconstructions.png",
        "latent_map.png",
        "interpolation.png",
        "class_average_samples.png",
        "training_curves.png",
        "metrics.json",
    ):
        assert (run / "evaluation" / name).stat().st_size > 0


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_class_conditional_conv_cvae(tmp_path, capsys):
    run = tmp_path / "cvae"
    assert (
        main(
            [
                "images",
                "fit",
                "--variant",
                "cvae",
                "--network",
                "conv2",
                "--epochs",
                "1",
                "--limit",
                "200",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["images", "evaluate", "--checkpoint", str(run), "--num-importance", "2"]) == 0
    assert (run / "evaluation" / "samples.png").is_file()
    metrics = _json(capsys.readouterr().out)
    assert 0 <= metrics["sample_class_fidelity"] <= 1 and metrics["sample_sharpness"] > 0


def test_quadrants_command(tmp_path, capsys):
    assert (
        main(
            [
                "images",
                "quadrants",
                "--visible",
                "2",
                "--epochs",
                "1",
                "--num-importance",
                "3",
                "--limit",
                "200",
                "--out",
                str(tmp_path),
                "--quiet",
            ]
        )
        == 0
    )
    metrics = _json(capsys.readouterr().out)
    assert set(metrics["2"]) == {"baseline_nll", "cvae_elbo_nll", "cvae_iwae_nll", "epochs", "seconds"}
    assert metrics["2"]["epochs"] == 1
    assert (tmp_path / "completions_2_visible.png").is_file()


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    assert main(["images", "fit", "--dataset", f"mnist:{tmp_path}", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_fit_with_seed_003_penalties(tmp_path, capsys):
    run = tmp_path / "sharp"
    assert (
        main(
            [
                "images",
                "fit",
                "--variant",
                "vae",
                "--network",
                "conv2",
                "--likelihood",
                "laplace",
                "--penalty",
                "perceptual=1",
                "--penalty",
                "total-variation=0.5",
                "--perception-epochs",
                "2",
                "--epochs",
                "1",
                "--limit",
                "200",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((run / "perception.json").read_text())["num_classes"] == 10
    assert "total-variation: 0.5" in (run / "config.yaml").read_text()
    assert main(["images", "evaluate", "--checkpoint", str(run), "--num-importance", "2"]) == 0


def test_bad_penalty_arguments_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["images", "fit", "--penalty", "perceptual", "--out", str(tmp_path)])
    assert "expected NAME=WEIGHT" in capsys.readouterr().err
    assert main(["images", "fit", "--penalty", "blur=1", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 2
    assert "unknown penalty 'blur'" in capsys.readouterr().err
    # total variation needs the image shape that the mlp network flattens away
    assert (
        main(["images", "fit", "--penalty", "total-variation=1", "--epochs", "1", "--out", str(tmp_path), "--quiet"])
        == 2
    )
    assert "needs image-shaped x" in capsys.readouterr().err

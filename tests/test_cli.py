import json

import torch

import pyro_cvae as pc
from pyro_cvae.cli import main
from pyro_cvae.data import save_tensors


def test_variants_lists_every_variant_and_component(capsys):
    assert main(["variants"]) == 0
    out = capsys.readouterr().out
    for name in [
        "vae",
        "cvae",
        "cvae-xonly",
        "cvae-deep",
        "dual-encoder",
        "conditional-mixture",
        "encoder-x",
        "continuous-bernoulli",
        "conv3-bn",
        "jit-mean-field",
    ]:
        assert f"  {name} " in out


def test_fit_from_a_config_file_then_sample(tmp_path, capsys):
    x = torch.rand(64, 5)
    y = x[:, :2].clone()
    save_tensors(tmp_path / "train.pt", x, y)
    (tmp_path / "cfg.yaml").write_text(
        "model:\n  variant: dual-encoder\n  latent_dim: 2\n  hidden_sizes: [16]\n"
        "  prior_hidden_sizes: [16]\n"
        f"fit:\n  epochs: 2\n  batch_size: 16\n  progress: false\ndata:\n  source: {tmp_path / 'train.pt'}\n"
    )
    out = tmp_path / "run"
    assert main(["fit", "--config", str(tmp_path / "cfg.yaml"), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epoch"] == 1 and "train_elbo" in summary
    assert (out / "checkpoint.pt").is_file() and (out / "training_curves.png").is_file()
    assert "dual-encoder" in (out / "config.yaml").read_text()

    # the run can be continued: the checkpoint in --out keeps the optimizer state
    assert main(["fit", "--config", str(tmp_path / "cfg.yaml"), "--out", str(out), "--epochs", "3", "--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["epoch"] == 2

    save_tensors(tmp_path / "cond.pt", torch.zeros(3, 5), y[:3])
    assert (
        main(
            [
                "sample",
                "--checkpoint",
                str(out),
                "--conditions",
                str(tmp_path / "cond.pt"),
                "--num-samples",
                "4",
                "--out",
                str(tmp_path / "s.pt"),
            ]
        )
        == 0
    )
    saved = torch.load(tmp_path / "s.pt")  # plain tensors, in pc.sample's order
    assert saved["samples"].shape == (4, 3, 5) and torch.equal(saved["conditions"], y[:3])
    assert main(["sample", "--checkpoint", str(out), "--out", str(tmp_path / "t.pt")]) == 2
    assert "error: this model is conditional: give --conditions" in capsys.readouterr().err


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    (tmp_path / "cfg.yaml").write_text("model:\n  prior: wishart\n")
    assert main(["fit", "--config", str(tmp_path / "cfg.yaml"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyro-cvae: error: unknown prior 'wishart'; valid choices are")
    assert main(["sample", "--checkpoint", str(tmp_path / "none"), "--out", "x.pt"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err


def test_every_fitting_command_takes_the_same_grammar(tmp_path):
    """--config, --resume, --seed, --epochs, --batch-size, --lr, --quiet: fit, images fit, twobirds fit."""
    config = tmp_path / "small.yaml"
    config.write_text(
        "model: {hidden_sizes: [8], prior_hidden_sizes: [8], latent_dim: 2, mixture_components: 2}\n"
        "fit: {eval_train_size: 32}\n"
    )
    common = ["--config", str(config), "--seed", "2", "--batch-size", "32", "--lr", "0.01", "--quiet"]
    commands = {
        "fit": ["fit", "--data", "digits"],
        "images": ["images", "fit", "--limit", "100"],
        "twobirds": ["twobirds", "fit", "--num-train", "128"],
    }
    for name, command in commands.items():
        out = tmp_path / name
        assert main([*command, *common, "--epochs", "1", "--out", str(out)]) == 0, name
        assert main([*command, *common, "--epochs", "2", "--out", str(out), "--resume"]) == 0, name
        run = pc.Run.load(out)
        assert run.fit_config.learning_rate == 0.01 and run.fit_config.batch_size == 32, name
        assert run.fit_config.seed == 2 and run.model.config.seed == 2, name
        assert run.model.config.hidden_sizes == (8,), name  # the config file's model section
        assert run.history.epoch == [0, 1], name  # the second call continued the first

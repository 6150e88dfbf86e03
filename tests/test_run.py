"""Run: one object, one folder, one read of the checkpoint; old checkpoints still load."""

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.train.checkpoint import read_checkpoint

from .conftest import tiny


def test_a_run_round_trips_configs_history_and_metadata(tmp_path):
    model = pc.build("dual-encoder", x_shape=(3,), y_shape=(2,), **tiny())
    x, y = torch.rand(32, 3), torch.rand(32, 2)
    history = pc.fit(
        model,
        (x, y),
        epochs=2,
        progress=False,
        checkpoint_dir=str(tmp_path),
        metadata={"app": "mine", "source": "unit test"},
    )
    run = pc.Run.load(tmp_path)
    assert run.metadata == {"app": "mine", "source": "unit test"} and run.app == "mine"
    assert run.history.to_dict() == history.to_dict() and run.fit_config.epochs == 2
    # fit may have left the model on a GPU; Run.load puts it on the CPU
    assert all(torch.equal(a, b.cpu()) for a, b in zip(run.model.state_dict().values(), model.state_dict().values()))


def test_a_version_1_checkpoint_loads_with_its_side_file_as_metadata(tmp_path):
    model = pc.build("vae", x_shape=(3,), **tiny())
    pc.save_checkpoint(tmp_path, model)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    state["version"] = 1
    del state["metadata"], state["cuda_rng_states"]
    state["model_config"].pop("seed")  # version 1 configs had no seed
    torch.save(state, tmp_path / "checkpoint.pt")
    (tmp_path / "images.yaml").write_text("data: {dataset: digits, size: 32, image_shape: [1, 8, 8]}\n")
    run = pc.Run.load(tmp_path)
    assert run.app == "images" and run.metadata["image_shape"] == [1, 8, 8]


def test_a_newer_format_and_mismatched_weights_fail_clearly(tmp_path):
    model = pc.build("vae", x_shape=(3,), **tiny())
    pc.save_checkpoint(tmp_path, model)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    torch.save({**state, "version": 99}, tmp_path / "newer.pt")
    with pytest.raises(ValueError, match="newer pyro_cvae.*upgrade"):
        read_checkpoint(tmp_path / "newer.pt")
    state["model_config"]["latent_dim"] = 5
    torch.save(state, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="do not fit the model its config describes"):
        pc.Run.load(tmp_path / "other.pt")

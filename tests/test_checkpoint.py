import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.train.checkpoint import read_checkpoint

from .conftest import tiny, write_code_pickle


def fitted(tmp_path):
    x, y = torch.randn(40, 4), torch.randn(40, 2)
    model = pc.build(
        "dual-encoder", x_shape=(4,), y_shape=(2,), likelihood="laplace", learn_likelihood_scale=True, **tiny()
    )
    # on the CPU: the test compares draws bit for bit with the reloaded (CPU) model
    pc.fit(model, (x, y), epochs=2, checkpoint_dir=str(tmp_path), progress=False, device="cpu")
    return model, y


def test_round_trip_reproduces_samples_exactly(tmp_path):
    model, y = fitted(tmp_path)
    loaded = pc.load_model(tmp_path)
    assert loaded.config == model.config and not loaded.training
    torch.manual_seed(5)
    a = pc.sample(model, y[:3], num_samples=10)
    torch.manual_seed(5)
    b = pc.sample(loaded, y[:3], num_samples=10)
    assert torch.equal(a, b)
    assert [p for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []  # atomic write left nothing


def test_checkpoint_holds_optimizer_history_and_fit_config(tmp_path):
    fitted(tmp_path)
    state = read_checkpoint(tmp_path / "checkpoint.pt")
    assert state["epoch"] == 1 and len(state["history"]["train_elbo"]) == 2
    assert state["optimizer_state"]["state"] and state["fit_config"]["epochs"] == 2


def test_missing_corrupt_and_foreign_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        pc.load_model(tmp_path / "nothing")
    (tmp_path / "corrupt.pt").write_bytes(b"\x00not a checkpoint")
    with pytest.raises(ValueError, match="is not a readable pyro_cvae checkpoint"):
        pc.load_model(tmp_path / "corrupt.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a pyro_cvae checkpoint"):
        pc.load_model(tmp_path / "other.pt")


def test_a_checkpoint_holding_code_is_refused(tmp_path):
    write_code_pickle(tmp_path / "evil.pt", lambda code: {"format": "pyro_cvae.train.checkpoint", "x": code})
    with pytest.raises(ValueError, match="is not a readable pyro_cvae checkpoint"):
        pc.load_model(tmp_path / "evil.pt")


def test_custom_components_must_be_passed_again(tmp_path):
    def forward(x):
        return 2 * x

    model = pc.build("cvae", x_shape=(2,), y_shape=(2,), forward_model=forward, **tiny())
    pc.save_checkpoint(tmp_path, model)
    with pytest.raises(ValueError, match=r"built with custom \['forward_model'\]; pass them"):
        pc.load_model(tmp_path)
    assert pc.load_model(tmp_path, forward_model=forward).forward_model is forward

import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import pyro_cvae as pc
from pyro_cvae.train.tensorboard import TensorBoardLogger

from .conftest import tiny


def _events(folder):
    events = EventAccumulator(str(folder))
    events.Reload()
    return events


def test_fit_logs_every_epoch_of_the_history(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    model = pc.build("vae", **tiny(x_shape=(4,)))
    history = pc.fit(
        model, x[:48], epochs=3, batch_size=16, val_data=x[48:], tensorboard_dir=str(tmp_path), progress=False
    )
    events = _events(tmp_path)
    for tag, values in (
        ("train/elbo", history.train_elbo),
        ("val/kl", history.val_kl),
        ("train/loss", history.train_loss),
    ):
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == history.epoch
        assert [e.value for e in logged] == pytest.approx(values, rel=1e-6)
    assert "train/penalty" not in events.Tags()["scalars"]  # a model without penalties has none


def test_images_fit_logs_penalty_and_reconstructions(tmp_path):
    from pyro_cvae.images.train import fit_images

    board = tmp_path / "board"
    fit_images(
        "digits",
        "vae",
        network="conv2",
        limit=150,
        epochs=2,
        penalties={"total-variation": 0.1},
        tensorboard_dir=str(board),
        progress=False,
    )
    events = _events(board)
    assert len(events.Scalars("val/penalty")) == 2
    assert len(events.Images("reconstructions")) == 2


def test_missing_tensorboard_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails
    with pytest.raises(ImportError, match=r'pip install "pyro_cvae\[tensorboard\]"'):
        TensorBoardLogger(tmp_path)

import pytest

import pyro_cvae as pc
from pyro_cvae.twobirds.train import fit_twobirds, functions_of

from ..conftest import tiny


def test_fit_saves_a_run_that_reloads(tmp_path):
    run = fit_twobirds(
        "sin(31*x0 + 17*x1), cos(23*x0 + 41*x1)",
        out=tmp_path,
        num_train=256,
        num_val=64,
        model_overrides=tiny(mixture_components=2),
        epochs=2,
        batch_size=64,
        progress=False,
    )
    assert len(run.history) == 2 and not run.model.training
    again = pc.Run.load(tmp_path)
    assert functions_of(again) == "sin(31*x0 + 17*x1), cos(23*x0 + 41*x1)"
    assert again.model.config.decoder == "lines" and again.model.config.prior == "conditional-mixture"
    assert again.history.to_dict() == run.history.to_dict() and again.fit_config.epochs == 2
    assert not (tmp_path / "twobirds.yaml").exists()  # one folder, one checkpoint: no side files


def test_a_run_of_another_app_is_refused(tmp_path):
    model = pc.build("vae", x_shape=(3,), **tiny())
    pc.Run(model, metadata={"app": "images"}).save(tmp_path)
    with pytest.raises(ValueError, match="made by 'images', not by 'twobirds'"):
        functions_of(pc.Run.load(tmp_path))

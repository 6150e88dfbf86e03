import pyro_cvae as pc
from pyro_cvae.twobirds.train import fit_twobirds, functions_of_run

from ..conftest import tiny


def test_fit_saves_a_run_that_reloads(tmp_path):
    model, history = fit_twobirds(
        "sin(31*x0 + 17*x1), cos(23*x0 + 41*x1)", out=tmp_path, num_train=256, num_val=64,
        model_overrides=tiny(mixture_components=2), epochs=2, batch_size=64, progress=False,
    )
    assert len(history) == 2 and not model.training
    assert functions_of_run(tmp_path) == "sin(31*x0 + 17*x1), cos(23*x0 + 41*x1)"
    again = pc.load_model(tmp_path)
    assert again.config.decoder == "lines" and again.config.prior == "conditional-mixture"

import arviz as az
import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.diagnostics import to_inference_data

from ..conftest import tiny


@pytest.fixture
def digits_model():
    x, y, _ = pc.data.load_digits_data()
    return pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), likelihood="bernoulli", **tiny()), x[:12], y[:12]


def test_groups_shapes_and_arviz_functions(digits_model):
    model, x, y = digits_model
    idata = to_inference_data(model, x, y, num_samples=30)
    assert set(idata.groups()) == {
        "posterior",
        "posterior_predictive",
        "log_likelihood",
        "prior_predictive",
        "observed_data",
        "constant_data",
    }
    assert idata.posterior["z"].dims == ("chain", "draw", "obs", "z_dim")
    assert idata.posterior["z"].shape == (1, 30, 12, 3)
    assert idata.posterior_predictive["x"].shape == (1, 30, 12, 64)
    assert idata.log_likelihood["x"].shape == (1, 30, 12)
    assert set(idata.posterior_predictive["x"].values.flatten().tolist()) <= {0.0, 1.0}  # Bernoulli draws
    # the log-likelihood is that of the observed x under each posterior draw
    assert (idata.log_likelihood["x"].values < 0).all()
    assert az.summary(idata, var_names=["z"]).shape[0] == 12 * 3
    assert az.hdi(idata.posterior_predictive, hdi_prob=0.9)["x"].shape == (12, 64, 2)
    with pytest.warns(UserWarning):  # few draws: arviz warns about k̂, but computes
        assert az.loo(idata).elpd_loo < 0


def test_prior_predictive_only_from_y(digits_model):
    model, _, y = digits_model
    idata = to_inference_data(model, y=y, num_samples=5)
    assert set(idata.groups()) == {"prior_predictive", "constant_data"}


def test_vae_and_errors():
    vae = pc.build("vae", x_shape=(4,), **tiny())
    assert to_inference_data(vae, batch_size=3, num_samples=2).prior_predictive["x"].shape == (1, 2, 3, 4)
    with pytest.raises(ValueError, match="give x"):
        to_inference_data(vae)
    with pytest.raises(ValueError, match="x"):
        to_inference_data(vae, x=torch.full((2, 4), float("nan")))

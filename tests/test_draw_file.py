"""Draws written to an ArviZ NetCDF file as they are drawn (pyro_cvae.sampling.draw_file)."""

import arviz as az
import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.cli import main
from pyro_cvae.data import save_tensors
from pyro_cvae.sampling.draw_file import DrawFile

from .conftest import tiny


def model():
    return pc.build("cvae", x_shape=(4,), y_shape=(2,), seed=0, **tiny()).eval()


def test_the_file_holds_what_pc_sample_draws_with_the_same_seed(tmp_path):
    m, y = model(), torch.randn(5, 2)
    torch.manual_seed(3)
    in_memory = pc.sample(m, y, num_samples=250, chunk_size=100)
    torch.manual_seed(3)
    path = pc.sample_to_netcdf(m, y, tmp_path / "draws.nc", num_samples=250, chunk_size=100)
    idata = az.from_netcdf(path)
    x = idata.posterior_predictive["x"]
    assert x.dims == ("chain", "draw", "condition", "x_dim_0") and x.shape == (1, 250, 5, 4)
    assert torch.equal(torch.from_numpy(x.values[0]), in_memory)
    assert torch.equal(torch.from_numpy(idata.constant_data["y"].values), y)
    # one condition is read without the rest: xarray slices the file lazily
    assert torch.equal(torch.from_numpy(x.isel(chain=0, condition=2).values), in_memory[:, 2])


def test_a_vae_and_a_custom_draw_are_written_too(tmp_path):
    vae = pc.build("vae", x_shape=(4,), seed=0, **tiny()).eval()
    path = pc.sample_to_netcdf(vae, None, tmp_path / "vae.nc", num_samples=7, batch_size=3)
    assert az.from_netcdf(path).posterior_predictive["x"].shape == (1, 7, 3, 4)
    m, y = model(), torch.randn(5, 2)
    calls = []

    def means(model, part, count):  # a stand-in for e.g. the Two Birds posterior draw
        calls.append(part.shape[0])
        return pc.sample(model, part, count, mean=True)

    path = pc.draw_to_netcdf(m, y, tmp_path / "custom.nc", 6, means, conditions_per_chunk=2)
    assert calls == [2, 2, 1]
    assert az.from_netcdf(path).posterior_predictive["x"].shape == (1, 6, 5, 4)


def test_an_interrupted_draw_leaves_no_file_and_bad_paths_are_refused(tmp_path):
    with pytest.raises(RuntimeError, match="interrupted"):
        with DrawFile(tmp_path / "half.nc", 10, 2, (4,)):
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"path must name a NetCDF file ending in \.nc, got '.*draws\.pt'"):
        pc.sample_to_netcdf(model(), torch.randn(2, 2), tmp_path / "draws.pt", num_samples=3)
    with pytest.raises(ValueError, match="num_samples must be"):
        pc.sample_to_netcdf(model(), torch.randn(2, 2), tmp_path / "d.nc", num_samples=0)


def test_the_cli_streams_draws_to_netcdf(tmp_path):
    m = model()
    pc.Run(m).save(tmp_path / "run")
    y = torch.randn(3, 2)
    save_tensors(tmp_path / "y.pt", y)
    command = ["sample", "--checkpoint", str(tmp_path / "run"), "--conditions", str(tmp_path / "y.pt")]
    assert main([*command, "--num-samples", "9", "--out", str(tmp_path / "draws.nc")]) == 0
    x = az.from_netcdf(tmp_path / "draws.nc").posterior_predictive["x"]
    assert x.shape == (1, 9, 3, 4) and bool(x.notnull().all())
    assert main([*command, "--num-samples", "9", "--out", str(tmp_path / "draws.nc")]) == 2  # no silent overwrite

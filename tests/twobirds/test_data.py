import pytest
import torch
from torch.utils.data import TensorDataset

from pyro_cvae.twobirds.data import generate, load_challenge, save_challenge
from pyro_cvae.twobirds.functions import ForwardFunctions

from ..conftest import check_refuses_unreadable_files


def test_generate_is_seeded_and_consistent_with_the_functions():
    x, y = generate(64, "data1", seed=3)
    again, _ = generate(64, "data1", seed=3)
    assert x.shape == y.shape == (64, 50, 2) and torch.equal(x, again)
    assert torch.allclose(ForwardFunctions("data1")(x.double()).float(), y, atol=1e-5)
    assert (x[:, 1:, 0] <= x[:, :-1, 0]).all() and (x[:, 1:, 1] >= x[:, :-1, 1]).all()


def test_challenge_file_round_trip(tmp_path):
    x, y = generate(5, seed=0)
    save_challenge(tmp_path / "set.pt", x, y)
    raw = torch.load(tmp_path / "set.pt")  # plain tensors: torch's default (weights_only) load reads it
    assert raw["x"].shape == (5, 1, 50, 2) and raw["y"].shape == (5, 1, 50, 2)
    x2, y2 = load_challenge(tmp_path / "set.pt")
    assert torch.equal(x2, x) and torch.equal(y2, y)
    # the challenge's own files are TensorDatasets: they still load
    torch.save(TensorDataset(x.float().unsqueeze(1), y.float().unsqueeze(1)), tmp_path / "challenge.pt")
    x3, y3 = load_challenge(tmp_path / "challenge.pt")
    assert torch.equal(x3, x) and torch.equal(y3, y)


def test_conditions_only_file(tmp_path):
    _, y = generate(3, seed=0)
    torch.save(y.unsqueeze(1), tmp_path / "y.pt")
    x, y2 = load_challenge(tmp_path / "y.pt")
    assert x is None and torch.equal(y2, y)


def test_bad_files_get_clear_errors(tmp_path):
    check_refuses_unreadable_files(load_challenge, tmp_path, "could not be read")
    torch.save(TensorDataset(torch.zeros(2, 50, 3), torch.zeros(2, 50, 3)), tmp_path / "shape.pt")
    with pytest.raises(ValueError, match=r"\(N, 1, n_points, 2\)"):
        load_challenge(tmp_path / "shape.pt")
    nan = torch.zeros(2, 1, 50, 2)
    nan[0, 0, 0, 0] = float("nan")
    torch.save(TensorDataset(nan, nan), tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="NaN"):
        load_challenge(tmp_path / "nan.pt")


def test_generate_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num must be a positive int"):
        generate(0)

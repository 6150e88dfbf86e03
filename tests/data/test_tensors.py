import pytest
import torch
from torch.utils.data import TensorDataset

from pyro_cvae.data import as_xy, load_digits_data, load_tensors, save_tensors, split_indices

from ..conftest import check_refuses_unreadable_files


def test_as_xy_accepts_the_usual_forms():
    x, y = torch.zeros(3, 2), torch.ones(3, 1)
    for data in (x, (x, y), [x, y], {"x": x, "y": y}, TensorDataset(x, y)):
        got_x, got_y = as_xy(data)
        assert got_x is x
        assert got_y is None if data is x else got_y is y
    with pytest.raises(KeyError, match="needs the key 'x'"):
        as_xy({"inputs": x})


def test_tensor_files_round_trip(tmp_path):
    x, y = torch.randn(4, 1, 50, 2), torch.randn(4, 1, 50, 2)
    save_tensors(tmp_path / "d.pt", x, y)
    got_x, got_y = load_tensors(tmp_path / "d.pt")
    assert torch.equal(got_x, x) and torch.equal(got_y, y)


def test_missing_corrupt_and_code_holding_files_are_refused(tmp_path):
    check_refuses_unreadable_files(load_tensors, tmp_path, "could not be read as tensors")


def test_embedded_digits():
    x, y, labels = load_digits_data()
    assert x.shape == (1797, 64) and y.shape == (1797, 10) and x.min() == 0 and x.max() == 1
    assert torch.equal(y.argmax(-1), labels)
    assert load_digits_data(image=True)[0].shape == (1797, 1, 8, 8)


def test_split_indices_is_a_seeded_partition():
    train, test = split_indices(10, test_size=3)
    assert len(test) == 3 and sorted(torch.cat([train, test]).tolist()) == list(range(10))
    assert torch.equal(split_indices(10, 3)[1], test) and not torch.equal(split_indices(10, 3, seed=1)[1], test)
    with pytest.raises(ValueError, match="test_size must be between 1 and 9, got 10"):
        split_indices(10, test_size=10)

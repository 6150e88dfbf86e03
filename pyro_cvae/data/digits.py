"""scikit-learn's embedded 8x8 digits (1,797 images): data that always works, no download."""

from __future__ import annotations

from typing import Tuple

import torch
from torch.nn.functional import one_hot


def load_digits_data(image: bool = False) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(x, y, labels)``: pixels scaled to [0, 1], one-hot labels, integer labels.

    x is ``(1797, 64)``, or ``(1797, 1, 8, 8)`` with ``image=True`` (for conv networks).
    """
    from sklearn.datasets import load_digits  # imported here: only this loader needs sklearn

    digits = load_digits()
    x = torch.tensor(digits.images / 16.0, dtype=torch.float32)
    x = x.unsqueeze(1) if image else x.reshape(len(x), -1)
    labels = torch.tensor(digits.target)
    return x, one_hot(labels, 10).float(), labels

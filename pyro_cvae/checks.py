"""Input validation with errors that name the argument and what was expected."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np
import torch


def as_shape(value, name: str, allow_empty: bool = False) -> Tuple[int, ...]:
    """Turn ``64`` or ``[1, 8, 8]`` into a tuple of positive ints (``()`` only if ``allow_empty``)."""
    if isinstance(value, int):
        value = (value,)
    try:
        shape = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a sequence of ints, got {value!r}") from None
    if (not shape and not allow_empty) or any(v <= 0 for v in shape) or any(int(v) != v for v in value):
        what = "a sequence" if allow_empty else "a non-empty sequence"
        raise ValueError(f"{name} must be {what} of positive ints, got {value!r}")
    return shape


def as_tensor(value):
    """A numpy array as a tensor (sharing its memory where numpy allows, else a copy); anything
    else unchanged. Data may come as arrays wherever it may come as tensors, as in scikit-learn,
    sbi and Lightning."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value) if value.flags.writeable else torch.tensor(value)
    return value


def check_tensor(
    value,
    name: str,
    event_shape: Optional[Sequence[int]] = None,
    allow_batchless: bool = False,
) -> torch.Tensor:
    """Check that ``value`` is a finite floating tensor (or numpy array) shaped
    ``(batch, *event_shape)``.

    Returns the tensor unchanged (never a copy; an array as a tensor sharing its memory), so
    nothing the caller holds is modified. With ``allow_batchless`` a single example shaped
    ``event_shape`` gets a batch dim of 1. Any floating dtype passes: the model's functions cast
    to its float type (``CVAE.prepare_data``, ``fit``).
    """
    value = as_tensor(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise TypeError(
            f"{name} must have a floating dtype (e.g. torch.float32), got {value.dtype}; convert it with {name}.float()"
        )
    if event_shape is not None:
        event_shape = tuple(event_shape)
        if allow_batchless and tuple(value.shape) == event_shape:
            value = value.unsqueeze(0)
        if value.dim() != len(event_shape) + 1 or tuple(value.shape[1:]) != event_shape:
            raise ValueError(
                f"{name} must have shape (batch, {', '.join(map(str, event_shape))}), got {tuple(value.shape)}"
            )
    if not torch.isfinite(value).all():
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return value


def check_positive_int(value, name: str) -> int:
    """``value`` if it is an int > 0 (a bool is not), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def check_non_negative_int(value, name: str) -> int:
    """``value`` if it is an int >= 0 (a bool is not), else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value

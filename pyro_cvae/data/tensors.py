"""Turn what users pass as data into ``(x, y)`` tensors, and read/write tensor files safely."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Optional, Tuple, Union

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..checks import as_tensor
from ..errors import refuse_to_replace

XY = Tuple[torch.Tensor, Optional[torch.Tensor]]


def as_xy(data, name: str = "data") -> XY:
    """Accept ``x``, ``(x, y)``, ``{"x": x, "y": y}`` or a ``TensorDataset(x[, y])``, of tensors
    or numpy arrays (arrays become tensors sharing their memory)."""
    x, y = _as_pair(data, name)
    return as_tensor(x), as_tensor(y)


def _as_pair(data, name: str):
    if isinstance(data, (torch.Tensor, np.ndarray)):
        return data, None
    if isinstance(data, TensorDataset):
        data = tuple(data.tensors)
    if isinstance(data, dict):
        if "x" not in data:
            raise KeyError(f"{name} as a dict needs the key 'x' (and 'y' for a CVAE), got {sorted(data)}")
        return data["x"], data.get("y")
    if isinstance(data, (tuple, list)) and len(data) in (1, 2):
        return data[0], (data[1] if len(data) == 2 else None)
    raise TypeError(
        f"{name} must be a tensor x, a pair (x, y), a dict with 'x' and 'y', or a TensorDataset; "
        f"got {type(data).__name__}"
    )


def split_indices(n: int, test_size: int, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """A shuffled ``(train, test)`` split of ``range(n)``, the same for the same seed.

    It uses its own generator, so it neither depends on nor disturbs the global RNG.
    """
    if not 0 < test_size < n:
        raise ValueError(f"test_size must be between 1 and {n - 1}, got {test_size!r}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:-test_size], order[-test_size:]


def load_tensors(path: Union[str, Path]) -> XY:
    """Load ``(x, y)`` from a file: ``.pt`` (a dict with ``x`` and ``y``, a TensorDataset, a
    tuple or a tensor, as ``torch.save`` wrote it), ``.npy`` (x alone) or ``.npz`` (arrays ``x``
    and ``y``, or the first two arrays in the order saved).

    Nothing in a file can run code: ``.pt`` files load with ``weights_only=True`` (only
    ``TensorDataset`` allow-listed), numpy files with ``allow_pickle=False``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    if path.suffix in (".npy", ".npz"):
        return _load_numpy(path)
    try:
        with torch.serialization.safe_globals([TensorDataset]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        raise ValueError(
            f"data file {str(path)!r} could not be read as tensors saved by torch.save "
            f"(a TensorDataset, dict, tuple or tensor): {why_unreadable(error)}"
        ) from None
    return as_xy(data, name=f"the content of {path}")


def _load_numpy(path: Path) -> XY:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as error:  # object arrays (which need pickle), truncated or foreign files
        if "allow_pickle" in str(error):
            raise ValueError(
                f"numpy file {str(path)!r} holds Python objects (an object array), which are never loaded because "
                "they could run code; save numeric arrays instead (np.save(path, x.astype('float32')))"
            ) from None
        raise ValueError(f"numpy file {str(path)!r} could not be read: {type(error).__name__}: {error}") from None
    if isinstance(data, np.ndarray):
        return as_tensor(data), None
    with data:
        names = list(data.files)
        if "x" in names:
            return as_tensor(data["x"]), (as_tensor(data["y"]) if "y" in names else None)
        if not names or len(names) > 2:
            raise ValueError(f"numpy file {str(path)!r} must hold arrays 'x' and 'y' (or two arrays), got {names}")
        return as_tensor(data[names[0]]), (as_tensor(data[names[1]]) if len(names) == 2 else None)


def why_unreadable(error: BaseException) -> str:
    """What a failed ``torch.load(..., weights_only=True)`` means, in one line for a person."""
    text = str(error)
    if "weights_only" in text or "Unsupported global" in text or "Unsupported operand" in text:
        return "it holds pickled Python objects, which are never loaded because they could run code"
    # anything else torch.load trips over (EOFError, UnpicklingError, zip errors) is a damaged file
    return "it is not a complete torch file (empty, truncated or corrupt)"


def save_tensors(
    path: Union[str, Path], x: torch.Tensor, y: Optional[torch.Tensor] = None, overwrite: bool = False
) -> None:
    """Write ``{"x": x, "y": y}`` (plain tensors, so the default ``torch.load`` reads it) atomically:
    a crash never leaves half a file. An existing file is replaced only with ``overwrite``."""
    refuse_to_replace(path, overwrite)
    tensors = {"x": x.detach().cpu()}
    if y is not None:
        tensors["y"] = y.detach().cpu()
    atomic_save(tensors, path)


def atomic_save(obj, path: Union[str, Path]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    atomic_write(path, lambda file: torch.save(obj, file))


def atomic_write(path: Union[str, Path], write: Callable[[BinaryIO], object]) -> None:
    """``write(file)`` into a temporary file beside ``path``, then rename it over ``path``: a
    crash at any moment leaves either the old file or the new one, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

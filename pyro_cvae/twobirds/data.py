"""Two Birds data: generate pairs ``(x, y)`` from the prior, and read/write the challenge's files.

In memory, x and y are ``(N, n_points, 2)``. The challenge's files hold a
``TensorDataset(x, y)`` of ``(N, 1, n_points, 2)`` tensors; ``load_challenge`` and
``save_challenge`` convert at the boundary and load with ``weights_only=True``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple, Union

import torch

from ..checks import check_positive_int
from ..data.tensors import load_tensors, save_tensors
from .functions import ForwardFunctions
from .lines import N_POINTS, lines_from_endpoints, sample_endpoints


def generate(
    num: int,
    functions: Union[str, ForwardFunctions] = "original",
    seed: int = 0,
    n_points: int = N_POINTS,
    noise_scale: float = 0.0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """``num`` pairs ``(x, y)`` of shape ``(num, n_points, 2)`` with x from the challenge prior,
    and y = F(x) + ε, ε ~ N(0, noise_scale²) (noise-free by default, like the challenge).

    y is computed in float64 and stored as float32, like the challenge's files. The same seed gives
    the same data, without touching the global random state.
    """
    check_positive_int(num, "num")
    forward = ForwardFunctions(functions)
    generator = torch.Generator().manual_seed(seed)
    if not noise_scale >= 0:
        raise ValueError(f"noise_scale must be >= 0, got {noise_scale!r}")
    x = lines_from_endpoints(sample_endpoints(num, generator, dtype=torch.float64), n_points)
    y = forward(x)
    if noise_scale > 0:
        y = y + noise_scale * torch.randn(y.shape, generator=generator, dtype=y.dtype)
    return x.float(), y.float()


def _as_points(tensor: torch.Tensor, name: str, path) -> torch.Tensor:
    if tensor.dim() == 4 and tensor.shape[1] == 1:
        tensor = tensor[:, 0]
    if tensor.dim() != 3 or tensor.shape[-1] != 2:
        raise ValueError(
            f"{name} in {str(path)!r} must have shape (N, 1, n_points, 2) or (N, n_points, 2), "
            f"got {tuple(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} in {str(path)!r} holds NaN or infinite values")
    return tensor.float()


def load_challenge(path: Union[str, Path]) -> Tuple[Optional[torch.Tensor], torch.Tensor]:
    """Read a challenge file: ``(x, y)`` as ``(N, n_points, 2)``; x is None if the file has only y.

    A file holding a single tensor is read as conditions y (what ``twobirds sample`` needs).
    """
    first, second = load_tensors(path)
    if second is None:
        return None, _as_points(first, "y", path)
    x, y = _as_points(first, "x", path), _as_points(second, "y", path)
    if x.shape != y.shape:
        raise ValueError(f"x and y in {str(path)!r} differ in shape: {tuple(x.shape)} and {tuple(y.shape)}")
    return x, y


def save_challenge(path: Union[str, Path], x: torch.Tensor, y: torch.Tensor, overwrite: bool = False) -> None:
    """Write ``{"x": x, "y": y}`` with the challenge's ``(N, 1, n_points, 2)`` shapes, atomically
    (``load_challenge`` reads it, and the challenge's own ``TensorDataset`` files); an existing
    file is replaced only with ``overwrite``."""
    if x.shape != y.shape or x.dim() != 3 or x.shape[-1] != 2:
        raise ValueError(f"x and y must both be (N, n_points, 2), got {tuple(x.shape)} and {tuple(y.shape)}")
    save_tensors(path, x.float().unsqueeze(1), y.float().unsqueeze(1), overwrite=overwrite)

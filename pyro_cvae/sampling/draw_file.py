"""Draws larger than memory: written to a NetCDF file chunk by chunk, as they are drawn.

The file is what ArviZ writes for an ``InferenceData`` (NetCDF-4, one HDF5 group per
InferenceData group), so ``arviz.from_netcdf(path)`` opens it lazily and ``xarray`` reads any
slice without loading the rest::

    pc.sample_to_netcdf(model, y, "draws.nc", num_samples=1_000_000)
    idata = az.from_netcdf("draws.nc")            # nothing is read yet
    x = idata.posterior_predictive["x"]           # dims (chain, draw, condition, x_dim_0, ...)
    x.isel(condition=3).mean("draw")              # reads condition 3 only

Groups: ``posterior_predictive`` holds ``x`` (one chain), ``constant_data`` holds the conditions
``y`` (dims ``condition, y_dim_0, ...``). Data are stored in HDF5 chunks of one condition by up
to a thousand draws, so reading one condition, or the first draws of all, touches little else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from ..checks import check_positive_int
from ..errors import refuse_to_replace
from ..model import CVAE
from .predictive import plan_chunks, sample

PathLike = Union[str, Path]
#: ``draw(model, y_chunk, num_samples) -> (num_samples, len(y_chunk), *x_shape)``
DrawFunction = Callable[[CVAE, torch.Tensor, int], torch.Tensor]


class DrawFile:
    """An open NetCDF file of ``(num_samples, num_conditions, *x_shape)`` draws, filled by slices.

    ``with DrawFile(path, num_samples, num_conditions, x_shape, y) as file:
    file.write(x, draws=slice(a, b), conditions=slice(c, d))``. The file is written under a
    temporary name and renamed into place on a clean exit: an interrupted draw leaves no file
    that looks complete. An existing file at ``path`` is replaced only with ``overwrite``.
    """

    def __init__(
        self,
        path: PathLike,
        num_samples: int,
        num_conditions: int,
        x_shape: Sequence[int],
        y: Optional[torch.Tensor] = None,
        overwrite: bool = False,
    ):
        import h5netcdf

        self.path = Path(path)
        if self.path.suffix != ".nc":
            raise ValueError(f"path must name a NetCDF file ending in .nc, got {str(path)!r}")
        refuse_to_replace(self.path, overwrite, "draw file")
        self._partial = self.path.with_name(f".{self.path.name}.partial")
        self._file = h5netcdf.File(self._partial, "w")
        x_dims = tuple(f"x_dim_{i}" for i in range(len(x_shape)))
        predictive = self._file.create_group("posterior_predictive")
        sizes = {"chain": 1, "draw": num_samples, "condition": num_conditions, **dict(zip(x_dims, x_shape))}
        predictive.dimensions.update(sizes)
        for name, size in sizes.items():  # coordinates, as ArviZ writes them
            predictive.create_variable(name, (name,), data=np.arange(size))
        chunks = (1, min(num_samples, 1000), 1, *x_shape)
        self.x = predictive.create_variable("x", ("chain", "draw", "condition", *x_dims), "f4", chunks=chunks)
        predictive.attrs["created_by"] = "pyro_cvae"
        if y is not None:
            constant = self._file.create_group("constant_data")
            y_dims = tuple(f"y_dim_{i}" for i in range(y.dim() - 1))
            constant.dimensions.update({"condition": num_conditions, **dict(zip(y_dims, y.shape[1:]))})
            constant.create_variable("y", ("condition", *y_dims), "f4", data=y.detach().float().cpu().numpy())

    def write(self, x: torch.Tensor, draws: slice = slice(None), conditions: slice = slice(None)) -> None:
        """Store ``x`` ``(draws, conditions, *x_shape)`` at those positions."""
        self.x[0, draws, conditions] = x.detach().float().cpu().numpy()

    def __enter__(self) -> "DrawFile":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self._file.close()
        if kind is None:
            self._partial.replace(self.path)
        else:
            self._partial.unlink(missing_ok=True)


def save_netcdf(path: PathLike, draws: torch.Tensor, y: Optional[torch.Tensor] = None, overwrite: bool = False) -> Path:
    """Draws already in memory, ``(num_samples, num_conditions, *x_shape)``, as the same file."""
    with DrawFile(path, draws.shape[0], draws.shape[1], draws.shape[2:], y, overwrite) as file:
        file.write(draws)
    return Path(path)


def sample_to_netcdf(
    model: CVAE,
    y: Optional[torch.Tensor],
    path: PathLike,
    num_samples: int = 100,
    batch_size: int = 1,
    mean: bool = False,
    chunk_size: Optional[int] = None,
    overwrite: bool = False,
) -> Path:
    """``pc.sample`` written to a NetCDF file as it is drawn (module docstring), for draws that
    do not fit in memory: memory stays that of one chunk of ``chunk_size`` samples (default:
    about a million values of x) whatever ``num_samples`` is. Returns the file's path."""
    # no lower bound on the number of passes: the output is on disk, not beside the chunk in memory
    y, chunk = plan_chunks(model, y, num_samples, batch_size, chunk_size, passes_at_least=1)
    rows = y.shape[0] if y is not None else batch_size
    with DrawFile(path, num_samples, rows, model.x_shape, y, overwrite) as file:
        for start in range(0, num_samples, chunk):
            count = min(chunk, num_samples - start)
            # one Predictive pass per chunk (chunk_size=count): nothing beyond it is held
            x = sample(model, y, count, batch_size=batch_size, mean=mean, chunk_size=count)
            file.write(x, draws=slice(start, start + count))
    return Path(path)


def draw_to_netcdf(
    model: CVAE,
    y: torch.Tensor,
    path: PathLike,
    num_samples: int,
    draw: DrawFunction,
    conditions_per_chunk: int = 25,
    overwrite: bool = False,
) -> Path:
    """Any per-condition ``draw`` (e.g. the Two Birds posterior draw) written to a NetCDF file
    ``conditions_per_chunk`` conditions at a time. Returns the file's path."""
    check_positive_int(num_samples, "num_samples")
    check_positive_int(conditions_per_chunk, "conditions_per_chunk")
    with DrawFile(path, num_samples, y.shape[0], model.x_shape, y, overwrite) as file:
        for start in range(0, y.shape[0], conditions_per_chunk):
            part = y[start : start + conditions_per_chunk]
            file.write(draw(model, part, num_samples), conditions=slice(start, start + part.shape[0]))
    return Path(path)

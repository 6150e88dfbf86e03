"""Every training loop stops, with one clear error (``TrainingDiverged``), when its numbers stop
being numbers: the loss or a parameter NaN or infinite. (Not the KL divergence.)"""

from __future__ import annotations

from typing import Iterable, List

import torch

from ..errors import TrainingDiverged

__all__ = ["TrainingDiverged", "check_epoch_finite"]


def check_epoch_finite(
    losses: List[torch.Tensor],
    parameters: Iterable[torch.Tensor],
    epoch: int,
    what: str = "training",
    advice: str = "Try a smaller learning_rate, set clip_norm (e.g. 10.0), or a larger likelihood_scale",
) -> None:
    """Raise ``TrainingDiverged`` if any step's loss or any parameter is NaN or infinite.

    Called once per epoch, not per step: one device synchronization, and a loop saves nothing of
    an epoch before this check, so the last checkpoint on disk stays the last good one.
    """
    stacked = torch.stack([loss.detach().reshape(()) for loss in losses]) if losses else torch.zeros(0)
    finite = torch.isfinite(stacked)
    if bool(finite.all()) and all(bool(torch.isfinite(p).all()) for p in parameters):
        return
    step = int((~finite).nonzero()[0]) if not bool(finite.all()) else len(losses) - 1
    raise TrainingDiverged(
        f"{what} diverged at epoch {epoch}, step {step}: the loss or the parameters became NaN or infinite. "
        f"{advice}; the last checkpoint written (if any) is from the last good epoch"
    )

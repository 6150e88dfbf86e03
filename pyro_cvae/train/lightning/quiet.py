"""``lightning_quiet``: Lightning's warnings that do not apply to an SVI fit, turned off."""

from __future__ import annotations

import contextlib
import logging
import warnings
from typing import Iterator

__all__ = ["lightning_quiet"]


@contextlib.contextmanager
def lightning_quiet(quiet: bool) -> Iterator[None]:
    """Warnings that do not apply here off; with ``quiet``, Lightning's info lines too."""
    logger = logging.getLogger("pytorch_lightning")
    level = logger.level
    with warnings.catch_warnings():
        # every process logs the same, already averaged figures: no need for Lightning to sync them
        warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
        # the batches are slices of tensors in memory: worker processes would only add copies
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*treespec.*LeafSpec.*")  # inside Lightning 2.6
        # the module's own batch hand-over is meant to replace Lightning's (see SVIModule)
        warnings.filterwarnings("ignore", message=".*overridden `transfer_batch_to_device`.*")
        # sample_distributed gathers its draws itself rather than through predict's return value
        warnings.filterwarnings("ignore", message="predict returned None")
        warnings.filterwarnings("ignore", message="Encountered NaN", category=UserWarning)
        if quiet:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            logger.setLevel(level)

"""Images: the seeds' VAEs and CVAEs on image data, and the quadrant-completion task."""

from .quadrant_benchmark import run_quadrant_benchmark
from .quadrants import BaselineNet, fit_baseline, join_quadrants, quadrant_mask, split_quadrants

__all__ = [
    "run_quadrant_benchmark",
    "BaselineNet",
    "fit_baseline",
    "join_quadrants",
    "quadrant_mask",
    "split_quadrants",
]

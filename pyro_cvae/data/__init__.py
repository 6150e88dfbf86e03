"""Data: normalizing user data to (x, y) tensors, safe file loading, embedded data sets."""

from .digits import load_digits_data
from .tensors import as_xy, load_tensors, save_tensors, split_indices

__all__ = ["as_xy", "load_tensors", "save_tensors", "split_indices", "load_digits_data"]

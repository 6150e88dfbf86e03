"""Data: normalizing user data to (x, y) tensors, safe file loading, embedded data sets."""

from .digits import load_digits_data
from .images import load_cifar10, load_idx, load_image_folder, load_images, load_mnist
from .tensors import as_xy, load_tensors, save_tensors, split_indices

__all__ = [
    "as_xy",
    "load_tensors",
    "save_tensors",
    "split_indices",
    "load_digits_data",
    "load_images",
    "load_idx",
    "load_mnist",
    "load_cifar10",
    "load_image_folder",
]

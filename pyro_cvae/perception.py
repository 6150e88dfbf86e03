"""The small classifier behind the perceptual penalty, and its training.

Seed 003 compares a VAE's output with its input through the inner layers of a network trained
to tell the image classes apart. ``FeatureTrunk`` is that network without its last layer;
``fit_perception`` trains it with a temporary linear head on labelled images and loads it into a
model's ``perceptual`` penalty (see ``pyro_cvae.penalties``).
"""

from __future__ import annotations

import math
from typing import Dict, Sequence

import torch
from torch import nn
from torch.nn.functional import cross_entropy
from tqdm.auto import tqdm

from .batches import shuffled_batches
from .checks import check_tensor
from .data.tensors import split_indices
from .divergence import check_epoch_finite
from .seeding import seeded

#: channel widths of the conv blocks (images) and sizes of the dense blocks (anything else)
CONV_WIDTHS = (8, 16, 32)
DENSE_SIZES = (256, 128)


class FeatureTrunk(nn.Module):
    """Feature layers of a small classifier.

    Images ``(channels, height, width)`` go through conv3x3-BN-GELU-maxpool blocks, as many of
    ``CONV_WIDTHS`` as the image size allows; other shapes are flattened into Linear-GELU
    blocks. The embedding concatenates every block's output, the k-th divided by k, so coarse
    layers count less per feature than fine ones (seed 003's weighting).
    """

    def __init__(self, x_shape: Sequence[int]):
        super().__init__()
        self.x_shape = tuple(x_shape)
        blocks = []
        if len(self.x_shape) == 3:
            channels, size = self.x_shape[0], min(self.x_shape[1:])
            for width in CONV_WIDTHS:
                if size < 2:
                    break
                blocks.append(
                    nn.Sequential(
                        nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.GELU(), nn.MaxPool2d(2)
                    )
                )
                channels, size = width, size // 2
        else:
            features = math.prod(self.x_shape)
            for width in DENSE_SIZES:
                blocks.append(nn.Sequential(nn.Linear(features, width), nn.GELU()))
                features = width
        self.blocks = nn.ModuleList(blocks)
        with torch.no_grad():
            self.last_features = self._outputs(torch.zeros(2, *self.x_shape))[-1].shape[-1]

    def _outputs(self, images: torch.Tensor):
        h = images if len(self.x_shape) == 3 else images.flatten(images.dim() - len(self.x_shape))
        outputs = []
        for block in self.blocks:
            h = block(h)
            outputs.append(h.flatten(1))
        return outputs

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([out / k for k, out in enumerate(self._outputs(images), start=1)], dim=-1)

    def last(self, images: torch.Tensor) -> torch.Tensor:
        """The deepest block's output, what the classification head reads."""
        return self._outputs(images)[-1]


def fit_perception(
    model,
    x: torch.Tensor,
    labels: torch.Tensor,
    epochs: int = 20,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> Dict[str, float]:
    """Train the classifier of ``model``'s ``perceptual`` penalty on labelled data, in place.

    ``x``: ``(n, *x_shape)`` images as the model sees them; ``labels``: ``(n,)`` class indices.
    A tenth of the data is held out to report the classifier's accuracy, which the caller should
    look at: features of a classifier that learned nothing make a meaningless penalty.
    Returns ``{"train_accuracy", "val_accuracy", "num_classes"}``.
    """
    penalties = getattr(model, "penalties", None)
    if penalties is None or "perceptual" not in penalties:
        raise ValueError("the model has no 'perceptual' penalty; build it with penalties={'perceptual': weight}")
    check_tensor(x, "x", model.x_shape)
    if labels.dtype not in (torch.int32, torch.int64) or labels.shape != (x.shape[0],):
        raise ValueError(
            f"labels must be an integer tensor of shape ({x.shape[0]},), got "
            f"{labels.dtype} of shape {tuple(labels.shape)}"
        )
    if labels.min() < 0:
        raise ValueError(
            "labels must be class indices >= 0: the perceptual penalty trains a classifier, so it "
            "needs labelled images (for a folder: one sub-folder per class)"
        )
    num_classes = int(labels.max()) + 1
    if num_classes < 2:
        raise ValueError("labels hold a single class; a classifier needs at least two to learn features")

    device = model.device
    with seeded(seed):  # training the classifier leaves the caller's RNG alone
        trunk = FeatureTrunk(model.x_shape).to(device)
        head = nn.Linear(trunk.last_features, num_classes).to(device)
        optimizer = torch.optim.Adam([*trunk.parameters(), *head.parameters()], lr=learning_rate)
        x, labels = x.to(device), labels.to(device)
        train_idx, val_idx = split_indices(len(x), max(1, len(x) // 10), seed)
        for epoch in tqdm(range(epochs), disable=not progress, desc="perception", unit="epoch"):
            trunk.train()
            losses = []
            for batch in shuffled_batches(len(train_idx), batch_size):
                idx = train_idx[batch]
                optimizer.zero_grad(set_to_none=True)
                loss = cross_entropy(head(trunk.last(x[idx])), labels[idx])
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
            check_epoch_finite(
                losses,
                [*trunk.parameters(), *head.parameters()],
                epoch,
                "the perceptual classifier's training",
                "Try a smaller learning_rate",
            )

    trunk.eval()
    with torch.no_grad():
        accuracy = {
            name: float((head(trunk.last(x[idx])).argmax(-1) == labels[idx]).float().mean())
            for name, idx in (("train_accuracy", train_idx), ("val_accuracy", val_idx))
        }
    penalties["perceptual"].load_trunk(trunk)
    return {**accuracy, "num_classes": num_classes}

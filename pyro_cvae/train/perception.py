"""``fit_perception``: train the classifier of a model's perceptual penalty.

Seed 003's penalty compares images through the features of a classifier
(``pyro_cvae.components.perception.FeatureTrunk``); this trains that classifier with a temporary
linear head on labelled images, before the VAE is fitted, and loads it into the penalty.
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn
from torch.nn.functional import cross_entropy
from tqdm.auto import tqdm

from ..checks import check_tensor
from ..components.perception import FeatureTrunk
from ..data.tensors import split_indices
from ..seeding import seeded
from .batches import shuffled_batches
from .finite import check_epoch_finite


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

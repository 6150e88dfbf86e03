"""How good do a class-conditional model's samples look? Two numbers a likelihood does not give.

- ``class_fidelity``: draw images for each class y from p(x | y) and ask an independent
  classifier (multinomial logistic regression on the training pixels, a different model family
  from the perceptual penalty's conv net, so the score is not the penalty grading itself) which
  class it sees. 1.0: every sample shows the digit it was asked for; 1/classes: chance.
- ``sharpness``: total variation of the samples over that of held-out images. Blurry samples
  score well below 1; seed 003's penalties aim to move it (TV towards smoother, perceptual
  towards data-like edges).
"""

from __future__ import annotations

from typing import Dict

import numpy as np
import torch

from ..components.penalties import total_variation
from ..sampling.predictive import sample

#: the logistic regression sees at most this many training images (it is a yardstick, not a model)
MAX_CLASSIFIER_IMAGES = 5000


def independent_classifier(x: torch.Tensor, labels: torch.Tensor, seed: int = 0):
    """A scikit-learn logistic regression on flattened pixels."""
    from sklearn.linear_model import LogisticRegression

    keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:MAX_CLASSIFIER_IMAGES]
    classifier = LogisticRegression(max_iter=500, C=1.0)
    return classifier.fit(x[keep].flatten(1).cpu().numpy(), labels[keep].cpu().numpy())


@torch.no_grad()
def sample_quality(
    model,
    train_x: torch.Tensor,
    train_labels: torch.Tensor,
    test_x: torch.Tensor,
    image_shape,
    per_class: int = 50,
    seed: int = 0,
) -> Dict[str, float]:
    """``{"class_fidelity", "sharpness"}`` of E[x | z, y] for z ~ p(z | y), ``per_class`` per class.

    ``model`` must be class-conditional with one-hot y; images are reshaped to ``image_shape``
    ``(channels, height, width)`` for the total variation.
    """
    if model.y_shape is None or len(model.y_shape) != 1:
        raise ValueError("sample_quality needs a class-conditional model with one-hot y of shape (classes,)")
    num_classes = model.y_shape[0]
    classifier = independent_classifier(train_x, train_labels, seed)
    y = torch.eye(num_classes)
    torch.manual_seed(seed)
    images = sample(model, y, num_samples=per_class, mean=True).cpu()  # (per_class, classes, *x_shape)
    predicted = classifier.predict(images.reshape(per_class * num_classes, -1).numpy())
    wanted = np.tile(np.arange(num_classes), per_class)
    sample_tv = total_variation(images.reshape(-1, *image_shape), len(image_shape)).mean()
    data_tv = total_variation(test_x.reshape(-1, *image_shape).cpu(), len(image_shape)).mean()
    return {"class_fidelity": float((predicted == wanted).mean()), "sharpness": float(sample_tv / data_tv)}

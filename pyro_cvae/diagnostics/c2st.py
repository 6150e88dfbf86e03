"""Classifier two-sample test (C2ST): can a classifier tell two sets of draws apart?

0.5 accuracy: it cannot (the draws look alike); 1.0: it always can. sbibm (Lueckmann et al.
2021) scores posteriors this way against reference draws for one observation, and this is its
protocol: both sets z-scored by the reference's mean and spread, an MLP with two hidden layers of
10 × dim units (scikit-learn's ``MLPClassifier``, Adam), 5-fold cross-validated accuracy.
"""

from __future__ import annotations

import numpy as np
import torch

from ..checks import as_tensor

__all__ = ["c2st"]


def c2st(draws, reference, folds: int = 5, seed: int = 1) -> float:
    """Cross-validated accuracy of a classifier telling ``draws`` ``(n, D)`` from ``reference``
    ``(m, D)``; 0.5 is the best a posterior can score. Takes a minute for 10,000 draws a side
    on two cores; fewer draws give a noisier, upward-biased score."""
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.neural_network import MLPClassifier

    draws, reference = (as_tensor(t).double() for t in (draws, reference))
    if draws.dim() != 2 or reference.dim() != 2 or draws.shape[1] != reference.shape[1]:
        raise ValueError(
            f"draws and reference must be (n, D) and (m, D), got {tuple(draws.shape)}, {tuple(reference.shape)}"
        )
    loc, scale = reference.mean(0), reference.std(0).clamp_min(1e-12)
    data = torch.cat([(reference - loc) / scale, (draws - loc) / scale]).numpy()
    target = np.concatenate([np.zeros(len(reference)), np.ones(len(draws))])
    width = 10 * draws.shape[1]
    classifier = MLPClassifier(hidden_layer_sizes=(width, width), max_iter=10000, solver="adam", random_state=seed)
    scores = cross_val_score(classifier, data, target, cv=KFold(folds, shuffle=True, random_state=seed))
    return float(np.mean(scores))

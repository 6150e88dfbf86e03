"""CVAE against the deterministic baseline on quadrant completion (Pyro's CVAE tutorial protocol).

y is the visible quadrants of a digit, x the hidden ones. For each number of visible quadrants:
fit the baseline (x̂ = σ(MLP(y)), binary cross-entropy) and a dual-encoder CVAE (prior network
r_θ1(z | y), recognition network q_φ(z | x, y), Bernoulli decoder r_θ2(x | z, y)) on the same
training digits, both stopping early on a validation split carved from the training digits,
and score every test digit by the negative log-likelihood of its hidden pixels: the baseline's
BCE, and for the CVAE the negative ELBO and the tighter importance-weighted estimate
-log p(x | y) ≈ -log (1/K) Σ_k p(x, z_k | y) / q(z_k | x, y) with K samples. Only the
IWAE is an estimate of the CVAE's NLL; the negative ELBO is an upper bound of it.

Protocols (``PROTOCOLS``):

- ``digits``: the sizes this package uses on the 8×8 digits (latent 8, MLPs of 256, batch 64,
  patience 10);
- ``pyro-tutorial``: the network sizes and schedule of Pyro's CVAE example (MLPs of 500 and
  500, a 200-dimensional latent, batch 128, learning rate 1e-3, at most 101 epochs, early
  stopping with patience 3), for 28×28 MNIST.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Dict, Optional, Sequence, Tuple

import torch

from ..build import build
from ..data.tensors import split_indices
from ..diagnostics.importance import iwae_log_likelihood
from ..sampling.evaluate import elbo_terms
from ..train.loop import fit
from .quadrants import BaselineNet, fit_baseline, split_quadrants


@dataclass(frozen=True)
class QuadrantProtocol:
    """Network sizes and schedule, shared by the baseline and the CVAE."""

    latent_dim: int
    hidden_sizes: Tuple[int, ...]
    batch_size: int
    patience: int
    epochs: int
    learning_rate: float = 1e-3

    def cvae_settings(self) -> Dict[str, object]:
        return dict(
            latent_dim=self.latent_dim,
            hidden_sizes=self.hidden_sizes,
            prior_hidden_sizes=self.hidden_sizes,
            likelihood="bernoulli",
        )


PROTOCOLS: Dict[str, QuadrantProtocol] = {
    "digits": QuadrantProtocol(latent_dim=8, hidden_sizes=(256, 256), batch_size=64, patience=10, epochs=200),
    "pyro-tutorial": QuadrantProtocol(latent_dim=200, hidden_sizes=(500, 500), batch_size=128, patience=3, epochs=101),
}


def default_test_size(num_images: int) -> int:
    """300 test images (the digits protocol), or a fifth of a smaller set."""
    return min(300, max(1, num_images // 5))


def protocol_named(name: str, epochs: Optional[int] = None) -> QuadrantProtocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown quadrant protocol {name!r}; choose one of: {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[name]
    return protocol if epochs is None else replace(protocol, epochs=epochs)


def run_quadrant_benchmark(
    images: torch.Tensor,
    num_visible: Sequence[int] = (1, 2, 3),
    epochs: Optional[int] = None,
    num_importance: int = 1000,
    test_size: Optional[int] = None,
    seed: int = 0,
    progress: bool = False,
    protocol: str = "digits",
    test_images: Optional[torch.Tensor] = None,
) -> Dict[int, Dict[str, object]]:
    """``{k: {"baseline_nll", "cvae_elbo_nll", "cvae_iwae_nll", "epochs", "seconds", "model",
    "baseline"}}``, the NLLs in nats per test digit.

    The test digits are ``test_images`` when given (e.g. mnist5k's own test split), else
    ``test_size`` digits held out from ``images`` by ``seed``. Validation, for the early stopping
    of both, is a tenth of the training digits; the test digits are never seen in training.
    ``epochs`` overrides the protocol's maximum.
    """
    settings = protocol_named(protocol, epochs)
    if test_images is None:
        train_idx, test_idx = split_indices(len(images), test_size or default_test_size(len(images)), seed)
        train_images, test_images = images[train_idx], images[test_idx]
    else:
        train_images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))]
    num_val = max(1, len(train_images) // 10)
    results = {}
    for k in num_visible:
        started = time.perf_counter()
        x, y = split_quadrants(train_images, k)
        train, val = (x[num_val:], y[num_val:]), (x[:num_val], y[:num_val])
        test = split_quadrants(test_images, k)
        baseline = fit_baseline(
            BaselineNet(y.shape[1], x.shape[1], settings.hidden_sizes),
            train,
            val,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            patience=settings.patience,
            seed=seed,
        )
        model = build(
            "dual-encoder", x_shape=(x.shape[1],), y_shape=(y.shape[1],), seed=seed, **settings.cvae_settings()
        )
        history = fit(
            model,
            train,
            val_data=val,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            patience=settings.patience,
            seed=seed,
            progress=progress,
        )
        with torch.no_grad():
            baseline_nll = baseline.nll(*test).mean().item()
        torch.manual_seed(seed)
        iwae = iwae_log_likelihood(model, *test, num_samples=num_importance, chunk=min(num_importance, 250))
        results[k] = {
            "baseline_nll": baseline_nll,
            "cvae_elbo_nll": -elbo_terms(model, *test)["elbo"],
            "cvae_iwae_nll": -iwae.mean().item(),
            "epochs": len(history),
            "seconds": time.perf_counter() - started,
            "model": model,
            "baseline": baseline,
        }
    return results

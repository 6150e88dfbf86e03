"""The main job: a dual-encoder CVAE on scikit-learn's embedded digits, y = the digit's label.

It fits with SVI, reports the held-out ELBO, draws samples of every digit from the learned prior
network r_θ1(z | y), and writes a checkpoint and figures. Nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict

import torch

from .build import build
from .data.digits import load_digits_data
from .data.tensors import split_indices
from .figures import plot_history, plot_image_grid
from .sampling.evaluate import elbo_terms
from .sampling.predictive import sample
from .train.loop import fit
from .train.run import Run
from .train.run_folder import RunFolder


def run_digits_demo(
    out: str = "runs/digits", epochs: int = 40, progress: bool = True, seed: int = 0, overwrite: bool = False
) -> Dict:
    """Fit, score and draw; ``out`` gets the run, ``metrics.json`` and the figures. A folder that
    already holds a run is refused unless ``overwrite`` (see ``pyro_cvae.train.run_folder``)."""
    with RunFolder(out, overwrite=overwrite, can_resume=False):
        return _run(Path(out), epochs, progress, seed)


def _run(out_dir: Path, epochs: int, progress: bool, seed: int) -> Dict:
    x, y, _ = load_digits_data()
    train, test = split_indices(len(x), test_size=300)  # the same held-out digits every run
    model = build(
        "dual-encoder",
        x_shape=(64,),
        y_shape=(10,),
        latent_dim=8,
        likelihood="continuous-bernoulli",
        hidden_sizes=(256, 256),
        seed=seed,
    )
    history = fit(
        model,
        (x[train], y[train]),
        val_data=(x[test], y[test]),
        epochs=epochs,
        batch_size=64,
        learning_rate=1e-3,
        seed=seed,
        progress=progress,
    )
    # the RunFolder above refused a folder holding a run unless overwrite was asked for
    Run(model, history=history, metadata={"data": "digits"}).save(out_dir, overwrite=True)

    # eight samples per digit from p(x | y) = ∫ p(x | z, y) r(z | y) dz, noise-free means
    one_hot = torch.eye(10)
    images = sample(model, one_hot, num_samples=8, mean=True).reshape(8, 10, 8, 8).transpose(0, 1)
    figures = [out_dir / "training_curves.png", out_dir / "samples_per_digit.png"]
    plot_history(history, figures[0])
    plot_image_grid(images, figures[1], "samples from p(x | digit)", row_labels=[str(d) for d in range(10)])
    metrics = {
        "test": elbo_terms(model, x[test], y[test]),
        "train": elbo_terms(model, x[train], y[train]),
        "epochs": len(history),
        "checkpoint": str(out_dir / "checkpoint.pt"),
        "figures": [str(f) for f in figures],
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics

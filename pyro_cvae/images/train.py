"""Fit a VAE or CVAE on an image set and evaluate it with the figures of the seed projects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch
from torch.nn.functional import one_hot

from ..build import build
from ..config import FitConfig
from ..data.images import has_test_split, load_images
from ..data.tensors import split_indices
from ..diagnostics.collapse import latent_usage
from ..diagnostics.importance import iwae_log_likelihood
from ..figures import plot_history, plot_image_grid
from ..sampling.evaluate import elbo_terms, eval_mode
from ..sampling.predictive import reconstruct
from ..train.distributed import is_main_process
from ..train.loop import fit
from ..train.perception import fit_perception
from ..train.run import Run
from ..train.tensorboard import TensorBoardLogger
from . import figures
from .quality import sample_quality

PathLike = Union[str, Path]


def prepare(dataset: str, network: str, conditional: bool, size: int = 32, limit: Optional[int] = None, seed: int = 0):
    """``(x, y, labels, image_shape, train_idx, test_idx)`` for a data set spec.

    A data set with a test split of its own (mnist5k, MNIST, Fashion-MNIST, CIFAR-10) keeps it:
    ``test_idx`` points at its test images (all of them; ``limit`` applies to the training
    ones). Others (the digits, image folders) hold out a tenth, at most 1,000 images, by ``seed``.
    """
    images, labels = load_images(dataset, size=size, limit=limit)
    if has_test_split(dataset):
        test_images, test_labels = load_images(dataset, size=size, train=False)
        train_idx = torch.arange(len(images))
        test_idx = torch.arange(len(images), len(images) + len(test_images))
        images, labels = torch.cat([images, test_images]), torch.cat([labels, test_labels])
    else:
        test_size = max(1, min(1000, len(images) // 10))
        train_idx, test_idx = split_indices(len(images), test_size, seed)
    x = images if network != "mlp" else images.flatten(1)
    num_classes = int(labels.max()) + 1
    y = one_hot(labels.clamp_min(0), num_classes).float() if conditional else None
    return x, y, labels, tuple(images.shape[1:]), train_idx, test_idx


def validation_split(dataset: str, train_idx: torch.Tensor, test_idx: torch.Tensor, seed: int = 0):
    """``(fit_idx, val_idx)``: what ``fit_images`` trains on and scores each epoch with. With a
    test split of its own, the validation digits are a tenth of the training ones (picked by
    ``seed``), so the test images stay unseen until evaluation; otherwise the held-out tenth
    serves both, as in the digits results measured in the README."""
    if not has_test_split(dataset):
        return train_idx, test_idx
    order = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))]
    num_val = max(1, len(order) // 10)
    return order[num_val:], order[:num_val]


def fit_images(
    dataset: str = "digits",
    variant: str = "cvae",
    out: Optional[PathLike] = None,
    network: str = "mlp",
    likelihood: str = "bernoulli",
    latent_dim: int = 8,
    size: int = 32,
    limit: Optional[int] = None,
    seed: int = 0,
    penalties: Optional[Dict[str, float]] = None,
    perception_epochs: int = 20,
    config: Optional[FitConfig] = None,
    resume: bool = False,
    overwrite: bool = False,
    model_overrides: Optional[Dict[str, Any]] = None,
    **fit_overrides,
) -> Run:
    """Train ``variant`` on ``dataset`` (the label is y for conditional variants); returns the
    ``Run`` (the data set's name and image shape in ``run.metadata``). With ``out``: the run
    folder after every epoch (``resume`` continues it, ``overwrite`` replaces a run there),
    training curves and reconstructions of eight test images over the epochs. ``config``
    replaces the default ``FitConfig`` (30 epochs, batch 64) and keywords override it;
    ``model_overrides`` are further ``ModelConfig`` fields.

    ``penalties`` adds seed 003's extra objective terms, e.g. ``{"total-variation": 0.5,
    "perceptual": 1.0}`` (then the objective is no longer an ELBO; see ``pyro_cvae.components.penalties``).
    The perceptual penalty's classifier is first trained for ``perception_epochs`` on the
    training images and their labels. ``tensorboard_dir`` (a fit setting) also logs the
    reconstructions of every epoch as images. The per-epoch validation figures (and early
    stopping, with ``patience``) use ``validation_split``."""
    conditional = variant != "vae"
    x, y, labels, image_shape, train_idx, test_idx = prepare(dataset, network, conditional, size, limit, seed)
    train_idx, val_idx = validation_split(dataset, train_idx, test_idx, seed)
    model = build(
        {
            "variant": variant,
            "x_shape": tuple(x.shape[1:]),
            "y_shape": None if y is None else (y.shape[1],),
            "network": network,
            "likelihood": likelihood,
            "latent_dim": latent_dim,
            "penalties": penalties or {},
            "seed": seed,
            **(model_overrides or {}),
        }
    )
    take = lambda idx: (x[idx], None if y is None else y[idx])  # noqa: E731
    base = config.to_dict() if config is not None else {"epochs": 30, "batch_size": 64, "seed": seed}
    config = FitConfig.from_dict({**base, **fit_overrides}, checkpoint_dir=None if out is None else str(out))
    metadata = {
        "app": "images",
        "dataset": dataset,
        "size": size,
        "limit": limit,
        "seed": seed,
        "image_shape": list(image_shape),
    }
    perception = None
    if "perceptual" in model.penalties:
        perception = fit_perception(
            model, x[train_idx], labels[train_idx], epochs=perception_epochs, seed=seed, progress=config.progress
        )
    watched = take(test_idx[:8])
    snapshots = []
    boards = []  # opened at the first epoch, when it is known which process this is

    def record(epoch, fitted, history):
        snapshots.append(reconstruct(fitted, watched[0], watched[1], num_samples=1, mean=True)[0].cpu())
        if config.tensorboard_dir is not None and is_main_process():
            if not boards:
                boards.append(TensorBoardLogger(config.tensorboard_dir))
            boards[0].log_images("reconstructions", snapshots[-1].reshape(-1, *image_shape), epoch)

    history = fit(
        model,
        take(train_idx),
        config,
        val_data=take(val_idx),
        on_epoch_end=record,
        resume=resume,
        metadata=metadata,
        overwrite=overwrite,
    )
    for board in boards:
        board.close()
    if out is not None and is_main_process():  # under several processes, one writes the figures
        out = Path(out)
        if perception is not None:
            (out / "perception.json").write_text(json.dumps(perception, indent=2))
        plot_history(history, out / "training_curves.png")
        rows = [watched[0]] + [snapshots[i] for i in _spread(len(snapshots), 5)]
        grid = torch.stack([r.reshape(-1, *image_shape) for r in rows])
        labels = ["data"] + [f"epoch {i + 1}" for i in _spread(len(snapshots), 5)]
        plot_image_grid(grid, out / "reconstructions_over_epochs.png", "Reconstructions over epochs", labels)
    return Run(model, config, history, metadata)


def _spread(n: int, k: int):
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(min(n, k))})


def evaluate_images(checkpoint: PathLike, num_importance: int = 100, out: Optional[PathLike] = None) -> Dict:
    """Test ELBO, IWAE log-likelihood, latent usage and the figures, for an ``images fit`` folder;
    for a class-conditional model also the class fidelity and sharpness of its samples
    (``pyro_cvae.images.quality``)."""
    checkpoint = Path(checkpoint)
    run = Run.load(checkpoint).require_app("images")
    model, settings = run.model, run.metadata
    conditional = model.y_shape is not None
    x, y, labels, image_shape, train_idx, test_idx = prepare(
        settings["dataset"], model.config.network, conditional, settings["size"], settings["limit"], settings["seed"]
    )
    xt, yt, lt = x[test_idx], None if y is None else y[test_idx], labels[test_idx]
    torch.manual_seed(0)
    terms = elbo_terms(model, xt, yt)
    iwae = iwae_log_likelihood(model, xt, yt, num_samples=num_importance, chunk=min(num_importance, 200))
    metrics = {
        "test_elbo": terms["elbo"],
        "test_reconstruction": terms["reconstruction"],
        "test_kl": terms["kl"],
        f"test_iwae_k{num_importance}": iwae.mean().item(),
        "latent_usage": latent_usage(model, xt, yt),
        "num_test": len(xt),
    }
    if conditional and bool((labels >= 0).all()):  # class-conditional on labelled images
        quality = sample_quality(model, x[train_idx], labels[train_idx], xt, image_shape)
        metrics.update({f"sample_{k}": v for k, v in quality.items()})
    out = Path(out or checkpoint / "evaluation")
    out.mkdir(parents=True, exist_ok=True)
    with eval_mode(model), torch.no_grad():
        figures.samples_grid(model, image_shape, out / "samples.png", num_classes=None if y is None else y.shape[1])
        figures.reconstructions(
            model, xt[:10], None if yt is None else yt[:10], image_shape, out / "reconstructions.png"
        )
        figures.latent_map(model, xt, yt, lt, out / "latent_map.png")
        figures.interpolation(model, xt[:2], None if yt is None else yt[:2], image_shape, out / "interpolation.png")
        figures.class_average_samples(model, xt, yt, lt, image_shape, out / "class_average_samples.png")
    plot_history(run.history, out / "training_curves.png")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics

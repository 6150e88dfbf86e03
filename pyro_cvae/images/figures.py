"""Figures of the image VAEs (seeds 001, 003, 004): samples, reconstructions, latent maps,
interpolation, class-averaged samples, quadrant completions. Call under ``eval_mode``.

Each returns a ``Figure`` (shown inline in a notebook), saved as ``path`` when given."""

from __future__ import annotations

from typing import Optional

import torch
from matplotlib.figure import Figure

from ..components.latents import point_estimate
from ..figures import PathLike, finish, plot_image_grid, subplots
from ..sampling.predictive import reconstruct, sample


def _images(t: torch.Tensor, shape) -> torch.Tensor:
    """(rows, cols, ...) flat or not -> (rows, cols, *image shape), clipped for display."""
    return t.reshape(*t.shape[:2], *shape).clamp(0, 1).cpu()


def _decode(model, z, y):
    return model.likelihood.mean(model.decoder(z, model.features(y)))


@torch.no_grad()
def samples_grid(
    model, shape, path: Optional[PathLike] = None, num_classes: Optional[int] = None, per_row: int = 8
) -> Figure:
    """Samples from the prior: one row per class for a class-conditional model, else 8 rows."""
    if num_classes:
        xs = sample(model, torch.eye(num_classes, device=model.device), per_row, mean=True)  # (S, C, ...)
        grid, labels = xs.transpose(0, 1), [f"class {c}" for c in range(num_classes)]
    else:
        grid, labels = sample(model, None, per_row * per_row, mean=True).reshape(per_row, per_row, -1), None
    return plot_image_grid(_images(grid, shape), path, "Samples from the prior, E[x | z]", labels)


@torch.no_grad()
def reconstructions(model, x, y, shape, path: Optional[PathLike] = None) -> Figure:
    recon = reconstruct(model, x, y, num_samples=1, mean=True)[0].cpu()
    grid = torch.stack([x.cpu().reshape(len(x), -1), recon.reshape(len(x), -1)])
    return plot_image_grid(_images(grid, shape), path, "Data (top) and reconstructions", ["data", "recon"])


@torch.no_grad()
def latent_map(model, x, y, labels, path: Optional[PathLike] = None, max_points: int = 1000) -> Figure:
    """Posterior means E_q[z | x, y] in 2-d: PCA and t-SNE, coloured by class."""
    from sklearn.manifold import TSNE

    x, labels = x[:max_points], labels[:max_points]
    y = None if y is None else y[:max_points]
    x, y = model.prepare_data(x, y)
    z = point_estimate(model.encoder(x, model.features(y))).cpu()
    centred = z - z.mean(0)
    pca = centred @ torch.linalg.svd(centred, full_matrices=False).Vh[:2].T if z.shape[1] > 1 else centred.repeat(1, 2)
    tsne = TSNE(2, perplexity=min(30, len(z) - 1), init="pca", random_state=0).fit_transform(z.numpy())
    fig, axes = subplots(1, 2, figsize=(9, 4))
    for ax, points, title in ((axes[0], pca.numpy(), "PCA"), (axes[1], tsne, "t-SNE")):
        scatter = ax.scatter(points[:, 0], points[:, 1], c=labels.numpy(), cmap="tab10", s=6)
        ax.set(title=f"{title} of posterior means", xticks=[], yticks=[])
    fig.colorbar(scatter, ax=axes[1], label="class")
    return finish(fig, path)


@torch.no_grad()
def interpolation(model, x_pair, y_pair, shape, path: Optional[PathLike] = None, steps: int = 10) -> Figure:
    """Decode the straight line between the posterior means of two inputs (and their conditions)."""
    x_pair, y_pair = model.prepare_data(x_pair, y_pair)
    z = point_estimate(model.encoder(x_pair, model.features(y_pair)))
    t = torch.linspace(0, 1, steps, device=z.device)[:, None]
    z_path = z[0] * (1 - t) + z[1] * t
    y_path = None if y_pair is None else y_pair[0] * (1 - t) + y_pair[1] * t
    frames = _decode(model, z_path, y_path)
    return plot_image_grid(_images(frames.reshape(1, steps, -1), shape), path, "Latent interpolation")


@torch.no_grad()
def class_average_samples(
    model, x, y, labels, shape, path: Optional[PathLike] = None, per_class: int = 8, spread: float = 0.5
) -> Figure:
    """Seed 001's single-class sampling: z around the average posterior mean of each class."""
    x, y = model.prepare_data(x, y)
    z = point_estimate(model.encoder(x, model.features(y)))
    labels = labels.to(z.device)
    rows, names = [], []
    for c in labels.unique().tolist()[:10]:
        centre = z[labels == c].mean(0)
        draws = centre + spread * torch.randn(per_class, centre.shape[0], device=z.device)
        y_c = None if y is None else y[labels == c][:1].expand(per_class, -1)
        rows.append(_decode(model, draws, y_c).reshape(per_class, -1))
        names.append(f"class {c}")
    return plot_image_grid(_images(torch.stack(rows), shape), path, "Samples around each class's mean posterior", names)


def quadrant_completions(
    inputs, truth, baseline, cvae_samples, path: Optional[PathLike] = None, title: str = "Quadrant completions"
) -> Figure:
    """One row per test image: input (hidden part grey), truth, baseline, then CVAE samples.

    ``inputs``, ``truth``, ``baseline``: ``(n, C, H, W)``; ``cvae_samples``: ``(S, n, C, H, W)``.
    """
    parts = [inputs[:, None], truth[:, None], baseline[:, None], cvae_samples.transpose(0, 1)]
    grid = torch.cat([part.cpu() for part in parts], dim=1)
    return plot_image_grid(grid.clamp(0, 1), path, title)

"""Seed 003's objectives for sharper images, compared on digits: L1, total variation, perceptual.

Fits one class-conditional conv CVAE per objective (the dual-encoder variant by default: its
learned prior r(z | y) knows where each digit's latents lie), all with the Laplace (L1)
likelihood, and adds the total-variation penalty, the perceptual penalty (its classifier is trained first), or
both. The penalties change what training optimizes, so the pure test ELBO and IWAE show what
they cost in likelihood, while class fidelity and sharpness (``pyro_cvae.images.quality``)
show what they buy in the samples. Writes samples of every digit under each objective.

    python examples/image_penalties.py --epochs 40 --out runs/example_penalties
"""

import argparse
import json
from pathlib import Path

import torch

import pyro_cvae as pc
from pyro_cvae.diagnostics import iwae_log_likelihood
from pyro_cvae.figures import plot_image_grid
from pyro_cvae.images.quality import sample_quality
from pyro_cvae.images.train import fit_images, prepare

OBJECTIVES = {
    "L1 only": {},
    "L1 + TV": {"total-variation": 1.0},
    "L1 + perceptual": {"perceptual": 1.0},
    "L1 + TV + perceptual": {"total-variation": 1.0, "perceptual": 1.0},
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--variant", default="dual-encoder", help="a class-conditional variant, e.g. cvae")
    parser.add_argument("--perception-epochs", type=int, default=20)
    parser.add_argument("--num-importance", type=int, default=200, help="K of the IWAE estimate")
    parser.add_argument("--limit", type=int, help="use only the first N digits")
    parser.add_argument("--out", default="runs/example_penalties")
    args = parser.parse_args(argv)

    x, y, labels, image_shape, train_idx, test_idx = prepare("digits", "conv2", conditional=True, limit=args.limit)
    results, rows = {}, []
    for name, penalties in OBJECTIVES.items():
        model = fit_images(
            "digits",
            args.variant,
            network="conv2",
            likelihood="laplace",
            limit=args.limit,
            penalties=penalties,
            epochs=args.epochs,
            perception_epochs=args.perception_epochs,
            progress=False,
        ).model
        torch.manual_seed(0)
        xt, yt = x[test_idx], y[test_idx]
        quality = sample_quality(model, x[train_idx], labels[train_idx], xt, image_shape)
        results[name] = {
            "test_elbo": round(pc.elbo_terms(model, xt, yt)["elbo"], 2),
            f"test_iwae_k{args.num_importance}": round(
                iwae_log_likelihood(model, xt, yt, num_samples=args.num_importance).mean().item(), 2
            ),
            **{k: round(v, 3) for k, v in quality.items()},
        }
        rows.append(pc.sample(model, torch.eye(10), num_samples=1, mean=True)[0])
        print(name, json.dumps(results[name]), flush=True)
    plot_image_grid(
        torch.stack(rows).reshape(len(rows), 10, *image_shape),
        Path(args.out) / "samples.png",
        "One sample per digit under each objective",
        list(OBJECTIVES),
    )
    print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()

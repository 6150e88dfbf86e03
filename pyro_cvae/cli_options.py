"""The command-line grammar every fitting command shares (``fit``, ``images fit``,
``twobirds fit``): ``--config --out --resume --seed --epochs --batch-size --lr --quiet``, and
where to train: ``--device --engine --devices --num-nodes --strategy --precision``.

Precedence, lowest first: the command's own defaults, the config file's sections, the flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Tuple

from .config import ENGINES, PRECISIONS, STRATEGIES, load_config
from .errors import OutputExistsError

#: flag destination -> FitConfig field
_FIT_FLAGS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "learning_rate",
    "seed": "seed",
    "device": "device",
    "engine": "engine",
    "devices": "devices",
    "num_nodes": "num_nodes",
    "strategy": "strategy",
    "precision": "precision",
}


def add_fit_arguments(parser: argparse.ArgumentParser, out_default: str) -> None:
    """Add the shared options to a fitting command's parser."""
    parser.add_argument("--config", help="JSON / YAML / TOML file with model, fit (and data) sections; flags win")
    parser.add_argument(
        "--out", default=out_default, help=f"run folder: checkpoint, config, figures (default {out_default})"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    parser.add_argument("--overwrite", action="store_true", help="replace the run saved in --out")
    parser.add_argument("--seed", type=int, help="seeds the initial weights and the training draws (default 0)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument(
        "--lr", "--learning-rate", dest="lr", type=float, help="learning rate (FitConfig.learning_rate)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    where = parser.add_argument_group("where to train (see README, 'Scaling out')")
    where.add_argument("--device", help="auto (CUDA when there is a GPU), cpu, cuda or cuda:N (default auto)")
    where.add_argument("--engine", choices=ENGINES, help="the built-in loop or PyTorch Lightning (default loop)")
    where.add_argument("--devices", type=int, help="Lightning: processes per node, one per GPU (default 1)")
    where.add_argument("--num-nodes", type=int, help="Lightning: nodes (default 1)")
    where.add_argument("--strategy", choices=STRATEGIES, help="Lightning (default auto: DDP for several processes)")
    where.add_argument("--precision", choices=PRECISIONS, help="Lightning: numeric precision (default 32-true)")


def config_sections(args: argparse.Namespace) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
    """``(model, fit, data)`` sections: the config file's, the fit section updated by the flags."""
    sections = load_config(args.config) if args.config else {}
    fit = dict(sections.get("fit", {}))
    fit.update({field: getattr(args, flag) for flag, field in _FIT_FLAGS.items() if getattr(args, flag) is not None})
    if args.quiet:
        fit["progress"] = False
    return dict(sections.get("model", {})), fit, dict(sections.get("data", {}))


def check_output_free(path: str, overwrite: bool) -> None:
    """An output file that exists is replaced only when asked (``--overwrite``)."""
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(f"--out {path!r} exists; pass --overwrite to replace it, or give another path")


def add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a sampling command draws: one process (default) or several (Lightning)."""
    where = parser.add_argument_group("where to draw (see README, 'Scaling out')")
    where.add_argument("--devices", type=int, default=1, help="processes per node sharing the conditions (Lightning)")
    where.add_argument("--num-nodes", type=int, default=1, help="nodes (Lightning)")
    where.add_argument("--strategy", default="auto", help="Lightning's strategy for several processes (default auto)")
    where.add_argument("--accelerator", default="auto", help="Lightning's accelerator: auto, cpu or gpu")


def draw_over_processes(args: argparse.Namespace, model, y, num_samples: int, draw):
    """``draw(model, y, num_samples)`` on the processes the flags ask for: in this process when
    one, else split by conditions with ``pyro_cvae.train.lightning.sample_distributed``."""
    if args.devices * args.num_nodes == 1:
        return draw(model, y, num_samples)
    from .train.lightning import sample_distributed

    return sample_distributed(
        model, y, num_samples, draw=draw, accelerator=args.accelerator, devices=args.devices,
        num_nodes=args.num_nodes, strategy=args.strategy,
    )  # fmt: skip

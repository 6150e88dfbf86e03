"""``pyro-cvae twobirds fit | sample | evaluate``.

pyro-cvae twobirds fit --functions original --out DIR
pyro-cvae twobirds sample --checkpoint DIR --conditions FILE.pt --num-samples 30 --out OUT.pt
pyro-cvae twobirds evaluate --checkpoint DIR [--conditions FILE.pt]
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def _fit(args) -> None:
    from ..cli_options import config_sections
    from ..config import FitConfig
    from ..train.distributed import is_main_process
    from .train import DEFAULT_FIT, DEFAULT_NUM_TRAIN, fit_twobirds

    model_values, fit_values, _ = config_sections(args)
    flags = (
        ("prior", args.prior),
        ("decoder", args.decoder),
        ("latent_dim", args.latent_dim),
        ("mixture_components", args.components),
        ("forward_model", f"twobirds:{args.functions}" if args.forward_term else None),
    )
    model_values.update({key: value for key, value in flags if value is not None})
    seed = fit_values.get("seed", 0)
    config = FitConfig.from_dict({**DEFAULT_FIT, "seed": seed, **fit_values})
    start = time.perf_counter()
    run = fit_twobirds(
        args.functions,
        out=args.out,
        num_train=args.num_train or DEFAULT_NUM_TRAIN,
        seed=seed,
        model_overrides=model_values,
        config=config,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    history = run.history
    summary = {
        "out": args.out,
        "epochs": len(history),
        "seconds": round(time.perf_counter() - start, 1),
        "val_elbo": history.val_elbo[-1] if history.val_elbo else None,
    }
    if is_main_process():  # under several processes, one prints
        print(json.dumps(summary, indent=2))


def _load(checkpoint):
    from ..train.run import Run
    from .train import functions_of

    run = Run.load(checkpoint)
    return run, functions_of(run)


def _sample(args) -> None:
    from ..cli_options import check_output_free, draw_over_processes
    from ..sampling.draw_file import draw_to_netcdf
    from ..train.distributed import is_main_process
    from .data import load_challenge, save_challenge
    from .sampling import draw

    check_output_free(args.out, args.overwrite)

    run, functions = _load(args.checkpoint)
    _, y = load_challenge(args.conditions)  # its x, if any, is not used

    def solutions(model, part, count):
        return draw(model, part, count, sharpen=args.sharpen, functions=functions, noise_scale=args.noise_scale)

    if args.out.endswith(".nc") and args.devices * args.num_nodes == 1:
        # written 25 conditions at a time as they are drawn: memory stays one chunk's
        draw_to_netcdf(run.model, y, args.out, args.num_samples, solutions, overwrite=args.overwrite)
        print(f"wrote {args.num_samples} samples for each of {y.shape[0]} conditions to {args.out}")
        return
    samples = draw_over_processes(args, run.model, y, args.num_samples, solutions)
    if not is_main_process():
        return  # the draws were gathered to every process; one writes them
    if args.out.endswith(".nc"):
        from ..sampling.draw_file import save_netcdf

        save_netcdf(args.out, samples, y, overwrite=args.overwrite)
    else:
        # the challenge's order: all samples of condition 0, then of condition 1, ...
        x_out = samples.transpose(0, 1).reshape(-1, *y.shape[1:])
        save_challenge(args.out, x_out, y.repeat_interleave(args.num_samples, dim=0), overwrite=args.overwrite)
    print(f"wrote {args.num_samples} samples for each of {y.shape[0]} conditions to {args.out}")


def _evaluate(args) -> None:
    from .calibration import endpoint_calibration
    from .data import generate, load_challenge
    from .evaluate import evaluate_model, mode_reliability
    from .report import write_report
    from .sampling import draw

    run, functions = _load(args.checkpoint)
    model = run.model
    if args.conditions:
        x, y = load_challenge(args.conditions)
        source = args.conditions
    else:  # a held-out set the training never saw (fit uses seeds 0.. and 1_000_003..)
        x, y = generate(args.num_conditions, functions, seed=987_654_321)
        source = f"{args.num_conditions} generated conditions"
    counts = [int(c) for c in args.num_samples.split(",")]
    results, samples, solutions = evaluate_model(
        model, y, functions, counts, sharpen=args.sharpen, noise_scale=args.noise_scale
    )
    calibration = None
    if x is not None:  # the true x is known: is the share of samples per solution right?
        calibration = endpoint_calibration(
            lambda conditions, num: draw(
                model, conditions, num, sharpen=args.sharpen, functions=functions, noise_scale=args.noise_scale
            ),
            x,
            y,
        )
    reliability = None
    if solutions is not None:  # the exact posterior is known: how right are the mode probabilities?
        reliability = mode_reliability(model, y, functions, solutions, args.noise_scale)
    history = run.history
    out = Path(args.out or Path(args.checkpoint) / "report")
    report = write_report(
        out,
        results,
        samples,
        y,
        functions,
        solutions,
        history,
        title=f"Two Birds evaluation on {source}",
        calibration=calibration,
        reliability=reliability,
    )
    summary = {label: {k: v for k, v in r.items() if k != "per_condition"} for label, r in results.items()}
    if calibration is not None:
        summary["calibration"] = {k: calibration[k] for k in ("sbc_p_value", "sbc_p_values", "coverage")}
    print(json.dumps(summary, indent=2))
    print(f"report: {report}")


def add_parser(sub) -> None:
    """Add the ``twobirds`` command and its sub-commands to the main parser."""
    from ..cli_options import add_fit_arguments, add_sampling_arguments
    from .sampling import SHARPENERS

    birds = sub.add_parser("twobirds", help="the Two Birds inverse problem: fit, sample, evaluate")
    birds.set_defaults(run=lambda args: birds.print_help())
    commands = birds.add_subparsers(dest="twobirds_command")

    fit = commands.add_parser("fit", help="train on generated data and save a checkpoint")
    fit.add_argument(
        "--functions",
        default="original",
        help="a preset (original, data1, data2) or 'f0, f1' in x0 and x1, e.g. 'sin(31*x0+17*x1), cos(23*x0+41*x1)'",
    )
    add_fit_arguments(fit, out_default="runs/twobirds")
    fit.add_argument("--num-train", type=int, help="generated training pairs (default 200000)")
    fit.add_argument("--prior", help="prior r(z|y): conditional-mixture (default), conditional-gaussian, ...")
    fit.add_argument("--decoder", help="lines (default) or network (free 50x2 decoder)")
    fit.add_argument("--latent-dim", type=int)
    fit.add_argument("--components", type=int, help="mixture components of the prior")
    fit.add_argument("--forward-term", action="store_true", help="add the likelihood term y ~ N(F(x), σ) to training")
    fit.set_defaults(run=_fit)

    sharpen = dict(
        default="laplace",
        choices=list(SHARPENERS),
        help="sharpen samples with the forward model (default laplace: the calibrated posterior)",
    )
    smp = commands.add_parser("sample", help="write a challenge-format submission")
    smp.add_argument("--checkpoint", required=True, help="a 'twobirds fit' folder")
    smp.add_argument("--conditions", required=True, help="challenge .pt file; its y are used, its x ignored")
    smp.add_argument("--num-samples", type=int, default=30)
    smp.add_argument("--sharpen", **sharpen)
    smp.add_argument("--noise-scale", type=float, default=0.0, help="the measurements' known noise σ (0: noise-free)")
    smp.add_argument(
        "--out",
        required=True,
        help="output .pt: TensorDataset(x (N*S, 1, 50, 2), y); or .nc: an ArviZ NetCDF file, written as drawn",
    )
    smp.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    add_sampling_arguments(smp)
    smp.set_defaults(run=_sample)

    ev = commands.add_parser("evaluate", help="metrics as JSON and a Markdown report with figures")
    ev.add_argument("--checkpoint", required=True, help="a 'twobirds fit' folder")
    ev.add_argument("--conditions", help="challenge .pt file (default: generated held-out conditions)")
    ev.add_argument("--num-conditions", type=int, default=50, help="generated conditions without --conditions")
    ev.add_argument("--num-samples", default="30,1000", help="comma-separated sample counts per condition")
    ev.add_argument("--sharpen", **sharpen)
    ev.add_argument("--noise-scale", type=float, default=0.0, help="the measurements' known noise σ (0: noise-free)")
    ev.add_argument("--out", help="report folder (default CHECKPOINT/report)")
    ev.set_defaults(run=_evaluate)

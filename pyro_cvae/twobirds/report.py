"""The Two Birds evaluation report: metrics as JSON and Markdown, and the figures behind them.

Each ``plot_*`` returns a ``Figure`` (shown inline in a notebook), saved as ``path`` when given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import torch
from matplotlib.figure import Figure

from ..diagnostics.figures import plot_rank_histogram
from ..figures import PathLike, finish, plot_history, subplots
from ..train.history import History
from .exact import solution_weights
from .functions import ForwardFunctions
from .lines import endpoints_from_lines

_SUMMARY_KEYS = ("pass_rate", "y_mse", "r2", "sign_rate", "precision", "recall", "weighted_recall", "mode_tv")


def plot_solutions(
    samples, solutions, path: Optional[PathLike] = None, conditions: Sequence[int] = (0, 1, 2, 3)
) -> Figure:
    """Sample endpoints over the exact solutions: start points (top) and end points (bottom),
    one column per condition; circle area is each solution's exact posterior weight."""
    conditions = [c for c in conditions if c < samples.shape[1]]
    fig, axes = subplots(2, len(conditions), figsize=(3.2 * len(conditions), 6.2), squeeze=False)
    endpoints = endpoints_from_lines(samples.double())
    for col, c in enumerate(conditions):
        exact, weight = solutions[c], solution_weights(solutions[c])
        for row, (i, j, label) in enumerate(((0, 2, "start"), (1, 3, "end"))):
            ax = axes[row, col]
            ax.scatter(endpoints[:, c, i], endpoints[:, c, j], s=6, alpha=0.35, color="tab:blue", label="samples")
            ax.scatter(
                exact[:, i],
                exact[:, j],
                s=20 + 600 * weight,
                facecolors="none",
                edgecolors="tab:red",
                label="exact solutions",
            )
            ax.set(xlim=(0.05, 1.05), ylim=(0.05, 1.05), xlabel=f"x0 {label}", ylabel=f"x1 {label}")
            ax.set_title(f"condition {c}: {len(exact)} solutions" if row == 0 else "", fontsize=9)
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Generated endpoints over the exact solution set")
    return finish(fig, path)


def plot_reproduced_y(
    samples, y, functions, path: Optional[PathLike] = None, conditions: Sequence[int] = (0, 1), lines: int = 10
) -> Figure:
    """y recomputed from generated x (thin) against the given y (black), per signal."""
    forward = ForwardFunctions(functions)
    conditions = [c for c in conditions if c < samples.shape[1]]
    fig, axes = subplots(len(conditions), 2, figsize=(10, 2.6 * len(conditions)), squeeze=False)
    for row, c in enumerate(conditions):
        recomputed = forward(samples[:lines, c].double())
        for k in range(2):
            ax = axes[row, k]
            ax.plot(recomputed[..., k].T, color="tab:blue", alpha=0.4, lw=0.8)
            ax.plot(y[c, :, k], color="black", lw=1.6, ls="--")
            ax.set(title=f"condition {c}, y{k}: given (dashed) and from {lines} samples", ylim=(-1.1, 1.1))
    return finish(fig, path)


def plot_coverage(per_condition: Dict[str, list], path: Optional[PathLike] = None) -> Figure:
    """Per condition: how many exact solutions there are and how many the samples reach."""
    count = torch.tensor(per_condition["num_solutions"])
    covered = count * torch.tensor(per_condition["recall"])
    order = torch.argsort(count, descending=True)
    fig, ax = subplots(figsize=(10, 3.2))
    position = list(range(len(count)))
    ax.bar(position, count[order].tolist(), color="lightgrey", label="exact solutions")
    ax.bar(position, covered[order].tolist(), color="tab:green", label="reached by a sample (within 0.02)")
    ax.set(xlabel="condition (sorted)", ylabel="solutions", title="Mode coverage")
    ax.legend()
    return finish(fig, path)


def plot_reliability(
    predicted: torch.Tensor, exact: torch.Tensor, path: Optional[PathLike] = None, tv_per_condition=None
) -> Figure:
    """Reliability diagram of mode probabilities: for every exact solution of every condition,
    the probability the sampler gives it against its exact posterior probability (on the
    diagonal when calibrated), with the means in ten bins of the exact probability; beside it
    the total-variation distance per condition, when given."""
    panels = 2 if tv_per_condition is not None else 1
    fig, axes = subplots(1, panels, figsize=(4.6 * panels, 4.2), squeeze=False)
    ax = axes[0][0]
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="calibrated")
    ax.scatter(exact.tolist(), predicted.tolist(), s=8, alpha=0.4, color="tab:blue", label="one mode")
    bins = torch.clamp((exact * 10).long(), max=9)
    centres = [
        (exact[bins == b].mean().item(), predicted[bins == b].mean().item()) for b in range(10) if (bins == b).any()
    ]
    ax.plot(*zip(*centres), marker="o", color="tab:red", label="bin means")
    ax.set(
        xlabel="exact posterior probability",
        ylabel="sampler's probability",
        xlim=(0, 1),
        ylim=(0, 1),
        title="Mode probabilities",
    )
    ax.legend(fontsize=8)
    if tv_per_condition is not None:
        ax = axes[0][1]
        ax.hist(list(tv_per_condition), bins=20, color="tab:blue")
        ax.set(xlabel="total variation vs the exact posterior", ylabel="conditions", title="Per condition")
    return finish(fig, path)


def write_report(
    out: Union[str, Path],
    results: Dict[str, Dict[str, object]],
    samples: torch.Tensor,
    y: torch.Tensor,
    functions,
    solutions: Optional[Sequence[torch.Tensor]],
    history: Optional[History] = None,
    title: str = "Two Birds evaluation",
    calibration: Optional[Dict[str, object]] = None,
    reliability: Optional[Dict[str, torch.Tensor]] = None,
) -> Path:
    """Write ``report.md``, ``metrics.json`` and the PNG figures into ``out``; returns report.md.

    ``results`` maps a label (e.g. "30 samples") to the ``evaluate_samples`` output; ``samples``
    (S, N, n, 2) are the ones drawn for the figures. ``reliability`` holds ``predicted`` and
    ``exact`` mode probabilities (``twobirds.evaluate.mode_reliability``) for the diagram.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    #: the report's figures by heading, each saved as its file
    figures: Dict[str, Path] = {}
    if solutions is not None:
        figures["Samples over the exact solutions"] = out / "solutions.png"
        plot_solutions(samples, solutions, figures["Samples over the exact solutions"])
    figures["y reproduced from samples"] = out / "reproduced_y.png"
    plot_reproduced_y(samples, y, functions, figures["y reproduced from samples"])
    largest = max(results.values(), key=lambda r: r["num_samples"])
    if "recall" in largest["per_condition"]:
        figures["Mode coverage"] = out / "coverage.png"
        plot_coverage(largest["per_condition"], figures["Mode coverage"])
    if reliability is not None:
        tv = largest["per_condition"].get("mode_tv")
        figures["Reliability of the mode probabilities"] = out / "reliability.png"
        plot_reliability(reliability["predicted"], reliability["exact"], out / "reliability.png", tv)
    if calibration is not None:
        figures["SBC ranks of the true endpoints"] = out / "sbc_ranks.png"
        plot_rank_histogram(
            calibration["rank_counts"], out / "sbc_ranks.png", "SBC ranks of x0 start, x0 end, x1 start, x1 end"
        )
    if history is not None and len(history):
        figures["Training curves"] = out / "training_curves.png"
        plot_history(history, out / "training_curves.png")
    saved = dict(results)
    if calibration is not None:
        saved["calibration"] = {k: v for k, v in calibration.items() if k != "rank_counts"}
    (out / "metrics.json").write_text(json.dumps(saved, indent=2))

    lines = [f"# {title}", "", f"Functions: `{ForwardFunctions(functions).text}`; {y.shape[0]} conditions.", ""]
    keys = [k for k in _SUMMARY_KEYS if k in largest]
    lines += ["| samples | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for label, result in results.items():
        lines.append(f"| {label} | " + " | ".join(f"{result[k]:.4g}" for k in keys) + " |")
    lines += [
        "",
        "Gates per sample: |Pearson r| > 0.8 for both lines, x0 descending and x1 ascending, "
        "RMSE(y) < 0.1. Precision / recall: endpoints within 0.02 (max-abs) of an exact solution.",
        "",
    ]
    if calibration is not None:
        coverage = ", ".join(f"{level:.0%}: {value:.3f}" for level, value in calibration["coverage"].items())
        lines += [
            f"Calibration of the endpoints (99 samples per condition): SBC p-value "
            f"{calibration['sbc_p_value']:.3g}; central-interval coverage {coverage}.",
            "",
        ]
    for name, path in figures.items():
        lines += [f"## {name}", "", f"![{name}]({path.name})", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report

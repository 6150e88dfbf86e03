"""Can the amortized posterior be trusted? Calibration on θ against the simulator's truths, and
exactness where the likelihood is known, on sbibm tasks; and the power of each check against
its negative controls.

For each task: ``fit_posterior`` on ``--budget`` simulations (its defaults), then ``--truths``
fresh (θ*, x*) pairs: SBC p-value per parameter, expected HPD coverage at 50% and 90%, TARP's
p-value and ATC. Where the task's likelihood is known (``gaussian_linear``, ``gaussian_mixture``,
``slcp``), the importance-corrected posterior's C2ST against the reference posterior, beside the
uncorrected one's, with the weights' ESS and Pareto k̂, and again after ``--mcmc-steps``
Metropolis–Hastings steps (``--ensemble M``: the mixture of M fits, uncorrected only); with
``--calibrate-corrected``, SBC and TARP of that corrected posterior on the same truths
(``--no-reference`` skips the C2ST rows: calibration only); with ``--recalibrate N``, the posterior
recalibrated on N more fresh pairs (``recalibrate``), checked by SBC, HPD coverage and TARP on the
same truths and by C2ST, beside the posterior it came from; with ``--regions`` as well, that
posterior with its highest-density regions recalibrated on the same pairs (``recalibrate_regions``),
checked the same way (``--regions fit``: the fit's regions recalibrated instead, without the
marginal map). One JSON line per task; as the fit's checks and the recalibrated ones end, their
figures so far go to stderr (a line starting ``#``), so a run stopped later keeps them.

``--power`` instead measures how often each check rejects (p < 0.01) an exact posterior and
the same posterior 1.5× too wide and 1.5× too narrow, over ``--repeats`` seeds of the
linear-Gaussian problem of ``tests/diagnostics/test_posterior_checks.py``.

    python bench/posterior_checks.py --task two_moons slcp [--budget 10000] [--truths 300]
        [--observations 1 2 3] [--draws 10000] [--ensemble 1] [--mcmc-steps 150] [--no-calibration]
        [--no-reference] [--calibrate-corrected] [--recalibrate 5000 [--regions [fit]]]
        [--figure checks.png: checks_two_moons.png, ..., checks_slcp_pairs.png]
    python bench/posterior_checks.py --power [--repeats 50]

Needs the benchmark-only extras: ``pip install sbi==0.27.0 pandas autograd future && pip
install --no-deps sbibm==1.1.0``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Optional

import torch

from pyro_cvae.diagnostics import c2st, hpd_coverage, plot_coverage, sbc, tarp, widened
from pyro_cvae.posterior import (
    AmortizedPosterior,
    fit_posterior,
    importance_corrected,
    pair_plot,
    recalibrate,
    recalibrate_regions,
)

# bench/sbibm.py would stand in for the sbibm package: keep this folder off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def known_log_likelihood(task):
    """log p(x_o | θ) ``(K,)`` for θ ``(K, D)``, for the tasks whose noise model is known."""
    name = task.name
    if name == "gaussian_linear":
        precision = task.simulator_params["precision_matrix"]
        return lambda x_o, theta: torch.distributions.MultivariateNormal(theta, precision_matrix=precision).log_prob(
            x_o.reshape(1, -1)
        )
    if name == "gaussian_mixture":
        params = task.simulator_params
        weights, factors, scales = params["mixture_weights"], params["mixture_locs_factor"], params["mixture_scales"]

        def log_mixture(x_o, theta):
            parts = [
                math.log(float(w)) + torch.distributions.Normal(f * theta, s).log_prob(x_o.reshape(1, -1)).sum(-1)
                for w, f, s in zip(weights, factors, scales)
            ]
            return torch.logsumexp(torch.stack(parts), 0)

        return log_mixture
    if name == "slcp":

        def log_slcp(x_o, theta):
            s1, s2, rho = theta[:, 2] ** 2, theta[:, 3] ** 2, torch.tanh(theta[:, 4])
            cov = torch.stack([s1**2 + 1e-6, rho * s1 * s2, rho * s1 * s2, s2**2 + 1e-6], -1).reshape(-1, 2, 2)
            normal = torch.distributions.MultivariateNormal(theta[:, None, :2], cov[:, None])
            return normal.log_prob(x_o.reshape(1, 4, 2)).sum(-1)

        return log_slcp
    return None


def calibration(posterior, theta_true, x_true):
    """SBC, HPD coverage and TARP of ``posterior`` on the truths: the rounded figures of a JSON
    row (``sbc_p``, ``hpd_coverage_50``/``_90``, ``hpd_p``, ``tarp_p``, ``tarp_atc``), and the
    HPD and TARP curves for a figure. ``hpd_coverage_se`` is the binomial standard error of the
    two coverages for a calibrated posterior on this many truths, sqrt(α(1 - α) / N): with 300
    truths 0.029 at 50% and 0.017 at 90%: at 50% a ±0.03 band is about one standard error either side."""
    ranks = sbc(posterior, theta_true, x_true)
    hpd = hpd_coverage(posterior, theta_true, x_true)
    joint = tarp(posterior, theta_true, x_true)
    figures = {
        "sbc_p": [round(p, 4) for p in ranks["p_values"]],
        "hpd_coverage_50": round(float(hpd.coverage[hpd.alpha.sub(0.5).abs().argmin()]), 3),
        "hpd_coverage_90": round(float(hpd.coverage[hpd.alpha.sub(0.9).abs().argmin()]), 3),
        "hpd_coverage_se": [round(math.sqrt(a * (1 - a) / len(theta_true)), 4) for a in (0.5, 0.9)],
        "hpd_p": round(hpd.p_value, 4),
        "tarp_p": round(joint.p_value, 4),
        "tarp_atc": round(joint.atc, 4),
    }
    return figures, hpd, joint


class _Draws:
    """Draws made once, handed to the checks as a posterior's ``sample(x, n)`` would (the
    corrected posterior has no ``log_prob``: SBC and TARP only)."""

    def __init__(self, draws: torch.Tensor):
        self.draws = draws  # (S, N, D)

    def sample(self, x, num_samples: int) -> torch.Tensor:
        assert num_samples == self.draws.shape[0] and len(x) == self.draws.shape[1]
        return self.draws


def corrected_calibration(posterior, task, log_likelihood, theta_true, x_true, mcmc_steps: int, draws: int = 100):
    """SBC and TARP of the known-likelihood posterior (``importance_corrected`` with
    ``10 × draws`` proposals and ``mcmc_steps`` moves, ``draws`` per truth) on the truths:
    exact up to the moves' mixing (and, with this few chains, up to their tuning from the
    population, which the moves are designed to read off thousands), so what these checks see
    is what the correction leaves."""
    prior = task.get_prior_dist()
    results = [
        importance_corrected(posterior, x, log_likelihood, prior, 10 * draws, draws, seed=i, mcmc_steps=mcmc_steps)
        for i, x in enumerate(x_true)
    ]
    corrected = _Draws(torch.stack([result.theta for result in results], 1))
    ranks = sbc(corrected, theta_true, x_true, num_draws=draws)
    joint = tarp(corrected, theta_true, x_true, num_draws=draws)
    return {
        "corrected_sbc_p": [round(p, 4) for p in ranks["p_values"]],
        "corrected_tarp_p": round(joint.p_value, 4),
        "corrected_tarp_atc": round(joint.atc, 4),
        # truths whose chains still remembered their starts (``MoveSummary.forgot_starts``)
        "corrected_not_forgotten": sum(not result.moves.forgot_starts for result in results if result.moves),
    }


#: importance draws per density of the region recalibration's posterior (``recalibrate_regions``):
#: a quarter of ``log_prob``'s default, for its cost (thousands of densities per truth)
REGION_PARTICLES = 64


def stage_done(stage: str, row: dict) -> None:
    """The figures so far, to stderr as each stage ends: a run stopped in a later stage (the regions
    stage takes hours on 5,000 pairs) keeps what the earlier ones measured."""
    print(f"# {stage} done: {json.dumps(row)}", file=sys.stderr, flush=True)


def region_checks(
    mended, task, theta_cal, x_cal, seed: int, theta_true, x_true, observations, draws: int, label: str = "regions too"
):
    """``mended`` (the recalibrated posterior, or the fit) with its highest-density regions recalibrated on
    the same pairs (``recalibrate_regions``): SBC, HPD coverage and TARP on the truths, keys as
    ``calibration``'s with ``_regions`` added, its C2ST per observation, the seconds it took, and
    its HPD and TARP curves."""
    start = time.perf_counter()
    both = recalibrate_regions(mended, theta_cal, x_cal, seed=seed, num_particles=REGION_PARTICLES)
    figures, hpd, joint = calibration(both, theta_true, x_true)
    row: dict = {f"{key}_regions": value for key, value in figures.items() if key != "hpd_coverage_se"}
    c2st_regions = []
    for number in observations:
        x_o, reference = task.get_observation(number)[0], task.get_reference_posterior_samples(number)[:draws]
        c2st_regions.append(round(c2st(both.sample(x_o, draws), reference), 4))
    if observations:
        row.update(c2st_regions=c2st_regions)
    row.update(region_weights_max=round(float(both.log_weights.max().exp()), 2))
    row.update(regions_s=round(time.perf_counter() - start, 1))
    return row, {f"HPD, {label}": hpd, f"TARP, {label}": joint}


def recalibrated_checks(
    posterior,
    task,
    pairs: int,
    seed: int,
    theta_true,
    x_true,
    observations,
    draws: int,
    before: dict,
    figure=None,
    regions: Optional[str] = None,
):
    """The posterior recalibrated on ``pairs`` fresh pairs (drawn from seed + 2: neither the fit's
    simulations nor the truths): SBC, HPD coverage (its density is ``RecalibratedPosterior.log_prob``)
    and TARP on the truths, keys as ``calibration``'s with ``_recalibrated`` added, and the C2ST
    per observation against the reference, of its draws and, beside them, of the posterior's own.
    ``before``: the posterior's own HPD and TARP curves, drawn beside the recalibrated ones.
    ``regions``: "recalibrated", the same with the recalibrated posterior's regions recalibrated
    too (``region_checks``); "fit", with the fit's regions recalibrated instead."""
    torch.manual_seed(seed + 2)
    theta_cal = task.get_prior()(num_samples=pairs)
    x_cal = task.get_simulator()(theta_cal)
    mended = recalibrate(posterior, theta_cal, x_cal, seed=seed)
    figures, hpd, joint = calibration(mended, theta_true, x_true)
    row: dict = {"recalibration_pairs": pairs}
    row.update({f"{key}_recalibrated": value for key, value in figures.items() if key != "hpd_coverage_se"})
    before_c2st, after_c2st = [], []
    for number in observations:
        x_o, reference = task.get_observation(number)[0], task.get_reference_posterior_samples(number)[:draws]
        before_c2st.append(round(c2st(posterior.sample(x_o, draws), reference), 4))
        after_c2st.append(round(c2st(mended.sample(x_o, draws), reference), 4))
    if observations:
        row.update(c2st_before_recalibration=before_c2st, c2st_recalibrated=after_c2st)
    stage_done("recalibrated", row)
    curves = {**before, "HPD, recalibrated": hpd, "TARP, recalibrated": joint}
    if regions:
        region_row, region_curves = region_checks(
            mended if regions == "recalibrated" else posterior,
            task,
            theta_cal,
            x_cal,
            seed,
            theta_true,
            x_true,
            observations,
            draws,
            label="regions too" if regions == "recalibrated" else "the fit's regions",
        )
        row.update(regions_of=regions, **region_row)
        curves.update(region_curves)
    if figure:
        path = Path(figure).with_name(f"{Path(figure).stem}_recalibrated.png")
        plot_coverage(curves, title=f"{task.name}: recalibrated on {pairs} pairs", path=path)
    return row


def check_task(
    name: str,
    budget: int,
    truths: int,
    observations,
    draws: int,
    seed: int,
    figure=None,
    ensemble: int = 1,
    mcmc_steps: int = 150,
    calibrate: bool = True,
    calibrate_corrected: bool = False,
    recalibration_pairs: int = 0,
    regions: Optional[str] = None,
):
    import sbibm

    task = sbibm.get_task(name)
    prior = task.get_prior_dist()
    torch.manual_seed(seed)
    theta = task.get_prior()(num_samples=budget)
    posterior = fit_posterior(
        prior, theta=theta, x=task.get_simulator()(theta), seed=seed, ensemble=ensemble, progress=False
    )
    row = {"task": name, "budget": budget, "ensemble": ensemble}
    if recalibration_pairs and not calibrate:
        raise ValueError("recalibration_pairs: its rows go beside the fit's calibration rows (calibrate=False)")
    if calibrate:
        torch.manual_seed(seed + 1)  # fresh truths, never trained on
        theta_true = task.get_prior()(num_samples=truths)
        x_true = task.get_simulator()(theta_true)
        figures, hpd, joint = calibration(posterior, theta_true, x_true)
        row.update(truths=truths, **figures)
        stage_done("the fit's calibration", row)
        if figure:
            plot_coverage({"HPD": hpd, "TARP": joint}, title=f"{name}, {budget} simulations", path=figure)
    if recalibration_pairs:
        checked_on, before = (theta_true, x_true), {"HPD": hpd, "TARP": joint}
        pairs = recalibration_pairs
        row.update(
            recalibrated_checks(
                posterior, task, pairs, seed, *checked_on, observations, draws, before, figure, regions=regions
            )
        )
    log_likelihood = known_log_likelihood(task)
    if calibrate and calibrate_corrected and log_likelihood is not None and ensemble == 1:
        start = time.perf_counter()
        row.update(corrected_calibration(posterior, task, log_likelihood, theta_true, x_true, mcmc_steps))
        row.update(corrected_calibration_s=round(time.perf_counter() - start, 1))
    if log_likelihood is not None and observations:
        row.update(known_likelihood(posterior, task, log_likelihood, observations, draws, mcmc_steps, figure))
    return row


def known_likelihood(posterior, task, log_likelihood, observations, draws: int, mcmc_steps: int, figure=None):
    """C2ST against the reference posterior of the posterior's own draws (``c2st_plain``), of the
    importance-corrected draws (``c2st_corrected``, with the weights' k̂ and ESS) and of the
    same draws after ``mcmc_steps`` Metropolis–Hastings steps (``c2st_moved``, with the moves'
    acceptance: random walk, cluster jump, fresh proposal; the largest start–end correlation and
    change of spread over the second half of the steps, both near 0 once the chains have
    forgotten their starts; and the seconds the moved correction took per observation). With
    ``figure``, a pair plot of the moved draws of the first observation against its reference."""
    plain, corrected, moved, khat, ess, acceptance, remembered, seconds = [], [], [], [], [], [], [], []
    ensemble = not isinstance(posterior, AmortizedPosterior)  # the correction takes one fit's proposals
    for number in observations:
        x_o, reference = task.get_observation(number)[0], task.get_reference_posterior_samples(number)[:draws]
        plain.append(c2st(posterior.sample(x_o, draws), reference))
        if ensemble:
            continue
        start = time.perf_counter()
        result = importance_corrected(
            posterior, x_o, log_likelihood, task.get_prior_dist(), 10 * draws, draws, mcmc_steps=mcmc_steps
        )
        seconds.append(round(time.perf_counter() - start, 1))
        # the weights alone: the resampled draws, before any move
        corrected.append(c2st(result.theta if result.resampled is None else result.resampled, reference))
        khat.append(round(result.khat, 3))
        ess.append(round(result.ess))
        if mcmc_steps:
            moved.append(c2st(result.theta, reference))
            moves = result.moves
            acceptance.append(
                [round(rate, 3) for rate in (moves.random_walk_acceptance, moves.jump_acceptance)]
                + [round(moves.independence_acceptance, 4)]
            )
            remembered.append([round(moves.largest_start_correlation, 3), round(moves.largest_spread_change, 3)])
            if figure and number == observations[0]:
                path = Path(figure).with_name(f"{Path(figure).stem}_pairs.png")
                pair_plot(result.theta, posterior.parameter_names, reference=reference, path=path)
    row = {"c2st_plain": round(sum(plain) / len(plain), 4), "observations": list(observations)}
    if corrected:
        row.update(c2st_corrected=round(sum(corrected) / len(corrected), 4), khat=khat, ess=ess)
    if moved:
        row.update(
            mcmc_steps=mcmc_steps,
            c2st_moved=round(sum(moved) / len(moved), 4),
            c2st_moved_each=[round(value, 4) for value in moved],
            acceptance=acceptance,
            forgetting=remembered,  # per observation: [start-end correlation, spread change]
            moved_s=seconds,
        )
    return row


def power(seeds: int, truths: int = 300):
    """How often each check rejects (p < 0.01) the exact linear-Gaussian posterior and its controls."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.diagnostics.test_posterior_checks import ExactPosterior
    from tests.diagnostics.test_posterior_checks import truths as make_truths

    checks = {"sbc": lambda p, t, x: sbc(p, t, x)["p_value"], "tarp": lambda p, t, x: tarp(p, t, x).p_value}
    checks["hpd"] = lambda p, t, x: hpd_coverage(p, t, x).p_value
    rows = {}
    for label, factor in (("exact", 1.0), ("1.5x wide", 1.5), ("1.5x narrow", 1 / 1.5)):
        for check, run in checks.items():
            rejected = 0
            for seed in range(seeds):
                torch.manual_seed(1000 + seed)
                posterior = ExactPosterior() if factor == 1.0 else widened(ExactPosterior(), factor)
                rejected += run(posterior, *make_truths(truths, seed=seed)) < 0.01
            rows[f"{check} rejects {label}"] = rejected / seeds
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", nargs="+", default=["two_moons", "gaussian_mixture", "gaussian_linear", "slcp"])
    parser.add_argument("--budget", type=int, default=10000)
    parser.add_argument("--truths", type=int, default=300)
    parser.add_argument("--observations", nargs="+", type=int, help="of the C2ST rows (default: all ten)")
    parser.add_argument("--draws", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ensemble", type=int, default=1, help="fit_posterior(..., ensemble=M): M fits, mixed")
    parser.add_argument("--mcmc-steps", type=int, default=150, help="importance_corrected(..., mcmc_steps=)")
    parser.add_argument(
        "--no-calibration", action="store_true", help="no SBC, HPD, TARP rows of the fit (the C2ST rows only)"
    )
    parser.add_argument("--no-reference", action="store_true", help="the calibration rows only: no C2ST")
    parser.add_argument(
        "--calibrate-corrected",
        action="store_true",
        help="SBC and TARP of the known-likelihood posterior too (100 moved draws per truth)",
    )
    parser.add_argument(
        "--figure", help="a PNG of each task's coverage curves (and pair plot): FIGURE with the task's name added"
    )
    parser.add_argument(
        "--recalibrate", type=int, default=0, metavar="N", help="also check the posterior recalibrated on N fresh pairs"
    )
    parser.add_argument(
        "--regions",
        nargs="?",
        const="recalibrated",
        choices=["recalibrated", "fit"],
        help="with --recalibrate: also recalibrate the highest-density regions of the recalibrated posterior "
        "(or of the fit: --regions fit)",
    )
    parser.add_argument("--power", action="store_true", help="measure the checks' power on exact answers")
    parser.add_argument("--repeats", type=int, default=50, help="seeds of --power")
    args = parser.parse_args(argv)
    if args.no_reference and args.no_calibration:
        parser.error("--no-reference and --no-calibration together leave nothing to measure")
    if args.no_reference and args.observations is not None:
        parser.error("--observations picks the C2ST rows, which --no-reference leaves out")
    args.observations = [] if args.no_reference else args.observations or list(range(1, 11))
    if args.recalibrate and args.no_calibration:
        parser.error("--recalibrate's rows are read beside the fit's calibration rows, which --no-calibration skips")
    if args.regions and not args.recalibrate:
        parser.error("--regions recalibrates the regions of the --recalibrate N posterior: give --recalibrate N")
    if args.calibrate_corrected and args.no_calibration:
        parser.error("--calibrate-corrected checks the corrected posterior on the truths that --no-calibration skips")
    warnings.filterwarnings("ignore")
    if args.power:
        print(json.dumps(power(args.repeats)), flush=True)
        return
    for name in args.task:
        figure = None if args.figure is None else Path(args.figure).with_name(f"{Path(args.figure).stem}_{name}.png")
        row = check_task(
            name,
            args.budget,
            args.truths,
            args.observations,
            args.draws,
            args.seed,
            figure,
            args.ensemble,
            args.mcmc_steps,
            calibrate=not args.no_calibration,
            calibrate_corrected=args.calibrate_corrected,
            recalibration_pairs=args.recalibrate,
            regions=args.regions,
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

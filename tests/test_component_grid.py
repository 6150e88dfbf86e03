"""Every prior × guide × objective: one epoch of ``fit``, then every diagnostic, as a user runs them,
with what must hold of them whatever the training (``_bounds_that_must_hold``, nested coverage).

A component that trains but breaks a diagnostic (a flow guide has no ``.mean``; a mixture prior
has no per-dimension KL) fails here, not in a user's notebook.
"""

import itertools
import math

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.diagnostics import iwae_log_likelihood, latent_usage, posterior_coverage, sbc_ranks, to_inference_data
from pyro_cvae.diagnostics.importance import importance_log_weights
from pyro_cvae.images.figures import interpolation, latent_map, reconstructions, samples_grid
from pyro_cvae.sampling.evaluate import pointwise_elbo_terms
from pyro_cvae.seeding import seeded
from pyro_cvae.train.step import SVIStep

GUIDE_FAMILIES = ["encoder", "full-covariance", "flow"]
CONDITIONAL_PRIORS = ["standard-normal", "conditional-gaussian", "conditional-mixture", "conditional-flow", "vamp"]
OBJECTIVES = ["analytic-kl", "trace", "iwae"]
SIZES = dict(latent_dim=3, hidden_sizes=(16,), prior_hidden_sizes=(16,), flow_layers=1, pseudo_inputs=4)

CVAE_GRID = [
    (f"{family}{suffix}", prior)
    for family, suffix, prior in itertools.product(GUIDE_FAMILIES, ["-xy", "-x"], CONDITIONAL_PRIORS)
]
VAE_GRID = [(f"{family}-x", prior) for family in GUIDE_FAMILIES for prior in ["standard-normal", "vamp"]]


def _data(conditional: bool):
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(48, 1, 4, 4, generator=generator).round()  # binary 4x4 "images"
    y = torch.nn.functional.one_hot(torch.arange(48) % 3, 3).float() if conditional else None
    return x, y


def _build(guide, prior, conditional):
    return pc.build(
        "custom", x_shape=(1, 4, 4), y_shape=(3,) if conditional else None, guide=guide, prior=prior,
        likelihood="bernoulli", **SIZES,
    )  # fmt: skip


def _repeated(x, y, copies):
    """The data set ``copies`` times over: independent draws for every copy, in one pass."""
    return x.repeat(copies, *[1] * (x.dim() - 1)), None if y is None else y.repeat(copies, 1)


def _bounds_that_must_hold(model, x, y):
    """What holds for any model, trained or not: one importance weight is an unbiased ELBO (the
    diagnostics' weights and the training ELBO's terms must agree), K weights give a bound at
    least as high (Jensen), and a closed-form KL is never negative."""
    with seeded(1):
        log_w = importance_log_weights(model, x, y, num_samples=200)  # (200, 48)
        elbo = pointwise_elbo_terms(model, *_repeated(x, y, 50))["elbo"]  # one draw per copy
    se = math.sqrt(log_w.var() / log_w.numel() + elbo.var() / elbo.numel())
    assert abs(float(log_w.mean() - elbo.mean())) < 5 * se + 1e-4, (float(log_w.mean()), float(elbo.mean()), se)
    # the IWAE estimate (K = 20, its particles in chunks) is a tighter bound: above the ELBO
    with seeded(2):
        iwae = iwae_log_likelihood(model, *_repeated(x, y, 10), num_samples=20, chunk=7, batch_size=200)
    se = math.sqrt(iwae.var() / iwae.numel() + elbo.var() / elbo.numel())
    assert float(iwae.mean()) >= float(elbo.mean()) - 5 * se, (float(iwae.mean()), float(elbo.mean()), se)
    usage = latent_usage(model, x, y)
    assert math.isfinite(usage["kl_total"]) and len(usage["unit_variance"]) == 3
    if usage["kl_per_dim"] is not None:  # both diagonal Gaussians: the KL is in closed form
        assert min(usage["kl_per_dim"]) >= 0 and usage["kl_total"] >= 0, usage


def _every_diagnostic(model, x, y, tmp_path):
    _bounds_that_must_hold(model, x, y)
    data = to_inference_data(model, x[:4], None if y is None else y[:4], num_samples=5)
    assert data.posterior["z"].shape == (1, 5, 4, 3)
    simulations = dict(num_simulations=4) if y is None else {}
    ranks = sbc_ranks(model, None if y is None else y[:4], num_samples=9, **simulations)
    assert ranks.shape == (4, 3) and ((ranks >= 0) & (ranks <= 9)).all()
    coverage = posterior_coverage(model, None if y is None else y[:4], num_samples=9, **simulations)
    # nested central intervals: a wider level never covers less
    levels = sorted(coverage)
    assert all(coverage[a] <= coverage[b] for a, b in zip(levels, levels[1:])), coverage
    labels = torch.arange(16) % 3
    shape = (4, 4)
    for name, figure in {
        "r": reconstructions(model, x[:4], None if y is None else y[:4], shape, tmp_path / "r.png"),
        "m": latent_map(model, x[:16], None if y is None else y[:16], labels, tmp_path / "m.png"),
        "i": interpolation(model, x[:2], None if y is None else y[:2], shape, tmp_path / "i.png", steps=3),
        "s": samples_grid(model, shape, tmp_path / "s.png", num_classes=3 if y is not None else None),
    }.items():
        assert figure.axes and (tmp_path / f"{name}.png").stat().st_size > 0


def _fits_and_diagnoses(guide, prior, conditional, tmp_path):
    x, y = _data(conditional)
    for objective in OBJECTIVES:
        model = _build(guide, prior, conditional)
        history = pc.fit(model, (x, y) if conditional else x, epochs=1, batch_size=16, elbo=objective,
                         num_particles=3 if objective == "iwae" else 1, progress=False)  # fmt: skip
        assert math.isfinite(history.train_elbo[-1]), objective
    _every_diagnostic(model, x, y, tmp_path)


@pytest.mark.parametrize("guide, prior", CVAE_GRID, ids=[f"{g}+{p}" for g, p in CVAE_GRID])
def test_every_cvae_component_pair_fits_and_passes_every_diagnostic(guide, prior, tmp_path):
    _fits_and_diagnoses(guide, prior, True, tmp_path)


@pytest.mark.parametrize("guide, prior", VAE_GRID, ids=[f"{g}+{p}" for g, p in VAE_GRID])
def test_every_vae_component_pair_fits_and_passes_every_diagnostic(guide, prior, tmp_path):
    _fits_and_diagnoses(guide, prior, False, tmp_path)


@pytest.mark.parametrize("guide", [f"{f}-xy" for f in GUIDE_FAMILIES])
@pytest.mark.parametrize("prior", CONDITIONAL_PRIORS)
def test_every_prior_and_guide_parameter_gets_a_gradient(guide, prior):
    x, y = _data(True)
    model = _build(guide, prior, True)
    step = SVIStep(model, "trace")
    step.loss(x, y).backward()
    for part in (model.prior, model.encoder):
        for name, parameter in part.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"{guide}+{prior}: {name}"


@pytest.mark.parametrize(
    "fields",
    [
        dict(guide="flow-xy", prior="vamp"),
        dict(missing_labels=True),
        dict(guide="full-covariance-xy", prior="conditional-flow"),
    ],
    ids=["flow+vamp", "m2", "full-covariance+zuko-flow"],
)
def test_new_components_round_trip_through_a_run_folder(fields, tmp_path):
    x, y = _data(True)
    model = pc.build("custom", x_shape=(1, 4, 4), y_shape=(3,), likelihood="bernoulli", **fields, **SIZES)
    elbo = "trace-enum" if fields.get("missing_labels") else "analytic-kl"
    pc.fit(model, (x, y), epochs=1, batch_size=16, elbo=elbo, checkpoint_dir=str(tmp_path), progress=False)
    loaded = pc.Run.load(tmp_path).model
    assert type(loaded) is type(model)
    for (name, saved), restored in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(saved, restored), name

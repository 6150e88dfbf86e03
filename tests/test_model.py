import itertools

import pyro
import pyro.optim
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO, TraceMeanField_ELBO

import pyro_cvae as pc

from .conftest import tiny

X_SHAPE, Y_SHAPE, BATCH = (2, 8), (3,), 5
COMBOS = list(itertools.product(pc.VARIANTS, pc.PRIORS, pc.GUIDES, pc.LIKELIHOODS))


def traces(model, x, y):
    """The guide's trace, and the model's trace replayed on the guide's z."""
    guide_trace = poutine.trace(model.raw_guide).get_trace(x, y)
    return guide_trace, poutine.trace(poutine.replay(model.raw_model, trace=guide_trace)).get_trace(x, y)


def batch(y=True, x_shape=X_SHAPE):
    x = torch.rand(BATCH, *x_shape)  # in [0, 1], valid for every likelihood
    return x, (torch.randn(BATCH, *Y_SHAPE) if y else None)


@pytest.mark.parametrize("variant, prior, guide, likelihood", COMBOS)
def test_every_combination_traces_and_learns(variant, prior, guide, likelihood):
    conditional = variant != "vae"
    # the flow likelihood is a density over a flat x, which the conv variants cannot read: each says so
    conv = pc.VARIANTS.get(variant).get("network", "mlp") != "mlp"
    x_shape = (16,) if likelihood == "flow" and not conv else X_SHAPE
    spec = dict(
        x_shape=x_shape,
        y_shape=Y_SHAPE if conditional else None,
        prior=prior,
        guide=guide,
        likelihood=likelihood,
        learn_likelihood_scale=True,
        **tiny(),
    )
    if not conditional and (prior not in ("standard-normal", "vamp") or guide.endswith("-xy")):
        with pytest.raises(ValueError, match="set y_shape"):
            pc.build(variant, **spec)
        return
    if likelihood == "flow" and conv:
        with pytest.raises(ValueError, match="flat x|needs x_shape"):
            pc.build(variant, **spec)
        return
    model = pc.build(variant, **spec)
    x, y = batch(conditional, x_shape)

    guide_trace, trace = traces(model, x, y)
    z_site, x_site = trace.nodes["z"], trace.nodes["x"]
    assert z_site["fn"].batch_shape == (BATCH,) and z_site["fn"].event_shape == (3,)
    assert x_site["fn"].batch_shape == (BATCH,) and x_site["fn"].event_shape == x_shape
    assert x_site["is_observed"] and torch.equal(x_site["value"], x)
    assert guide_trace.nodes["z"]["fn"].event_shape == (3,)

    loss = Trace_ELBO().differentiable_loss(model.raw_model, model.raw_guide, x, y)
    assert torch.isfinite(loss)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_guide_without_condition_really_ignores_y():
    model = pc.build("cvae-xonly", x_shape=(4,), y_shape=(2,), **tiny())
    x = torch.randn(3, 4)
    a, b = model.encoder(x, torch.randn(3, 2)), model.encoder(x, torch.randn(3, 2))
    assert torch.equal(a.mean, b.mean)


def _same_z_losses(elbo_cls, model, x, y, **kwargs):
    pyro.set_rng_seed(1)
    return elbo_cls().differentiable_loss(model.raw_model, model.raw_guide, x, y, **kwargs)


@pytest.mark.parametrize("variant", ["cvae", "dual-encoder"])
def test_mean_field_kl_is_the_analytic_gaussian_kl(variant):
    model = pc.build(variant, x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(6, 4), torch.randn(6, 2)
    loss = _same_z_losses(TraceMeanField_ELBO, model, x, y)

    pyro.set_rng_seed(1)  # the same draw of z as inside the ELBO
    guide_trace, trace = traces(model, x, y)
    log_likelihood = trace.nodes["x"]["fn"].log_prob(x).sum()
    q, p = guide_trace.nodes["z"]["fn"].base_dist, model.prior(y).base_dist
    # closed form KL(N(mq, sq^2) || N(mp, sp^2)), summed over latent dims and data
    kl = 0.5 * ((q.scale / p.scale) ** 2 + ((q.loc - p.loc) / p.scale) ** 2 - 1 + 2 * (p.scale / q.scale).log())
    assert torch.allclose(loss, kl.sum() - log_likelihood, rtol=1e-5)

    # Trace_ELBO's Monte Carlo KL has the same expectation
    elbo = Trace_ELBO(num_particles=20000, vectorize_particles=True, max_plate_nesting=1)
    mc = elbo.differentiable_loss(model.raw_model, model.raw_guide, x, y)
    exact = TraceMeanField_ELBO(num_particles=20000, vectorize_particles=True, max_plate_nesting=1)
    assert torch.allclose(mc, exact.differentiable_loss(model.raw_model, model.raw_guide, x, y), rtol=2e-2)


def test_mini_batch_loss_is_scaled_to_the_full_data_set():
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    full = _same_z_losses(Trace_ELBO, model, x, y)
    scaled = _same_z_losses(Trace_ELBO, model, x, y, num_data=800)
    assert torch.allclose(scaled, 100 * full, rtol=1e-5)


def test_kl_weight_scales_only_the_kl_term():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    one, two, five = (_same_z_losses(TraceMeanField_ELBO, model, x, y, kl_weight=w) for w in (1.0, 2.0, 5.0))
    kl = two - one  # loss(β) = -reconstruction + β KL
    assert kl > 0
    assert torch.allclose(five, one + 4 * kl, rtol=1e-5)


def test_forward_model_adds_an_observed_consistency_site():
    model = pc.build("dual-encoder", x_shape=(3,), y_shape=(3,), forward_model="identity", **tiny())
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    guide_trace, trace = traces(model, x, y)
    site = trace.nodes["y_fwd"]
    assert site["is_observed"] and torch.equal(site["value"], y)
    decoded = model.decoder(guide_trace.nodes["z"]["value"], y)
    assert torch.allclose(site["fn"].base_dist.loc, decoded)  # F(x) = x
    assert torch.allclose(site["fn"].base_dist.scale, torch.tensor(0.1))


def test_forward_model_can_be_any_torch_callable_and_gets_gradients():
    model = pc.build("cvae", x_shape=(2,), y_shape=(1,), forward_model=lambda x: x.sum(-1, keepdim=True), **tiny())
    assert model.custom_components == ("forward_model",)
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    Trace_ELBO().differentiable_loss(model.raw_model, model.raw_guide, x, y).backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_forward_model_without_condition_is_rejected():
    with pytest.raises(ValueError, match="forward_model needs a condition"):
        pc.build("vae", x_shape=(2,), forward_model=lambda x: x, **tiny())


def test_textbook_pyro_svi_with_pyro_optim_trains_the_registered_model():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    svi = SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
    x = torch.randn(64, 4)
    y = x[:, :2]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = [svi.step(x, y) for _ in range(60)]
    assert sum(losses[-10:]) < sum(losses[:10])
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    assert len(changed) == len(list(model.parameters()))
    # the store holds every model this process built; this one's under its own name
    mine = {name.split("$$$")[-1] for name in pyro.get_param_store().keys() if name.startswith(model.name + "$$$")}
    assert mine == {n for n, _ in model.named_parameters()}


def test_guide_needs_x_and_model_needs_a_batch():
    model = pc.build("vae", x_shape=(2,), **tiny())
    with pytest.raises(ValueError, match="the guide q\\(z \\| x, y\\) needs x"):
        model.raw_guide(None)
    with pytest.raises(ValueError, match="give x, y or batch_size"):
        model.raw_model()


@pytest.mark.parametrize(
    "x, y, message",
    [
        (torch.randn(3, 5), torch.randn(3, 2), r"x must have shape \(batch, 4\), got \(3, 5\)"),
        (torch.randn(3, 4), None, "this model is conditional: y of shape"),
        (torch.randn(3, 4), torch.randn(2, 2), "same batch size, got 3 and 2"),
        (torch.full((3, 4), float("nan")), torch.randn(3, 2), "x contains 12 NaN"),
        (torch.ones(3, 4, dtype=torch.int64), torch.randn(3, 2), "x must have a floating dtype"),
        ([[1.0] * 4], torch.randn(1, 2), "x must be a torch.Tensor or a numpy array, got list"),
    ],
)
def test_check_data_errors_name_the_argument(x, y, message):
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), **tiny())
    with pytest.raises((ValueError, TypeError), match=message):
        model.check_data(x, y)

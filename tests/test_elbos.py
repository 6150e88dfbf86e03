import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.components.nets import MIN_SCALE
from pyro_cvae.train.elbos import make_elbo
from pyro_cvae.train.step import SVIStep

from .conftest import tiny


@pytest.mark.parametrize("elbo", ["jit-mean-field", "jit-trace"])
def test_jit_elbo_traces_once_and_trains(monkeypatch, elbo):
    calls = []
    real_trace = torch.jit.trace

    def counting_trace(*args, **kwargs):
        calls.append(1)
        return real_trace(*args, **kwargs)

    monkeypatch.setattr(torch.jit, "trace", counting_trace)
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    step = SVIStep(model, elbo=elbo, learning_rate=1e-2)
    x = torch.randn(32, 4)
    y = x[:, :2].clone()
    before = [p.detach().clone() for p in model.parameters()]
    losses = [float(step(x, y, kl_weight=w, num_data=32)) for w in [0.5, 1.0] * 20]
    assert len(calls) == 1  # pyro-ppl 1.9.2's JitTraceMeanField_ELBO would trace 40 times
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert sum(losses[-6:]) < sum(losses[:6])


def test_jit_loss_equals_the_uncompiled_loss():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    # the mean-field loss depends on z only through the reconstruction term; fix z's noise
    model.encoder.net.head[-1].weight.data[3:].fill_(0.0)
    model.encoder.net.head[-1].bias.data[3:].fill_(-30.0)  # scale -> MIN_SCALE: z almost fixed
    plain = SVIStep(model, elbo="mean-field").loss(x, y, 0.7, 100)
    jit = SVIStep(model, elbo="jit-mean-field").loss(x, y, 0.7, 100)
    assert torch.allclose(plain, jit, rtol=1e-4)


def test_vectorized_particles_average_the_loss():
    elbo = make_elbo("trace", num_particles=8)
    assert elbo.vectorize_particles and elbo.num_particles == 8


def _linear_gaussian_vae(noise=0.5, guide_scale=0.6):
    """z ~ N(0, 1), x | z ~ N(z, noise²): log p(x) = log N(x; 0, 1 + noise²) exactly. The guide
    q(z | x) = N(0.7 x, guide_scale²) is near the exact posterior N(0.8 x, 0.2)."""
    model = pc.build("vae", x_shape=(1,), latent_dim=1, hidden_sizes=(), likelihood="normal", likelihood_scale=noise)
    with torch.no_grad():
        model.decoder.head[0].weight.fill_(1.0)
        model.decoder.head[0].bias.zero_()
        encoder = model.encoder.net.head[0]  # Linear(1, 2): [loc, raw scale]
        encoder.weight.copy_(torch.tensor([[0.7], [0.0]]))
        raw = torch.log(torch.expm1(torch.tensor(guide_scale - MIN_SCALE)))  # softplus⁻¹
        encoder.bias.copy_(torch.stack([torch.tensor(0.0), raw]))
    return model


def test_the_default_objective_takes_the_kl_in_closed_form():
    assert pc.FitConfig().elbo == "analytic-kl"
    model = _linear_gaussian_vae(guide_scale=1e-3)  # z almost fixed: the reconstruction term barely varies
    x = torch.randn(64, 1)
    with torch.no_grad():
        analytic = torch.stack([SVIStep(model, "analytic-kl").loss(x) for _ in range(200)])
        sampled = torch.stack([SVIStep(model, "trace").loss(x) for _ in range(200)])
    assert analytic.std() < 0.1 * sampled.std()  # the KL's sampling noise is gone
    assert abs(analytic.mean() - sampled.mean()) < 4 * sampled.std() / 200**0.5  # the same objective


def test_iwae_bound_approaches_the_exact_log_likelihood_and_tightens_with_k():
    torch.manual_seed(0)
    model = _linear_gaussian_vae()
    x = torch.randn(50, 1) * 1.2
    exact = float(torch.distributions.Normal(0.0, (1 + 0.5**2) ** 0.5).log_prob(x).sum())
    with torch.no_grad():

        def bound(k, repeats):
            losses = [
                make_elbo("iwae", k).differentiable_loss(model.raw_model, model.raw_guide, x) for _ in range(repeats)
            ]
            return -float(torch.stack(losses).mean())

        bounds = {1: bound(1, 20), 8: bound(8, 20), 4000: bound(4000, 1)}
        elbos = torch.stack(
            [make_elbo("trace").differentiable_loss(model.raw_model, model.raw_guide, x) for _ in range(20)]
        )
    assert bounds[1] < bounds[8] - 5 and abs(bounds[4000] - exact) < 0.15  # tightens to the exact value
    assert abs(bounds[1] + float(elbos.mean())) < 4 * float(elbos.std()) / 20**0.5 * 2**0.5  # K = 1: the ELBO


def test_iwae_scales_minibatches_to_the_full_data_and_keeps_the_kl_weight():
    model = _linear_gaussian_vae()
    x = torch.randn(10, 1)
    iwae = make_elbo("iwae", 16)

    def loss(**kwargs):
        torch.manual_seed(1)
        return iwae.differentiable_loss(model.raw_model, model.raw_guide, x, **kwargs)

    assert torch.allclose(loss(num_data=40), 4 * loss(), rtol=1e-5)
    # with β = 1 the weights are the plain ones; β != 1 changes the bound
    assert torch.allclose(loss(kl_weight=1.0), loss())
    assert not torch.allclose(loss(kl_weight=0.3), loss())


@pytest.mark.parametrize("elbo", ["iwae", "iwae-dreg"])
def test_iwae_trains_every_parameter(elbo):
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    step = SVIStep(model, elbo=elbo, num_particles=5)
    step.loss(torch.randn(8, 4), torch.randn(8, 2), 0.5, 100).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def _gradients(model, elbo, x, seed, kl_weight=1.0):
    model.zero_grad()
    torch.manual_seed(seed)
    loss = elbo.differentiable_loss(model.raw_model, model.raw_guide, x, kl_weight=kl_weight)
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_dreg_keeps_the_bound_and_the_models_gradient_and_gives_the_guide_its_doubly_reparameterized_one(beta):
    model = _linear_gaussian_vae()
    x, k = torch.randn(6, 1), 8
    iwae_loss, iwae = _gradients(model, make_elbo("iwae", k), x, seed=3, kl_weight=beta)
    dreg_loss, dreg = _gradients(model, make_elbo("iwae-dreg", k), x, seed=3, kl_weight=beta)
    assert torch.allclose(iwae_loss, dreg_loss)
    for name in ("decoder.head.0.weight", "decoder.head.0.bias"):  # the model's: IWAE's gradient
        assert torch.allclose(iwae[name], dreg[name]), name
    # the guide's, by hand: Σ_k ((1 - β) w̃_k + β w̃_k²) log w_k with q's parameters detached,
    # on the same draws (β = 1: Σ_k w̃_k² log w_k)
    torch.manual_seed(3)
    eps = torch.randn(k, 6, 1)  # what the guide's rsample draws after this seed
    q = model.encoder(x, None).base_dist
    z = q.loc + q.scale * eps
    normal = torch.distributions.Normal
    kl = normal(0.0, 1.0).log_prob(z) - normal(q.loc.detach(), q.scale.detach()).log_prob(z)
    log_w = (normal(z, 0.5).log_prob(x) + beta * kl).sum(-1)
    w = torch.softmax(log_w.detach(), 0)
    model.zero_grad()
    (-(((1 - beta) * w + beta * w**2) * log_w).sum()).backward()
    for name, parameter in model.encoder.named_parameters():
        assert torch.allclose(parameter.grad, dreg[f"encoder.{name}"], atol=1e-6), name
        assert not torch.allclose(parameter.grad, iwae[f"encoder.{name}"], atol=1e-3), name


def test_dreg_estimates_the_same_guide_gradient_with_less_noise():
    """Tucker et al. 2019: IWAE's guide gradient loses its signal to noise as K grows, DReG's
    does not. Same expectation (the guide's loc weight), a far smaller spread at K = 64 (here
    0.009 against 0.73)."""
    model = _linear_gaussian_vae(guide_scale=0.8)
    x = torch.randn(4, 1, generator=torch.Generator().manual_seed(0))

    def loc_gradient(name, seed):
        return _gradients(model, make_elbo(name, 64), x, seed)[1]["encoder.net.head.0.weight"][0, 0]

    draws = {name: torch.stack([loc_gradient(name, s) for s in range(300)]) for name in ("iwae", "iwae-dreg")}
    iwae, dreg = draws["iwae"], draws["iwae-dreg"]
    assert dreg.std() < 0.1 * iwae.std()
    assert abs(iwae.mean() - dreg.mean()) < 4 * (iwae.var() / 300 + dreg.var() / 300) ** 0.5


def test_dreg_stops_on_the_bound_it_trains_on():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(64, 4), torch.randn(64, 2)
    config = pc.FitConfig(epochs=2, batch_size=32, elbo="iwae-dreg", num_particles=4, patience=5, progress=False)
    history = pc.fit(model, (x, y), config, val_data=(x[:16], y[:16]))
    assert len(history.val_iwae) == 2 and all(torch.isfinite(torch.tensor(history.val_iwae)))


def test_dreg_takes_a_full_covariance_guide_and_refuses_a_flow_guide():
    full = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), guide="full-covariance-xy", **tiny())
    SVIStep(full, elbo="iwae-dreg", num_particles=3).loss(torch.randn(8, 4), torch.randn(8, 2)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in full.encoder.parameters())
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), guide="flow-xy", **tiny())
    with pytest.raises(NotImplementedError, match="iwae-dreg.*Gaussian guide.*'z'.*elbo='iwae'"):
        SVIStep(model, elbo="iwae-dreg", num_particles=3).loss(torch.randn(8, 4), torch.randn(8, 2))

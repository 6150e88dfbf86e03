import math

import pytest
import torch

from pyro_cvae.components.likelihoods import LIKELIHOODS
from pyro_cvae.config import ModelConfig


def make(name, **fields):
    return LIKELIHOODS.get(name)(ModelConfig(x_shape=(2, 3), likelihood=name, **fields))


def test_normal_is_mse_up_to_constants():
    lik = make("normal", likelihood_scale=0.5)
    param, x = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    d = lik(param)
    assert d.event_shape == (2, 3) and d.batch_shape == (4,)
    expected = (-0.5 * ((x - param) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)).sum((-1, -2))
    assert torch.allclose(d.log_prob(x), expected, atol=1e-5)


def test_laplace_is_l1():
    lik = make("laplace", likelihood_scale=2.0)
    param, x = torch.zeros(1, 2, 3), torch.full((1, 2, 3), 3.0)
    assert torch.allclose(lik(param).log_prob(x), torch.tensor([6 * (-1.5 - math.log(4.0))]))


def test_bernoulli_is_binary_cross_entropy():
    lik = make("bernoulli")
    logits, x = torch.randn(3, 2, 3), torch.rand(3, 2, 3)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((-1, -2))
    assert torch.allclose(lik(logits).log_prob(x), -bce, atol=1e-5)
    assert torch.allclose(lik.mean(logits), torch.sigmoid(logits))


def test_continuous_bernoulli_is_normalized_on_unit_interval():
    lik = LIKELIHOODS.get("continuous-bernoulli")(ModelConfig(x_shape=(1,), likelihood="continuous-bernoulli"))
    grid = torch.linspace(0, 1, 20001)[:, None]
    density = lik(torch.full((20001, 1), 1.3)).log_prob(grid).exp()
    assert torch.trapezoid(density, grid[:, 0]).item() == pytest.approx(1.0, abs=1e-3)


def test_learned_scale_is_a_parameter_and_fixed_is_not():
    assert [n for n, _ in make("normal", learn_likelihood_scale=True).named_parameters()] == ["log_scale"]
    assert list(make("normal").parameters()) == []


@pytest.mark.parametrize("name", ["bernoulli", "continuous-bernoulli"])
def test_unit_interval_likelihoods_reject_data_outside(name):
    with pytest.raises(ValueError, match=r"x must lie in \[0.0, 1.0\].*got values in \[-1"):
        make(name).check_data(torch.tensor([[[-1.0, 0.5, 0.2], [0.1, 0.1, 2.0]]]))


def test_diagonal_normal_takes_a_location_and_a_scale_per_value():
    lik = make("diagonal-normal")
    loc, raw = torch.randn(4, 2, 3), torch.randn(4, 2, 3)
    d = lik(torch.cat([loc, raw], dim=1))  # stacked along x's first dim
    scale = torch.nn.functional.softplus(raw) + 1e-4
    x = torch.randn(4, 2, 3)
    assert d.event_shape == (2, 3) and d.batch_shape == (4,)
    assert torch.allclose(d.log_prob(x), torch.distributions.Normal(loc, scale).log_prob(x).sum((-1, -2)), atol=1e-5)
    assert torch.equal(lik.mean(torch.cat([loc, raw], dim=1)), loc)


def test_decoders_emit_the_shape_their_likelihood_reads():
    import pyro_cvae as pc

    for name, shape in [("normal", (2, 3)), ("diagonal-normal", (4, 3))]:
        model = pc.build(ModelConfig(x_shape=(2, 3), likelihood=name, latent_dim=2, hidden_sizes=(8,)))
        assert model.decoder(torch.zeros(5, 2)).shape == (5, *shape)
    model = pc.build(ModelConfig(x_shape=(3,), likelihood="flow", latent_dim=2, hidden_sizes=(8,)))
    assert model.decoder(torch.zeros(5, 2)).shape[-1] == 64


def test_flow_likelihood_is_a_normalized_density_over_x():
    torch.manual_seed(0)
    lik = LIKELIHOODS.get("flow")(ModelConfig(x_shape=(1,), likelihood="flow", hidden_sizes=(8,)))
    grid = torch.linspace(-12, 12, 24001)[:, None]
    with torch.no_grad():  # a density to integrate, not a loss
        density = lik(torch.randn(1, 64).expand(len(grid), 64)).log_prob(grid).exp()
    assert abs(float(torch.trapezoid(density, grid[:, 0])) - 1) < 1e-3
    with pytest.raises(ValueError, match="flat x"):
        LIKELIHOODS.get("flow")(ModelConfig(x_shape=(2, 3), likelihood="flow"))

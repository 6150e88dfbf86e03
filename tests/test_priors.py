import math

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.components.priors import PRIORS
from pyro_cvae.config import ModelConfig

from .conftest import tiny


def make(name, **fields):
    return PRIORS.get(name)(ModelConfig(x_shape=(4,), y_shape=(3,), prior=name, **tiny(**fields)))


def test_standard_normal_is_unit_gaussian():
    prior = make("standard-normal")
    d = prior(None)
    assert d.event_shape == (3,) and d.batch_shape == ()
    z = torch.randn(10, 3)
    expected = -0.5 * (z**2).sum(-1) - 1.5 * math.log(2 * math.pi)
    assert torch.allclose(d.log_prob(z), expected, atol=1e-5)


def test_conditional_gaussian_depends_on_y():
    prior = make("conditional-gaussian")
    y = torch.randn(5, 3)
    d = prior(y)
    assert d.batch_shape == (5,) and d.event_shape == (3,)
    assert not torch.allclose(d.mean[0], d.mean[1])


def test_mixture_log_prob_is_logsumexp_of_components():
    prior = make("conditional-mixture", mixture_components=4)
    y = torch.randn(2, 3)
    d = prior(y)
    z = torch.randn(2, 3)
    weights = torch.log_softmax(d.mixture_distribution.logits, -1)
    components = d.component_distribution.log_prob(z.unsqueeze(-2))
    assert torch.allclose(d.log_prob(z), torch.logsumexp(weights + components, -1), atol=1e-5)
    assert d.component_distribution.batch_shape == (2, 4)
    assert d.sample((7,)).shape == (7, 2, 3)


def test_flow_prior_is_a_normalized_density_that_depends_on_y_and_learns():
    prior = make("conditional-flow", latent_dim=2, flow_layers=2)
    y = torch.randn(2, 3)
    d = prior(y)
    assert d.batch_shape == (2,) and d.sample().shape == (2, 2) and d.sample((7,)).shape == (7, 2, 2)
    # it integrates to one for each y (a fine 2-d grid is exact enough)
    axis = torch.linspace(-8, 8, 241)
    grid = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 1, 2)
    mass = d.log_prob(grid.expand(-1, 2, 2)).exp().sum(0) * (axis[1] - axis[0]) ** 2
    assert torch.allclose(mass, torch.ones(2), atol=1e-2)
    assert not torch.allclose(d.log_prob(torch.zeros(2, 2))[0], d.log_prob(torch.zeros(2, 2))[1])
    # every parameter, the y embedding included, gets a gradient from log_prob
    d.log_prob(torch.randn(2, 2)).sum().backward()
    for name, p in prior.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_flow_prior_and_flow_likelihood_draw_as_before_without_the_draws_density():
    # they draw without computing each draw's log-density (nothing scores their draws) and must
    # draw exactly what they drew with it, and score any value as the flow does
    model = pc.build("dual-encoder", x_shape=(3,), y_shape=(2,), prior="conditional-flow", likelihood="flow",
                     flow_type="maf", **tiny(latent_dim=3))  # fmt: skip
    c = model.features(torch.randn(4, 2))
    for flow in (model.prior(c).expand((5, 4)), model.likelihood(model.decoder(torch.randn(5, 4, 3), c))):
        assert flow.keep_draw_density is False
        torch.manual_seed(0)
        draw = flow.rsample()
        flow.keep_draw_density = True  # as the flow drew before: the density beside each draw
        torch.manual_seed(0)
        assert torch.equal(flow.rsample(), draw) and draw.shape == (5, 4, 3)
        scored = flow.log_prob(draw.clone())  # not the kept draw: scored by the flow
        assert torch.allclose(flow.log_prob(draw), scored, atol=1e-4) and torch.isfinite(scored).all()


@pytest.mark.parametrize("name", ["conditional-gaussian", "conditional-mixture", "conditional-flow"])
def test_conditional_priors_need_a_condition(name):
    config = ModelConfig(x_shape=(4,), prior=name, guide="encoder-x", **tiny())
    with pytest.raises(ValueError, match="set y_shape"):
        PRIORS.get(name)(config)


def test_unknown_prior_lists_choices():
    with pytest.raises(
        KeyError, match="valid choices are: conditional-flow, conditional-gaussian, conditional-mixture"
    ):
        pc.build(ModelConfig(x_shape=(4,), prior="gaussian-ish"))

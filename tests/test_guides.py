import pyro
import pyro.distributions as dist
import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.components.flows import ZukoFlow
from pyro_cvae.components.priors import UniformMixture

from .conftest import tiny


def test_full_covariance_kl_has_the_closed_form_of_two_full_gaussians():
    generator = torch.Generator().manual_seed(0)
    tril = torch.randn(5, 4, 4, generator=generator).tril()
    tril.diagonal(dim1=-2, dim2=-1).copy_(torch.rand(5, 4, generator=generator) + 0.3)
    q = dist.MultivariateNormal(torch.randn(5, 4, generator=generator), scale_tril=tril)
    loc, scale = torch.randn(5, 4, generator=generator), torch.rand(5, 4, generator=generator) + 0.5
    diagonal = dist.Normal(loc, scale).to_event(1)
    as_full = dist.MultivariateNormal(loc, scale_tril=torch.diag_embed(scale))
    expected = torch.distributions.kl_divergence(q, as_full)
    assert torch.allclose(torch.distributions.kl_divergence(q, diagonal), expected, atol=1e-5)


def test_full_covariance_guide_can_express_correlation():
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), guide="full-covariance-xy", **tiny())
    q = model.encoder(torch.randn(6, 4), torch.randn(6, 2))
    assert isinstance(q, dist.MultivariateNormal) and q.batch_shape == (6,) and q.event_shape == (3,)
    off_diagonal = q.covariance_matrix - torch.diag_embed(q.covariance_matrix.diagonal(dim1=-2, dim2=-1))
    assert off_diagonal.abs().sum() > 0


def test_flow_guide_expands_under_a_particle_plate_and_scores_its_own_draws():
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), guide="flow-xy", flow_type="maf", **tiny())
    q = model.encoder(torch.randn(6, 4), torch.randn(6, 2))
    assert isinstance(q, ZukoFlow) and q.batch_shape == (6,)
    with pyro.plate("particles", 5, dim=-2), pyro.plate("data", 6, dim=-1):
        z = pyro.sample("z", q)
    assert z.shape == (5, 6, 3)
    expanded = q.expand((5, 6))
    draw = expanded.rsample()
    cached = expanded.log_prob(draw)
    recomputed = expanded.log_prob(draw.clone())  # not the cached object: scored by the flow
    assert torch.allclose(cached, recomputed, atol=1e-4)


def test_flow_guide_is_not_a_diagonal_gaussian():
    # the flow must be able to move the density away from the base Gaussian it starts from
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), guide="flow-xy", **tiny())
    x, y = torch.randn(1, 4), torch.randn(1, 2)
    q = model.encoder(x, y)
    base = model.encoder.net(x, y)[..., :6]
    gaussian = pc.components.nets.diagonal_normal(base)
    z = q.sample((2000,))
    assert not torch.allclose(q.log_prob(z), gaussian.log_prob(z), atol=1e-3)


@pytest.mark.parametrize("flow_type", ["nsf", "maf"])
def test_flow_guide_log_density_integrates_to_one(flow_type):
    model = pc.build("vae", x_shape=(4,), latent_dim=1, hidden_sizes=(8,), guide="flow-x", flow_type=flow_type)
    q = model.encoder(torch.randn(1, 4), None)
    grid = torch.linspace(-12, 12, 20001)[:, None, None]  # (points, batch 1, event 1)
    with torch.no_grad():
        mass = torch.trapezoid(q.log_prob(grid).exp().squeeze(-1), grid.squeeze(-1).squeeze(-1))
    assert abs(float(mass) - 1) < 1e-2


def test_unknown_flow_type_lists_the_choices():
    with pytest.raises(KeyError, match="nsf"):
        pc.build("cvae", x_shape=(4,), y_shape=(2,), guide="flow-xy", flow_type="planar", **tiny())


def test_vamp_prior_is_the_uniform_mixture_of_the_guide_at_its_pseudo_inputs():
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), prior="vamp", pseudo_inputs=7, **tiny())
    y = torch.randn(5, 2)
    p = model.prior(y)
    assert p.batch_shape == (5,) and p.event_shape == (3,)
    z = torch.randn(5, 3)
    components = [model.encoder(model.prior.pseudo_inputs[k].expand(5, 4), y).log_prob(z) for k in range(7)]
    expected = torch.logsumexp(torch.stack(components), 0) - torch.log(torch.tensor(7.0))
    assert torch.allclose(p.log_prob(z), expected, atol=1e-5)
    # the guide is held once: its weights are not duplicated under the prior
    assert not any(name.startswith("prior.") and "encoder" in name for name in model.state_dict())


def test_uniform_mixture_samples_follow_its_components():
    components = dist.Normal(torch.tensor([[-5.0], [5.0]]), 0.1).to_event(1)  # batch (K = 2,)
    mixture = UniformMixture(components)
    draws = mixture.sample((4000,))
    assert draws.shape == (4000, 1)
    assert abs(float((draws > 0).float().mean()) - 0.5) < 0.05
    assert torch.allclose(
        mixture.log_prob(torch.tensor([5.0])),
        components.log_prob(torch.tensor([5.0]))[1] - torch.log(torch.tensor(2.0)),
    )


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(prior="vamp", pseudo_inputs=0), "pseudo_inputs must be a positive int"),
        (dict(missing_labels=True, classifier_weight=-1.0), "classifier_weight must be >= 0"),
        (dict(guide="flow-xy", flow_layers=0), "flow_layers must be a positive int"),
    ],
)
def test_bad_new_config_values_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        pc.build("cvae", x_shape=(4,), y_shape=(2,), **tiny(**fields))

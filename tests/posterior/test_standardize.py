"""θ's unconstrained standardized space: round trips, the support kept, the Jacobian exact."""

import math

import pytest
import torch

from pyro_cvae.posterior import ObservationScaler, ParameterSpace, support_bounds

INF = math.inf


def space(lower, upper, n=2000):
    torch.manual_seed(0)
    lower, upper = torch.tensor(lower), torch.tensor(upper)
    base = torch.randn(n, len(lower))
    theta = torch.where(
        torch.isfinite(lower) & torch.isfinite(upper), lower + (upper - lower) * torch.rand_like(base), base
    )
    theta = torch.where(torch.isfinite(lower) & ~torch.isfinite(upper), lower + base.exp(), theta)
    theta = torch.where(~torch.isfinite(lower) & torch.isfinite(upper), upper - base.exp(), theta)
    return ParameterSpace.fit(theta, lower, upper, transform=True), theta


def test_round_trip_and_standardized_training_values():
    s, theta = space([-1.0, 0.0, -INF, -INF], [1.0, INF, 5.0, INF])
    u = s.to_network(theta)
    assert torch.allclose(u.mean(0), torch.zeros(4), atol=1e-4) and torch.allclose(u.std(0), torch.ones(4), atol=1e-3)
    assert torch.allclose(s.from_network(u), theta, atol=1e-4)


def test_every_point_of_the_real_line_maps_inside_the_support():
    s, _ = space([-1.0, 0.0, -INF], [1.0, INF, 5.0])
    theta = s.from_network(torch.randn(10000, 3) * 30)
    assert (theta >= s.lower).all() and (theta <= s.upper).all() and torch.isfinite(theta).all()


def test_log_abs_det_is_the_jacobian_of_the_map():
    s, theta = space([-1.0, 0.0, -INF, -INF], [1.0, INF, 5.0, INF], n=5)
    for row in theta:
        jacobian = torch.autograd.functional.jacobian(s.to_network, row.double().float())
        assert torch.allclose(s.log_abs_det(row), jacobian.det().abs().log(), atol=1e-4)


def test_bounds_come_from_the_prior_support():
    box = torch.distributions.Independent(torch.distributions.Uniform(-torch.ones(3), 2 * torch.ones(3)), 1)
    assert support_bounds(box, 3)[0].tolist() == [-1] * 3 and support_bounds(box, 3)[1].tolist() == [2] * 3
    gauss = torch.distributions.MultivariateNormal(torch.zeros(2), torch.eye(2))
    assert support_bounds(gauss, 2)[0].tolist() == [-INF] * 2
    assert support_bounds(torch.distributions.Gamma(torch.ones(2), torch.ones(2)), 2)[0].tolist() == [0, 0]
    with pytest.raises(ValueError, match="pass bounds"):
        support_bounds(torch.distributions.Dirichlet(torch.ones(3)), 3)


def test_theta_outside_the_bounds_is_refused():
    with pytest.raises(ValueError, match="outside the prior's support"):
        ParameterSpace.fit(torch.tensor([[0.5], [2.0]]), torch.tensor([0.0]), torch.tensor([1.0]))


def test_without_the_transform_theta_is_only_standardized_and_draws_outside_are_flagged():
    theta = torch.rand(500, 2) * 2
    plain = ParameterSpace.fit(theta, torch.zeros(2), 2 * torch.ones(2))
    assert plain.rejects and not plain.transform
    assert torch.allclose(plain.to_network(theta) * plain.scale + plain.loc, theta, atol=1e-5)
    assert torch.allclose(plain.log_abs_det(theta), -plain.scale.log().sum().expand(500))
    assert plain.inside(torch.tensor([[1.0, 1.0], [2.5, 1.0]])).tolist() == [True, False]
    assert not ParameterSpace.fit(theta, torch.full((2,), -INF), torch.full((2,), INF)).rejects


def test_saved_and_restored_exactly():
    s, theta = space([-1.0, 0.0], [1.0, INF])
    again = ParameterSpace.from_dict(s.to_dict())
    assert torch.equal(again.to_network(theta), s.to_network(theta))
    x = torch.randn(100, 3, 8) * 50 + 7
    scaler = ObservationScaler.fit(x)  # a sequence: one location and scale for all its values
    assert scaler.loc.shape == (1,) and abs(float(scaler(x).std()) - 1) < 1e-4
    assert torch.equal(ObservationScaler.from_dict(scaler.to_dict())(x), scaler(x))

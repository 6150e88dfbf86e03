import torch

from pyro_cvae.twobirds.lines import (
    HIGH,
    LOW,
    endpoints_from_lines,
    endpoints_from_unit,
    lines_from_endpoints,
    log_prior_density,
    sample_endpoints,
)


def test_prior_samples_respect_the_box_and_orders():
    e = sample_endpoints(20000, torch.Generator().manual_seed(0))
    x0s, x0e, x1s, x1e = e.unbind(-1)
    assert (x0e >= LOW).all() and (x0s >= x0e).all() and (x0s <= HIGH).all()
    assert (x1s >= LOW).all() and (x1e >= x1s).all() and (x1e <= HIGH).all()
    # the marginals measured from the challenge files: x0 end and x1 start uniform on [0.1, 1]
    for marginal in (x0e, x1s):
        assert abs(marginal.mean().item() - 0.55) < 0.01
        assert abs(marginal.var().item() - 0.9**2 / 12) < 0.003
    # the other endpoint is uniform between: its conditional mean is halfway to HIGH
    assert torch.allclose((x0s - x0e).mean(), ((HIGH - x0e) / 2).mean(), atol=0.01)


def test_prior_density_integrates_to_one():
    # E_uniform-cube[p(e(u)) * |de/du|] = 1; |de/du| = 0.9 (1-x0e) 0.9 (1-x1s)
    u = torch.rand(100000, 4, dtype=torch.float64)
    e = endpoints_from_unit(u)
    jacobian = 0.9 * (1 - e[:, 1]) * 0.9 * (1 - e[:, 2])
    assert torch.allclose((log_prior_density(e).exp() * jacobian).mean(), torch.tensor(1.0, dtype=torch.float64))
    outside = torch.tensor([[0.5, 0.6, 0.2, 0.3]])  # x0 ascending
    assert log_prior_density(outside).item() == -float("inf")


def test_lines_and_endpoints_round_trip():
    e = sample_endpoints(7).double()
    x = lines_from_endpoints(e, 50)
    assert x.shape == (7, 50, 2)
    assert torch.allclose(x[:, 0, 0], e[:, 0]) and torch.allclose(x[:, -1, 1], e[:, 3])
    assert torch.allclose(endpoints_from_lines(x), e)

"""Spending a simulation budget: the draws, the batches, the workers, and failures counted."""

import pytest
import torch

from pyro_cvae.posterior import Simulations, simulate

PRIOR = torch.distributions.Independent(torch.distributions.Uniform(torch.zeros(2), torch.ones(2)), 1)


def shifted(theta):  # module level: picklable, so worker processes can run it
    return theta + 1.0


def noisy(theta):
    return theta + torch.rand_like(theta)


def nan_when_large(theta):
    x = theta.clone()
    x[theta[:, 0] > 0.8] = float("nan")
    return x


def raises_when_large(theta):
    if (theta[:, 0] > 0.9).any():
        raise RuntimeError("solver blew up")
    return theta * 2


def test_simulates_the_whole_budget_in_batches():
    calls = []

    def simulator(theta):
        calls.append(len(theta))
        return theta * 3

    sims = simulate(PRIOR, simulator, 250, batch_size=100, progress=False)
    assert calls == [100, 100, 50] and len(sims) == 250 and sims.failed == 0
    assert torch.allclose(sims.x, sims.theta * 3)
    assert PRIOR.support.check(sims.theta).all()


def test_workers_give_the_same_simulations_as_one_process():
    one = simulate(PRIOR, noisy, 300, batch_size=64, seed=3, progress=False)
    two = simulate(PRIOR, noisy, 300, batch_size=64, num_workers=2, seed=3, progress=False)
    assert torch.equal(one.theta, two.theta) and torch.equal(one.x, two.x)


def test_the_noise_is_not_drawn_from_the_stream_theta_came_from():
    # a uniform prior and uniform noise: replaying θ's stream would make the noise equal θ
    torch.manual_seed(0)
    sims = simulate(PRIOR, noisy, 2000, seed=0, progress=False)
    noise = sims.x - sims.theta
    assert abs(float(torch.corrcoef(torch.stack([noise[:, 0], sims.theta[:, 0]]))[0, 1])) < 0.1


def test_nan_simulations_are_counted_and_left_out():
    with pytest.warns(UserWarning, match=r"simulations failed"):
        sims = simulate(PRIOR, nan_when_large, 500, progress=False)
    assert sims.failed > 50 and len(sims) == 500 - sims.failed
    assert torch.isfinite(sims.x).all() and (sims.theta[:, 0] <= 0.8).all()


def test_a_raising_simulation_costs_its_own_row_not_the_batch():
    with pytest.warns(UserWarning, match="solver blew up"):
        sims = simulate(PRIOR, raises_when_large, 300, batch_size=50, progress=False)
    assert 0 < sims.failed < 60 and len(sims) == 300 - sims.failed
    assert torch.allclose(sims.x, sims.theta * 2) and "RuntimeError: solver blew up" in sims.errors[0]


def test_a_simulator_that_always_fails_is_an_error_that_quotes_it():
    def broken(theta):
        raise ValueError("missing input file")

    with pytest.raises(RuntimeError, match="missing input file"):
        simulate(PRIOR, broken, 10, progress=False)
    with pytest.raises(ValueError, match="num_simulations must be a positive int"):
        simulate(PRIOR, shifted, 0)


def test_nearest_keeps_the_pairs_whose_x_is_closest_in_units_of_each_features_spread():
    torch.manual_seed(3)
    theta = torch.randn(500, 2)
    x = torch.stack([theta[:, 0], 1000 * theta[:, 1]], -1)  # the second feature in other units
    pairs = Simulations(theta, x)
    x_o = torch.tensor([0.5, -300.0])
    near = pairs.nearest(x_o, 20)
    scaled = (x - x_o) / x.std(0)
    expected = scaled.norm(dim=-1).argsort()[:20]
    assert torch.equal(near.theta, theta[expected]) and torch.equal(near.x, x[expected])
    # in those units both features count: the kept x are near x_o in each
    assert (near.x[:, 0] - 0.5).abs().max() < 0.5 and (near.x[:, 1] + 300).abs().max() < 500


def test_nearest_names_a_bad_request():
    pairs = Simulations(torch.zeros(5, 1), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"k \(6\) must be at most the number of pairs \(5\)"):
        pairs.nearest(torch.zeros(2), 6)
    with pytest.raises(ValueError, match=r"x_o must be one observation shaped \(2,\)"):
        pairs.nearest(torch.zeros(3), 2)
    with pytest.raises(ValueError, match="x_o"):
        pairs.nearest(torch.tensor([0.0, float("nan")]), 2)

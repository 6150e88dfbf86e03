"""``fit_truncated``: simulations spent in rounds near one observation, tried as a user does,
with the truncated prior checked against exact answers (a box prior's mass in a box)."""

import math

import pytest
import torch

from pyro_cvae.diagnostics import sbc, widened
from pyro_cvae.posterior import AmortizedPosterior, PooledProposal, fit_posterior, pooled_proposal, simulate
from pyro_cvae.posterior import truncated as truncated_module
from pyro_cvae.posterior.truncated import BoxTruncatedPrior, RegionTruncatedPrior, box_around, fit_truncated

SMALL = {"model": {"prior_hidden_sizes": (32, 32), "flow_layers": 2}, "epochs": 25}


def box(low, high, n):
    return torch.distributions.Independent(torch.distributions.Uniform(low * torch.ones(n), high * torch.ones(n)), 1)


def noisy_identity(theta):  # x = θ + N(0, 0.1²): away from the bounds the posterior is N(x_o, 0.1²)
    return theta + 0.1 * torch.randn_like(theta)


def test_the_truncated_prior_keeps_the_prior_inside_the_box():
    torch.manual_seed(0)
    prior = box(-3, 3, 2)
    lower, upper = torch.tensor([-1.0, 0.0]), torch.tensor([0.5, 3.0])
    truncated = BoxTruncatedPrior(prior, lower, upper)
    theta = truncated.sample((5000,))
    assert theta.shape == (5000, 2)
    assert ((theta >= lower) & (theta <= upper)).all()
    # uniform inside: each side's mean is the box's centre; the mass kept is the box's share (1.5·3 / 36)
    assert torch.allclose(theta.mean(0), (lower + upper) / 2, atol=0.05)
    assert truncated.prior_mass == pytest.approx(4.5 / 36)
    assert truncated.sample((0,)).shape == (0, 2) and truncated.sample((3, 4)).shape == (3, 4, 2)


@pytest.mark.parametrize("diagonal_mvn", [False, True])
def test_independent_normal_parameters_are_drawn_exactly_in_a_box_of_any_mass(diagonal_mvn):
    # a box far in the tails, in ten dimensions: prior mass (Φ(1) - Φ(0))^10 ≈ 2e-5, out of
    # rejection's reach; each coordinate is then a standard normal truncated to [0, 1]
    torch.manual_seed(2)
    n = 10
    if diagonal_mvn:
        prior = torch.distributions.MultivariateNormal(torch.zeros(n), precision_matrix=torch.eye(n))
    else:
        prior = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(n), torch.ones(n)), 1)
    truncated = BoxTruncatedPrior(prior, torch.zeros(n), torch.ones(n))
    theta = truncated.sample((20000,))
    assert theta.shape == (20000, n) and ((theta >= 0) & (theta <= 1)).all()
    normal = torch.distributions.Normal(0.0, 1.0)
    mass = float(normal.cdf(torch.tensor(1.0)) - 0.5)
    mean = float((normal.log_prob(torch.tensor(0.0)).exp() - normal.log_prob(torch.tensor(1.0)).exp()) / mass)
    assert torch.allclose(theta.mean(0), torch.full((n,), mean), atol=0.01)  # 0.4597
    assert truncated.prior_mass == pytest.approx(mass**n, rel=1e-4)


def test_correlated_parameters_are_drawn_by_rejection():
    torch.manual_seed(3)
    covariance = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
    prior = torch.distributions.MultivariateNormal(torch.zeros(2), covariance)
    truncated = BoxTruncatedPrior(prior, torch.tensor([0.0, 0.0]), torch.tensor([5.0, 5.0]))
    theta = truncated.sample((4000,))
    assert ((theta >= 0) & (theta <= 5)).all()
    # P(both > 0) for correlation ρ: 1/4 + asin(ρ) / (2π)
    assert truncated.prior_mass == pytest.approx(0.25 + math.asin(0.8) / (2 * math.pi), abs=0.005)
    assert float(torch.corrcoef(theta.T)[0, 1]) > 0.4  # still correlated inside the box
    assert truncated.sample((0,)).shape == (0, 2)


def test_a_box_the_prior_never_reaches_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(truncated_module, "MAX_PROPOSALS", 300_000)
    prior = torch.distributions.MultivariateNormal(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
    truncated = BoxTruncatedPrior(prior, torch.tensor([20.0, 20.0]), torch.tensor([30.0, 30.0]))
    with pytest.raises(RuntimeError, match="kept 0 of 300000 prior draws"):
        truncated.sample((10,))


class Crescent:
    """A posterior of known density at every x: N(0, 1) on the radius of a ring of radius 2
    (width 0.1), uniform in angle, so its highest-density regions are annuli."""

    def log_prob(self, theta, x_o, num_particles=256):
        radius = theta.norm(dim=-1)
        value = torch.distributions.Normal(2.0, 0.1).log_prob(radius) - torch.log(2 * math.pi * radius)
        return type("LogProb", (), {"value": value})()

    def sample(self, x_o, n):
        angle, radius = 2 * math.pi * torch.rand(n), 2.0 + 0.1 * torch.randn(n)
        return torch.stack([radius * angle.cos(), radius * angle.sin()], -1)


def test_the_region_is_the_posteriors_highest_density_region_inside_the_box():
    # a ring: its box is the square around it, its highest-density region the ring itself
    torch.manual_seed(4)
    posterior, prior = Crescent(), box(-3, 3, 2)
    draws = posterior.sample(None, 10000)
    lower, upper = box_around(draws, 0.0, -3 * torch.ones(2), 3 * torch.ones(2))
    region = RegionTruncatedPrior(prior, posterior, torch.zeros(1), draws, lower, upper)
    theta = region.sample((3000,))
    radius = theta.norm(dim=-1)
    # the lowest density among 10,000 draws is about 3.9 of the radius' standard deviations out
    assert theta.shape == (3000, 2) and radius.min() > 1.5 and radius.max() < 2.5
    assert radius.max() - radius.min() > 0.6  # and about that far: all but a sliver of the ring
    # its prior mass: the annulus' area over the prior's (36); the box's alone would be about 0.5
    width = float(radius.max() - radius.min())
    assert region.prior_mass == pytest.approx(2 * math.pi * 2.0 * width / 36, rel=0.15)
    assert region.box.prior_mass > 0.4


def test_the_box_holds_the_draws_with_a_margin_and_stays_in_the_support():
    draws = torch.tensor([[0.0, 1.0], [1.0, 3.0]])
    lower, upper = box_around(draws, 0.25, torch.tensor([-10.0, 1.2]), torch.tensor([10.0, 10.0]))
    assert lower.tolist() == pytest.approx([-0.25, 1.2])  # widened by a quarter of the width, cut to the support
    assert upper.tolist() == pytest.approx([1.25, 3.5])


@pytest.fixture(scope="module")
def fitted():
    torch.manual_seed(1)
    x_o = torch.tensor([0.8, -1.5])
    posterior = fit_truncated(box(-3, 3, 2), noisy_identity, x_o, 1200, rounds=3, progress=False, **SMALL)
    return x_o, posterior


def test_the_rounds_close_in_on_the_observation(fitted):
    x_o, posterior = fitted
    assert isinstance(posterior, AmortizedPosterior)
    record = posterior.run.metadata
    assert record["truncated_at"] == pytest.approx(x_o.tolist()) and record["failed_simulations"] == 0
    boxes = record["truncation"]
    assert len(boxes) == 2  # one box per round after the first
    for kept in boxes:
        lower, upper = torch.tensor(kept["lower"]), torch.tensor(kept["upper"])
        # the exact posterior N(x_o, 0.1²) is inside each box with room to spare
        assert (lower < x_o - 0.4).all() and (upper > x_o + 0.4).all()
    masses = [kept["prior_mass"] for kept in boxes]
    assert masses[1] < masses[0] < 0.3  # each box a smaller part of the prior than the last
    draws = posterior.sample(x_o, 4000)
    assert torch.allclose(draws.mean(0), x_o, atol=0.04)
    assert torch.allclose(draws.std(0), torch.full((2,), 0.1), rtol=0.35)


def test_it_saves_and_loads_with_its_record(fitted, tmp_path):
    x_o, posterior = fitted
    posterior.save(tmp_path / "focused")
    loaded = AmortizedPosterior.load(tmp_path / "focused")
    assert loaded.run.metadata["truncation"] == posterior.run.metadata["truncation"]
    assert loaded.run.metadata["truncated_at"] == pytest.approx(x_o.tolist())
    torch.manual_seed(6)
    first = posterior.sample(x_o, 20)
    torch.manual_seed(6)
    assert torch.equal(first, loaded.sample(x_o, 20))


def test_the_pooled_proposal_mixes_its_proposals_in_their_shares():
    torch.manual_seed(7)
    prior = box(-3, 3, 2)
    inner = BoxTruncatedPrior(prior, torch.zeros(2), torch.ones(2))
    theta = PooledProposal([prior, inner], [100, 300]).sample((20000,))
    assert theta.shape == (20000, 2)
    in_unit_square = ((theta >= 0) & (theta <= 1)).all(-1).float().mean()
    # a quarter from the prior (1/36 of it in the unit square), three quarters from the box
    assert float(in_unit_square) == pytest.approx(0.25 / 36 + 0.75, abs=0.015)
    assert PooledProposal([prior, inner], [100, 300]).sample((3, 4)).shape == (3, 4, 2)
    assert PooledProposal([prior, inner], [100, 300]).sample((0,)).shape == (0, 2)


@pytest.mark.slow  # 3,000 simulations and four SBC runs: about 15 s
def test_the_truncated_fit_is_calibrated_on_truths_from_its_pooled_proposal(fitted, tmp_path):
    # it learned p̃(θ | x) for the θ it was fitted on, p̃ the prior and the boxes mixed: SBC on
    # truths from p̃ passes, and rejects the same posterior 1.5x too narrow (SBC's power against
    # both controls is tested in tests/diagnostics); on truths from the prior (the amortized
    # check) it fails, as it should
    x_o, posterior = fitted
    posterior.save(tmp_path / "focused")
    loaded = AmortizedPosterior.load(tmp_path / "focused")  # the record rebuilds it after loading
    prior = box(-3, 3, 2)
    proposal = pooled_proposal(prior, loaded)
    assert len(proposal.proposals) == 3 and proposal.shares.tolist() == pytest.approx([1 / 3] * 3)
    checks = simulate(proposal, noisy_identity, 300, seed=8, progress=False)
    assert sbc(posterior, checks.theta, checks.x)["p_value"] > 0.01
    assert sbc(widened(posterior, 1 / 1.5), checks.theta, checks.x)["p_value"] < 1e-4
    everywhere = simulate(prior, noisy_identity, 300, seed=8, progress=False)
    assert sbc(posterior, everywhere.theta, everywhere.x)["p_value"] < 0.01
    # and at x_o itself: the 300 of 3,000 such pairs whose x lie nearest it
    near = simulate(proposal, noisy_identity, 3000, seed=9, progress=False).nearest(x_o, 300)
    assert (near.x - x_o).norm(dim=-1).max() < 0.6
    assert sbc(posterior, near.theta, near.x)["p_value"] > 0.01
    assert sbc(widened(posterior, 1 / 1.5), near.theta, near.x)["p_value"] < 1e-4


def test_a_pooled_proposal_needs_a_truncated_box_fit():
    prior, settings = box(-3, 3, 2), {**SMALL, "epochs": 1, "progress": False}
    plain = fit_posterior(prior, noisy_identity, 100, seed=4, **settings)
    with pytest.raises(ValueError, match="posterior was not fitted by fit_truncated"):
        pooled_proposal(prior, plain)
    hpd = fit_truncated(prior, noisy_identity, torch.zeros(2), 40, rounds=2, region="hpd", **settings)
    with pytest.raises(ValueError, match="region='hpd'"):
        pooled_proposal(prior, hpd)
    with pytest.raises(ValueError, match="one simulation count per proposal"):
        PooledProposal([prior], [1, 2])


def test_one_round_is_fit_posterior_itself():
    prior, x_o = box(-3, 3, 2), torch.tensor([0.5, 0.5])
    settings = {**SMALL, "epochs": 3}
    one = fit_truncated(prior, noisy_identity, x_o, 300, rounds=1, seed=4, progress=False, **settings)
    plain = fit_posterior(prior, noisy_identity, 300, seed=4, progress=False, **settings)
    torch.manual_seed(5)
    first = one.sample(x_o, 50)
    torch.manual_seed(5)
    assert torch.equal(first, plain.sample(x_o, 50))
    assert one.run.metadata["truncation"] == []


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"rounds": 0}, "rounds must be a positive int"),
        ({"margin": -0.1}, "margin must be >= 0"),
        ({"region": "ball"}, "region must be 'hpd' or 'box'"),
        ({"num_simulations": 5, "rounds": 3}, r"num_simulations \(5\) must give each of the 3 rounds 2 or more"),
        ({"x_o": torch.zeros(3)}, r"x_o must be one observation shaped \(2,\)"),
        ({"x_o": torch.tensor([0.0, float("nan")])}, "x_o"),
        ({"ensemble": 2}, "ensemble must be 1"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    call = {"x_o": torch.zeros(2), "num_simulations": 40, "rounds": 2, **SMALL, "epochs": 1, **arguments}
    with pytest.raises(ValueError, match=message):
        fit_truncated(box(-3, 3, 2), noisy_identity, progress=False, **call)

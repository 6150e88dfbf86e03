"""The Metropolis–Hastings moves that follow the known-likelihood correction: whatever the
starting draws and the proposal, the chains end on the exact target (checked against targets
whose moments are known), and each move does the job only it can do."""

import math

import pytest
import torch

from pyro_cvae.posterior.mcmc import metropolis_moves

CHAINS = 4000


def normal_log_density(u, mean, std):
    return torch.distributions.Normal(mean, std).log_prob(u).sum(-1).double()


def independent_proposal(mean, std, log_target=None):
    """A proposal N(mean, diag std²) without latent z: its joint weight's auxiliary part is -log q(u)."""

    def propose(n):
        u = mean + std * torch.randn(n, 2)
        return u, (log_target or target)(u), -normal_log_density(u, mean, std)

    def auxiliary(u):
        return -normal_log_density(u, mean, std)

    return propose, auxiliary


def target(u):  # the exact target: N((1, -2), diag(1, 0.25²))
    return normal_log_density(u, torch.tensor([1.0, -2.0]), torch.tensor([1.0, 0.25]))


def test_chains_started_at_one_point_with_a_too_narrow_proposal_reach_the_target():
    # every chain starts at the same point (what resampling gives when one weight dominates), and
    # the proposal is 3x too narrow: only the random walk can spread the draws to the target's width
    propose, auxiliary = independent_proposal(torch.tensor([1.0, -2.0]), torch.tensor([1 / 3, 1 / 12]))
    start = torch.tensor([[1.2, -2.1]]).expand(CHAINS, 2).clone()
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    u, moves = metropolis_moves(start, target, propose, auxiliary, steps=150, generator=generator)
    torch.testing.assert_close(u.mean(0), torch.tensor([1.0, -2.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(u.std(0), torch.tensor([1.0, 0.25]), atol=0, rtol=0.05)
    assert 0.15 < moves.random_walk_acceptance < 0.6 and moves.steps == 150


def test_the_independence_move_restores_the_mass_of_a_mode_the_walk_cannot_reach():
    # two modes at ±4 with masses 0.3 and 0.7, every chain starts in the left one; a random walk
    # scaled to the start's spread cannot cross, a proposal that covers both modes can
    def bimodal(u):
        left = math.log(0.3) + normal_log_density(u, torch.tensor([-4.0, 0.0]), torch.tensor([0.3, 0.3]))
        right = math.log(0.7) + normal_log_density(u, torch.tensor([4.0, 0.0]), torch.tensor([0.3, 0.3]))
        return torch.logaddexp(left, right)

    propose, auxiliary = independent_proposal(torch.zeros(2), torch.tensor([4.5, 0.5]), bimodal)
    torch.manual_seed(1)
    start = torch.tensor([-4.0, 0.0]) + 0.3 * torch.randn(CHAINS, 2)
    generator = torch.Generator().manual_seed(1)
    u, moves = metropolis_moves(start, bimodal, propose, auxiliary, steps=100, generator=generator)
    assert abs(float((u[:, 0] > 0).double().mean()) - 0.7) < 0.03
    assert 0 < moves.independence_acceptance < 0.5
    torch.testing.assert_close(u[u[:, 0] > 0].std(0), torch.tensor([0.3, 0.3]), atol=0, rtol=0.08)


def test_no_steps_leave_the_chains_where_they_are():
    propose, auxiliary = independent_proposal(torch.zeros(2), torch.ones(2))
    start = torch.randn(10, 2)
    u, moves = metropolis_moves(start, target, propose, auxiliary, steps=0, generator=torch.Generator())
    assert torch.equal(u, start) and moves.steps == 0


def test_a_proposal_outside_the_support_is_never_accepted():
    # the target is 0 for u[:, 0] < 0: neither move may put a chain there
    def half(u):
        return torch.where(u[:, 0] > 0, target(u), torch.tensor(-math.inf, dtype=torch.float64))

    propose_half, auxiliary = independent_proposal(torch.tensor([0.0, -2.0]), torch.tensor([2.0, 1.0]), half)

    torch.manual_seed(2)
    start = torch.tensor([1.0, -2.0]) + 0.1 * torch.randn(CHAINS, 2)
    u, _ = metropolis_moves(start, half, propose_half, auxiliary, steps=30, generator=torch.Generator().manual_seed(2))
    assert (u[:, 0] > 0).all()


@pytest.mark.parametrize("steps", [-1, 1.5, True])
def test_importance_corrected_refuses_a_bad_number_of_steps(steps):
    from pyro_cvae.posterior import importance_corrected

    with pytest.raises(ValueError, match="mcmc_steps must be a non-negative int"):
        importance_corrected(None, torch.zeros(2), lambda x, t: t.sum(-1), None, mcmc_steps=steps)


def test_chains_that_start_on_the_target_stay_on_it_across_clusters_of_different_shapes():
    # two overlapping modes, one 4x wider than the other: the walk's shape depends on the nearest
    # cluster, so only the Hastings term keeps the narrow mode's mass and width exact; the
    # independence proposal is far too wide to be accepted often, the walk does the moving
    narrow, wide = torch.tensor([0.2, 0.2]), torch.tensor([0.8, 0.8])
    centres = torch.tensor([[-0.5, 0.0], [0.5, 0.0]])

    def two_shapes(u):
        first = math.log(0.5) + normal_log_density(u, centres[0], narrow)
        second = math.log(0.5) + normal_log_density(u, centres[1], wide)
        return torch.logaddexp(first, second)

    propose, auxiliary = independent_proposal(torch.zeros(2), torch.tensor([20.0, 20.0]), two_shapes)
    torch.manual_seed(3)
    n = 20_000
    which = torch.rand(n) < 0.5
    start = torch.where(which[:, None], centres[0] + narrow * torch.randn(n, 2), centres[1] + wide * torch.randn(n, 2))
    generator = torch.Generator().manual_seed(3)
    u, moves = metropolis_moves(start, two_shapes, propose, auxiliary, steps=40, generator=generator)
    # the exact target's moments: mean (0, 0); variance ½(0.2² + 0.8²) = 0.34 within the modes,
    # and 0.25 more along the first axis from the modes' separation
    torch.testing.assert_close(u.mean(0), torch.zeros(2), atol=0.02, rtol=0)
    torch.testing.assert_close(u.var(0), torch.tensor([0.59, 0.34]), atol=0, rtol=0.04)
    assert moves.independence_acceptance < 0.05 and moves.random_walk_acceptance > 0.15


def test_the_cluster_jump_evens_out_mirror_modes_no_other_move_crosses_between():
    # slcp's situation: two mirror-image modes of equal mass (the sign of a parameter the
    # simulator squares away), correlated the opposite way, far apart for the walk; the
    # proposal is far too wide to be accepted; the chains start 9 to 1 between the modes
    def correlated(mean, rho):
        covariance = torch.tensor([[0.25, 0.25 * rho], [0.25 * rho, 0.25]])
        return torch.distributions.MultivariateNormal(mean, covariance)

    left, right = correlated(torch.tensor([-3.0, 0.0]), 0.6), correlated(torch.tensor([3.0, 0.0]), -0.6)

    def mirror(u):
        return torch.logaddexp(left.log_prob(u), right.log_prob(u)).double() + math.log(0.5)

    propose, auxiliary = independent_proposal(torch.zeros(2), torch.tensor([50.0, 50.0]), mirror)
    torch.manual_seed(4)
    n = 10_000
    start = torch.where((torch.rand(n) < 0.9)[:, None], left.sample((n,)), right.sample((n,)))
    generator = torch.Generator().manual_seed(4)
    u, moves = metropolis_moves(start, mirror, propose, auxiliary, steps=100, generator=generator)
    assert abs(float((u[:, 0] > 0).double().mean()) - 0.5) < 0.03
    assert moves.jump_acceptance > 0.05 and moves.independence_acceptance < 0.01
    on_right = u[u[:, 0] > 0]  # the jumped chains took the right mode's shape, not the left's
    assert float(torch.corrcoef(on_right.T)[0, 1]) == pytest.approx(-0.6, abs=0.05)

"""The Metropolis–Hastings moves that follow the known-likelihood correction: whatever the
starting draws and the proposal, the chains end on the exact target (checked against targets
whose moments are known), and each move does the job only it can do."""

import math

import pytest
import torch

from pyro_cvae.posterior.mcmc import (
    FORGETTING_CORRELATION,
    SPREAD_CHANGE,
    MoveSummary,
    forgetting_limit,
    largest_magnitude,
    metropolis_moves,
    settling_limit,
    spread_change,
    start_end_correlation,
)

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


def test_start_end_correlation_is_one_for_chains_that_did_not_move_and_near_zero_for_fresh_ones():

    torch.manual_seed(5)
    start = torch.randn(CHAINS, 2)
    torch.testing.assert_close(start_end_correlation(start, start), torch.ones(2, dtype=torch.float64))
    assert start_end_correlation(start, torch.randn(CHAINS, 2)).abs().max() < 4 / math.sqrt(CHAINS)
    torch.testing.assert_close(start_end_correlation(start, -2 * start + 1), -torch.ones(2, dtype=torch.float64))
    one_point = torch.tensor([[0.5, 0.5]]).expand(CHAINS, 2)
    assert start_end_correlation(one_point, start).isnan().all(), "starts that do not vary tell nothing"


def test_chains_given_too_few_steps_are_told_to_remember_their_starts_and_enough_steps_forget_them():
    # the chains start on the target; the proposal is far too wide to be accepted, so only the
    # walk moves them: after 2 steps they sit near their starts, after 150 they have forgotten them
    propose, auxiliary = independent_proposal(torch.zeros(2), torch.tensor([30.0, 30.0]))
    torch.manual_seed(6)
    start = torch.tensor([1.0, -2.0]) + torch.tensor([1.0, 0.25]) * torch.randn(CHAINS, 2)
    _, few = metropolis_moves(start, target, propose, auxiliary, steps=2, generator=torch.Generator().manual_seed(6))
    _, many = metropolis_moves(start, target, propose, auxiliary, steps=150, generator=torch.Generator().manual_seed(6))
    assert not few.forgot_starts and max(few.start_correlation) > 0.3
    assert many.forgot_starts and max(abs(r) for r in many.start_correlation) < 0.1
    _, none = metropolis_moves(start, target, propose, auxiliary, steps=0, generator=torch.Generator())
    assert none.start_correlation == pytest.approx((1.0, 1.0)) and not none.forgot_starts


def test_the_forgetting_limit_allows_for_the_noise_of_few_chains():
    assert forgetting_limit(4000) == FORGETTING_CORRELATION  # four standard errors, 4/√4000 = 0.06, are less
    assert forgetting_limit(100) == pytest.approx(0.4)
    # the limit's premise: independent ends correlate with starts (even starts that repeat a few
    # points, as resampled draws do) within four standard errors
    generator = torch.Generator().manual_seed(7)
    starts = torch.randn(16, 3, generator=generator)[torch.randint(16, (100,), generator=generator)]

    ends = torch.randn(200, 100, 3, generator=generator)
    correlations = torch.stack([start_end_correlation(starts, end) for end in ends])
    assert correlations.std() == pytest.approx(0.1, rel=0.15)
    assert (correlations.abs() < forgetting_limit(100)).all()


def test_importance_corrected_warns_when_reliable_weights_were_moved_too_little():
    # k̂ under the limit, chains that still remember their starts: the warning says so and what to do
    import warnings

    from pyro_cvae.diagnostics.weights import ImportanceWeights
    from pyro_cvae.posterior.importance import _warn_unless_forgotten

    weights = ImportanceWeights(
        0.1 * torch.randn(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    )
    assert weights.khat < 0.7
    remembered = MoveSummary(3, 0.3, 0.0, 1.0, 0.0, (0.9, 0.05), (0.01, 0.4), forgot_starts=False)
    with pytest.warns(
        UserWarning,
        match=r"have not forgotten .* up to 0.90 \(b; limit 0.10\) .* by up to 0.40 in log \(c; limit 0.10\); "
        r"give more than mcmc_steps=3",
    ):
        _warn_unless_forgotten(weights, remembered, 4000, ["b", "c"])
    stuck = remembered._replace(spread_change=(0.01, math.inf))  # the chains sat at one value halfway
    with pytest.warns(UserWarning, match=r"half of them or more sat at one value of c halfway or at the end") as caught:
        _warn_unless_forgotten(weights, stuck, 4000, ["b", "c"])
    assert "up to inf" not in str(caught[0].message)  # a number that says nothing is not printed
    forgotten = remembered._replace(start_correlation=(0.02, 0.05), spread_change=(0.01, -0.03), forgot_starts=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_unless_forgotten(weights, forgotten, 4000, ["b", "c"])


def test_the_largest_signs_of_remembering_read_nan_as_nothing_and_keep_inf():
    moves = MoveSummary(3, 0.3, 0.0, 1.0, 0.0, (math.nan, -0.7, 0.2), (-0.5, math.nan, math.inf))
    assert moves.largest_start_correlation == 0.7
    assert moves.largest_spread_change == math.inf
    blind = moves._replace(start_correlation=(math.nan, math.nan), spread_change=())
    assert blind.largest_start_correlation == 0.0 and blind.largest_spread_change == 0.0
    # where: the parameter a warning names (the first, on a tie)
    assert largest_magnitude(moves.start_correlation) == (1, 0.7)
    assert largest_magnitude(moves.spread_change) == (2, math.inf)
    assert largest_magnitude((0.3, -0.3)) == (0, 0.3) and largest_magnitude(()) == (0, 0.0)


def test_chains_from_one_point_still_spreading_are_told_so_where_the_correlation_cannot_see():
    # every chain starts at one point: the starts do not vary, so the correlation is NaN and
    # says nothing; the spread, still growing over the second half of few steps, does
    propose, auxiliary = independent_proposal(torch.zeros(2), torch.tensor([30.0, 30.0]))
    start = torch.tensor([[1.2, -2.1]]).expand(CHAINS, 2).clone()
    torch.manual_seed(9)
    _, few = metropolis_moves(start, target, propose, auxiliary, steps=6, generator=torch.Generator().manual_seed(9))
    _, many = metropolis_moves(start, target, propose, auxiliary, steps=150, generator=torch.Generator().manual_seed(9))
    assert all(math.isnan(r) for r in few.start_correlation)
    assert not few.forgot_starts and min(few.spread_change) > 0.1
    assert many.forgot_starts and max(abs(c) for c in many.spread_change) < 0.1


def test_the_settling_limit_allows_for_the_noise_of_few_chains():
    assert settling_limit(10_000) == SPREAD_CHANGE and settling_limit(100) == pytest.approx(0.66)
    # its premise: the log ratio of two independent samples' interquartile ranges has standard
    # error 1.65/√N, and stays within four of them
    generator = torch.Generator().manual_seed(10)
    changes = torch.stack([spread_change(*torch.randn(2, 100, 3, generator=generator)) for _ in range(300)])
    assert changes.std() == pytest.approx(0.165, rel=0.15)
    assert (changes.abs() < settling_limit(100)).all()
    assert spread_change(torch.randn(50, 2), torch.zeros(50, 2)).isinf().all(), "chains that ended at one value"


@pytest.mark.parametrize("check", [start_end_correlation, spread_change])
def test_the_forgetting_signs_refuse_populations_that_are_not_the_same_chains(check):
    chains = torch.randn(20, 3)
    with pytest.raises(ValueError, match=r"must have shape \(chains, parameters\), got \(20,\)"):
        check(chains[:, 0], chains[:, 0])
    with pytest.raises(ValueError, match=r"must have shape \(batch, 3\), got \(20, 2\)"):
        check(chains, chains[:, :2])
    with pytest.raises(ValueError, match="must hold the same chains .* 20 rows, got 19"):
        check(chains, chains[:19])
    with pytest.raises(ValueError, match="contains 1 NaN"):
        check(chains, torch.where(torch.arange(60).reshape(20, 3) == 7, float("nan"), chains))
    with pytest.raises(TypeError, match="floating dtype"):
        check(chains, torch.ones(20, 3, dtype=torch.long))

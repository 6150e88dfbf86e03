"""The posterior for a user's inverse problem, tried as a user does: fit from a prior and a
simulator, sample, score, save and load; its density checked against exact answers."""

import math

import pytest
import torch

from pyro_cvae.posterior import AmortizedPosterior, fit_posterior

SMALL = {"model": {"prior_hidden_sizes": (32, 32), "flow_layers": 2}, "epochs": 15}


def box(low, high, n):
    return torch.distributions.Independent(torch.distributions.Uniform(low * torch.ones(n), high * torch.ones(n)), 1)


def noisy_identity(theta):  # x = θ + N(0, 0.1²), then a scale of units
    return theta + 0.1 * torch.randn_like(theta)


@pytest.fixture(scope="module")
def posterior():
    torch.manual_seed(0)
    settings = {**SMALL, "epochs": 60}
    return fit_posterior(box(0, 2, 2), noisy_identity, 1500, parameter_names=["a", "b"], progress=False, **settings)


def test_draws_have_the_shapes_a_user_expects_and_stay_in_the_prior(posterior):
    x_o = torch.tensor([0.02, 1.5])  # the first parameter near its bound
    one = posterior.sample(x_o, 500)
    many = posterior.sample(torch.tensor([[0.02, 1.5], [1.0, 1.0], [1.9, 0.1]]), 200)
    assert one.shape == (500, 2) and many.shape == (200, 3, 2)
    assert ((one > 0) & (one < 2)).all() and ((many > 0) & (many < 2)).all()
    assert posterior.parameter_names == ["a", "b"]


def test_the_posterior_is_near_the_exact_one_away_from_the_bounds(posterior):
    # away from the box's edges the posterior is N(x_o, 0.1²) per parameter
    x_o = torch.tensor([1.0, 0.7])
    draws = posterior.sample(x_o, 4000)
    assert torch.allclose(draws.mean(0), x_o, atol=0.04)
    assert torch.allclose(draws.std(0), torch.full((2,), 0.1), rtol=0.35)


def test_log_prob_is_a_normalized_density_over_theta():
    # one parameter on (0, 3): the integral of the estimated density over a grid is 1, through
    # the importance estimate and the change of variables, trained or not
    theta = torch.rand(200, 1) * 3
    post = fit_posterior(theta=theta, x=theta + 0.3 * torch.randn_like(theta), bounds=(0, 3), progress=False, **SMALL)
    grid = torch.linspace(1e-3, 3 - 1e-3, 1500)[:, None]
    estimate = post.log_prob(grid, torch.tensor([1.2]), num_particles=256)
    assert abs(float(torch.trapezoid(estimate.value.exp(), grid[:, 0])) - 1) < 0.03
    assert (estimate.stderr >= 0).all() and float(estimate.stderr.median()) < 0.1
    outside = post.log_prob(torch.tensor([[-1.0], [3.5]]), torch.tensor([1.2]))
    assert outside.value.tolist() == [-math.inf, -math.inf]
    one = post.log_prob(torch.tensor([1.5]), torch.tensor([1.2]))  # one θ: one value, as torch gives it
    assert one.value.shape == () and one.stderr.shape == ()


@pytest.mark.parametrize("x_units, theta_units", [(1000.0, 1.0), (1.0, 100.0)])
def test_the_same_problem_in_other_units_gives_the_same_posterior(x_units, theta_units):
    # observations x1000 or parameters x100 (their prior too): the same draws, in those units
    theta = box(-1, 1, 2).sample((600,))
    x = theta + 0.1 * torch.randn_like(theta)
    x_o = torch.tensor([0.3, -0.2])
    draws = []
    for x_scale, theta_scale in ((1.0, 1.0), (x_units, theta_units)):
        prior = box(-theta_scale, theta_scale, 2)
        post = fit_posterior(prior, theta=theta * theta_scale, x=x * x_scale, progress=False, seed=1, **SMALL)
        torch.manual_seed(5)
        draws.append(post.sample(x_o * x_scale, 300) / theta_scale)
    assert torch.allclose(draws[0], draws[1], atol=2e-3)


def test_saved_and_loaded_it_is_the_same_posterior(posterior, tmp_path):
    posterior.save(tmp_path / "run")
    again = AmortizedPosterior.load(tmp_path / "run")
    x_o = torch.tensor([0.5, 1.5])
    torch.manual_seed(1)
    first = posterior.sample(x_o, 50)
    torch.manual_seed(1)
    assert torch.equal(again.sample(x_o, 50), first)
    assert again.parameter_names == ["a", "b"] and len(again.history) == len(posterior.history)
    with pytest.raises(Exception, match="refuse|exists|overwrite"):
        posterior.save(tmp_path / "run")


def test_sequence_observations_get_a_conv_embedding():
    def signal(theta):
        t = torch.linspace(0, 1, 24)
        clean = torch.stack([torch.sin(6 * t * (1 + theta[:, :1])), theta[:, 1:] * t], dim=1)
        return clean + 0.05 * torch.randn_like(clean)

    post = fit_posterior(box(0, 1, 2), signal, 400, progress=False, **SMALL)
    assert post.model.config.embedding == "conv" and post.observation_shape == (2, 24)
    assert post.sample(signal(torch.tensor([[0.5, 0.5]]))[0], 10).shape == (10, 2)


def test_bad_input_is_named():
    theta = torch.rand(50, 2)
    with pytest.raises(ValueError, match="give both theta= and x="):
        fit_posterior(theta=theta)
    with pytest.raises(ValueError, match="same number of simulations"):
        fit_posterior(theta=theta, x=torch.rand(40, 2))
    with pytest.raises(ValueError, match="x contains"):
        fit_posterior(theta=theta, x=torch.full((50, 2), float("nan")))
    with pytest.raises(ValueError, match="outside the prior's support"):
        fit_posterior(theta=theta + 5, x=theta, prior=box(0, 1, 2))
    with pytest.raises(ValueError, match="lower < upper"):
        fit_posterior(theta=theta, x=theta, bounds=(1, 0))
    with pytest.raises(ValueError, match=r"bounds\[1\] \(the upper bounds\) must give one value per parameter \(2\)"):
        fit_posterior(theta=theta, x=theta, bounds=(0, [1, 2, 3]))
    post = fit_posterior(theta=theta, x=theta, progress=False, epochs=1, model=SMALL["model"])
    with pytest.raises(ValueError, match=r"x_o must have shape \(batch, 2\)"):
        post.sample(torch.zeros(3), 5)


def test_draws_reach_arviz_under_the_parameter_names_from_python_and_the_command_line(posterior, tmp_path):
    import arviz as az

    from pyro_cvae.cli import main
    from pyro_cvae.posterior import posterior_inference_data

    x_o = torch.tensor([0.5, 1.5])
    idata = posterior_inference_data(posterior, x_o, num_samples=40, chains=2)
    assert list(idata.posterior.data_vars) == ["a", "b"] and idata.posterior["a"].shape == (2, 20)
    assert set(az.summary(idata, kind="stats").index) == {"a", "b"}
    posterior.save(tmp_path / "run")
    torch.save(x_o, tmp_path / "x_o.pt")
    argv = ["sample", "--checkpoint", str(tmp_path / "run"), "--conditions", str(tmp_path / "x_o.pt")]
    assert main([*argv, "--num-samples", "30", "--out", str(tmp_path / "draws.nc")]) == 0
    from_cli = az.from_netcdf(tmp_path / "draws.nc")
    assert list(from_cli.posterior.data_vars) == ["a", "b"] and from_cli.posterior["b"].shape == (1, 30)
    assert ((from_cli.posterior["a"] > 0) & (from_cli.posterior["a"] < 2)).all()


def test_a_posterior_that_leaks_out_of_its_support_says_so_instead_of_looping(posterior):
    from pyro_cvae.posterior import AmortizedPosterior, ParameterSpace

    space = posterior.space
    # the same network, told that the support is a sliver at the edge of where it puts its mass
    sliver = ParameterSpace(torch.tensor([-5.0, 0.0]), torch.tensor([-4.999, 2.0]), space.loc, space.scale)
    leaky = AmortizedPosterior(posterior.model, sliver, posterior.observations, ["a", "b"])
    with pytest.raises(RuntimeError, match="fell inside the prior's support") as raised:
        leaky.sample(torch.tensor([[1.0, 1.0], [0.5, 0.5]]), 100)
    assert raised.value.observations == [0, 1]  # both named at once: a caller leaves out both  # type: ignore[attr-defined]


def test_an_observation_near_the_support_edge_does_not_make_the_others_draw_again(posterior, monkeypatch):
    # x_o = (-0.08, 1): most of its posterior mass lies below the bound 0, so it needs many more
    # rounds of draws than the nine central observations beside it, which one round fills
    central = torch.stack([torch.linspace(0.8, 1.2, 9), torch.full((9,), 1.0)], -1)
    observations = torch.cat([torch.tensor([[-0.08, 1.0]]), central])
    drawn_for = torch.zeros(10)
    draw = posterior._draw

    def counting_draw(y, num_samples, chunk_size):
        rows = [int((observations_y == y_row).all(-1).nonzero()[0]) for y_row in y]
        drawn_for[rows] += num_samples
        return draw(y, num_samples, chunk_size)

    observations_y, _ = posterior._observations(observations)
    monkeypatch.setattr(posterior, "_draw", counting_draw)
    theta = posterior.sample(observations, 200)
    assert theta.shape == (200, 10, 2) and (theta > 0).all()
    assert drawn_for[0] > 200, "the edge observation needed a second round"
    assert (drawn_for[1:] == 200).all(), f"central observations were drawn again: {drawn_for[1:].tolist()}"


def test_the_share_inside_the_support_is_read_once_per_observation_until_the_weights_change(posterior, monkeypatch):
    # log_prob divides by the share of draws inside the box: drawn in rounds of 1,000 until its
    # relative error is 1%, so an observation at the box's edge (share about 1/2) takes about
    # ten rounds and one in the middle (share near 1) one or two
    x_o = torch.tensor([[-0.15, 1.3], [1.0, 0.9]])  # observations no other test reads
    exact = posterior.inside_share(x_o, num_draws=200_000)
    assert 0.3 < float(exact[0]) < 0.7 and float(exact[1]) > 0.97
    drawn = torch.zeros(2)
    draw, rows = posterior._draw, posterior.condition(x_o)

    def counting_draw(y, num_samples, chunk_size):
        for y_row in y:
            drawn[int((rows == y_row).all(-1).nonzero()[0])] += num_samples
        return draw(y, num_samples, chunk_size)

    monkeypatch.setattr(posterior, "_draw", counting_draw)
    theta = torch.tensor([[0.1, 1.2], [1.1, 0.8]])
    shares = posterior._kept_inside_share(rows)
    assert torch.allclose(shares, exact, rtol=0.04), (shares, exact)
    assert drawn[0] >= 5_000 and drawn[1] <= 2_000, drawn
    first = drawn.clone()
    posterior.log_prob(theta, x_o, num_particles=16)
    posterior.log_prob(theta, x_o[0], num_particles=16)
    assert torch.equal(drawn, first), "an observation's share was read again"
    with torch.no_grad():
        next(posterior.model.parameters()).add_(0.0)  # in place, as an optimizer step: the weights may have changed
    posterior.log_prob(theta[1], x_o[1], num_particles=16)
    assert drawn[1] > first[1] and drawn[0] == first[0]


def test_log_prob_scores_theta_in_chunks_as_it_would_one_by_one(posterior, monkeypatch):
    from pyro_cvae.posterior import amortized

    x_o, theta = torch.tensor([0.9, 1.1]), torch.tensor([[0.8, 1.0], [1.0, 1.2], [0.9, 0.9]])
    posterior.log_prob(theta, x_o, num_particles=8)  # the share, read once
    monkeypatch.setattr(amortized, "LOG_PROB_ROWS", 8)  # one θ per chunk at 8 particles
    torch.manual_seed(4)
    chunked = posterior.log_prob(theta, x_o, num_particles=8)
    torch.manual_seed(4)
    one_by_one = [posterior.log_prob(row, x_o, num_particles=8) for row in theta]
    assert torch.equal(chunked.value, torch.stack([result.value for result in one_by_one]))
    assert torch.equal(chunked.stderr, torch.stack([result.stderr for result in one_by_one]))


def test_the_draws_sample_made_count_toward_the_share(posterior, monkeypatch):
    x_o = torch.tensor([[1.1, 1.05], [-0.12, 1.25]])  # observations no other test reads: inside, at the edge
    posterior.sample(x_o, 3000)
    drawn = []
    draw = posterior._draw
    monkeypatch.setattr(posterior, "_draw", lambda y, n, chunk: drawn.append(len(y)) or draw(y, n, chunk))
    shares = posterior._kept_inside_share(posterior.condition(x_o))
    rounds = list(drawn)  # the size of the batch each round of the share drew for
    exact = posterior.inside_share(x_o, num_draws=200_000)
    assert torch.allclose(shares, exact, rtol=0.04), (shares, exact)
    assert float(exact[0]) > 0.97 and 0.3 < float(exact[1]) < 0.7
    # the inside observation's 3,000 draws already gave its share to 1%; only the edge one drew more
    assert len(rounds) > 0 and all(size == 1 for size in rounds), rounds


def test_the_known_likelihood_correction_recovers_the_exact_posterior_and_refuses_bad_input(posterior):
    from pyro_cvae.posterior import importance_corrected

    # x = θ + N(0, 0.1²) on the box [0, 2]²: away from the bounds the exact posterior is N(x_o, 0.1²)
    prior = box(0, 2, 2)
    x_o = torch.tensor([1.0, 0.7])

    def log_likelihood(x, theta):
        return torch.distributions.Normal(theta, 0.1).log_prob(x).sum(-1)

    corrected = importance_corrected(posterior, x_o, log_likelihood, prior, num_proposals=20_000)
    assert corrected.theta.shape == (20_000, 2) and corrected.khat < 0.7 and corrected.ess > 1000
    torch.testing.assert_close(corrected.theta.mean(0), x_o, atol=0.01, rtol=0)
    torch.testing.assert_close(corrected.theta.std(0), torch.full((2,), 0.1), atol=0.01, rtol=0)
    with pytest.raises(ValueError, match="x_o must be one observation"):
        importance_corrected(posterior, torch.stack([x_o, x_o]), log_likelihood, prior)
    with pytest.raises(ValueError, match="no proposal of the posterior has a finite weight"):
        importance_corrected(posterior, x_o, lambda x, theta: torch.full(theta.shape[:1], -math.inf), prior)


def test_metropolis_moves_repair_a_correction_whose_proposal_is_too_narrow(posterior):
    from pyro_cvae.posterior import importance_corrected

    # the posterior was trained for noise 0.1; told the noise is 0.25, the exact posterior is
    # N(x_o, 0.25²) away from the bounds, 2.5x wider than the proposals: the weights alone rest
    # on a few heavy far proposals (ESS below 50, k̂ says so) that resampling repeats, the chains
    # spread them into distinct draws of the exact width
    prior = box(0, 2, 2)
    x_o = torch.tensor([1.0, 0.9])

    def log_likelihood(x, theta):
        return torch.distributions.Normal(theta, 0.25).log_prob(x).sum(-1)

    with pytest.warns(UserWarning, match="k̂"):
        weighted = importance_corrected(posterior, x_o, log_likelihood, prior, num_proposals=4000)
    with pytest.warns(UserWarning, match="the resampled draws the chains start from"):
        moved = importance_corrected(posterior, x_o, log_likelihood, prior, num_proposals=4000, mcmc_steps=60)
    assert weighted.ess < 50 and len(weighted.theta.unique(dim=0)) < 2000
    assert len(moved.theta.unique(dim=0)) > 3500
    torch.testing.assert_close(moved.theta.mean(0), x_o, atol=0.02, rtol=0)
    torch.testing.assert_close(moved.theta.std(0), torch.full((2,), 0.25), atol=0.015, rtol=0)
    assert moved.moves.steps == 60 and ((moved.theta > 0) & (moved.theta < 2)).all()
    assert moved.moves.forgot_starts and max(abs(r) for r in moved.moves.start_correlation) < 0.1
    # one step does not spread the repeated starts: the warning names the cause and the remedy
    with pytest.warns(UserWarning, match="give more than mcmc_steps=1: the chains' ends correlate with their starts"):
        barely = importance_corrected(posterior, x_o, log_likelihood, prior, num_proposals=4000, mcmc_steps=1)
    assert not barely.moves.forgot_starts
    # the same seed, the same proposals: the moved chains started from the weights' resampled draws
    assert weighted.resampled is None and torch.equal(moved.resampled, weighted.theta)

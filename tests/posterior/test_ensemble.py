"""An ensemble of posteriors, tried as a user does: ``fit_posterior(..., ensemble=2)``, sample,
score, save and load (from Python and the command line); the mixture checked against its members."""

import math

import pytest
import torch

from pyro_cvae.posterior import AmortizedPosterior, EnsemblePosterior, fit_posterior, load_posterior

SMALL = {"model": {"prior_hidden_sizes": (32, 32), "flow_layers": 2}, "epochs": 15}


def box(low, high, n):
    return torch.distributions.Independent(torch.distributions.Uniform(low * torch.ones(n), high * torch.ones(n)), 1)


@pytest.fixture(scope="module")
def ensemble():
    torch.manual_seed(0)
    theta = torch.rand(300, 2) * 2
    return fit_posterior(
        box(0, 2, 2), theta=theta, x=theta + 0.1 * torch.randn_like(theta), parameter_names=["a", "b"],
        ensemble=2, progress=False, **{**SMALL, "epochs": 6},
    )  # fmt: skip


def test_members_differ_and_draws_have_the_shapes_of_one_posterior(ensemble):
    assert isinstance(ensemble, EnsemblePosterior) and len(ensemble.members) == 2
    first, second = (m.model.state_dict() for m in ensemble.members)
    assert any(not torch.equal(first[k], second[k]) for k in first)  # seeds 0 and 1: two fits
    one = ensemble.sample(torch.tensor([0.02, 1.5]), 300)
    many = ensemble.sample(torch.tensor([[0.5, 1.5], [1.0, 1.0], [1.9, 0.1]]), 100)
    assert one.shape == (300, 2) and many.shape == (100, 3, 2)
    assert ((one > 0) & (one < 2)).all() and ((many > 0) & (many < 2)).all()
    assert ensemble.parameter_names == ["a", "b"] and ensemble.num_parameters == 2


def test_log_prob_is_the_members_average_density(ensemble):
    theta, x_o = torch.tensor([[0.5, 1.4], [1.0, 1.0], [1.9, 0.3]]), torch.tensor([0.5, 1.5])
    ensemble.log_prob(theta, x_o)  # each member reads x_o's share inside the box once: then both calls draw alike
    torch.manual_seed(3)
    mixed = ensemble.log_prob(theta, x_o)
    torch.manual_seed(3)  # the members' importance draws, in the same order
    parts = [m.log_prob(theta, x_o) for m in ensemble.members]
    values = torch.stack([part.value.double() for part in parts])
    assert torch.allclose(mixed.value.double(), torch.logsumexp(values, 0) - math.log(2), atol=1e-5)
    # the mixture's relative error is a weighted combination of the members': never above the largest
    largest = torch.stack([part.stderr for part in parts]).amax(0)
    assert (mixed.stderr > 0).all() and (mixed.stderr <= largest + 1e-6).all()
    outside = ensemble.log_prob(torch.tensor([[-1.0, 1.0]]), x_o)
    assert outside.value.tolist() == [-math.inf] and outside.stderr.tolist() == [0.0]


class Constant:
    """A stand-in member whose every draw is ``value``: which member a draw came from is visible."""

    parameter_names, observation_shape, num_parameters = ["a"], (1,), 1

    def __init__(self, value):
        self.value = value

    def sample(self, x_o, n, chunk_size=None):
        return torch.full((n, 1), self.value)


def test_each_draw_comes_from_a_member_picked_at_random_and_the_draws_are_shuffled():
    torch.manual_seed(0)
    draws = EnsemblePosterior([Constant(0.0), Constant(1.0), Constant(2.0)]).sample(torch.zeros(1), 6000)[:, 0]
    shares = torch.bincount(draws.long(), minlength=3).float() / 6000
    assert torch.allclose(shares, torch.full((3,), 1 / 3), atol=0.03)  # 3 sd of a share at n = 6000: 0.018
    assert 0.2 < float(draws[:300].eq(0).float().mean()) < 0.47  # not one member's block first


def test_saved_or_checkpointed_it_loads_back_from_python_and_the_command_line(ensemble, tmp_path):
    import arviz as az

    from pyro_cvae.cli import main

    ensemble.save(tmp_path / "saved")
    again = load_posterior(tmp_path / "saved")
    assert isinstance(again, EnsemblePosterior) and len(again.members) == 2
    x_o = torch.tensor([0.5, 1.5])
    torch.manual_seed(1)
    first = ensemble.sample(x_o, 40)
    torch.manual_seed(1)
    assert torch.equal(again.sample(x_o, 40), first)
    assert isinstance(load_posterior(tmp_path / "saved" / "member_0"), AmortizedPosterior)

    theta = torch.rand(200, 2) * 2
    fitted = fit_posterior(
        box(0, 2, 2), theta=theta, x=theta, ensemble=2, checkpoint_dir=str(tmp_path / "ckpt"), progress=False,
        model=SMALL["model"], epochs=2,
    )  # fmt: skip
    assert len(load_posterior(tmp_path / "ckpt").members) == len(fitted.members) == 2

    torch.save(x_o, tmp_path / "x_o.pt")
    argv = ["sample", "--checkpoint", str(tmp_path / "saved"), "--conditions", str(tmp_path / "x_o.pt")]
    assert main([*argv, "--num-samples", "30", "--out", str(tmp_path / "draws.nc")]) == 0
    assert list(az.from_netcdf(tmp_path / "draws.nc").posterior.data_vars) == ["a", "b"]


def test_bad_input_is_named(ensemble, tmp_path):
    theta = torch.rand(50, 2)
    with pytest.raises(ValueError, match="ensemble must be a positive int"):
        fit_posterior(theta=theta, x=theta, ensemble=0)
    with pytest.raises(ValueError, match="at least one member"):
        EnsemblePosterior([])
    with pytest.raises(ValueError, match="member 1 has parameters"):
        EnsemblePosterior([ensemble.members[0], Constant(0.0)])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "ensemble.json").write_text("{not json")
    with pytest.raises(ValueError, match="ensemble.json is corrupt"):
        load_posterior(tmp_path / "broken")
    from pyro_cvae.posterior import importance_corrected

    with pytest.raises(TypeError, match="correct one member"):
        importance_corrected(ensemble, torch.tensor([0.5, 1.5]), lambda x, t: t.sum(-1), box(0, 2, 2))

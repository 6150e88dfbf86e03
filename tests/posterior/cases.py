"""The recalibration tests' cases: a posterior with an exact answer, and wrong ones (θ ~ N(0, I),
x = θ + N(0, 0.5² I), whose posterior is N(x / 1.25, 0.2 I)); and a posterior fitted in seconds on
a box, with what a user does with a saved one from the command line."""

import math

import torch

NOISE = 0.5
SPREAD = math.sqrt(NOISE**2 / (1 + NOISE**2))


class ExactPosterior:
    parameter_names, num_parameters, observation_shape, history = ["a", "b"], 2, (2,), None
    factor = 1.0

    def sample(self, x, n, chunk_size=None):
        x = torch.as_tensor(x)
        return x / (1 + NOISE**2) + SPREAD * torch.randn(n, *x.shape)

    def log_prob(self, theta, x):
        spread = torch.distributions.Normal(torch.as_tensor(x) / (1 + NOISE**2), self.factor * SPREAD)
        return spread.log_prob(torch.as_tensor(theta)).sum(-1)


class Scaled(ExactPosterior):
    """The exact posterior ``factor`` times too wide about its mean."""

    def __init__(self, factor):
        self.factor = factor

    def sample(self, x, n, chunk_size=None):
        x = torch.as_tensor(x)
        return x / (1 + NOISE**2) + self.factor * SPREAD * torch.randn(n, *x.shape)


def pairs(n, seed):
    generator = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, 2, generator=generator)
    return theta, theta + NOISE * torch.randn(n, 2, generator=generator)


class Bare:
    """A posterior of one's own: ``sample(x, n)`` and nothing else."""

    def sample(self, x, n):
        return ExactPosterior().sample(x, n)


def box(n):
    return torch.distributions.Independent(torch.distributions.Uniform(torch.zeros(n), 2 * torch.ones(n)), 1)


def fit_small_posterior():
    """An ``AmortizedPosterior`` of θ on the box [0, 2]², x = θ + N(0, 0.1² I), fitted in seconds
    (4 epochs of a small CVAE, parameter names "a" and "b"), and a function that simulates n
    fresh pairs for it."""
    from pyro_cvae.posterior import fit_posterior

    torch.manual_seed(0)

    def simulate(n):
        theta = torch.rand(n, 2) * 2
        return theta, theta + 0.1 * torch.randn_like(theta)

    small = {"model": {"prior_hidden_sizes": (32, 32), "flow_layers": 2}, "epochs": 4}
    theta, x = simulate(300)
    posterior = fit_posterior(box(2), theta=theta, x=x, parameter_names=["a", "b"], progress=False, **small)
    return posterior, simulate


def sample_from_the_command_line(folder, x_o, tmp_path, num_samples: int = 30):
    """``python -m pyro_cvae sample`` on the posterior saved in ``folder``: its ``.nc`` read by ArviZ."""
    import arviz as az

    from pyro_cvae.cli import main

    torch.save(x_o, tmp_path / "x_o.pt")  # the command line reads it as Python does
    argv = ["sample", "--checkpoint", str(folder), "--conditions", str(tmp_path / "x_o.pt")]
    assert main([*argv, "--num-samples", str(num_samples), "--out", str(tmp_path / "draws.nc")]) == 0
    return az.from_netcdf(tmp_path / "draws.nc")

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.diagnostics import crps, energy_score, interval_coverage, latent_usage, rank_uniformity

from ..conftest import tiny


def test_crps_of_a_gaussian_matches_the_closed_form():
    # CRPS(N(0, 1), 0) = (sqrt(2) - 1) / sqrt(pi)
    samples = torch.randn(20000, 1, generator=torch.Generator().manual_seed(0)).double()
    assert crps(samples, torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(0.2337, abs=0.005)


def test_scores_prefer_the_true_predictive():
    g = torch.Generator().manual_seed(1)
    truth = torch.randn(500, 3, generator=g)
    right = torch.randn(400, 500, 3, generator=g)
    too_narrow = 0.2 * torch.randn(400, 500, 3, generator=g)
    assert crps(right, truth).mean() < crps(too_narrow, truth).mean()
    assert energy_score(right, truth).mean() < energy_score(too_narrow, truth).mean()
    with pytest.raises(ValueError, match="num_samples"):
        crps(right, truth[:, :2])


def test_coverage_and_uniformity_checks_on_exact_cases():
    g = torch.Generator().manual_seed(2)
    coverage = interval_coverage(torch.randn(2000, 4000, generator=g), torch.randn(4000, generator=g))
    assert abs(coverage[0.9] - 0.9) < 0.02
    uniform = torch.randint(0, 100, (5000, 2), generator=g)
    assert rank_uniformity(uniform, 99)["p_value"] > 0.01
    edges = torch.where(torch.rand(5000, 2, generator=g) < 0.5, 0, 99)
    assert rank_uniformity(edges, 99)["p_value"] < 1e-10
    with pytest.raises(ValueError, match="levels"):
        interval_coverage(torch.zeros(3, 2), torch.zeros(2), levels=(1.5,))


def test_collapse_diagnostics_see_an_unused_dimension():
    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(50, 4), torch.randn(50, 2)
    with torch.no_grad():  # make the encoder ignore its input in the last latent dim, at the prior
        head = model.encoder.net.head[-1]
        head.weight[2].zero_()
        head.bias[2] = 0.0
        head.weight[5].zero_()
        head.bias[5] = 0.5413  # softplus(0.5413) = 1: scale 1, as the prior
    usage = latent_usage(model, x, y)
    assert usage["kl_per_dim"][2] < 1e-3 and usage["unit_variance"][2] == 0.0
    assert usage["active_units"] <= 2 and usage["kl_total"] == pytest.approx(sum(usage["kl_per_dim"]))


def test_importance_arguments_are_checked():
    from pyro_cvae.diagnostics import iwae_log_likelihood

    model = pc.build("cvae", x_shape=(4,), y_shape=(2,), **tiny())
    with pytest.raises(ValueError, match="num_samples must be a positive int"):
        iwae_log_likelihood(model, torch.randn(3, 4), torch.randn(3, 2), num_samples=0)
    with pytest.raises(ValueError, match="y"):
        iwae_log_likelihood(model, torch.randn(3, 4), torch.randn(3, 5), num_samples=2)

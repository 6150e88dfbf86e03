import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.diagnostics import iwae_log_likelihood

from .conftest import tiny


def _two_cluster_vae():
    generator = torch.Generator().manual_seed(0)
    x = torch.cat(
        [torch.randn(100, 4, generator=generator) * 0.1 + 2, torch.randn(100, 4, generator=generator) * 0.1 - 2]
    )
    model = pc.build("vae", x_shape=(4,), **tiny(latent_dim=2))
    pc.fit(model, x, epochs=40, batch_size=50, learning_rate=1e-2, progress=False)
    return model, x


def test_latent_mixture_fits_the_aggregate_posterior_and_replaces_the_prior_for_everything():
    model, x = _two_cluster_vae()
    mixture = pc.fit_latent_mixture(model, x, components=4)
    assert torch.allclose(mixture.weights.sum(), torch.tensor(1.0))
    encodings = model.encoder(x.to(model.device), None).mean.detach()
    # the mixture explains the encodings better than N(0, I) does
    assert mixture(None).log_prob(encodings).mean() > model.prior(None).log_prob(encodings).mean()
    original = model.prior
    with pc.using_prior(model, mixture):
        draws = pc.sample(model, None, 200, mean=True)
        log_px = iwae_log_likelihood(model, x[:10], num_samples=50)
    assert model.prior is original  # restored
    assert draws.shape == (200, 1, 4) and torch.isfinite(log_px).all()
    # samples land on the two clusters, not between them
    assert (draws.mean(-1).abs() > 1).float().mean() > 0.9


def test_latent_mixture_refuses_a_prior_that_depends_on_y():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    with pytest.raises(ValueError, match="depends on y"):
        pc.fit_latent_mixture(model, torch.randn(20, 4), torch.randn(20, 2))


@pytest.mark.parametrize("components", [0, 2.5, True])
def test_bad_component_count_is_refused(components):
    model = pc.build("vae", x_shape=(4,), **tiny())
    with pytest.raises(ValueError, match="components must be a positive int"):
        pc.fit_latent_mixture(model, torch.randn(20, 4), components=components)

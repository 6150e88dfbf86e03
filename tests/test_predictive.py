import pytest
import torch

import pyro_cvae as pc

from .conftest import tiny


def test_sample_shapes_for_cvae_and_vae():
    model = pc.build("dual-encoder", x_shape=(2, 3), y_shape=(4,), **tiny())
    y = torch.randn(5, 4)
    x, z = pc.sample(model, y, num_samples=7, return_latent=True)
    assert x.shape == (7, 5, 2, 3) and z.shape == (7, 5, 3)
    assert pc.sample(model, y[0], num_samples=2).shape == (2, 1, 2, 3)  # one condition, no batch dim
    vae = pc.build("vae", x_shape=(1, 8, 8), network="conv2", **tiny())
    assert pc.sample(vae, num_samples=4, batch_size=3).shape == (4, 3, 1, 8, 8)


def test_samples_follow_the_generative_story():
    # decoder output = its bias (weights zeroed): x ~ N(b, 0.1^2) whatever z is
    model = pc.build("cvae", x_shape=(2,), y_shape=(1,), likelihood_scale=0.1, **tiny())
    last = model.decoder.head[-1]
    last.weight.data.zero_()
    last.bias.data = torch.tensor([1.0, -2.0])
    y = torch.zeros(3, 1)
    x, z = pc.sample(model, y, num_samples=20000, return_latent=True)
    assert torch.allclose(x.mean((0, 1)), last.bias.data, atol=0.01)
    assert torch.allclose(x.std((0, 1)), torch.tensor([0.1, 0.1]), atol=0.01)
    # z comes from the N(0, I) prior
    assert torch.allclose(z.mean((0, 1)), torch.zeros(3), atol=0.03)
    assert torch.allclose(z.std((0, 1)), torch.ones(3), atol=0.03)
    assert torch.allclose(pc.sample(model, y, num_samples=3, mean=True), last.bias.data.expand(3, 3, 2))


def test_dual_encoder_samples_z_from_its_prior_network():
    model = pc.build("dual-encoder", x_shape=(2,), y_shape=(1,), **tiny())
    y = torch.tensor([[0.5], [-1.0]])
    _, z = pc.sample(model, y, num_samples=20000, return_latent=True)
    prior = model.prior(y).base_dist
    assert torch.allclose(z.mean(0), prior.loc, atol=0.05)
    assert torch.allclose(z.std(0), prior.scale, rtol=0.05)


def test_reconstruct_draws_z_from_the_guide():
    model = pc.build("cvae", x_shape=(2,), y_shape=(1,), **tiny())
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    recon, z = pc.reconstruct(model, x, y, num_samples=20000, return_latent=True)
    assert recon.shape == (20000, 4, 2)
    q = model.encoder(x, y).base_dist
    assert torch.allclose(z.mean(0), q.loc, atol=0.05)
    means = pc.reconstruct(model, x, y, num_samples=5, mean=True, return_latent=True)
    assert torch.allclose(means[0], model.decoder(means[1], y), atol=1e-6)


def test_sampling_leaves_the_training_mode_as_it_was():
    model = pc.build("cvae-deep", x_shape=(1, 8, 8), y_shape=(2,), **tiny())
    model.train()
    pc.sample(model, torch.randn(2, 2), num_samples=2)
    assert model.training


def test_summarize_matches_torch():
    samples = torch.randn(1000, 3, 2)
    summary = pc.summarize(samples, quantiles=(0.1, 0.9))
    assert torch.equal(summary["mean"], samples.mean(0))
    assert torch.equal(summary["std"], samples.std(0))
    assert torch.allclose(summary["quantiles"][1], torch.quantile(samples, 0.9, dim=0))
    with pytest.raises(ValueError, match="quantiles must lie in"):
        pc.summarize(samples, quantiles=(5, 95))


def test_condition_errors():
    model = pc.build("cvae", x_shape=(2,), y_shape=(3,), **tiny())
    with pytest.raises(ValueError, match=r"y must have shape \(batch, 3\), got \(4, 2\)"):
        pc.sample(model, torch.randn(4, 2))
    with pytest.raises(ValueError, match="this model is conditional"):
        pc.sample(model)
    vae = pc.build("vae", x_shape=(2,), **tiny())
    with pytest.raises(ValueError, match="no condition"):
        pc.sample(vae, torch.randn(1, 3))


def test_sampling_in_chunks_fills_every_sample_and_follows_the_same_distribution():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny()).eval()
    y = torch.randn(3, 2)
    torch.manual_seed(0)
    whole, z_whole = pc.sample(model, y, 4000, return_latent=True)
    chunked, z_chunked = pc.sample(model, y, 4000, return_latent=True, chunk_size=300)  # 13 passes, a short last one
    assert chunked.shape == whole.shape == (4000, 3, 4) and z_chunked.shape == z_whole.shape
    assert torch.isfinite(chunked).all()
    assert not torch.equal(chunked[:300], chunked[300:600])  # each chunk draws afresh
    assert torch.allclose(chunked.mean(0), whole.mean(0), atol=0.1)
    assert torch.allclose(chunked.std(0), whole.std(0), rtol=0.1)


@pytest.mark.parametrize("chunk_size", [0, -1, 2.5, True])
def test_bad_chunk_size_is_refused(chunk_size):
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny()).eval()
    with pytest.raises(ValueError, match="chunk_size"):
        pc.sample(model, torch.randn(1, 2), 10, chunk_size=chunk_size)

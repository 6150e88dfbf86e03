"""Embedding networks for the condition: shapes, permutation invariance, one shared network
trained through the ELBO, and clear errors for shapes they cannot read."""

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.errors import UnknownNameError
from tests.conftest import tiny


@pytest.mark.parametrize("embedding, y_shape", [("mlp", (6,)), ("conv", (2, 20)), ("conv", (1, 8, 8)), ("set", (7, 3))])
def test_every_embedding_trains_and_samples(embedding, y_shape):
    model = pc.build("dual-encoder", x_shape=(2,), y_shape=y_shape, embedding=embedding, embedding_dim=5, **tiny())
    x, y = torch.randn(12, 2), torch.randn(12, *y_shape)
    before = [p.detach().clone() for p in model.embedding.parameters()]
    pc.fit(model, (x, y), epochs=2, batch_size=4, progress=False)
    # one network, shared by prior, guide and decoder, and it learned
    assert sum(p.numel() for p in model.embedding.parameters()) > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.embedding.parameters()))
    assert model.features(y).shape == (12, 5)
    assert pc.sample(model, y[:3], num_samples=4).shape == (4, 3, 2)


def test_every_component_gets_its_gradient_through_the_shared_embedding():
    model = pc.build("dual-encoder", x_shape=(2,), y_shape=(2, 16), embedding="conv", **tiny())
    loss = (
        pc.ELBOS.get("analytic-kl")
        .make(1)
        .differentiable_loss(model.raw_model, model.raw_guide, torch.randn(4, 2), torch.randn(4, 2, 16))
    )
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_set_embedding_ignores_the_order_of_trials():
    model = pc.build("dual-encoder", x_shape=(2,), y_shape=(9, 3), embedding="set", **tiny())
    y = torch.randn(4, 9, 3)
    shuffled = y[:, torch.randperm(9)]
    assert torch.allclose(model.features(y), model.features(shuffled), atol=1e-5)


def test_embeddings_refuse_shapes_they_cannot_read():
    with pytest.raises(ValueError, match="embedding 'conv' needs y_shape"):
        pc.build("dual-encoder", x_shape=(2,), y_shape=(6,), embedding="conv")
    with pytest.raises(ValueError, match="embedding 'set' needs y_shape"):
        pc.build("dual-encoder", x_shape=(2,), y_shape=(6,), embedding="set")
    with pytest.raises(ValueError, match="set y_shape"):
        pc.build("vae", x_shape=(2,), embedding="mlp")
    with pytest.raises(UnknownNameError, match="embedding"):
        pc.build("dual-encoder", x_shape=(2,), y_shape=(6,), embedding="transformer")

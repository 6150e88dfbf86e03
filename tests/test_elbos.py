import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.elbos import make_elbo
from pyro_cvae.step import SVIStep

from .conftest import tiny


@pytest.mark.parametrize("elbo", ["jit-mean-field", "jit-trace"])
def test_jit_elbo_traces_once_and_trains(monkeypatch, elbo):
    calls = []
    real_trace = torch.jit.trace

    def counting_trace(*args, **kwargs):
        calls.append(1)
        return real_trace(*args, **kwargs)

    monkeypatch.setattr(torch.jit, "trace", counting_trace)
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    step = SVIStep(model, elbo=elbo, learning_rate=1e-2)
    x = torch.randn(32, 4)
    y = x[:, :2].clone()
    before = [p.detach().clone() for p in model.parameters()]
    losses = [float(step(x, y, kl_weight=w, num_data=32)) for w in [0.5, 1.0] * 20]
    assert len(calls) == 1  # pyro-ppl 1.9.2's JitTraceMeanField_ELBO would trace 40 times
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert sum(losses[-6:]) < sum(losses[:6])


def test_jit_loss_equals_the_uncompiled_loss():
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    # the mean-field loss depends on z only through the reconstruction term; fix z's noise
    model.encoder.net.head[-1].weight.data[3:].fill_(0.0)
    model.encoder.net.head[-1].bias.data[3:].fill_(-30.0)  # scale -> MIN_SCALE: z almost fixed
    plain = SVIStep(model, elbo="mean-field").loss(x, y, 0.7, 100)
    jit = SVIStep(model, elbo="jit-mean-field").loss(x, y, 0.7, 100)
    assert torch.allclose(plain, jit, rtol=1e-4)


def test_vectorized_particles_average_the_loss():
    elbo = make_elbo("trace", num_particles=8)
    assert elbo.vectorize_particles and elbo.num_particles == 8

import torch

import pyro_cvae as pc
from pyro_cvae.twobirds.decoder import LineDecoder

from ..conftest import tiny


def test_line_decoder_always_emits_straight_ordered_lines_in_the_box():
    decoder = LineDecoder(3, (50, 2), (50, 2), hidden_sizes=(16,))
    z = 5 * torch.randn(7, 11, 3)  # extra leading dim, as Predictive(parallel=True) passes
    x = decoder(z, torch.randn(11, 50, 2))
    assert x.shape == (7, 11, 50, 2)
    assert (x >= 0.1).all() and (x <= 1).all()
    assert (x[..., 1:, 0] <= x[..., :-1, 0]).all() and (x[..., 1:, 1] >= x[..., :-1, 1]).all()


def test_decoder_and_forward_model_are_chosen_by_config_and_learn():
    model = pc.build(
        "dual-encoder",
        x_shape=(50, 2),
        y_shape=(50, 2),
        decoder="lines",
        forward_model="twobirds:data1",
        **tiny(),
    )
    assert isinstance(model.decoder, LineDecoder)
    x = torch.rand(4, 50, 2).sort(dim=1).values
    y = model.forward_model(x)
    loss = pc.SVIStep(model, "trace", 1, 1e-3, None).loss(x, y, 1.0, None)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.images.quality import sample_quality

from ..conftest import tiny


class _Oracle(torch.nn.Module):
    """A 'decoder' that ignores z and returns the class mean image of the training data."""

    latent_dim = 2

    def __init__(self, means):
        super().__init__()
        self.register_buffer("means", means)

    def forward(self, z, y):
        images = (y @ self.means.flatten(1)).expand(*z.shape[:-1], -1)  # z may carry a sample dim
        return images.reshape(*z.shape[:-1], *self.means.shape[1:])


def _model(decoder=None):
    return pc.build(
        "cvae",
        **tiny(x_shape=(1, 8, 8), y_shape=(10,), network="conv2", channels=(4,), latent_dim=2, likelihood="normal"),
        **({"decoder": decoder} if decoder else {}),
    )


def test_a_model_that_draws_class_means_scores_high_fidelity_and_a_blind_one_chance():
    x, y, labels = pc.data.load_digits_data(image=True)
    means = torch.stack([x[labels == k].mean(0) for k in range(10)])
    good = sample_quality(_model(_Oracle(means)), x[:1500], labels[:1500], x[1500:], (1, 8, 8), per_class=5)
    assert good["class_fidelity"] > 0.95
    # class means are blurrier than single digits: less total variation than the data
    assert 0.2 < good["sharpness"] < 1.0
    blind = _Oracle(means[[3] * 10])  # the same digit whatever the class
    assert sample_quality(_model(blind), x[:1500], labels[:1500], x[1500:], (1, 8, 8), per_class=5)[
        "class_fidelity"
    ] == pytest.approx(0.1)


def test_needs_a_class_conditional_model():
    model = pc.build("vae", **tiny(x_shape=(1, 8, 8), network="conv2", channels=(4,)))
    with pytest.raises(ValueError, match="class-conditional"):
        sample_quality(model, torch.rand(20, 1, 8, 8), torch.arange(20) % 2, torch.rand(5, 1, 8, 8), (1, 8, 8))

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.twobirds.data import generate
from pyro_cvae.twobirds.functions import ForwardFunctions
from pyro_cvae.twobirds.metrics import evaluate_samples
from pyro_cvae.twobirds.sampling import SHARPENERS, draw, resample
from pyro_cvae.twobirds.train import twobirds_model

from ..conftest import tiny


@pytest.fixture
def untrained():
    return twobirds_model(**tiny(mixture_components=3)).eval()


@pytest.mark.parametrize("sharpen", list(SHARPENERS))
def test_every_sharpener_returns_samples_per_condition(untrained, sharpen):
    _, y = generate(3, seed=0)
    samples = draw(untrained, y, 5, sharpen=sharpen, functions="original", oversample=2, chunk=2)
    assert samples.shape == (5, 3, 50, 2) and samples.dtype == torch.float32


def test_sharpening_with_the_forward_model_beats_the_untrained_cvae(untrained):
    _, y = generate(4, seed=1)
    raw = evaluate_samples(draw(untrained, y, 20, sharpen="none"), y)
    sharp = evaluate_samples(draw(untrained, y, 20, functions="original", oversample=4), y)
    assert sharp["y_mse"] < raw["y_mse"] / 3
    assert sharp["precision"] > raw["precision"]


def test_resampling_prefers_heavy_proposals_and_never_duplicates():
    x = torch.arange(6.0).reshape(6, 1, 1, 1).expand(6, 2, 1, 1)  # proposal k holds value k
    log_w = torch.tensor([[0.0, -1e9], [-1e9, 0.0], [0.0, -1e9], [-1e9, 0.0], [-1e9, -1e9], [-1e9, -1e9]])
    picked = resample(x, log_w, 2)
    assert sorted(picked[:, 0].flatten().tolist()) == [0.0, 2.0]
    assert sorted(picked[:, 1].flatten().tolist()) == [1.0, 3.0]


def test_sharpening_needs_the_functions(untrained):
    _, y = generate(1, seed=0)
    bare = pc.build("dual-encoder", x_shape=(50, 2), y_shape=(50, 2), decoder="lines", **tiny())
    with pytest.raises(ValueError, match="forward functions"):
        draw(bare, y, 2, sharpen="refine")
    # a model whose forward term names them needs no functions=
    with_term = pc.build(bare.config.replace(forward_model="twobirds:original"))
    assert draw(with_term, y, 2, sharpen="refine").shape == (2, 1, 50, 2)
    with pytest.raises(KeyError, match="valid choices"):
        draw(untrained, y, 2, sharpen="magic", functions=ForwardFunctions("original"))
    with pytest.raises(ValueError, match="num_samples"):
        draw(untrained, y, 0, functions="original")

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.components.perception import FeatureTrunk
from pyro_cvae.train.perception import fit_perception

from .conftest import tiny


def _digits_model(penalties=None):
    return pc.build(
        "cvae",
        **tiny(
            x_shape=(1, 8, 8),
            y_shape=(10,),
            network="conv2",
            channels=(4,),
            likelihood="bernoulli",
            penalties=penalties or {"perceptual": 1.0},
        ),
    )


def _digits():
    x, _, labels = pc.data.load_digits_data(image=True)
    return x, labels


@pytest.mark.parametrize("shape, blocks", [((1, 8, 8), 3), ((3, 5, 5), 2), ((64,), 2), ((2, 50), 2)])
def test_trunk_fits_the_shape(shape, blocks):
    trunk = FeatureTrunk(shape)
    assert len(trunk.blocks) == blocks
    features = trunk(torch.rand(4, *shape))
    assert features.shape[0] == 4 and trunk.last(torch.rand(4, *shape)).shape == (4, trunk.last_features)


def test_fit_perception_learns_the_classes_and_arms_the_penalty():
    model = _digits_model()
    x, labels = _digits()
    rng = torch.get_rng_state()
    report = fit_perception(model, x[:1000], labels[:1000], epochs=5)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random stream is untouched
    assert report["num_classes"] == 10 and report["val_accuracy"] > 0.8  # chance is 0.1
    assert bool(model.penalties["perceptual"].trained)
    pc.fit(model, (x[:200], torch.eye(10)[labels[:200]]), epochs=1, progress=False)  # now it runs


def test_trained_penalty_survives_a_checkpoint(tmp_path):
    model = _digits_model({"perceptual": 1.0, "total-variation": 0.5})
    x, labels = _digits()
    fit_perception(model, x[:300], labels[:300], epochs=1)
    y = torch.eye(10)[labels[:100]]
    pc.fit(model, (x[:100], y), epochs=1, checkpoint_dir=str(tmp_path), progress=False)
    loaded = pc.load_model(tmp_path)
    model.cpu()  # fit may have moved it to a GPU; loaded models start on the CPU
    assert bool(loaded.penalties["perceptual"].trained)
    blurred = x[:4] * 0.5
    torch.testing.assert_close(
        loaded.penalties["perceptual"](blurred, x[:4]), model.penalties["perceptual"](blurred, x[:4])
    )


def test_fit_perception_refuses_bad_input():
    x, labels = _digits()
    with pytest.raises(ValueError, match="no 'perceptual' penalty"):
        fit_perception(_digits_model({"total-variation": 1.0}), x[:50], labels[:50])
    model = _digits_model()
    with pytest.raises(ValueError, match=r"labels must be an integer tensor of shape \(50,\)"):
        fit_perception(model, x[:50], labels[:40])
    with pytest.raises(ValueError, match="labels must be an integer tensor"):
        fit_perception(model, x[:50], labels[:50].float())
    with pytest.raises(ValueError, match="labelled images"):
        fit_perception(model, x[:50], torch.full((50,), -1))
    with pytest.raises(ValueError, match="single class"):
        fit_perception(model, x[:50], torch.zeros(50, dtype=torch.long))
    with pytest.raises(ValueError, match="x"):
        fit_perception(model, x[:50].flatten(1), labels[:50])

import warnings

import pyro
import pytest
import torch
import torch.nn.functional as F
from pyro import poutine

import pyro_cvae as pc
from pyro_cvae.components.penalties import Perceptual, TotalVariation, total_variation

from .conftest import tiny

IMAGE = (1, 6, 6)


def _model(penalties, **fields):
    # conv2 has no batch norm, so train and eval mode compute the same decoder
    return pc.build(
        "cvae",
        **tiny(
            x_shape=IMAGE,
            y_shape=(3,),
            network="conv2",
            channels=(4,),
            likelihood="bernoulli",
            penalties=penalties,
            **fields,
        ),
    )


def _data(n=5):
    torch.manual_seed(1)
    return torch.rand(n, *IMAGE).round(), torch.eye(3)[torch.arange(n) % 3]


def _joint_trace(model, x, y):
    guide = poutine.trace(model.raw_guide).get_trace(x, y)
    return guide, poutine.trace(poutine.replay(model.raw_model, trace=guide)).get_trace(x, y)


def test_total_variation_matches_hand_values_and_seed_formula():
    stripes = torch.tensor([[[0.0, 1.0], [0.0, 1.0]]])  # one channel, 2x2: two horizontal steps of 1
    assert total_variation(stripes[None], 3).tolist() == [2.0]
    assert total_variation(torch.full((2, 1, 4, 4), 0.3), 3).tolist() == [0.0, 0.0]
    # seed 003's form: replicate-pad, squared right and down differences, averaged; here summed
    images = torch.rand(3, 2, 5, 7)
    padded = F.pad(images, (0, 1, 0, 1), "replicate")
    seed = (padded[..., :-1, :-1] - padded[..., :-1, 1:]).pow(2) + (padded[..., :-1, :-1] - padded[..., 1:, :-1]).pow(2)
    torch.testing.assert_close(total_variation(images, 3), seed.flatten(1).sum(-1))


def test_total_variation_needs_an_image_shape():
    with pytest.raises(ValueError, match=r"'total-variation' needs image-shaped x .* \(64,\)"):
        TotalVariation((64,), 1.0)


def test_penalty_is_a_factor_of_minus_weight_times_value_in_train_mode_only():
    model = _model({"total-variation": 0.7})
    x, y = _data()
    guide, joint = _joint_trace(model, x, y)
    site = joint.nodes["penalty_total-variation"]
    mean = torch.sigmoid(model.decoder(guide.nodes["z"]["value"], y))
    torch.testing.assert_close(site["fn"].log_prob(site["value"]), -0.7 * total_variation(mean, 3))

    model.eval()
    assert "penalty_total-variation" not in _joint_trace(model, x, y)[1].nodes
    model.train()
    generated = poutine.trace(model.raw_model).get_trace(None, y)  # nothing observed to compare with
    assert "penalty_total-variation" not in generated.nodes


def test_evaluation_reports_the_pure_elbo_and_the_penalty_beside_it():
    penalized, plain = _model({"total-variation": 2.0}), _model({})
    plain.load_state_dict(penalized.state_dict())  # the same networks
    x, y = _data(50)
    torch.manual_seed(3)
    with_penalty = pc.elbo_terms(penalized, x, y)
    torch.manual_seed(3)
    without = pc.elbo_terms(plain, x, y)
    assert with_penalty["elbo"] == pytest.approx(without["elbo"]) and "penalty" not in without
    torch.manual_seed(3)  # the same z as elbo_terms drew: its guide trace is the first draw
    with torch.no_grad():
        z = poutine.trace(penalized.raw_guide).get_trace(x, y).nodes["z"]["value"]
        expected = 2.0 * total_variation(torch.sigmoid(penalized.decoder(z, y)), 3).mean()
    assert with_penalty["penalty"] == pytest.approx(float(expected), rel=1e-5)


def test_training_loss_is_negative_elbo_plus_penalty():
    x, y = _data()
    losses, reference = {}, _model({}).state_dict()
    for weight in (0.0, 3.0):
        model = _model({"total-variation": weight})
        model.load_state_dict(reference)
        pyro.set_rng_seed(0)
        losses[weight] = pyro.infer.Trace_ELBO().differentiable_loss(model.raw_model, model.raw_guide, x, y).detach()
        pyro.set_rng_seed(0)
        guide, _ = _joint_trace(model, x, y)
        with torch.no_grad():
            tv = total_variation(torch.sigmoid(model.decoder(guide.nodes["z"]["value"], y)), 3).sum()
    assert (losses[3.0] - losses[0.0]).item() == pytest.approx(3.0 * tv.item(), rel=1e-4)


def test_zero_weight_builds_no_penalty_and_unknown_names_fail():
    assert len(_model({"total-variation": 0.0}).penalties) == 0
    with pytest.raises(KeyError, match="unknown penalty 'sharpness'.*perceptual, total-variation"):
        pc.build(pc.ModelConfig(x_shape=IMAGE, penalties={"sharpness": 1.0}))
    with pytest.raises(ValueError, match=r"penalties\['perceptual'\] must be a weight >= 0"):
        pc.ModelConfig(x_shape=IMAGE, penalties={"perceptual": -1.0})
    with pytest.raises(ValueError, match="penalties must be a mapping"):
        pc.ModelConfig(x_shape=IMAGE, penalties=["perceptual"])


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_penalties_round_trip_through_config_files(tmp_path, suffix):
    config = pc.ModelConfig(x_shape=IMAGE, penalties={"total-variation": 0.5, "perceptual": 1})
    config.save(tmp_path / f"model{suffix}")
    assert pc.ModelConfig.from_file(tmp_path / f"model{suffix}") == config


def test_untrained_perceptual_penalty_refuses_to_run():
    model = _model({"perceptual": 1.0})
    with pytest.raises(RuntimeError, match="untrained.*fit_perception"):
        _joint_trace(model, *_data())


def test_perceptual_weights_are_buffers_that_no_optimizer_moves():
    model = _model({"perceptual": 1.0, "total-variation": 0.1})
    penalty = model.penalties["perceptual"]
    penalty.load_trunk(penalty._trunk[0])  # mark it trained with its initial weights
    assert list(penalty.parameters()) == []
    before = {k: v.clone() for k, v in penalty.state_dict().items()}
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pyro.module warns about parameters it cannot register
        svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 0.01}), pyro.infer.Trace_ELBO())
        svi.step(x, y)
    for name, value in penalty.state_dict().items():
        torch.testing.assert_close(value, before[name], msg=name)
    loss = pyro.infer.Trace_ELBO().differentiable_loss(model.raw_model, model.raw_guide, x, y)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_perceptual_penalty_is_zero_at_the_data_and_grows_away_from_it():
    penalty = Perceptual(IMAGE, 1.0)
    penalty.load_trunk(penalty._trunk[0])
    x, _ = _data()
    assert penalty(x, x).abs().max() == 0
    assert (penalty(x.flip(-1), x) > 0).all()

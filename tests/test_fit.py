import copy
import importlib

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.config import FitConfig
from pyro_cvae.train.device import resolve_device
from pyro_cvae.train.schedule import kl_weight_at

from .conftest import tiny

callbacks_module = importlib.import_module("pyro_cvae.train.callbacks")


def linear_data(n=96):
    g = torch.Generator().manual_seed(0)
    y = torch.randn(n, 2, generator=g)
    x = torch.cat([y, y.sum(-1, keepdim=True)], -1) + 0.1 * torch.randn(n, 3, generator=g)
    return x, y


def model():
    return pc.build("dual-encoder", x_shape=(3,), y_shape=(2,), **tiny())


def test_a_short_fit_raises_the_elbo_and_records_history():
    x, y = linear_data()
    history = pc.fit(
        model(), (x, y), val_data=(x[:16], y[:16]), epochs=15, batch_size=32, learning_rate=1e-2, progress=False
    )
    assert len(history) == 15 and history.epoch == list(range(15))
    assert history.train_elbo[-1] > history.train_elbo[0] + 10
    assert history.val_elbo[-1] > history.val_elbo[0]
    for e in range(15):  # ELBO = reconstruction - KL, and the KL estimate is finite
        assert history.train_elbo[e] == pytest.approx(history.train_reconstruction[e] - history.train_kl[e])


def test_same_seed_same_numbers_different_seed_different_numbers():
    x, y = linear_data()
    runs = []
    for seed in (3, 3, 4):
        torch.manual_seed(0)  # same initial weights for all three
        m = model()
        runs.append(pc.fit(m, (x, y), epochs=3, batch_size=16, seed=seed, progress=False).train_elbo)
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_kl_annealing_schedule():
    config = FitConfig(kl_weight=2.0, kl_anneal_epochs=4)
    assert [kl_weight_at(e, config) for e in range(6)] == [0.5, 1.0, 1.5, 2.0, 2.0, 2.0]
    assert kl_weight_at(0, FitConfig()) == 1.0
    x, y = linear_data()
    history = pc.fit(model(), (x, y), epochs=3, kl_anneal_epochs=3, progress=False)
    assert history.kl_weight == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_early_stopping_stops_and_restores_the_best_weights(monkeypatch, tmp_path):
    scores = iter([1.0, 3.0, 2.0, 2.5, 9.0])
    states = []

    def scripted(m, x, y=None):
        # one pass scores the training sample (all 96 points here) and then the 16 validation
        # points: record the weights it scores, and give the validation points the next score
        states.append(copy.deepcopy(m.state_dict()))
        elbo = torch.zeros(x.shape[0])
        elbo[-16:] = next(scores)
        return {"elbo": elbo, "reconstruction": torch.zeros(x.shape[0]), "kl": torch.zeros(x.shape[0])}

    monkeypatch.setattr(callbacks_module, "pointwise_elbo_terms", scripted)
    x, y = linear_data()
    m = model()
    history = pc.fit(
        m, (x, y), val_data=(x[:16], y[:16]), epochs=10, patience=2, checkpoint_dir=str(tmp_path), progress=False
    )
    assert len(history) == 4  # best at epoch 1, then two epochs without improvement
    assert all(torch.equal(v, states[1][k]) for k, v in m.state_dict().items())
    saved = pc.load_model(tmp_path).state_dict()  # the checkpoint holds the restored model (on the CPU)
    assert all(torch.equal(v, states[1][k].cpu()) for k, v in saved.items())


class RecordRate(pc.Callback):
    """The learning rate each epoch ends at (after the built-in callbacks ran)."""

    def __init__(self):
        self.rates = []

    def on_epoch_end(self, state):
        self.rates.append(state.optimizer.param_groups[0]["lr"])


def scripted_validation(scores):
    """``pointwise_elbo_terms`` whose validation ELBO (the last 16 points) follows ``scores``."""

    def terms(m, x, y=None):
        elbo = torch.zeros(x.shape[0])
        elbo[-16:] = next(scores)
        return {"elbo": elbo, "reconstruction": torch.zeros(x.shape[0]), "kl": torch.zeros(x.shape[0])}

    return terms


def test_the_learning_rate_is_halved_each_time_the_validation_score_stalls(monkeypatch):
    scores = [1.0, 3.0, 2.0, 2.5, 2.9, 2.8, 4.0, 3.5, 3.6]
    monkeypatch.setattr(callbacks_module, "pointwise_elbo_terms", scripted_validation(iter(scores)))
    x, y = linear_data()
    record = RecordRate()
    pc.fit(
        model(), (x, y), val_data=(x[:16], y[:16]), epochs=9, learning_rate=1e-2, lr_decay_patience=2,
        callbacks=[record], progress=False,
    )  # fmt: skip
    # stale after epochs 2, 3 (halved), 4, 5 (halved); 4.0 is a new best; stale 7, 8 (halved)
    assert record.rates == pytest.approx([1e-2, 1e-2, 1e-2, 5e-3, 5e-3, 2.5e-3, 2.5e-3, 2.5e-3, 1.25e-3])
    with pytest.raises(ValueError, match="lr_decay_factor must lie in"):
        FitConfig(lr_decay_factor=1.0)
    with pytest.raises(ValueError, match="lr_decay_patience"):
        FitConfig(lr_decay_patience=0)


def test_a_resumed_fit_continues_at_the_decayed_learning_rate(monkeypatch, tmp_path):
    # the validation score never improves after epoch 0: the rate halves after every epoch
    monkeypatch.setattr(callbacks_module, "pointwise_elbo_terms", scripted_validation(iter([1.0] + [0.0] * 9)))
    x, y = linear_data()
    settings = dict(val_data=(x[:16], y[:16]), batch_size=16, learning_rate=1e-2, lr_decay_patience=1, progress=False)
    torch.manual_seed(0)
    straight, record = model(), RecordRate()
    whole = pc.fit(straight, (x, y), epochs=5, checkpoint_dir=str(tmp_path / "a"), callbacks=[record], **settings)
    assert record.rates == pytest.approx([1e-2, 5e-3, 2.5e-3, 1.25e-3, 6.25e-4])

    monkeypatch.setattr(callbacks_module, "pointwise_elbo_terms", scripted_validation(iter([1.0] + [0.0] * 9)))
    torch.manual_seed(0)
    pc.fit(model(), (x, y), epochs=3, checkpoint_dir=str(tmp_path / "b"), **settings)
    resumed_model, record = model(), RecordRate()
    resumed = pc.fit(
        resumed_model, (x, y), epochs=5, checkpoint_dir=str(tmp_path / "b"), resume=True, callbacks=[record], **settings
    )
    assert record.rates == pytest.approx([1.25e-3, 6.25e-4])  # not the config's 1e-2 again
    assert resumed.train_loss == whole.train_loss
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_a_fit_on_the_iwae_bound_stops_on_that_bound_not_on_the_elbo(monkeypatch):
    # training on IWAE loosens the plain ELBO: scripted here as an ELBO that falls every epoch
    # while the bound rises until epoch 3; watching the ELBO would stop after epoch 2
    elbos, bounds = iter([5.0, 4.0, 3.0, 2.0, 1.0, 0.0, -1.0]), iter([1.0, 2.0, 3.0, 4.0, 3.5, 3.9, 0.0])
    real_bound = callbacks_module.iwae_log_likelihood
    seen_particles = []

    def scripted_terms(m, x, y=None):
        elbo = torch.zeros(x.shape[0])
        elbo[-16:] = next(elbos)
        return {"elbo": elbo, "reconstruction": elbo, "kl": torch.zeros(x.shape[0])}

    def scripted_bound(m, x, y, num_samples):
        seen_particles.append(num_samples)
        bound = real_bound(m, x, y, num_samples)  # runs: the real one takes these arguments
        bound[-16:] = next(bounds)
        return bound

    monkeypatch.setattr(callbacks_module, "pointwise_elbo_terms", scripted_terms)
    monkeypatch.setattr(callbacks_module, "iwae_log_likelihood", scripted_bound)
    x, y = linear_data()
    history = pc.fit(
        model(), (x, y), val_data=(x[:16], y[:16]), epochs=10, patience=2, elbo="iwae", num_particles=3, progress=False
    )
    assert history.val_iwae == pytest.approx([1.0, 2.0, 3.0, 4.0, 3.5, 3.9]) and len(history) == 6
    assert seen_particles == [3] * 6  # scored with as many particles as it trains with


def test_the_iwae_bound_is_recorded_only_for_iwae_fits_and_lies_above_the_elbo():
    x, y = linear_data()
    plain = pc.fit(model(), (x, y), epochs=2, progress=False)
    assert plain.train_iwae == [] and plain.val_iwae == []
    history = pc.fit(
        model(), (x, y), val_data=(x[:16], y[:16]), epochs=3, elbo="iwae", num_particles=50, progress=False
    )
    assert len(history.train_iwae) == len(history.val_iwae) == 3
    # 50 particles against one: above the ELBO for an untrained guide, by far more than the noise
    assert all(b > e for b, e in zip(history.train_iwae, history.train_elbo))


def test_gradient_clipping_and_mean_field_and_particles_run():
    x, y = linear_data()
    history = pc.fit(model(), (x, y), epochs=2, elbo="mean-field", num_particles=4, clip_norm=1.0, progress=False)
    assert all(torch.isfinite(torch.tensor(history.train_elbo)))


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path):
    x, y = linear_data()
    torch.manual_seed(0)
    straight = model()
    whole = pc.fit(straight, (x, y), epochs=4, batch_size=16, checkpoint_dir=str(tmp_path / "a"), progress=False)

    torch.manual_seed(0)
    pc.fit(model(), (x, y), epochs=2, batch_size=16, checkpoint_dir=str(tmp_path / "b"), progress=False)
    resumed_model = model()  # a fresh process would rebuild the model like this
    resumed = pc.fit(
        resumed_model, (x, y), epochs=4, batch_size=16, checkpoint_dir=str(tmp_path / "b"), resume=True, progress=False
    )
    assert resumed.epoch == [0, 1, 2, 3]
    assert resumed.train_elbo == whole.train_elbo
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_resume_refuses_a_checkpoint_of_another_model(tmp_path):
    x, y = linear_data()
    pc.fit(model(), (x, y), epochs=1, checkpoint_dir=str(tmp_path), progress=False)
    other = pc.build("cvae", x_shape=(3,), y_shape=(2,), **tiny())
    with pytest.raises(ValueError, match="different model config"):
        pc.fit(other, (x, y), epochs=2, checkpoint_dir=str(tmp_path), resume=True, progress=False)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        pc.fit(other, (x, y), epochs=2, resume=True, progress=False)


def test_fit_checks_the_data_and_leaves_it_untouched():
    x, y = linear_data()
    original = x.clone()
    with pytest.raises(ValueError, match=r"y must have shape \(batch, 2\)"):
        pc.fit(model(), (x, y[:, :1]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="val_data.*|y contains 1 NaN"):
        bad = y.clone()
        bad[0, 0] = float("nan")
        pc.fit(model(), (x, y), val_data=(x, bad), epochs=1, progress=False)
    with pytest.raises(TypeError, match="train_data must be a tensor x, a pair"):
        pc.fit(model(), "data.pt", epochs=1, progress=False)
    pc.fit(model(), {"x": x, "y": y}, epochs=1, progress=False)
    assert torch.equal(x, original)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


def test_every_point_is_used_once_per_epoch_and_no_batch_is_tiny():
    from pyro_cvae.train.batches import shuffled_batches

    batches = list(shuffled_batches(130, 64))
    assert [len(b) for b in batches] == [64, 64, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(130))
    assert [len(b) for b in shuffled_batches(129, 64)] == [64, 65]  # a batch of one would break batch norm
    assert [len(b) for b in shuffled_batches(130, 64, drop_last=True)] == [64, 64]

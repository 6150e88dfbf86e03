"""``pc.fit(..., engine="lightning")`` in one process: the same fit as the built-in loop, the
same run folder, resumable by either engine."""

import pytest
import pytorch_lightning as pl
import torch

import pyro_cvae as pc
from pyro_cvae.errors import ConfigError, UnknownNameError
from pyro_cvae.train.checkpoint import read_checkpoint
from pyro_cvae.train.lightning.engine import make_trainer
from pyro_cvae.train.schedule import kl_weight_at
from pyro_cvae.train.state import FitState

from ..conftest import tiny


def linear_data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(n, 2, generator=g)
    x = torch.cat([y, y.sum(-1, keepdim=True)], -1) + 0.1 * torch.randn(n, 3, generator=g)
    return x, y


def model(variant="dual-encoder", **fields):
    return pc.build(variant, x_shape=(3,), y_shape=(2,), seed=0, **tiny(**fields))


LIGHTNING = dict(engine="lightning", device="cpu", progress=False)


def parameters(m):
    return {name: value.detach().clone() for name, value in m.state_dict().items()}


def test_a_lightning_fit_raises_the_elbo_and_keeps_the_loops_history():
    x, y = linear_data()
    history = pc.fit(
        model(),
        (x, y),
        val_data=(x[:16], y[:16]),
        epochs=12,
        batch_size=32,
        learning_rate=1e-2,
        kl_anneal_epochs=4,
        **LIGHTNING,
    )
    assert history.epoch == list(range(12))
    assert history.train_elbo[-1] > history.train_elbo[0] + 10
    assert history.val_elbo[-1] > history.val_elbo[0]
    config = pc.FitConfig(epochs=12, kl_anneal_epochs=4)
    assert history.kl_weight == pytest.approx([kl_weight_at(e, config) for e in range(12)])
    for e in range(12):  # the same figures as pc.fit records: ELBO = reconstruction - KL
        assert history.train_elbo[e] == pytest.approx(history.train_reconstruction[e] - history.train_kl[e])


def test_every_parameter_gets_a_gradient_from_the_lightning_step():
    x, y = linear_data()
    m = model()
    config = pc.FitConfig(**LIGHTNING)
    svi = pc.SVIStep(m, config.elbo, learning_rate=config.learning_rate)
    module = pc.lightning.SVIModule(svi, FitState(m, svi.optimizer, config, (x, y), None), num_data=96)
    module.svi.loss(x[:32], y[:32], 1.0, 96).backward()
    for name, parameter in m.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_the_run_folder_loads_like_a_loop_run_and_records_the_engine(tmp_path):
    x, y = linear_data()
    m = model()
    history = pc.fit(
        m,
        (x, y),
        epochs=3,
        checkpoint_dir=str(tmp_path / "run"),
        csv_dir=str(tmp_path / "csv"),
        metadata={"note": "lightning"},
        **LIGHTNING,
    )
    run = pc.Run.load(tmp_path / "run")
    assert run.fit_config.engine == "lightning" and run.metadata == {"note": "lightning"}
    assert run.history.to_dict() == history.to_dict()
    for name, value in m.state_dict().items():
        assert torch.equal(run.model.state_dict()[name], value), name
    assert pc.sample(run.model, y[:4], num_samples=5).shape == (5, 4, 3)
    header = (tmp_path / "csv" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_elbo", "train_kl", "kl_weight"} <= set(header)


def test_a_killed_lightning_run_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    x, y = linear_data()
    straight = model()
    pc.fit(straight, (x, y), epochs=4, batch_size=32, checkpoint_dir=str(tmp_path / "a"), **LIGHTNING)
    interrupted = model()
    pc.fit(interrupted, (x, y), epochs=2, batch_size=32, checkpoint_dir=str(tmp_path / "b"), **LIGHTNING)
    resumed = model()  # a fresh process would build the model again and resume from the folder
    history = pc.fit(
        resumed, (x, y), epochs=4, batch_size=32, checkpoint_dir=str(tmp_path / "b"), resume=True, **LIGHTNING
    )
    assert history.epoch == [0, 1, 2, 3]
    for name, value in parameters(straight).items():
        assert torch.equal(parameters(resumed)[name], value), name


@pytest.mark.parametrize("first, then", [("loop", "lightning"), ("lightning", "loop")])
def test_either_engine_continues_the_others_run(tmp_path, first, then):
    x, y = linear_data()
    folder = str(tmp_path / "run")
    engines = {"loop": dict(progress=False), "lightning": LIGHTNING}
    pc.fit(
        model(),
        (x, y),
        epochs=3,
        batch_size=32,
        learning_rate=1e-2,
        patience=5,
        checkpoint_dir=folder,
        **engines[first],
    )
    before = pc.Run.load(folder)
    continued = model()
    history = pc.fit(
        continued,
        (x, y),
        epochs=6,
        batch_size=32,
        learning_rate=1e-2,
        patience=5,
        checkpoint_dir=folder,
        resume=True,
        **engines[then],
    )
    assert history.epoch == list(range(6))
    assert history.train_elbo[:3] == before.history.train_elbo
    assert history.train_elbo[-1] > before.history.train_elbo[-1]
    assert pc.Run.load(folder).fit_config.engine == then


def test_early_stopping_is_the_loops_and_restores_the_best_weights():
    x, y = linear_data()
    m = model()
    best = {}

    def remember(epoch, fitted, history):
        if history.val_elbo[-1] >= max(history.val_elbo):
            best.update(parameters(fitted))

    # a learning rate this large makes the validation ELBO stall and wobble: it stops early
    history = pc.fit(
        m,
        (x, y),
        val_data=(x[:16], y[:16]),
        epochs=60,
        batch_size=96,
        learning_rate=0.3,
        patience=2,
        on_epoch_end=remember,
        **LIGHTNING,
    )
    assert len(history) < 60
    assert history.val_elbo.index(max(history.val_elbo)) == len(history) - 3
    for name, value in best.items():
        assert torch.equal(parameters(m)[name], value), name


def test_the_learning_rate_decays_under_lightning_as_under_the_loop():
    x, y = linear_data()
    rates = []

    class RecordRate(pc.Callback):
        def on_epoch_end(self, state):
            rates.append(state.optimizer.param_groups[0]["lr"])

    # the large rate makes the validation ELBO wobble: some epochs do not improve on the best
    history = pc.fit(
        model(), (x, y), val_data=(x[:16], y[:16]), epochs=8, batch_size=96, learning_rate=0.3,
        lr_decay_patience=1, callbacks=[RecordRate()], **LIGHTNING,
    )  # fmt: skip
    expected, rate, best = [], 0.3, -float("inf")
    for score in history.val_elbo:  # halved after every epoch that does not beat the best
        best, rate = (score, rate) if score > best else (best, rate / 2)
        expected.append(rate)
    assert rates == pytest.approx(expected) and rates[-1] < 0.3


def test_on_epoch_end_sees_each_epoch_after_it_is_scored():
    x, y = linear_data()
    seen = []
    pc.fit(model(), (x, y), epochs=3, on_epoch_end=lambda e, m, h: seen.append((e, len(h))), **LIGHTNING)
    assert seen == [(0, 1), (1, 2), (2, 3)]


def test_penalties_and_the_jit_objective_train_under_lightning():
    images = torch.rand(40, 1, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = torch.randn(40, 2)
    painted = pc.build("cvae", x_shape=(1, 6, 6), y_shape=(2,), penalties={"total-variation": 0.5}, **tiny())
    history = pc.fit(painted, (images, labels), epochs=2, batch_size=16, **LIGHTNING)
    assert len(history.train_penalty) == 2 and history.train_penalty[-1] > 0
    x, y = linear_data(n=90)  # 90 = 2 batches of 32 + 26 left over, which the JIT ELBO drops
    history = pc.fit(model("cvae"), (x, y), epochs=2, batch_size=32, elbo="jit-mean-field", **LIGHTNING)
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(history.train_elbo)))


def test_the_trainer_takes_its_settings_from_the_fit_config(tmp_path):
    config = pc.FitConfig(
        clip_norm=5.0, patience=3, tensorboard_dir=str(tmp_path / "tb"), csv_dir=str(tmp_path), **LIGHTNING
    )
    trainer = make_trainer(config, 7)
    assert trainer.max_epochs == 7
    assert [type(logger).__name__ for logger in trainer.loggers] == ["TensorBoardLogger", "CSVLogger"]
    # early stopping and the run folder are the loop's callbacks, driven by the module
    assert not [c for c in trainer.callbacks if isinstance(c, (pl.callbacks.EarlyStopping, pl.callbacks.Checkpoint))]


class PoisonAtEpoch(pl.Callback):
    """Makes the weights NaN as epoch ``epoch`` starts: a stand-in for a fit that diverges."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, module):
        if trainer.current_epoch == self.epoch:
            with torch.no_grad():
                next(module.parameters()).fill_(float("nan"))


def test_a_diverging_lightning_fit_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = linear_data()
    folder = str(tmp_path / "run")
    with pytest.raises(pc.TrainingDiverged, match="epoch 1"):
        pc.fit(model(), (x, y), epochs=3, checkpoint_dir=folder, callbacks=[PoisonAtEpoch(1)], **LIGHTNING)
    saved = pc.Run.load(folder)
    assert saved.history.epoch == [0]
    assert all(torch.isfinite(value).all() for value in saved.model.state_dict().values())
    # the folder's lock was let go: the run can be resumed from its last good epoch
    history = pc.fit(model(), (x, y), epochs=2, checkpoint_dir=folder, resume=True, **LIGHTNING)
    assert history.epoch == [0, 1]


def test_wrong_settings_are_refused_with_the_field_named():
    x, y = linear_data()
    with pytest.raises(ConfigError, match="devices=2 need engine='lightning'"):
        pc.FitConfig(devices=2)
    with pytest.raises(UnknownNameError, match="unknown engine .spark."):
        pc.FitConfig(engine="spark")
    with pytest.raises(UnknownNameError, match="unknown strategy .ddp_spawn.; choose .*ddp_spawn, ddp_notebook"):
        pc.FitConfig(engine="lightning", strategy="ddp_spawn")
    with pytest.raises(UnknownNameError, match="unknown precision .8-bit.; choose one of: 32-true"):
        pc.FitConfig(engine="lightning", precision="8-bit")
    with pytest.raises(TypeError, match="pyro_cvae.Callback or pytorch_lightning.Callback objects, got ..str.."):
        pc.fit(model(), (x, y), epochs=1, callbacks=["early"], **LIGHTNING)
    with pytest.raises(TypeError, match="A Lightning callback needs engine='lightning'"):
        pc.fit(model(), (x, y), epochs=1, callbacks=[pl.Callback()], progress=False)
    with pytest.raises(ValueError, match="give val_data inside the data module"):
        pc.fit(model(), pc.lightning.TensorDataModule((x, y)), val_data=(x, y), epochs=1, **LIGHTNING)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 3\)"):
        pc.fit(model(), (x[:, :2], y), epochs=1, **LIGHTNING)


def test_double_and_mixed_precision_train_under_lightning():
    x, y = linear_data()
    double = model()
    history = pc.fit(double, (x, y), epochs=2, precision="64-true", **LIGHTNING)
    assert next(double.parameters()).dtype == torch.float64 and len(history) == 2
    assert pc.sample(double, y[:2], num_samples=3).dtype == torch.float64
    history = pc.fit(model(), (x, y), epochs=2, precision="bf16-mixed", **LIGHTNING)
    assert all(torch.isfinite(torch.tensor(history.train_elbo)))


class CountEpochs(pc.Callback):
    """A user's callback, written once: counts epochs, stops after ``stop_after``, and keeps its
    count across a resume."""

    def __init__(self, stop_after):
        self.stop_after, self.seen, self.started = stop_after, [], 0

    @property
    def state_key(self):
        return "count-epochs"

    def on_fit_start(self, state):
        self.started += 1

    def on_epoch_end(self, state):
        self.seen.append((state.epoch, len(state.history), state.engine))
        state.should_stop = state.should_stop or len(self.seen) >= self.stop_after

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, values):
        self.seen = [tuple(v) for v in values["seen"]]


@pytest.mark.parametrize("engine", ["loop", "lightning"])
def test_a_callback_written_once_runs_under_both_engines(engine):
    x, y = linear_data()
    counter = CountEpochs(stop_after=3)
    history = pc.fit(model(), (x, y), epochs=10, callbacks=[counter], engine=engine, device="cpu", progress=False)
    assert counter.started == 1
    assert counter.seen == [(0, 1, engine), (1, 2, engine), (2, 3, engine)]  # after scoring; it stopped the fit
    assert len(history) == 3


def test_a_callbacks_state_crosses_engines_by_its_state_key(tmp_path):
    x, y = linear_data()
    folder = str(tmp_path / "run")
    pc.fit(model(), (x, y), epochs=2, checkpoint_dir=folder, callbacks=[CountEpochs(99)], **LIGHTNING)
    assert "count-epochs" in read_checkpoint(folder)["callback_states"]  # by its key, not its class name
    resumed = CountEpochs(99)
    pc.fit(model(), (x, y), epochs=3, checkpoint_dir=folder, resume=True, callbacks=[resumed], progress=False)
    assert resumed.seen == [(0, 1, "lightning"), (1, 2, "lightning"), (2, 3, "loop")]

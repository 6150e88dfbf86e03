"""Faults: a fit killed with SIGKILL at random moments, then resumed, ends exactly where an
uninterrupted fit ends (bit for bit on the CPU, early stopping included); a diverging fit stops
with a clear error and leaves the last good checkpoint untouched; two writers never share a
run folder."""

import hashlib
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.errors import RunFolderError
from pyro_cvae.train.run_folder import LOCK_NAME, RunFolder

from .conftest import tiny

SCRIPT = """
import sys, torch, pyro_cvae as pc
torch.set_num_threads(1)
out, resume, patience = sys.argv[1], sys.argv[2] == "resume", (None if sys.argv[3] == "none" else int(sys.argv[3]))
where = {"engine": "lightning", "device": "cpu"} if sys.argv[4] == "lightning" else {}
g = torch.Generator().manual_seed(0)
y = torch.randn(3000, 2, generator=g)
x = torch.cat([y, y.sum(-1, keepdim=True)], -1) + 0.1 * torch.randn(3000, 3, generator=g)
model = pc.build("dual-encoder", x_shape=(3,), y_shape=(2,), latent_dim=2, hidden_sizes=(64, 64),
                 prior_hidden_sizes=(64,))
print("ready", flush=True)
pc.fit(model, (x[:2500], y[:2500]), val_data=(x[2500:], y[2500:]), epochs=12, batch_size=50,
       learning_rate=3e-3, kl_anneal_epochs=3, patience=patience, checkpoint_dir=out, resume=resume,
       progress=False, seed=1, **where)
"""


def _launch(script, out, resume, patience, engine):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), str(out), "resume" if resume else "fresh", patience, engine],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize("patience, engine", [("none", "loop"), ("2", "loop"), ("2", "lightning")])
def test_a_fit_killed_at_random_moments_resumes_to_the_same_parameters(tmp_path, patience, engine):
    script = tmp_path / "fit.py"
    script.write_text(SCRIPT)
    straight = _launch(script, tmp_path / "straight", False, patience, engine)
    assert straight.wait(timeout=300) == 0, straight.stderr.read()

    rng, kills, resume = random.Random(int(patience == "none")), 0, False
    # kill it somewhere in its training: an epoch takes ~0.1 s; Lightning first takes ~0.3 s to set up
    window = (0.05, 0.3) if engine == "loop" else (0.3, 1.2)
    while True:
        process = _launch(script, tmp_path / "killed", resume, patience, engine)
        assert process.stdout.readline().strip() == "ready"
        if kills < 4:
            time.sleep(rng.uniform(*window))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
                resume = True
                continue
        assert process.wait(timeout=300) == 0, process.stderr.read()
        break
    assert kills >= 2
    a, b = pc.Run.load(tmp_path / "straight"), pc.Run.load(tmp_path / "killed")
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name
    history_a, history_b = a.history.to_dict(), b.history.to_dict()
    history_a.pop("seconds"), history_b.pop("seconds")
    assert history_a == history_b
    assert not (tmp_path / "killed" / LOCK_NAME).exists()  # the stale locks were taken over and released


def test_a_diverging_fit_stops_clearly_and_keeps_the_last_good_checkpoint(tmp_path):
    x, y = torch.rand(256, 4), torch.rand(256, 2)
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,))  # the default sizes overflow at lr 1e6
    pc.fit(model, (x, y), epochs=1, checkpoint_dir=str(tmp_path), progress=False)
    saved = hashlib.sha256((tmp_path / "checkpoint.pt").read_bytes()).hexdigest()
    with pytest.raises(pc.TrainingDiverged, match="diverged at epoch 1, step \\d+.*smaller learning_rate"):
        pc.fit(model, (x, y), epochs=3, learning_rate=1e6, checkpoint_dir=str(tmp_path), resume=True, progress=False)
    assert hashlib.sha256((tmp_path / "checkpoint.pt").read_bytes()).hexdigest() == saved
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_other_training_loops_stop_on_divergence_too():
    from pyro_cvae.images.quadrants import BaselineNet, fit_baseline

    x, y = torch.rand(128, 6), torch.rand(128, 4)
    net = BaselineNet(4, 6)
    with pytest.raises(pc.TrainingDiverged, match="the baseline's training diverged at epoch 0"):
        fit_baseline(net, (x, y), (x, y), epochs=3, learning_rate=1e30)
    images = torch.rand(64, 1, 8, 8)
    model = pc.build("cvae", x_shape=(1, 8, 8), y_shape=(2,), network="conv2", penalties={"perceptual": 1.0}, **tiny())
    with pytest.raises(pc.TrainingDiverged, match="perceptual classifier's training diverged"):
        pc.fit_perception(model, images, torch.arange(64) % 2, epochs=2, learning_rate=1e30)


def test_a_second_writer_is_refused_and_a_stale_lock_is_taken_over(tmp_path):
    with RunFolder(tmp_path):
        with pytest.raises(RunFolderError, match="being written by another process"):
            RunFolder(tmp_path).__enter__()
    assert not (tmp_path / LOCK_NAME).exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(f"{dead.stdout.strip()} {os.uname().nodename}\n")  # its writer is gone
    with RunFolder(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_overwrite_replaces_a_run_and_resume_changes_the_learning_rate(tmp_path):
    x, y = torch.rand(64, 4), torch.rand(64, 2)
    model = pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), **tiny())
    pc.fit(model, (x, y), epochs=2, checkpoint_dir=str(tmp_path), progress=False)
    with pytest.raises(RunFolderError, match="already holds a run"):
        pc.fit(model, (x, y), epochs=1, checkpoint_dir=str(tmp_path), progress=False)
    pc.fit(model, (x, y), epochs=1, checkpoint_dir=str(tmp_path), progress=False, overwrite=True)
    assert len(pc.Run.load(tmp_path).history) == 1
    pc.fit(model, (x, y), epochs=2, learning_rate=0.5, checkpoint_dir=str(tmp_path), resume=True, progress=False)
    assert pc.Run.load(tmp_path).fit_config.learning_rate == 0.5
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["optimizer_state"]["param_groups"][0]["lr"] == 0.5  # not the saved run's 1e-3

"""What a new user does in the first hour with their own data, each run as they run it: the
Python call in a fresh interpreter, or the command line as a program. One test per rough edge
that was reported, checking the outcome the user expected."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from .conftest import run_fresh

#: each test starts interpreters and the command line: the slow tier (.ci/run runs it)
pytestmark = pytest.mark.slow

MODEL = "pc.build('cvae', x_shape=(3,), y_shape=(2,), latent_dim=2, hidden_sizes=(8,), prior_hidden_sizes=(8,))"


def cli(*args, cwd):
    """``pyro-cvae ARGS`` as a program; returns ``(exit code, stdout + stderr)``."""
    done = subprocess.run(
        [sys.executable, "-m", "pyro_cvae", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )
    return done.returncode, done.stdout + done.stderr


def test_fit_trains_on_float64_tensors_in_a_copy_of_the_models_type():
    found = run_fresh(f"""
        import json, torch, pyro_cvae as pc
        x, y = torch.randn(64, 3, dtype=torch.float64), torch.randn(64, 2, dtype=torch.float64)
        before = x.clone()
        history = pc.fit({MODEL}, (x, y), epochs=2, progress=False)
        print(json.dumps([len(history), x.dtype == torch.float64, torch.equal(x, before)]))
    """)
    assert found == [2, True, True]


def test_fit_sample_and_the_diagnostics_take_numpy_arrays():
    found = run_fresh(f"""
        import json, numpy as np, pyro_cvae as pc
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 2))  # float64, numpy's default
        model = {MODEL}
        history = pc.fit(model, (x, y), val_data=(x[:8], y[:8]), epochs=2, progress=False)
        draws = pc.sample(model, y[:4], num_samples=5)
        single = pc.sample(model, y[0], num_samples=5)
        recon = pc.reconstruct(model, x[:4], y[:4], num_samples=2)
        terms = pc.elbo_terms(model, x, y)
        iwae = pc.diagnostics.iwae_log_likelihood(model, x[:4], y[:4], num_samples=5)
        idata = pc.diagnostics.to_inference_data(model, x[:4], y[:4], num_samples=3)
        # and the functions of samples, given the draws as an array
        array = draws.numpy()
        scores = [list(pc.summarize(array)["mean"].shape), sorted(pc.diagnostics.interval_coverage(array, x[:4])),
                  list(pc.diagnostics.crps(array, x[:4]).shape), list(pc.diagnostics.energy_score(array, x[:4]).shape)]
        print(json.dumps([len(history), list(draws.shape), list(single.shape), list(recon.shape),
                          sorted(terms), list(iwae.shape), "posterior" in idata.groups(), scores]))
    """)
    assert found == [
        2, [5, 4, 3], [5, 1, 3], [2, 4, 3], ["elbo", "kl", "reconstruction"], [4], True,
        [[4, 3], [0.5, 0.8, 0.9, 0.95], [4], [4]],
    ]  # fmt: skip


def test_a_yaml_learning_rate_in_exponent_notation_is_a_float(tmp_path):
    (tmp_path / "cfg.yaml").write_text("model: {variant: cvae, latent_dim: 2}\nfit: {epochs: 1, learning_rate: 1e-3}\n")
    code, out = cli("fit", "--config", "cfg.yaml", "--out", "run", "--quiet", cwd=tmp_path)
    assert code == 0, out
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["fit_config"]["learning_rate"] == 1e-3


def test_a_config_without_data_for_a_model_not_shaped_like_the_digits_says_so(tmp_path):
    (tmp_path / "cfg.yaml").write_text("model: {variant: cvae, x_shape: [3], y_shape: [2]}\nfit: {epochs: 1}\n")
    code, out = cli("fit", "--config", "cfg.yaml", "--out", "run", "--quiet", cwd=tmp_path)
    assert code == 2
    assert "the config has no data section" in out and "x_shape is (3,)" in out and "--data FILE" in out
    assert len(out.strip().splitlines()) == 1 and not (tmp_path / "run" / "checkpoint.pt").exists()


def _fitted_run(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.random.default_rng(0).normal(size=(64, 5)), y=np.eye(2)[np.arange(64) % 2])
    (tmp_path / "cfg.yaml").write_text(
        "model: {variant: cvae, latent_dim: 2, hidden_sizes: [8]}\nfit: {epochs: 1}\ndata: {source: data.npz}\n"
    )
    code, out = cli("fit", "--config", "cfg.yaml", "--out", "run", "--quiet", cwd=tmp_path)
    assert code == 0, out


def test_numpy_files_are_data_and_conditions_and_one_condition_is_drawn(tmp_path):
    _fitted_run(tmp_path)  # trained from data.npz
    torch.save(torch.tensor([1.0, 0.0]), tmp_path / "one.pt")  # one condition, shaped (2,)
    np.save(tmp_path / "many.npy", np.eye(2))
    code, out = cli("sample", "--checkpoint", "run", "--conditions", "one.pt", "--out", "a.pt", cwd=tmp_path)
    assert code == 0, out
    code, out = cli("sample", "--checkpoint", "run", "--conditions", "many.npy", "--out", "b.pt", cwd=tmp_path)
    assert code == 0, out
    # the default torch.load reads them (weights_only=True): plain tensors, in pc.sample's order
    one, many = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    assert one["samples"].shape == (100, 1, 5) and many["samples"].shape == (100, 2, 5)
    assert torch.equal(many["conditions"], torch.eye(2, dtype=torch.float64))


def test_a_numpy_file_of_python_objects_is_refused_by_name(tmp_path):
    _fitted_run(tmp_path)
    np.save(tmp_path / "objects.npy", np.array([{"y": 1}], dtype=object), allow_pickle=True)
    code, out = cli("sample", "--checkpoint", "run", "--conditions", "objects.npy", "--out", "c.pt", cwd=tmp_path)
    assert code == 2 and "numpy file" in out and "Python objects" in out and "np.save" in out


def test_run_save_twice_refuses_to_replace_the_run(tmp_path):
    found = run_fresh(f"""
        import json, pyro_cvae as pc
        model = {MODEL}
        pc.Run(model).save({str(tmp_path / "run")!r})
        try:
            pc.Run(model).save({str(tmp_path / "run")!r})
            second = "replaced"
        except pc.errors.OutputExistsError as error:
            second = str(error)
        pc.Run(model).save({str(tmp_path / "run")!r}, overwrite=True)
        print(json.dumps(second))
    """)
    assert "exists; pass overwrite=True" in found


def test_the_command_line_writes_samples_in_the_order_python_returns_them(tmp_path):
    _fitted_run(tmp_path)
    np.save(tmp_path / "y.npy", np.eye(2)[[0, 1, 1]])
    code, out = cli("sample", "--checkpoint", "run", "--conditions", "y.npy", "--num-samples", "7", "--out", "s.pt",
                    cwd=tmp_path)  # fmt: skip
    assert code == 0, out
    found = run_fresh(f"""
        import json, numpy as np, torch, pyro_cvae as pc
        model = pc.Run.load({str(tmp_path / "run")!r}).model
        python = pc.sample(model, np.load({str(tmp_path / "y.npy")!r}), num_samples=7)
        print(json.dumps([list(python.shape), list(torch.load({str(tmp_path / "s.pt")!r})["samples"].shape)]))
    """)
    assert found == [[7, 3, 5], [7, 3, 5]]


def test_lr_is_one_name_for_the_learning_rate_in_python_and_on_the_command_line(tmp_path):
    found = run_fresh(f"""
        import json, torch, pyro_cvae as pc
        history = pc.fit({MODEL}, (torch.randn(32, 3), torch.randn(32, 2)), epochs=1, lr=0.01, progress=False)
        print(json.dumps([
            history.to_dict()["epoch"],
            pc.FitConfig.from_dict({{"lr": 0.05}}).learning_rate,
            pc.FitConfig().replace(lr=0.2).learning_rate,
        ]))
    """)
    assert found == [[0], 0.05, 0.2]
    _fitted_run(tmp_path)
    for flag in ("--lr", "--learning-rate"):
        code, out = cli("fit", "--data", "data.npz", "--epochs", "1", flag, "0.01", "--out", f"run{flag}", "--quiet",
                        cwd=tmp_path)  # fmt: skip
        assert code == 0, out
        saved = torch.load(tmp_path / f"run{flag}" / "checkpoint.pt", weights_only=True)
        assert saved["fit_config"]["learning_rate"] == 0.01


def test_the_writers_of_files_refuse_to_replace_without_overwrite(tmp_path):
    found = run_fresh(f"""
        import json, torch, pyro_cvae as pc
        from pyro_cvae.data import save_tensors
        model = {MODEL}
        y, folder = torch.randn(2, 2), {str(tmp_path)!r}
        writers = {{
            "sample_to_netcdf": lambda **k: pc.sample_to_netcdf(model, y, folder + "/d.nc", 3, **k),
            "save_tensors": lambda **k: save_tensors(folder + "/t.pt", y, **k),
            "save_checkpoint": lambda **k: pc.save_checkpoint(folder + "/ck", model, **k),
            "FitConfig.save": lambda **k: pc.FitConfig().save(folder + "/fit.yaml", **k),
        }}
        outcome = {{}}
        for name, write in writers.items():
            write()
            try:
                write()
                outcome[name] = "replaced silently"
            except pc.errors.OutputExistsError:
                write(overwrite=True)
                outcome[name] = "refused, then replaced with overwrite=True"
        print(json.dumps(outcome))
    """)
    assert set(found.values()) == {"refused, then replaced with overwrite=True"}

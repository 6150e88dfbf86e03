"""Bad input, table-driven, the way users give it: every case gets one clear line naming the
problem, the right exit code (2: what the user gave is wrong; 1: the run failed), and no file
the user already had changes (hashes before and after)."""

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.cli import main
from pyro_cvae.data import save_tensors
from pyro_cvae.errors import ConfigError, OutputExistsError, PyroCVAEError, RunFolderError, UnknownNameError
from pyro_cvae.twobirds import generate, save_challenge

from .conftest import tiny, write_code_pickle

SMALL = "model: {hidden_sizes: [8], prior_hidden_sizes: [8], latent_dim: 2, mixture_components: 2}\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The files the cases point at: good ones (runs, data) and broken ones, made once."""
    root = tmp_path_factory.mktemp("bad_inputs")
    (root / "small.yaml").write_text(SMALL + "fit: {epochs: 1, progress: false}\n")
    for name, text in {
        "empty.yaml": "",
        "syntax.yaml": "model: {latent_dim: [1, 2\n",
        "unknown_key.yaml": "model: {latnet_dim: 3}\n",
        "string_lr.yaml": "fit: {learning_rate: '1e-3'}\n",
        "negative_epochs.yaml": "fit: {epochs: -1}\n",
        "unknown_prior.yaml": "model: {prior: gaussian-ish}\n",
        "zero_latent.yaml": "model: {latent_dim: 0}\n",
        "list.json": "[1, 2, 3]",
        "bad.toml": "model = [unclosed\n",
        "config.txt": "model: {}\n",
        "binary.yaml": None,
        "section_list.yaml": "model: [1, 2]\n",
        "no_data.yaml": "model: {variant: cvae, x_shape: [3], y_shape: [2]}\nfit: {epochs: 1}\n",
        "lr_twice.yaml": "fit: {lr: 0.1, learning_rate: 0.2}\n",
    }.items():
        if text is None:
            (root / name).write_bytes(b"\xff\xfe\x00garbage")
        else:
            (root / name).write_text(text)
    x, y, _ = pc.data.load_digits_data()
    save_tensors(root / "digits.pt", x[:64], y[:64])
    save_tensors(root / "nan.pt", torch.full((8, 64), float("nan")), y[:8])
    torch.save((torch.ones(8, 64, dtype=torch.int64), y[:8]), root / "ints.pt")
    torch.save((x[:8], y[:6]), root / "mismatch.pt")
    save_tensors(root / "wrong_y.pt", torch.rand(5, 3))
    (root / "empty.pt").write_bytes(b"")
    good = (root / "digits.pt").read_bytes()
    (root / "truncated.pt").write_bytes(good[: len(good) // 2])
    write_code_pickle(root / "code.pt")
    (root / "a_file").write_text("not a folder")
    np.save(root / "objects.npy", np.array([{"y": 1}], dtype=object), allow_pickle=True)
    np.savez(root / "three.npz", a=np.zeros((4, 64)), b=np.zeros((4, 10)), c=np.zeros(4))
    (root / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (root / "exists.nc").write_bytes(b"draws someone keeps")
    (root / "empty_dir").mkdir()
    # runs to point at: a digits run, an images run, a Two Birds run
    assert main(["fit", "--config", str(root / "small.yaml"), "--out", str(root / "run"), "--quiet"]) == 0
    # the default network sizes: at learning rate 1e6 they overflow to NaN within an epoch
    assert main(["fit", "--epochs", "1", "--out", str(root / "default_run"), "--quiet"]) == 0
    assert main(["images", "fit", "--limit", "100", "--epochs", "1", "--out", str(root / "images_run"), "--quiet"]) == 0
    birds = pc.twobirds.fit_twobirds(
        "data1",
        out=root / "birds_run",
        num_train=128,
        num_val=16,
        epochs=1,
        progress=False,
        model_overrides=tiny(mixture_components=2),
    )
    assert birds.metadata["functions"]
    save_challenge(root / "conditions.pt", *generate(2, "data1", seed=1))
    save_tensors(root / "wrong_conditions.pt", torch.rand(2, 7))
    checkpoint = torch.load(root / "run" / "checkpoint.pt", weights_only=True)
    torch.save({**checkpoint, "version": 99}, root / "newer.pt")
    torch.save({"format": "something else"}, root / "foreign.pt")
    # a folder locked by a live process (this one)
    (root / "locked").mkdir()
    (root / "locked" / ".pyro_cvae.lock").write_text(f"{os.getpid()} {os.uname().nodename}\n")
    return root


def snapshot(root: Path):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


# (case id, arguments with {root} for the fixture folder, exit code, message pattern)
CLI_CASES = [
    (
        "main-job-into-a-run",
        "--epochs 1 --quiet --out {root}/run",
        2,
        "already holds a run \\(checkpoint.pt\\); replace it with",
    ),
    (
        "sample-out-exists",
        "sample --checkpoint {root}/run --conditions {root}/digits.pt --out {root}/digits.pt",
        2,
        "exists; pass --overwrite",
    ),
    (
        "config-missing",
        "fit --config {root}/missing.yaml --out {root}/o1",
        2,
        "config file .*missing.yaml.* does not exist",
    ),
    ("config-empty", "fit --config {root}/empty.yaml --out {root}/o1", 2, "must hold a mapping, got NoneType"),
    ("config-syntax", "fit --config {root}/syntax.yaml --out {root}/o1", 2, "is not valid YAML"),
    (
        "config-unknown-key",
        "fit --config {root}/unknown_key.yaml --out {root}/o1",
        2,
        "unknown ModelConfig key.*latnet_dim",
    ),
    (
        "config-string-number",
        "fit --config {root}/string_lr.yaml --out {root}/o1",
        2,
        "'learning_rate' must be a float, got str '1e-3' .a number in quotes is text",
    ),
    ("config-negative", "fit --config {root}/negative_epochs.yaml --out {root}/o1", 2, "epochs must be a positive int"),
    (
        "config-unknown-prior",
        "fit --config {root}/unknown_prior.yaml --out {root}/o1",
        2,
        "unknown prior 'gaussian-ish'; valid",
    ),
    (
        "config-zero-latent",
        "fit --config {root}/zero_latent.yaml --out {root}/o1",
        2,
        "latent_dim must be a positive int",
    ),
    ("config-json-list", "fit --config {root}/list.json --out {root}/o1", 2, "must hold a mapping, got list"),
    ("config-toml-syntax", "fit --config {root}/bad.toml --out {root}/o1", 2, "is not valid TOML"),
    ("config-suffix", "fit --config {root}/config.txt --out {root}/o1", 2, "must end in .json, .yaml"),
    ("config-binary", "fit --config {root}/binary.yaml --out {root}/o1", 2, "is not valid YAML"),
    (
        "config-section-list",
        "fit --config {root}/section_list.yaml --out {root}/o1",
        2,
        "'model' section must be a mapping",
    ),
    ("data-missing", "fit --data {root}/missing.pt --out {root}/o1", 2, "data file .* does not exist"),
    ("data-empty", "fit --data {root}/empty.pt --out {root}/o1", 2, "not a complete torch file"),
    ("data-truncated", "fit --data {root}/truncated.pt --out {root}/o1", 2, "not a complete torch file"),
    ("data-code", "fit --data {root}/code.pt --out {root}/o1", 2, "pickled Python objects, which are never loaded"),
    ("data-nan", "fit --data {root}/nan.pt --out {root}/o1", 2, "x contains 512 NaN or infinite"),
    ("data-dtype", "fit --data {root}/ints.pt --out {root}/o1", 2, "x must have a floating dtype"),
    ("data-batch-mismatch", "fit --data {root}/mismatch.pt --out {root}/o1", 2, "same batch size, got 8 and 6"),
    ("out-is-a-file", "fit --config {root}/small.yaml --out {root}/a_file", 2, "is a file, not a folder"),
    (
        "out-holds-a-run",
        "fit --config {root}/small.yaml --out {root}/run",
        2,
        "already holds a run.*--resume.*--overwrite",
    ),
    ("out-locked", "fit --config {root}/small.yaml --out {root}/locked", 2, "being written by another process \\(pid"),
    (
        "diverging-resume",
        "fit --out {root}/default_run --resume --epochs 3 --lr 1e6 --quiet",
        1,
        "TrainingDiverged: training diverged at epoch 1, step \\d+.*smaller learning_rate",
    ),
    (
        "sample-missing",
        "sample --checkpoint {root}/nothing --conditions {root}/digits.pt --out {root}/s.pt",
        2,
        "no checkpoint at",
    ),
    (
        "sample-corrupt",
        "sample --checkpoint {root}/truncated.pt --conditions {root}/digits.pt --out {root}/s.pt",
        2,
        "not a readable pyro_cvae checkpoint: it is not a complete torch file",
    ),
    (
        "sample-code",
        "sample --checkpoint {root}/code.pt --conditions {root}/digits.pt --out {root}/s.pt",
        2,
        "pickled Python objects",
    ),
    (
        "sample-newer",
        "sample --checkpoint {root}/newer.pt --conditions {root}/digits.pt --out {root}/s.pt",
        2,
        "newer pyro_cvae \\(format 99.*upgrade",
    ),
    (
        "sample-foreign",
        "sample --checkpoint {root}/foreign.pt --conditions {root}/digits.pt --out {root}/s.pt",
        2,
        "a torch file but not a pyro_cvae checkpoint",
    ),
    ("sample-no-conditions", "sample --checkpoint {root}/run --out {root}/s.pt", 2, "give --conditions"),
    (
        "sample-wrong-conditions",
        "sample --checkpoint {root}/run --conditions {root}/wrong_y.pt --out {root}/s.pt",
        2,
        "y must have shape \\(batch, 10\\), got \\(5, 3\\)",
    ),
    (
        "sample-out-is-a-folder",
        "sample --checkpoint {root}/run --conditions {root}/digits.pt --out {root}/empty_dir --overwrite",
        2,
        "Is a directory",
    ),
    ("functions-overflow", "twobirds fit --functions 9**9**9,x0 --out {root}/b1", 2, "numbers must stay within"),
    (
        "functions-inject",
        "twobirds fit --functions __import__('os').system('true'),x0 --out {root}/b1",
        2,
        "may only hold numbers",
    ),
    ("functions-nan", "twobirds fit --functions log(x0-2),x1 --out {root}/b1", 2, "NaN or infinite values for lines"),
    ("functions-exponent", "twobirds fit --functions x0**x1,x0 --out {root}/b1", 2, "exponents .* must be numbers"),
    ("functions-one", "twobirds fit --functions sin(x0) --out {root}/b1", 2, "two comma-separated expressions"),
    ("functions-division", "twobirds fit --functions 1/0,x0 --out {root}/b1", 2, "divides by zero"),
    (
        "birds-on-images-run",
        "twobirds sample --checkpoint {root}/images_run --conditions {root}/conditions.pt --out {root}/s.pt",
        2,
        "made by 'images', not by 'twobirds'",
    ),
    (
        "birds-wrong-conditions",
        "twobirds sample --checkpoint {root}/birds_run --conditions {root}/wrong_conditions.pt --out {root}/s.pt",
        2,
        "must be \\(N, n_points, 2\\)|shape",
    ),
    ("birds-evaluate-missing", "twobirds evaluate --checkpoint {root}/nothing", 2, "no checkpoint at"),
    (
        "images-unknown-dataset",
        "images fit --dataset svhn:/x --out {root}/i1",
        2,
        "unknown dataset 'svhn'; valid choices",
    ),
    ("images-dataset-folder", "images fit --dataset mnist --out {root}/i1", 2, "needs a folder: use 'mnist:DIR'"),
    ("images-dataset-missing", "images fit --dataset mnist:{root}/nowhere --out {root}/i1", 2, "not found in"),
    ("images-empty-folder", "images fit --dataset folder:{root}/empty_dir --out {root}/i1", 2, "no images"),
    ("images-unknown-penalty", "images fit --penalty sharpness=1 --out {root}/i1", 2, "unknown penalty 'sharpness'"),
    (
        "images-evaluate-birds-run",
        "images evaluate --checkpoint {root}/birds_run",
        2,
        "made by 'twobirds', not by 'images'",
    ),
    (
        "config-without-data-for-another-shape",
        "fit --config {root}/no_data.yaml --out {root}/o1",
        2,
        "the config has no data section, so fit trains on the embedded digits .* x_shape is \\(3,\\)",
    ),
    (
        "config-lr-twice",
        "fit --config {root}/lr_twice.yaml --out {root}/o1",
        2,
        "'lr' and 'learning_rate' name the same",
    ),
    (
        "conditions-numpy-objects",
        "sample --checkpoint {root}/run --conditions {root}/objects.npy --out {root}/s1.pt",
        2,
        "numpy file .*objects.npy.* holds Python objects .*np.save",
    ),
    (
        "data-npz-three-arrays",
        "fit --data {root}/three.npz --epochs 1 --out {root}/o1",
        2,
        "must hold arrays 'x' and 'y' \\(or two arrays\\), got \\['a', 'b', 'c'\\]",
    ),
    (
        "data-npy-broken",
        "fit --data {root}/broken.npy --epochs 1 --out {root}/o1",
        2,
        "numpy file .* could not be read",
    ),
]


@pytest.mark.parametrize("case, arguments, code, message", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_refuses_bad_input_with_one_line(files, capsys, case, arguments, code, message):
    before = snapshot(files)
    capsys.readouterr()
    assert main(arguments.format(root=files).split()) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("pyro-cvae: error: ") and "\n" not in err, err
    assert re.search(message, err), err
    after = snapshot(files)
    assert {p: h for p, h in after.items() if p in before} == before, "an existing file changed"


def _api_cases(root: Path):
    model = pc.build("dual-encoder", x_shape=(64,), y_shape=(10,), **tiny())
    x, y, _ = pc.data.load_digits_data()
    return [
        (
            "unknown-variant",
            lambda: pc.build("dual-encoderr", x_shape=(4,)),
            KeyError,
            "neither a variant nor a config",
        ),
        (
            "unknown-prior",
            lambda: pc.build({"x_shape": [4], "prior": "nope"}),
            UnknownNameError,
            "unknown prior 'nope'",
        ),
        ("config-not-a-dict", lambda: pc.ModelConfig.from_dict([1, 2]), ConfigError, "must be a mapping"),
        (
            "config-bad-shape",
            lambda: pc.ModelConfig(x_shape="abc"),
            ConfigError,
            "x_shape must be an int or a sequence",
        ),
        (
            "fit-nan",
            lambda: pc.fit(model, (torch.full((4, 64), float("nan")), y[:4]), progress=False),
            ValueError,
            "x contains 256 NaN",
        ),
        (
            "fit-into-a-run",
            lambda: pc.fit(model, (x[:64], y[:64]), checkpoint_dir=str(root / "run"), progress=False),
            RunFolderError,
            "already holds a run",
        ),
        (
            "resume-other-model",
            lambda: pc.fit(
                pc.build("cvae", x_shape=(64,), y_shape=(10,), **tiny()),
                (x[:64], y[:64]),
                checkpoint_dir=str(root / "run"),
                resume=True,
                progress=False,
            ),
            ValueError,
            "different model config",
        ),
        ("sample-wrong-y", lambda: pc.sample(model, torch.rand(3, 4)), ValueError, "y must have shape \\(batch, 10\\)"),
        (
            "run-of-other-app",
            lambda: pc.twobirds.functions_of(pc.Run.load(root / "images_run")),
            ValueError,
            "made by 'images'",
        ),
        ("load-foreign", lambda: pc.Run.load(root / "foreign.pt"), ValueError, "not a pyro_cvae checkpoint"),
        (
            "run-save-onto-a-run",
            lambda: pc.Run(model).save(root / "run"),
            OutputExistsError,
            "checkpoint .* exists; pass overwrite=True",
        ),
        (
            "config-save-onto-a-file",
            lambda: pc.FitConfig().save(root / "small.yaml"),
            OutputExistsError,
            "config file .*small.yaml.* exists",
        ),
        (
            "netcdf-onto-a-file",
            lambda: pc.sample_to_netcdf(model, y[:2], root / "exists.nc"),
            OutputExistsError,
            "draw file .*exists.nc.* exists",
        ),
        (
            "fit-integer-array",
            lambda: pc.fit(model, (np.ones((4, 64), dtype=np.int64), y[:4].numpy()), progress=False),
            TypeError,
            "x must have a floating dtype",
        ),
        (
            "fit-nested-lists",
            lambda: pc.fit(model, ([[0.0] * 64] * 4, y[:4]), progress=False),
            TypeError,
            "x must be a torch.Tensor or a numpy array, got list",
        ),
    ]


def test_the_python_api_refuses_bad_input_with_one_line(files):
    cases = _api_cases(files)
    before = snapshot(files)
    for case, call, error_type, message in cases:
        with pytest.raises(error_type, match=message) as raised:
            call()
        assert "\n" not in str(raised.value), case
    assert snapshot(files) == before


def test_the_table_holds_every_case(files):
    # 59 before the first-hour rough edges (49 command line, 10 Python), 69 after
    assert len(CLI_CASES) + len(_api_cases(files)) >= 69


def test_the_suites_errors_are_the_builtins_callers_catch():
    assert issubclass(ConfigError, ValueError) and issubclass(UnknownNameError, KeyError)
    assert str(UnknownNameError("unknown x 'y'")) == "unknown x 'y'"  # not quoted like a KeyError
    assert issubclass(RunFolderError, PyroCVAEError)

"""The layering rules: the core never imports an app, importing the package changes no global
state, and every function that takes a model and data moves the data through one helper."""

import ast
import inspect
from pathlib import Path

import pytest
import torch

import pyro_cvae as pc

from .journeys.conftest import run_fresh

PACKAGE = Path(pc.__file__).parent
APPS = ("twobirds", "images")
#: the composition root: the command line puts the apps' commands beside the core's
TOP_LEVEL = ("cli.py", "__main__.py")


def imported_modules(path: Path):
    """Absolute names of the pyro_cvae modules a file imports, relative imports resolved."""
    package = ["pyro_cvae", *path.relative_to(PACKAGE).parent.parts]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def test_no_module_outside_the_apps_imports_an_app():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in APPS or str(relative) in TOP_LEVEL:
            continue
        for module in imported_modules(path):
            if any(module == f"pyro_cvae.{app}" or module.startswith(f"pyro_cvae.{app}.") for app in APPS):
                offenders.append(f"{relative} imports {module}")
    assert not offenders


def test_relative_imports_resolve_to_absolute_names():
    # so the rule above sees "from ..twobirds import x" written anywhere in the core
    assert "pyro_cvae.build.build" in set(imported_modules(PACKAGE / "twobirds" / "train.py"))
    assert "pyro_cvae.evaluate.eval_mode" in set(imported_modules(PACKAGE / "diagnostics" / "calibration.py"))


def test_importing_everything_changes_no_global_state():
    found = run_fresh("""
        import json, sys, torch, matplotlib, pyro
        backend_before = matplotlib.rcParams._get_backend_or_none()
        rng_before = torch.get_rng_state()
        import pyro_cvae as pc
        import pyro_cvae.twobirds, pyro_cvae.images, pyro_cvae.diagnostics, pyro_cvae.diagnostics.plots
        import pyro_cvae.images.figures, pyro_cvae.twobirds.report, pyro_cvae.cli, pyro_cvae.lightning
        print(json.dumps({
            "backend unchanged": matplotlib.rcParams._get_backend_or_none() == backend_before,
            "rng unchanged": torch.equal(rng_before, torch.get_rng_state()),
            "param store empty": len(pyro.get_param_store()) == 0,
            "lazy apps": [name in dir(pc) or hasattr(pc, name) for name in ("twobirds", "images", "diagnostics")],
        }))
    """)
    assert found == {
        "backend unchanged": True,
        "rng unchanged": True,
        "param store empty": True,
        "lazy apps": [True, True, True],
    }


def test_the_package_alone_gives_the_diagnostics():
    found = run_fresh("""
        import json, torch, pyro_cvae as pc
        model = pc.build("vae", x_shape=(3,), latent_dim=2, hidden_sizes=(4,))
        print(json.dumps(list(pc.diagnostics.iwae_log_likelihood(model, torch.rand(2, 3), num_samples=5).shape)))
    """)
    assert found == [2]


# --------------------------------------------------------------------- device safety


def _diagnostic_calls(model, x, y):
    """Every public function that takes a model and data, called once on tiny inputs."""
    d = pc.diagnostics
    return {
        "sample": lambda: pc.sample(model, y, num_samples=2),
        "reconstruct": lambda: pc.reconstruct(model, x, y, num_samples=2),
        "elbo_terms": lambda: pc.elbo_terms(model, x, y),
        "iwae_log_likelihood": lambda: d.iwae_log_likelihood(model, x, y, num_samples=3),
        "importance_log_weights": lambda: d.importance_log_weights(model, x, y, 3),
        "latent_usage": lambda: d.latent_usage(model, x, y),
        "to_inference_data": lambda: d.to_inference_data(model, x, y, num_samples=2),
        "sbc_ranks": lambda: d.sbc_ranks(model, y, num_samples=3),
        "posterior_coverage": lambda: d.posterior_coverage(model, y, num_samples=3),
        "simulate_posterior": lambda: d.simulate_posterior(model, y, num_samples=3),
    }


def test_every_diagnostic_moves_its_inputs_through_the_one_helper(monkeypatch):
    model = pc.build(
        "dual-encoder", x_shape=(3,), y_shape=(2,), latent_dim=2, hidden_sizes=(4,), prior_hidden_sizes=(4,)
    ).eval()
    x, y = torch.rand(4, 3), torch.rand(4, 2)
    seen = []
    original = type(model).prepare_data

    def spy(self, x, y, *args, **kwargs):
        seen.append((x is not None, y is not None))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(type(model), "prepare_data", spy)
    for name, call in _diagnostic_calls(model, x, y).items():
        seen.clear()
        call()
        assert seen, f"{name} does not pass its inputs through CVAE.prepare_data"


def test_every_model_and_data_function_is_covered_by_the_device_test():
    # a new public diagnostic taking (model, ...) must be added to _diagnostic_calls
    public = {
        name
        for name, f in inspect.getmembers(pc.diagnostics, inspect.isfunction)
        if list(inspect.signature(f).parameters)[:1] == ["model"]
    }
    covered = set(_diagnostic_calls(None, None, None))
    assert public <= covered, public - covered


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: the CPU test above covers the helper")
def test_every_diagnostic_takes_cpu_inputs_for_a_model_on_the_gpu():
    model = (
        pc.build("dual-encoder", x_shape=(3,), y_shape=(2,), latent_dim=2, hidden_sizes=(4,), prior_hidden_sizes=(4,))
        .cuda()
        .eval()
    )
    x, y = torch.rand(4, 3), torch.rand(4, 2)
    for call in _diagnostic_calls(model, x, y).values():
        call()  # a device mismatch raises


def test_every_registered_component_meets_its_protocol():
    from pyro_cvae.protocols import Decoder, Guide, Prior

    for prior in pc.PRIORS:
        model = pc.build(
            "cvae",
            x_shape=(50, 2),
            y_shape=(50, 2),
            prior=prior,
            latent_dim=2,
            hidden_sizes=(4,),
            prior_hidden_sizes=(4,),
            mixture_components=2,
            flow_layers=1,
        )
        assert isinstance(model.prior, Prior), prior
    for guide in pc.GUIDES:
        for decoder in pc.DECODERS:
            model = pc.build(
                "cvae", x_shape=(50, 2), y_shape=(50, 2), guide=guide, decoder=decoder, latent_dim=2, hidden_sizes=(4,)
            )
            assert isinstance(model.encoder, Guide) and isinstance(model.decoder, Decoder), (guide, decoder)
            assert model.decoder.latent_dim == 2

"""The layering rules: no import circle, components never import training, the core never
imports an app, importing the package changes no global state, old module paths forward to the
new ones, and every function that takes a model and data moves the data through one helper."""

import ast
import inspect
import sys
from pathlib import Path

import pytest
import torch

import pyro_cvae as pc

from .journeys.conftest import run_fresh

PACKAGE = Path(pc.__file__).parent
APPS = ("twobirds", "images")
#: the composition root: the command line puts the apps' commands beside the core's
TOP_LEVEL = ("cli.py", "__main__.py")


def imported_modules(path: Path, root: Path = PACKAGE, name: str = "pyro_cvae"):
    """Absolute names of the modules a file imports (at any depth: inside functions too),
    relative imports resolved; for ``from m import x`` both ``m`` and ``m.x``."""
    package = [name, *path.relative_to(root).parent.parts]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def module_name(path: Path, root: Path = PACKAGE, name: str = "pyro_cvae") -> str:
    parts = [name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PACKAGE, name: str = "pyro_cvae"):
    """``{module: {modules it imports}}`` over the package's own modules. Importing ``a.b.c``
    also runs the package ``a.b``'s ``__init__``; that implied edge is left out, as every
    import-cycle checker does, so a package may gather its sub-modules' names."""
    modules = {module_name(path, root, name): path for path in root.rglob("*.py")}
    return {
        module: {m for m in imported_modules(path, root, name) if m in modules and m != module}
        for module, path in modules.items()
    }


def import_cycles(graph):
    """Every strongly connected set of two or more modules (Tarjan's algorithm), sorted."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(cycles)


def test_no_import_circle_anywhere_in_the_package():
    assert import_cycles(import_graph()) == []


def test_the_circle_check_finds_a_circle_through_a_lazy_import(tmp_path):
    # the check must be able to fail: a package whose a -> b -> c -> a, the last inside a function
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("from . import c\n\ndef f():\n    pass\n")
    (package / "c.py").write_text("def g():\n    from .a import f\n")
    (package / "d.py").write_text("from .a import f\n")
    assert import_cycles(import_graph(package, "pkg")) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_components_never_import_training():
    offenders = [
        f"{module} imports {imported}"
        for module, imports in import_graph().items()
        if module.startswith("pyro_cvae.components")
        for imported in imports
        if imported.startswith("pyro_cvae.train")
    ]
    assert not offenders


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_old_module_paths_forward_to_the_same_module_with_a_deprecation_warning():
    from pyro_cvae._moved import MOVED

    found = run_fresh(f"""
        import importlib, json, warnings
        import pyro_cvae as pc
        fit, sample = pc.fit, pc.sample
        results = {{}}
        for old, new in {MOVED!r}.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                module = importlib.import_module("pyro_cvae." + old)
            results[old] = [
                module is importlib.import_module("pyro_cvae." + new),
                any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught),
            ]
        from pyro_cvae.lightning.engine import fit_lightning  # a module inside a moved package
        from pyro_cvae.fit import fit as old_fit
        results["functions kept"] = [pc.fit is fit is old_fit, pc.sample is sample]
        engine = importlib.import_module("pyro_cvae.train.lightning.engine")
        results["one copy"] = [fit_lightning is engine.fit_lightning]
        print(json.dumps(results))
    """)
    assert found == {**{old: [True, True] for old in MOVED}, "functions kept": [True, True], "one copy": [True]}


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
    assert "pyro_cvae.sampling.evaluate.eval_mode" in set(imported_modules(PACKAGE / "diagnostics" / "calibration.py"))


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_importing_everything_changes_no_global_state():
    found = run_fresh("""
        import json, sys, torch, matplotlib, pyro
        backend_before = matplotlib.rcParams._get_backend_or_none()
        rng_before = torch.get_rng_state()
        import pyro_cvae as pc
        import pyro_cvae.twobirds, pyro_cvae.images, pyro_cvae.diagnostics, pyro_cvae.diagnostics.figures
        import pyro_cvae.images.figures, pyro_cvae.twobirds.report, pyro_cvae.cli, pyro_cvae.train.lightning
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


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
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

"""Every plotting function follows matplotlib's convention: it returns a ``Figure`` (which a
notebook shows inline), saves only when given a path, draws into ``ax=`` where it draws one
panel, and never touches pyplot's global list of figures."""

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

import pyro_cvae as pc
from pyro_cvae.diagnostics.figures import plot_calibration, plot_credible_band, plot_rank_histogram
from pyro_cvae.figures import plot_history, plot_image_grid
from pyro_cvae.images import figures as image_figures
from pyro_cvae.twobirds import report
from pyro_cvae.twobirds.data import generate
from pyro_cvae.twobirds.exact import exact_solutions


def _history():
    history = pc.History()
    for epoch in range(3):
        history.append(
            epoch=epoch,
            kl_weight=1.0,
            train_loss=1.0,
            train_elbo=-1.0 + epoch,
            train_reconstruction=0.0,
            train_kl=1.0,
            val_elbo=-1.5 + epoch,
            val_reconstruction=0.0,
            val_kl=1.5,
            seconds=0.1,
        )
    return history


@pytest.fixture(scope="module")
def calls():
    """Each plotting function with tiny arguments, as ``path -> Figure``."""
    torch.manual_seed(0)
    image_model = pc.build("cvae", x_shape=(1, 4, 4), y_shape=(3,), latent_dim=2, hidden_sizes=(8,)).eval()
    x, y, labels = torch.rand(12, 1, 4, 4), torch.eye(3)[torch.arange(12) % 3], torch.arange(12) % 3
    shape = (1, 4, 4)
    lines_x, lines_y = generate(3, "original", seed=0)
    functions = "original"
    solutions = [exact_solutions(lines_y[i], functions) for i in range(3)]
    samples = lines_x[None].expand(4, -1, -1, -1)
    return {
        "plot_history": lambda path: plot_history(_history(), path),
        "plot_image_grid": lambda path: plot_image_grid(torch.rand(2, 3, 4, 4), path, "grid"),
        "plot_calibration": lambda path: plot_calibration({"model": {0.5: 0.45, 0.9: 0.88}}, path),
        "plot_rank_histogram": lambda path: plot_rank_histogram(torch.ones(10, 2), path),
        "plot_credible_band": lambda path: plot_credible_band(torch.randn(50, 8), path, truth=torch.zeros(8)),
        "samples_grid": lambda path: image_figures.samples_grid(image_model, shape, path, num_classes=3),
        "reconstructions": lambda path: image_figures.reconstructions(image_model, x[:4], y[:4], shape, path),
        "latent_map": lambda path: image_figures.latent_map(image_model, x, y, labels, path),
        "interpolation": lambda path: image_figures.interpolation(image_model, x[:2], y[:2], shape, path, steps=3),
        "class_average_samples": lambda path: image_figures.class_average_samples(
            image_model, x, y, labels, shape, path, per_class=2
        ),
        "quadrant_completions": lambda path: image_figures.quadrant_completions(
            x[:2], x[:2], x[:2], x[None, :2].expand(3, -1, -1, -1, -1), path, "completions"
        ),
        "plot_solutions": lambda path: report.plot_solutions(samples, solutions, path, conditions=(0, 1)),
        "plot_reproduced_y": lambda path: report.plot_reproduced_y(samples, lines_y, functions, path),
        "plot_coverage": lambda path: report.plot_coverage({"num_solutions": [3, 5], "recall": [1.0, 0.6]}, path),
        "plot_reliability": lambda path: report.plot_reliability(
            torch.tensor([0.2, 0.8]), torch.tensor([0.25, 0.75]), path, [0.05, 0.1]
        ),
    }


def test_every_plotting_function_of_the_package_is_covered(calls):
    modules = [pc.figures, pc.diagnostics.figures, image_figures, report]
    public = {
        name
        for module in modules
        for name in dir(module)
        if (name.startswith("plot_") or module is image_figures)
        and callable(getattr(module, name))
        and getattr(getattr(module, name), "__module__", "") == module.__name__
        and not name.startswith("_")
    }
    assert public == set(calls)


def test_each_returns_a_figure_and_saves_only_when_given_a_path(calls, tmp_path, monkeypatch):
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    open_before = plt.get_fignums()
    for name, call in calls.items():
        figure = call(None)
        assert isinstance(figure, Figure) and figure.axes, name
        assert list(here.iterdir()) == [], f"{name} wrote a file without a path"
        saved = call(tmp_path / "out" / f"{name}.png")
        assert isinstance(saved, Figure)
        assert (tmp_path / "out" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert plt.get_fignums() == open_before  # pyplot's figure list never held one of them


@pytest.mark.parametrize(
    "draw",
    [
        lambda ax: plot_calibration({"a": {0.5: 0.5}}, ax=ax),
        lambda ax: plot_credible_band(torch.randn(20, 5), ax=ax),
    ],
    ids=["plot_calibration", "plot_credible_band"],
)
def test_a_one_panel_figure_draws_into_the_axes_it_is_given(draw):
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert draw(right) is fig
    assert right.has_data() and not left.has_data() and len(fig.axes) == 2

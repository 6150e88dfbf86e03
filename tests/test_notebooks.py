"""Notebooks: stored with the outputs of a real run of their current cells, and runnable.

Each notebook is stored as ``notebooks/execute.py`` ran it with its full settings, so a reader
on the web sees real epochs and figures; every code cell's metadata holds the SHA-256 of the
source that produced its outputs, which must match the cell as it is now. The tests also
execute each notebook with tiny settings (``PYRO_CVAE_NOTEBOOK_EPOCHS=1``), as a reader runs it:
in a Jupyter kernel with its own (inline) matplotlib backend, which nothing overrides, and every
cell that draws must show a figure."""

import hashlib
import re
import runpy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: a cell that calls one of these draws a figure
DRAWS = re.compile(r"\b(plt\.subplots|plt\.figure|az\.plot_\w+|\.imshow|plot_\w+\(|figures\.\w+\()")
#: the fingerprint of the library's code that notebooks/execute.py stores
LIBRARY_HASH = runpy.run_path(str(ROOT / "notebooks" / "execute.py"))["library_hash"]


def blank_figures(notebook):
    """First lines of the cells that draw but whose outputs hold no image."""
    drawing = [c for c in notebook.cells if c.cell_type == "code" and DRAWS.search(c.source)]
    return [
        c.source.splitlines()[0]
        for c in drawing
        if not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_a_full_run_of_the_current_cells(path):
    notebook = nbformat.read(path, as_version=4)
    run = notebook.metadata.get("pyro_cvae", {})
    assert run.get("settings") == "full", f"{path.name}: run `python notebooks/execute.py {path.name}`"
    # how long the full run took is recorded (the README's table reads it), never asserted:
    # speed targets live in bench/, not in tests
    assert run["seconds"] > 0
    assert run.get("library_sha256") == LIBRARY_HASH(), (
        f"{path.name}: the stored outputs came from another version of the library's code; "
        f"run `python notebooks/execute.py {path.name}`"
    )
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        stored = cell.metadata.get("pyro_cvae", {}).get("source_sha256")
        assert stored == hashlib.sha256(cell.source.encode()).hexdigest(), (
            f"{path.name}: the outputs of the cell starting {cell.source.splitlines()[0]!r} came from other "
            f"code; run `python notebooks/execute.py {path.name}`"
        )
        assert cell.execution_count is not None
        assert not [o for o in cell.outputs if o.output_type == "error"]
        # figures come from the library's functions or matplotlib, shown inline: not PNG files
        assert "IPython.display import Image" not in cell.source and "Image(" not in cell.source
    assert not blank_figures(notebook)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_with_tiny_settings(path, monkeypatch):
    monkeypatch.setenv("PYRO_CVAE_NOTEBOOK_EPOCHS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as for a reader
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny settings: threads cost more than they give
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:  # run from scratch, not on top of the stored outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert not blank_figures(notebook), "cells that draw but show no figure"


def test_every_notebook_tells_a_story():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        words = sum(len(c.source.split()) for c in notebook.cells if c.cell_type == "markdown")
        assert words >= 300, f"{path.name} has {words} words of prose"

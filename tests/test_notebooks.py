"""Every notebook executes top to bottom with tiny settings, and is stored without outputs.

They run as a reader runs them: in a Jupyter kernel with its own (inline) matplotlib backend,
which nothing overrides, and every cell that draws must show a figure."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: a cell that calls one of these draws a figure
DRAWS = re.compile(r"\b(plt\.subplots|plt\.figure|az\.plot_\w+|\.imshow)\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, monkeypatch):
    monkeypatch.setenv("PYRO_CVAE_NOTEBOOK_EPOCHS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as for a reader
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # tiny settings: threads cost more than they give
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        f"{path.name} is stored with outputs; strip them"
    )
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    drawing = [c for c in notebook.cells if c.cell_type == "code" and DRAWS.search(c.source)]
    blank = [
        c.source.splitlines()[0]
        for c in drawing
        if not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))
    ]
    assert not blank, f"cells that draw but show no figure: {blank}"

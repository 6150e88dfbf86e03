"""Run notebooks with their full settings and store them with the outputs of that run.

    python notebooks/execute.py                      # every notebook
    python notebooks/execute.py 04_vae_digits.ipynb  # some

Each code cell's metadata records the SHA-256 of the source it ran (``pyro_cvae.source_sha256``),
and the notebook's metadata how long the whole run took; ``tests/test_notebooks.py`` checks that
the stored outputs came from the cells as they are now. Edit a code cell, run this again.
"""

import hashlib
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE.parent)}}
    ).execute()
    seconds = time.perf_counter() - started
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata["pyro_cvae"] = {"source_sha256": source_hash(cell.source)}
    notebook.metadata["pyro_cvae"] = {"settings": "full", "seconds": round(seconds)}
    nbformat.write(notebook, path)
    return seconds


def main(names) -> None:
    paths = [HERE / name for name in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

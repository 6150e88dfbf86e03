"""Run notebooks with their full settings and store them with the outputs of that run.

    python notebooks/execute.py                      # every notebook
    python notebooks/execute.py 04_vae_digits.ipynb  # some

Each code cell's metadata records the SHA-256 of the source it ran (``pyro_cvae.source_sha256``),
and the notebook's metadata how long the whole run took and a fingerprint of the library it ran
against (``library_sha256``: the code of every ``pyro_cvae`` module, docstrings and comments
left out); ``tests/test_notebooks.py`` checks that the stored outputs came from the cells and
the library as they are now. Edit a code cell or the library's code, run this again.
"""

import ast
import hashlib
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
LIBRARY = HERE.parent / "pyro_cvae"


def source_hash(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            body[0] = ast.Pass()
    return tree


def library_hash(root: Path = LIBRARY) -> str:
    """SHA-256 of the code of every module of the library (its syntax tree without docstrings,
    so a reworded docstring or comment leaves it as it is, and a changed line of code does not)."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(ast.dump(_without_docstrings(ast.parse(path.read_text()))).encode())
    return digest.hexdigest()


def execute(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(HERE.parent)}}
    ).execute()
    seconds = time.perf_counter() - started
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.metadata["pyro_cvae"] = {"source_sha256": source_hash(cell.source)}
    notebook.metadata["pyro_cvae"] = {"settings": "full", "seconds": round(seconds), "library_sha256": library_hash()}
    nbformat.write(notebook, path)
    return seconds


def main(names) -> None:
    paths = [HERE / name for name in names] if names else sorted(HERE.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The API reference (docs/api, built by CI with warnings as errors) covers every module."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: modules that are the command line's plumbing, documented by ``pyro-cvae --help`` instead
NOT_IN_REFERENCE = {"pyro_cvae.__main__", "pyro_cvae.cli", "pyro_cvae.cli_options", "pyro_cvae.main_job",
                    "pyro_cvae.train.tensorboard", "pyro_cvae.twobirds.cli", "pyro_cvae.twobirds.components",
                    "pyro_cvae.images.cli", "pyro_cvae.__init__"}  # fmt: skip


def documented_modules():
    pages = (ROOT / "docs" / "api").glob("*.rst")
    return {m for page in pages for m in re.findall(r"^\.\. automodule:: (\S+)", page.read_text(), re.M)}


def package_modules():
    for path in (ROOT / "pyro_cvae").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_has_a_place_in_the_api_reference():
    missing = sorted(set(package_modules()) - documented_modules() - NOT_IN_REFERENCE - {"pyro_cvae"})
    assert not missing, f"add these to a page of docs/api: {missing}"


def test_the_reference_names_only_modules_that_exist():
    assert documented_modules() <= set(package_modules())

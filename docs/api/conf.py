"""Sphinx configuration of the API reference (``sphinx-build -W -b html docs/api DIR``).

Built from the docstrings with autodoc. The page of component registries is written here, at
build time, from the registries themselves, so it lists exactly the names ``build`` accepts.
"""

from pathlib import Path

import pyro_cvae as pc

project = "pyro_cvae"
author = "the pyro_cvae developers"
release = pc.__version__
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True, "show-inheritance": True}
# the package names its own types in annotations; torch and pyro types are left unresolved
nitpicky = False
html_theme = "alabaster"
exclude_patterns = ["_build"]

REGISTRIES = [
    ("Variants (``variant=``)", pc.VARIANTS),
    ("Priors (``prior=``)", pc.PRIORS),
    ("Guides (``guide=``)", pc.GUIDES),
    ("Likelihoods (``likelihood=``)", pc.LIKELIHOODS),
    ("Networks (``network=``)", pc.NETWORKS),
    ("Decoders (``decoder=``)", pc.DECODERS),
    ("Forward models (``forward_model=``)", pc.FORWARD_MODELS),
    ("Penalties (``penalties={name: weight}``)", pc.PENALTIES),
    ("Objectives (``FitConfig.elbo``)", pc.ELBOS),
]


def _write_registries(folder: Path) -> None:
    lines = [
        "Component registries",
        "====================",
        "",
        "Every name below is accepted by ``pyro_cvae.build`` (or ``FitConfig`` for objectives), in",
        "Python, in a config file and on the command line. The lists are read from the",
        "registries when these pages are built, apps' entry points included.",
        "",
    ]
    for title, registry in REGISTRIES:
        lines += [title, "-" * len(title), "", ".. list-table::", "   :widths: 25 75", ""]
        for name, text in registry.describe().items():
            lines += [f"   * - ``{name}``", f"     - {text or ' '}"]
        lines.append("")
    (folder / "registries.rst").write_text("\n".join(lines))


_write_registries(Path(__file__).parent)
autodoc_inherit_docstrings = False  # Lightning's own docstrings use roles this build lacks

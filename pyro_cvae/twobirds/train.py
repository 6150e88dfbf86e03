"""Train a Two Birds CVAE on data generated from the challenge prior.

The default recipe (``DEFAULT_MODEL`` and ``DEFAULT_FIT``) is the one measured in the README:
a dual-encoder CVAE whose prior network r_θ1(z | y) is a Gaussian mixture (several separated
modes per condition), whose decoder emits straight lines (``decoder="lines"``), with a
Normal likelihood on x. Any field can be overridden, e.g. ``prior="conditional-gaussian"`` or
``decoder="network"`` for the free 50x2 decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Union

from ..build import build
from ..config import FitConfig
from ..model import CVAE
from ..train.loop import fit
from ..train.run import Run
from .data import generate
from .functions import ForwardFunctions

DEFAULT_MODEL: Dict[str, object] = dict(
    variant="dual-encoder",
    x_shape=(50, 2),
    y_shape=(50, 2),
    decoder="lines",
    prior="conditional-mixture",
    mixture_components=32,
    latent_dim=4,
    hidden_sizes=(256, 256),
    prior_hidden_sizes=(256, 256),
    likelihood="normal",
    likelihood_scale=0.01,
)
DEFAULT_FIT: Dict[str, object] = dict(epochs=20, batch_size=256, learning_rate=1e-3)
DEFAULT_NUM_TRAIN = 200_000


def twobirds_model(**overrides) -> CVAE:
    """Build the default Two Birds model (fields overridable). ``forward_model`` may be set to
    ``"twobirds:<functions>"`` to add the forward-consistency likelihood term to training."""
    return build({**DEFAULT_MODEL, **overrides})


def fit_twobirds(
    functions: Union[str, ForwardFunctions] = "original",
    out: Optional[Union[str, Path]] = None,
    num_train: int = DEFAULT_NUM_TRAIN,
    num_val: int = 2000,
    seed: int = 0,
    model_overrides: Optional[Dict[str, object]] = None,
    config: Optional[FitConfig] = None,
    resume: bool = False,
    overwrite: bool = False,
    **fit_overrides,
) -> Run:
    """Generate ``num_train`` pairs with ``functions``, fit the default model; returns the ``Run``
    (model in eval mode, history, and the functions in ``run.metadata``).

    ``config`` (a ``FitConfig``) replaces ``DEFAULT_FIT``; keyword arguments override either.
    With ``out``, the run folder is written after every epoch; ``resume`` continues a run there and
    ``overwrite`` replaces it (without either, a folder holding a run is refused).
    """
    forward = ForwardFunctions(functions)
    if not isinstance(forward.spec, str):
        raise TypeError("fit_twobirds needs functions as a preset or text, so the run can be saved and reloaded")
    model = twobirds_model(**{"seed": seed, **(model_overrides or {})})
    base = config.to_dict() if config is not None else {**DEFAULT_FIT, "seed": seed}
    fit_config = FitConfig.from_dict({**base, **fit_overrides}, checkpoint_dir=None if out is None else str(out))
    metadata = {"app": "twobirds", "functions": forward.text, "num_train": num_train, "seed": seed}
    if fit_config.engine == "lightning":
        # each process generates its own share of the pairs (TwoBirdsDataModule)
        from .datamodule import TwoBirdsDataModule

        train, val = TwoBirdsDataModule(forward.text, num_train, num_val, fit_config.batch_size, seed), None
    else:
        train = generate(num_train, forward, seed=seed)
        val = generate(num_val, forward, seed=seed + 1_000_003)
    history = fit(model, train, fit_config, val_data=val, resume=resume, metadata=metadata, overwrite=overwrite)
    return Run(model.eval(), fit_config, history, metadata)


def functions_of(run: Run) -> str:
    """The forward functions a Two Birds run was trained with (a clear error for other runs)."""
    return str(run.require_app("twobirds").metadata["functions"])

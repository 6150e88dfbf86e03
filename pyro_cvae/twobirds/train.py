"""Train a Two Birds CVAE on data generated from the challenge prior.

The default recipe (``DEFAULT_MODEL`` and ``DEFAULT_FIT``) is the one measured in the README:
a dual-encoder CVAE whose prior network r_θ1(z | y) is a Gaussian mixture (several separated
modes per condition), whose decoder emits straight lines (``decoder="lines"``), with a
Normal likelihood on x. Any field can be overridden, e.g. ``prior="conditional-gaussian"`` or
``decoder="network"`` for the free 50x2 decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import pyro

from ..build import build
from ..config import FitConfig, write_config_file, write_run_config
from ..fit import fit
from ..history import History
from ..model import CVAE
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


def twobirds_model(functions: Union[str, ForwardFunctions] = "original", **overrides) -> CVAE:
    """Build the default Two Birds model (fields overridable). ``forward_model`` may be set to
    ``"twobirds:<functions>"`` to add the forward-consistency likelihood term to training."""
    text = ForwardFunctions(functions).text
    values = {**DEFAULT_MODEL, **overrides}
    model = build(values.pop("variant"), **values)
    model.functions = text  # what sampling and evaluation use, saved beside the checkpoint
    return model


def fit_twobirds(
    functions: Union[str, ForwardFunctions] = "original",
    out: Optional[Union[str, Path]] = None,
    num_train: int = DEFAULT_NUM_TRAIN,
    num_val: int = 2000,
    seed: int = 0,
    model_overrides: Optional[Dict[str, object]] = None,
    **fit_overrides,
) -> Tuple[CVAE, History]:
    """Generate ``num_train`` pairs with ``functions``, fit the default model, save it in ``out``.

    Returns the trained model (eval mode) and its ``History``. With ``out``, the folder gets the
    checkpoint (every epoch), ``config.yaml`` and ``twobirds.yaml`` (the functions).
    """
    forward = ForwardFunctions(functions)
    if not isinstance(forward.spec, str):
        raise TypeError("fit_twobirds needs functions as a preset or text, so the run can be saved and reloaded")
    train = generate(num_train, forward, seed=seed)
    val = generate(num_val, forward, seed=seed + 1_000_003)
    pyro.set_rng_seed(seed)  # the same seed, the same initial weights
    model = twobirds_model(forward, **(model_overrides or {}))
    config = FitConfig.from_dict({**DEFAULT_FIT, "seed": seed, **fit_overrides},
                                 checkpoint_dir=None if out is None else str(out))
    history = fit(model, train, config, val_data=val)
    if out is not None:
        out = Path(out)
        write_run_config(out, model.config, config)
        write_config_file(out / "twobirds.yaml", {"data": {"functions": forward.text, "num_train": num_train,
                                                           "seed": seed}})
    return model.eval(), history


def functions_of_run(out: Union[str, Path]) -> str:
    """The functions a run in ``out`` was trained with (from its ``twobirds.yaml``)."""
    from ..config import load_config

    path = Path(out) / "twobirds.yaml" if Path(out).is_dir() else Path(out).parent / "twobirds.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} is missing: is {str(out)!r} a 'pyro-cvae twobirds fit' folder?")
    return str(load_config(path)["data"]["functions"])

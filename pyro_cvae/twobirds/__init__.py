"""The Two Birds inverse problem: from two signals y, every pair of straight lines x behind them.

>>> from pyro_cvae import twobirds
>>> run = twobirds.fit_twobirds("original", out="runs/twobirds")   # or pc.Run.load("runs/twobirds")
>>> x, y = twobirds.load_challenge("scoring_dataset.pt")
>>> samples = twobirds.draw(run.model, y, num_samples=30, functions=twobirds.functions_of(run))  # (30, 50, 50, 2)
>>> twobirds.evaluate_samples(samples, y, "original")["precision"]
"""

from . import components  # noqa: F401  (registers the lines decoder and the twobirds forward model)
from .data import generate, load_challenge, save_challenge
from .decoder import LineDecoder
from .evaluate import evaluate_model
from .exact import exact_solutions, solution_weights
from .functions import PRESETS, ForwardFunctions
from .lines import endpoints_from_lines, lines_from_endpoints, log_prior_density, sample_endpoints
from .metrics import evaluate_samples
from .posterior import Modes, posterior_modes, sample_modes
from .refine import refine_endpoints
from .sampling import SHARPENERS, draw
from .train import DEFAULT_FIT, DEFAULT_MODEL, fit_twobirds, functions_of, twobirds_model

__all__ = [
    "generate",
    "load_challenge",
    "save_challenge",
    "LineDecoder",
    "evaluate_model",
    "exact_solutions",
    "solution_weights",
    "PRESETS",
    "ForwardFunctions",
    "Modes",
    "posterior_modes",
    "sample_modes",
    "endpoints_from_lines",
    "lines_from_endpoints",
    "log_prior_density",
    "sample_endpoints",
    "evaluate_samples",
    "refine_endpoints",
    "SHARPENERS",
    "draw",
    "DEFAULT_FIT",
    "DEFAULT_MODEL",
    "fit_twobirds",
    "functions_of",
    "twobirds_model",
]

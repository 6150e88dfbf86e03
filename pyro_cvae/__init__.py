"""pyro_cvae: (conditional) variational autoencoders as composable Pyro model/guide pairs.

>>> import pyro_cvae as pc
>>> model = pc.build("dual-encoder", x_shape=(50, 2), y_shape=(50, 2), latent_dim=8)
>>> history = pc.fit(model, (x, y), epochs=20, val_data=(x_val, y_val))
>>> xs = pc.sample(model, y_test, num_samples=1000)          # (1000, batch, 50, 2)

The core (this package's top-level modules, ``data`` and ``diagnostics``) never imports an
application; the apps ``twobirds`` and ``images`` build on it. They and ``diagnostics`` are
loaded on first use, so ``pc.twobirds`` / ``pc.diagnostics`` work after ``import pyro_cvae``
alone, and importing the package stays cheap and changes no global state.
"""

import importlib
import warnings
from typing import Any

from tqdm import TqdmWarning

with warnings.catch_warnings():
    # Pyro imports tqdm.auto, which in a notebook without ipywidgets warns that the widget is
    # missing and falls back to the text bar, which works: only noise in every notebook's output
    warnings.simplefilter("ignore", TqdmWarning)
    import pyro.infer  # noqa: F401

from . import data
from .build import build, resolve_config
from .callbacks import Callback
from .checkpoint import load_model, save_checkpoint
from .config import FitConfig, ModelConfig, load_config
from .decoders import DECODERS
from .divergence import TrainingDiverged
from .draw_file import draw_to_netcdf, sample_to_netcdf
from .elbos import ELBOS, CachedJitTraceMeanField_ELBO
from .evaluate import elbo_terms
from .fit import fit
from .forward_models import FORWARD_MODELS
from .guides import GUIDES, GaussianEncoder
from .history import History
from .latent_mixture import LatentMixture, fit_latent_mixture, using_prior
from .likelihoods import LIKELIHOODS, Likelihood
from .model import CVAE
from .nets import MLP, NETWORKS, DecoderNet, EncoderNet
from .penalties import PENALTIES
from .perception import fit_perception
from .predictive import reconstruct, sample, summarize
from .priors import PRIORS, ConditionalGaussianPrior, ConditionalMixturePrior, StandardNormalPrior
from .run import Run
from .semisupervised import SemiSupervisedCVAE, with_missing_labels
from .step import SVIStep
from .variants import VARIANTS

__version__ = "0.1.0"

#: sub-packages imported on first attribute access
_LAZY_SUBPACKAGES = ("diagnostics", "twobirds", "images", "lightning")


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SemiSupervisedCVAE",
    "with_missing_labels",
    "LatentMixture",
    "fit_latent_mixture",
    "using_prior",
    "data",
    "diagnostics",
    "twobirds",
    "images",
    "lightning",
    "build",
    "resolve_config",
    "fit",
    "sample",
    "sample_to_netcdf",
    "draw_to_netcdf",
    "reconstruct",
    "summarize",
    "elbo_terms",
    "Run",
    "Callback",
    "TrainingDiverged",
    "load_model",
    "save_checkpoint",
    "ModelConfig",
    "FitConfig",
    "load_config",
    "History",
    "CVAE",
    "SVIStep",
    "MLP",
    "EncoderNet",
    "DecoderNet",
    "GaussianEncoder",
    "Likelihood",
    "StandardNormalPrior",
    "ConditionalGaussianPrior",
    "ConditionalMixturePrior",
    "CachedJitTraceMeanField_ELBO",
    "VARIANTS",
    "PRIORS",
    "GUIDES",
    "LIKELIHOODS",
    "NETWORKS",
    "ELBOS",
    "FORWARD_MODELS",
    "DECODERS",
    "PENALTIES",
    "fit_perception",
]

"""pyro_cvae: (conditional) variational autoencoders as composable Pyro model/guide pairs.

>>> import pyro_cvae as pc
>>> model = pc.build("dual-encoder", x_shape=(50, 2), y_shape=(50, 2), latent_dim=8)
>>> history = pc.fit(model, (x, y), epochs=20, val_data=(x_val, y_val))
>>> xs = pc.sample(model, y_test, num_samples=1000)          # (1000, batch, 50, 2)

The layout follows the roles: ``components`` (what a model is made of), ``train`` (the loop,
its state and callbacks, objectives, runs, the Lightning engine), ``sampling``, ``config``,
``posterior`` (a posterior over θ for your own simulator), ``diagnostics``, ``data``, and the
apps ``twobirds`` and ``images``. The core never imports an
app; only the command line (``cli``, the composition root) puts the apps' commands beside its
own. The apps, ``diagnostics``, ``posterior``, ``figures`` and ``lightning`` are loaded on first use, so
``pc.twobirds`` / ``pc.diagnostics`` work after ``import pyro_cvae`` alone, and importing the
package stays cheap and changes no global state. Modules that moved keep their old paths for a
release, with a ``DeprecationWarning`` (``_moved``).
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

from . import _moved, data
from .build import build, resolve_config
from .components.decoders import DECODERS
from .components.forward_models import FORWARD_MODELS
from .components.guides import GUIDES, GaussianEncoder
from .components.latent_mixture import LatentMixture, fit_latent_mixture, using_prior
from .components.likelihoods import LIKELIHOODS, Likelihood
from .components.nets import MLP, NETWORKS, DecoderNet, EncoderNet
from .components.penalties import PENALTIES
from .components.priors import PRIORS, ConditionalGaussianPrior, ConditionalMixturePrior, StandardNormalPrior
from .config import FitConfig, ModelConfig, load_config
from .errors import SupportLeak, TrainingDiverged
from .model import CVAE
from .sampling.draw_file import draw_to_netcdf, sample_to_netcdf
from .sampling.evaluate import elbo_terms
from .sampling.predictive import reconstruct, sample, summarize
from .semisupervised import SemiSupervisedCVAE, with_missing_labels
from .train.callbacks import Callback
from .train.checkpoint import save_checkpoint
from .train.elbos import ELBOS, CachedJitTraceMeanField_ELBO
from .train.history import History
from .train.loop import fit
from .train.perception import fit_perception
from .train.run import Run, load_model
from .train.step import SVIStep
from .variants import VARIANTS

__version__ = "0.1.0"

_moved.install()  # old module paths forward to the role folders, with a DeprecationWarning

#: sub-packages imported on first attribute access (``pc.lightning`` is the Lightning engine)
_LAZY_SUBPACKAGES = {
    "diagnostics": "diagnostics",
    "twobirds": "twobirds",
    "images": "images",
    "lightning": "train.lightning",
    "figures": "figures",
    "posterior": "posterior",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{_LAZY_SUBPACKAGES[name]}")
    if name in _moved.MOVED:  # pc.priors and the like: modules that moved into the role folders
        warnings.warn(f"{__name__}.{name} moved to {__name__}.{_moved.MOVED[name]}", DeprecationWarning, stacklevel=2)
        return importlib.import_module(f"{__name__}.{_moved.MOVED[name]}")
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
    "SupportLeak",
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

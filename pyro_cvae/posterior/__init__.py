"""Posteriors for your own inverse problem: a prior over parameters θ, a simulator, an observation.

``fit_posterior(prior, simulator, num_simulations)`` (or ``fit_posterior(theta=, x=)`` with your
own pairs) trains an ``AmortizedPosterior`` p(θ | x): ``sample(x_o, n)``, ``log_prob(θ, x_o)``,
``save``/``load`` (``fit_posterior(..., ensemble=M)``: an ``EnsemblePosterior``, the mixture
of M fits; ``recalibrate`` makes its per-parameter intervals calibrated on average over the
prior, ``recalibrate_regions`` its highest-density regions; ``load_posterior`` reads any of them
back); ``importance_corrected`` makes it exact where
the likelihood is known (with ``mcmc_steps``, its draws then move by Metropolis–Hastings);
``fit_truncated(prior, simulator, x_o, num_simulations)`` spends the budget in rounds near one
observation x_o (a posterior right at x_o, not over the prior; checked on truths from
``pooled_proposal``);
``pair_plot`` and ``posterior_inference_data`` show it. Under the hood it is this package's CVAE
with the roles renamed: the CVAE's x is θ (standardized, ``standardize``), its condition y is the
observation.
"""

from .amortized import AmortizedPosterior, LogProb
from .ensemble import EnsemblePosterior
from .figures import pair_plot
from .fit import POSTERIOR_FIT, POSTERIOR_MODEL, fit_posterior, posterior_model_config
from .importance import KHAT_LIMIT, CorrectedDraws, importance_corrected
from .inference_data import posterior_inference_data
from .mcmc import MoveSummary
from .recalibrate import RecalibratedPosterior, recalibrate
from .regions import RegionRecalibratedPosterior, recalibrate_regions
from .simulate import Simulations, simulate
from .standardize import ObservationScaler, ParameterSpace, support_bounds
from .truncated import BoxTruncatedPrior, PooledProposal, RegionTruncatedPrior, fit_truncated, pooled_proposal
from .wrapped import load_posterior

__all__ = [
    "AmortizedPosterior",
    "BoxTruncatedPrior",
    "CorrectedDraws",
    "EnsemblePosterior",
    "KHAT_LIMIT",
    "importance_corrected",
    "load_posterior",
    "pair_plot",
    "posterior_inference_data",
    "LogProb",
    "MoveSummary",
    "ObservationScaler",
    "POSTERIOR_FIT",
    "POSTERIOR_MODEL",
    "RecalibratedPosterior",
    "RegionRecalibratedPosterior",
    "RegionTruncatedPrior",
    "ParameterSpace",
    "Simulations",
    "fit_posterior",
    "fit_truncated",
    "pooled_proposal",
    "PooledProposal",
    "posterior_model_config",
    "recalibrate",
    "recalibrate_regions",
    "simulate",
    "support_bounds",
]

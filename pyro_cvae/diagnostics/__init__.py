"""Uncertainty diagnostics: ArviZ InferenceData, calibration (of the latent z, and of a posterior
over θ against a simulator's truths: SBC, TARP, HPD coverage, C2ST, and at one observation
L-C2ST), scores, importance weights, collapse."""

from .c2st import c2st
from .calibration import (
    LEVELS,
    interval_coverage,
    posterior_coverage,
    rank_uniformity,
    sbc_ranks,
    simulate_posterior,
)
from .collapse import latent_usage
from .importance import importance_log_weights, iwae_log_likelihood, pareto_khat
from .inference_data import to_inference_data
from .local_c2st import LocalC2ST, LocalC2STResult, local_c2st, plot_local_c2st
from .posterior_checks import (
    CoverageCurve,
    Widened,
    hpd_coverage,
    ks_uniform_pvalue,
    plot_coverage,
    plot_sbc,
    sbc,
    tarp,
    widened,
)
from .scores import crps, energy_score
from .weights import KHAT_LIMIT, ImportanceWeights

__all__ = [
    "LEVELS",
    "interval_coverage",
    "posterior_coverage",
    "simulate_posterior",
    "rank_uniformity",
    "sbc_ranks",
    "latent_usage",
    "ImportanceWeights",
    "KHAT_LIMIT",
    "importance_log_weights",
    "iwae_log_likelihood",
    "pareto_khat",
    "to_inference_data",
    "crps",
    "c2st",
    "LocalC2ST",
    "LocalC2STResult",
    "local_c2st",
    "plot_local_c2st",
    "CoverageCurve",
    "Widened",
    "hpd_coverage",
    "ks_uniform_pvalue",
    "plot_coverage",
    "plot_sbc",
    "sbc",
    "tarp",
    "widened",
    "energy_score",
]

"""Uncertainty diagnostics: ArviZ InferenceData, calibration, scores, importance weights, collapse."""

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
from .scores import crps, energy_score

__all__ = [
    "LEVELS",
    "interval_coverage",
    "posterior_coverage",
    "simulate_posterior",
    "rank_uniformity",
    "sbc_ranks",
    "latent_usage",
    "importance_log_weights",
    "iwae_log_likelihood",
    "pareto_khat",
    "to_inference_data",
    "crps",
    "energy_score",
]

"""Closed-form KL divergences that torch does not register, so ``analytic-kl`` can use them.

KL(N(μ, Σ) || N(m, diag s²)), a full-covariance guide against a diagonal Gaussian prior
(N(0, I) or the conditional Gaussian prior network), is, with Σ = L Lᵀ and d dimensions::

    ½ [ Σ_i Σ_ii / s_i²  +  Σ_i (μ_i - m_i)² / s_i²  -  d  +  2 Σ_i log s_i  -  2 Σ_i log L_ii ]

Registered on import for torch's classes (Pyro's distributions subclass them). Any other pair
still raises ``NotImplementedError``, on which ``TraceMeanField_ELBO`` estimates the KL by sampling.
"""

from __future__ import annotations

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, register_kl


@register_kl(MultivariateNormal, Independent)
def _kl_full_to_diagonal(q: MultivariateNormal, p: Independent) -> torch.Tensor:
    if not isinstance(p.base_dist, Normal) or p.reinterpreted_batch_ndims != 1:
        raise NotImplementedError
    variance = p.base_dist.scale.pow(2)
    tril = q.scale_tril
    trace = (tril.pow(2).sum(-1) / variance).sum(-1)  # Σ_ii = Σ_j L_ij²
    mahalanobis = ((q.loc - p.base_dist.loc).pow(2) / variance).sum(-1)
    log_det_p = variance.log().sum(-1)
    log_det_q = 2 * tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * (trace + mahalanobis - q.loc.shape[-1] + log_det_p - log_det_q)

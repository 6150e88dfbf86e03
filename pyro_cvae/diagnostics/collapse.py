"""Posterior collapse: which latent dimensions does the model actually use?

- KL per dimension: E_x KL(q(z_d | x, y) || p(z_d | y)), analytic when the guide and prior are
  both diagonal Gaussians (standard-normal and conditional-gaussian priors); a dimension with
  KL ≈ 0 carries no information about x. The total KL is given for every guide and prior.
- Active units (Burda et al., 2016): dimension d is active when Cov_x(E_q[z_d]) > 0.01, i.e. the
  encoder's mean moves with the data.
"""

from __future__ import annotations

from typing import Dict, Optional

import pyro.distributions as dist
import torch

from ..components.latents import kl_to_prior, point_estimate
from ..model import CVAE
from ..sampling.evaluate import eval_mode
from ..train.batches import in_batches

ACTIVE_THRESHOLD = 0.01


def _diagonal_normal(d) -> Optional[dist.Normal]:
    base = d.base_dist if isinstance(d, dist.Independent) else d
    return base if isinstance(base, dist.Normal) else None


@torch.no_grad()
def latent_usage(
    model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor] = None, batch_size: int = 1000
) -> Dict[str, object]:
    """``{"active_units", "unit_variance" [D], "kl_per_dim" [D] or None, "kl_total"}``.

    Works for every guide and prior: the guide's mean is its closed form or a Monte Carlo
    average (flow guides), ``kl_total`` is analytic where the pair has a closed form and a
    Monte Carlo estimate otherwise, and ``kl_per_dim`` is given where both are diagonal
    Gaussians (elsewhere the KL does not split by dimension) and is None otherwise."""
    x, y = model.prepare_data(x, y)
    means, per_dim, totals = [], [], []
    with eval_mode(model):
        for xb, yb in in_batches(batch_size, x, y):
            cb = model.features(yb)
            q_full, p_full = model.encoder(xb, cb), model.prior(cb)
            means.append(point_estimate(q_full))
            totals.append(kl_to_prior(q_full, p_full).expand(xb.shape[0]))
            q, p = _diagonal_normal(q_full), _diagonal_normal(p_full)
            if q is not None and p is not None:
                per_dim.append(torch.distributions.kl_divergence(q, p).expand_as(q.loc))
    variance = torch.cat(means).var(0)
    kl = torch.cat(per_dim).mean(0) if len(per_dim) == len(means) else None
    return {
        "active_units": int((variance > ACTIVE_THRESHOLD).sum()),
        "unit_variance": variance.tolist(),
        "kl_per_dim": None if kl is None else kl.tolist(),
        "kl_total": float(torch.cat(totals).mean()),
    }

"""Posterior collapse: which latent dimensions does the model actually use?

- KL per dimension: E_x KL(q(z_d | x, y) || p(z_d | y)), analytic when the guide and prior are
  both diagonal Gaussians (standard-normal and conditional-gaussian priors); a dimension with
  KL ≈ 0 carries no information about x.
- Active units (Burda et al., 2016): dimension d is active when Cov_x(E_q[z_d]) > 0.01, i.e. the
  encoder's mean moves with the data.
"""

from __future__ import annotations

from typing import Dict, Optional

import pyro.distributions as dist
import torch

from ..batches import in_batches
from ..evaluate import eval_mode
from ..model import CVAE

ACTIVE_THRESHOLD = 0.01


def _diagonal_normal(d) -> Optional[dist.Normal]:
    base = d.base_dist if isinstance(d, dist.Independent) else d
    return base if isinstance(base, dist.Normal) else None


@torch.no_grad()
def latent_usage(
    model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor] = None, batch_size: int = 1000
) -> Dict[str, object]:
    """``{"active_units", "unit_variance" [D], "kl_per_dim" [D] or None, "kl_total"}``."""
    x, y = model.prepare_data(x, y)
    means, kls = [], []
    with eval_mode(model):
        for xb, yb in in_batches(batch_size, x, y):
            q = _diagonal_normal(model.encoder(xb, yb))
            if q is None:
                raise TypeError(
                    f"latent_usage reads the guide's means and needs a diagonal Gaussian guide; "
                    f"{type(model.encoder).__name__} is not one"
                )
            p = _diagonal_normal(model.prior(yb))
            means.append(q.loc)
            if p is not None:
                kls.append(torch.distributions.kl_divergence(q, p).expand_as(q.loc))
    variance = torch.cat(means).var(0)
    kl = torch.cat(kls).mean(0) if kls else None
    return {
        "active_units": int((variance > ACTIVE_THRESHOLD).sum()),
        "unit_variance": variance.tolist(),
        "kl_per_dim": None if kl is None else kl.tolist(),
        "kl_total": None if kl is None else float(kl.sum()),
    }

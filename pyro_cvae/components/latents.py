"""What a guide says about z, for any guide family: a point estimate and the KL to the prior.

Diagnostics and figures must not assume a diagonal Gaussian guide: a full-covariance guide has
a mean but no per-dimension scale, and a flow guide has neither in closed form. These helpers
use the closed form where the distribution has one and Monte Carlo where it does not.
"""

from __future__ import annotations

import torch
from torch.distributions import Distribution, kl_divergence


def point_estimate(q: Distribution, num_draws: int = 64) -> torch.Tensor:
    """E_q[z]: the distribution's ``mean`` where it has one, else the average of ``num_draws``
    draws (a flow guide), shaped like one draw."""
    try:
        return q.mean
    except NotImplementedError:
        return q.sample(torch.Size([num_draws])).mean(0)


def kl_to_prior(q: Distribution, p: Distribution, num_draws: int = 64) -> torch.Tensor:
    """KL(q || p) per batch element: closed form where ``kl_divergence`` knows the pair, else
    the Monte Carlo mean of log q(z) - log p(z) over ``num_draws`` draws z ~ q."""
    try:
        return kl_divergence(q, p)
    except NotImplementedError:
        z = q.sample(torch.Size([num_draws]))
        return (q.log_prob(z) - p.log_prob(z)).mean(0)

"""The KL weight β of each epoch, one schedule for both engines.

The ELBO's KL term is scaled by β (``poutine.scale`` on the latent site, see ``train.step``);
a linear warm-up from β/``kl_anneal_epochs`` keeps an expressive decoder from ignoring z early
on (Bowman et al., 2016), after which β stays at ``kl_weight`` (1 is the true ELBO).
"""

from __future__ import annotations

from ..config import FitConfig

__all__ = ["kl_weight_at"]


def kl_weight_at(epoch: int, config: FitConfig) -> float:
    """β for an epoch (0-based): a linear warm-up over ``kl_anneal_epochs``, then ``kl_weight``."""
    if config.kl_anneal_epochs == 0:
        return config.kl_weight
    return config.kl_weight * min(1.0, (epoch + 1) / config.kl_anneal_epochs)

"""``to_inference_data``: a fitted CVAE's posterior and predictive draws as ``arviz.InferenceData``.

``az.from_pyro`` reads MCMC runs only, so the groups are assembled with ``az.from_dict``, with
a chain dimension of 1 (SVI draws are independent, not a Markov chain):

==================== ============================================================ =================
group                what                                                         dims
==================== ============================================================ =================
posterior            z ~ q_φ(z | x, y), the amortized posterior                   obs, z_dim
posterior_predictive x ~ p(x | z, y) for those z (replicated data)                 obs, x_dim_*
log_likelihood       log p(x_i | z_i, y_i) per draw and point                      obs
prior_predictive     x ~ p(x | y) = ∫ p(x | z, y) p(z | y) dz                      obs, x_dim_*
observed_data        x
constant_data        y                                                            obs, y_dim_*
==================== ============================================================ =================

Do not compare models with ``az.loo`` / ``az.waic`` on this ``log_likelihood``: each point has
its own z_i, drawn given x_i itself, so leave-one-out has nothing shared to leave out and PSIS
falls back to a harmonic mean over guide draws, which is neither a predictive density nor a
bound. Compare held-out ``iwae_log_likelihood`` per point instead (see the README).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import arviz as az
import torch
from pyro.infer import Predictive

from ..model import CVAE
from ..sampling.evaluate import eval_mode
from ..sampling.predictive import reconstruct


def _chain(t: torch.Tensor):
    return t.detach().cpu().unsqueeze(0).numpy()  # (1 chain, draws, ...)


@torch.no_grad()
def to_inference_data(
    model: CVAE,
    x: Optional[torch.Tensor] = None,
    y: Optional[torch.Tensor] = None,
    num_samples: int = 100,
    batch_size: Optional[int] = None,
) -> az.InferenceData:
    """Draw ``num_samples`` per data point and return them as InferenceData.

    ``x`` (with ``y`` for a CVAE) fills posterior, posterior_predictive, log_likelihood and
    observed_data; ``y`` alone (or ``batch_size`` for a VAE) gives the prior predictive only.
    """
    x, y = model.prepare_data(x, y)
    if x is None and y is None and batch_size is None:
        raise ValueError("give x (and y), y, or batch_size for a VAE's prior predictive")
    x_dims = [f"x_dim_{i}" for i in range(len(model.x_shape))]
    dims = {"z": ["obs", "z_dim"], "x": ["obs", *x_dims]}
    groups: Dict[str, Dict[str, Any]] = {}
    with eval_mode(model):
        prior = Predictive(model.raw_model, num_samples=num_samples, parallel=True, return_sites=("x",))
        if y is None and batch_size is None and x is not None:  # a VAE given x: one prior draw per observed point
            batch_size = x.shape[0]
        groups["prior_predictive"] = {"x": _chain(prior(y=y, batch_size=batch_size)["x"])}
        if x is not None:
            replicated, z = reconstruct(model, x, y, num_samples, return_latent=True)  # (S, N, ...)
            param = model.decoder(z, model.features(y))
            groups["posterior"] = {"z": _chain(z)}
            groups["posterior_predictive"] = {"x": _chain(replicated)}
            groups["log_likelihood"] = {"x": _chain(model.likelihood(param).log_prob(x))}
            groups["observed_data"] = {"x": x.detach().cpu().numpy()}
    if y is not None:
        groups["constant_data"] = {"y": y.detach().cpu().numpy()}
        dims["y"] = ["obs", *[f"y_dim_{i}" for i in range(y.dim() - 1)]]
    n = x.shape[0] if x is not None else y.shape[0] if y is not None else int(batch_size or 0)
    return az.from_dict(
        **groups,  # type: ignore[arg-type]
        dims=dims,
        coords={"obs": list(range(n))},
        attrs={"inference_library": "pyro", "model": model.name, "source": "pyro_cvae"},
    )

"""Evaluation of a fitted model on data: the ELBO and its reconstruction and KL terms, and the
guide's importance weights, whose log-mean-exp over K draws is the IWAE bound (Burda et al.
2016; ``pyro_cvae.diagnostics.importance`` says more)."""

from __future__ import annotations

import contextlib
import math
from typing import Dict, List, Optional, cast

import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from ..checks import check_positive_int
from ..model import CVAE
from ..train.batches import in_batches


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """Eval mode (batch norm running stats, no dropout) for the block, then the previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def pointwise_elbo_terms(
    model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor] = None, batch_size: int = 2048
) -> Dict[str, torch.Tensor]:
    """``elbo_terms`` for each data point: ``{"reconstruction", "kl", "elbo"[, "penalty"]}``,
    each ``(N,)`` on the CPU. A model with latent conditions (missing labels) sums them out
    through its own ``pointwise_elbo_terms``."""
    x, y = model.prepare_data(x, y)
    own = getattr(model, "pointwise_elbo_terms", None)
    if own is not None:
        return own(x, y, batch_size)
    return known_condition_terms(model, x, y, batch_size)


@torch.no_grad()
def known_condition_terms(model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor], batch_size: int = 2048):
    """The per-point terms for data on the model's device with every condition known."""
    parts: Dict[str, List[torch.Tensor]] = {"reconstruction": [], "kl": []}
    if model.penalties:
        parts["penalty"] = []
    with eval_mode(model):
        for xb, yb in in_batches(batch_size, x, y):
            guide = poutine.trace(model.raw_guide).get_trace(xb, yb)
            joint = poutine.trace(poutine.replay(model.raw_model, trace=guide)).get_trace(xb, yb)
            guide.compute_log_prob()
            joint.compute_log_prob()
            observed = [
                site["log_prob"] for site in joint.nodes.values() if site["type"] == "sample" and site["is_observed"]
            ]
            parts["reconstruction"].append(torch.stack(observed).sum(0))
            parts["kl"].append(guide.nodes["z"]["log_prob"] - joint.nodes["z"]["log_prob"])
            if model.penalties:
                z = cast(torch.Tensor, guide.nodes["z"]["value"])
                mean = model.likelihood.mean(model.decoder(z, model.features(yb)))
                parts["penalty"].append(torch.stack(list(model.penalty_values(mean, xb).values())).sum(0))
    terms = {name: torch.cat(values).cpu() for name, values in parts.items()}
    terms["elbo"] = terms["reconstruction"] - terms["kl"]
    return terms


def elbo_terms(
    model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor] = None, batch_size: int = 2048
) -> Dict[str, float]:
    """Per-data-point ELBO, reconstruction E_q[log p(x, y_fwd | z, y)] and KL(q || p), one
    sample of z each, in eval mode, averaged over the data. The KL is the Monte Carlo estimate
    log q(z) - log p(z|y), exactly the term ``Trace_ELBO`` optimizes. A model with penalties
    also gets ``"penalty"``, their weighted sum at the same z: not part of the ELBO, but what
    training subtracts from it."""
    return {name: float(values.mean()) for name, values in pointwise_elbo_terms(model, x, y, batch_size).items()}


def _site_log_probs(trace, num_data: int) -> torch.Tensor:
    parts = []
    for site in trace.nodes.values():
        # plates with a subsample (the mini-batch "data" plate) leave a site scored 0 on the CPU
        if site["type"] != "sample" or site_is_subsample(site) or site["name"] == "particles":
            continue
        log_p = site["fn"].log_prob(site["value"])
        parts.append(log_p.expand(log_p.shape[:-1] + (num_data,)))
    total = parts[0]
    for part in parts[1:]:  # sites differ in their particle dims: add with broadcasting
        total = total + part
    return total


@torch.no_grad()
def importance_log_weights(model: CVAE, x: torch.Tensor, y: Optional[torch.Tensor], num_samples: int) -> torch.Tensor:
    """``(num_samples, N)`` log importance weights of the guide for each data point, on the CPU."""
    check_positive_int(num_samples, "num_samples")
    x, y = model.prepare_data(x, y)
    with eval_mode(model), pyro.plate("particles", num_samples, dim=-2):
        guide_trace = poutine.trace(model.raw_guide).get_trace(x, y)
        model_trace = poutine.trace(poutine.replay(model.raw_model, trace=guide_trace)).get_trace(x, y)
    return (_site_log_probs(model_trace, x.shape[0]) - _site_log_probs(guide_trace, x.shape[0])).cpu()


def iwae_log_likelihood(
    model: CVAE,
    x: torch.Tensor,
    y: Optional[torch.Tensor] = None,
    num_samples: int = 1000,
    batch_size: int = 100,
    chunk: Optional[int] = None,
) -> torch.Tensor:
    """Per data point, the importance-weighted estimate of log p(x | y) (log p(x) for a VAE),
    on the CPU whatever the model's device: the IWAE bound with ``num_samples`` draws, what
    ``elbo="iwae"`` trains on, so what early stopping watches in such a fit.

    Data go through in batches of ``batch_size``, and particles in chunks of ``chunk``
    (default: all at once), combined exactly with logsumexp.
    """
    check_positive_int(num_samples, "num_samples")
    x, y = model.prepare_data(x, y)
    chunk = chunk or num_samples
    out = []
    for xb, yb in in_batches(batch_size, x, y):
        parts, drawn = [], 0
        while drawn < num_samples:
            k = min(chunk, num_samples - drawn)
            parts.append(torch.logsumexp(importance_log_weights(model, xb, yb, k), dim=0))
            drawn += k
        out.append(torch.logsumexp(torch.stack(parts), dim=0) - math.log(num_samples))
    return torch.cat(out)

"""Importance weights of the guide as a proposal: the conditional IWAE bound and Pareto k̂.

For each data point (x, y) and K draws z_k ~ q_φ(z | x, y), the log importance weight is

    log w_k = log p(x, [y_fwd] | z_k, y) + log p(z_k | y) - log q_φ(z_k | x, y),

read per site from Pyro traces of the guide and of the model replayed on it, under a particle
plate (so every observed site counts, the forward-consistency term included). Then

    log p(x | y) ≈ logsumexp_k log w_k - log K     (Burda et al., 2016; a lower bound in
                                                    expectation that tightens as K grows)

and the Pareto k̂ of the weights' tail (Vehtari et al., 2015) says whether the estimate is to be
trusted: k̂ < 0.5 good, 0.5-0.7 usable, > 0.7 the guide misses mass the posterior has.
"""

from __future__ import annotations

import math
from typing import Optional

import pyro
import torch
from pyro import poutine
from pyro.ops.stats import fit_generalized_pareto
from pyro.poutine.util import site_is_subsample

from ..checks import check_positive_int
from ..model import CVAE
from ..sampling.evaluate import eval_mode
from ..train.batches import in_batches


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
    on the CPU whatever the model's device.

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


def pareto_khat(log_weights: torch.Tensor) -> torch.Tensor:
    """Pareto k̂ of importance weights ``(K, N)``, one per column (the PSIS tail fit of
    ``pyro.infer.importance.psis_diagnostic``, applied per data point)."""
    num = log_weights.shape[0]
    tail = int(math.ceil(min(0.2 * num, 3.0 * math.sqrt(num))))
    khat = []
    for column in log_weights.T:
        w = torch.sort(column - column.max()).values
        cutoff = max(math.log(1e-15), float(w[-tail - 1]))
        top = w[w > cutoff]
        if len(top) < 10:
            khat.append(float("inf"))
            continue
        k, _ = fit_generalized_pareto(top.exp() - math.exp(cutoff))
        khat.append(float(k))
    return torch.tensor(khat)

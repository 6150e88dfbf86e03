"""Importance weights of the guide as a proposal: the conditional IWAE bound and Pareto k̂.

For each data point (x, y) and K draws z_k ~ q_φ(z | x, y), the log importance weight is

    log w_k = log p(x, [y_fwd] | z_k, y) + log p(z_k | y) - log q_φ(z_k | x, y),

read per site from Pyro traces of the guide and of the model replayed on it, under a particle
plate (so every observed site counts, the forward-consistency term included). Then

    log p(x | y) ≈ logsumexp_k log w_k - log K     (Burda et al., 2016; a lower bound in
                                                    expectation that tightens as K grows)

and the Pareto k̂ of the weights' tail (Vehtari et al., 2015) says whether the estimate is to be
trusted: k̂ < 0.5 good, 0.5-0.7 usable, > 0.7 the guide misses mass the posterior has.
The weights and the bound come from ``sampling.evaluate`` (``importance_log_weights``,
``iwae_log_likelihood``: training watches the bound through them too), re-exported here.
"""

from __future__ import annotations

import math

import torch
from pyro.ops.stats import fit_generalized_pareto

from ..sampling.evaluate import importance_log_weights, iwae_log_likelihood

__all__ = ["importance_log_weights", "iwae_log_likelihood", "pareto_khat"]


def pareto_khat(log_weights: torch.Tensor) -> torch.Tensor:
    """Pareto k̂ of importance weights ``(K, N)``, one per column (the PSIS tail fit of
    ``pyro.infer.importance.psis_diagnostic``, applied per data point). ``inf`` where fewer
    than 10 weights stand above the tail's cutoff (too few to fit, e.g. one weight dominates);
    ``-inf`` where the largest weights are all equal: a flat tail, bounded weights (a proposal
    equal to the target gives weights that are all equal)."""
    num = log_weights.shape[0]
    tail = int(math.ceil(min(0.2 * num, 3.0 * math.sqrt(num))))
    if num <= tail:  # one weight: nothing to fit
        return torch.full(log_weights.shape[1:], float("inf"))
    khat = []
    for column in log_weights.T:
        w = torch.sort(column - column.max()).values
        if float(w[-tail - 1]) == 0.0:  # the tail's largest weights all equal the maximum
            khat.append(float("-inf"))
            continue
        cutoff = max(math.log(1e-15), float(w[-tail - 1]))
        top = w[w > cutoff]
        if len(top) < 10:
            khat.append(float("inf"))
            continue
        k, _ = fit_generalized_pareto(top.exp() - math.exp(cutoff))
        khat.append(float(k))
    return torch.tensor(khat)

"""Training objectives by name: ELBO estimators and the importance-weighted bound.

The default, ``analytic-kl`` (Pyro's ``TraceMeanField_ELBO``), computes KL(q(z | x, y) || p(z | y))
in closed form wherever ``torch.distributions.kl_divergence`` knows the pair (diagonal or
full-covariance Gaussian guide against a Gaussian prior) and falls back to ``Trace_ELBO``'s
single-draw estimate log q(z) - log p(z) elsewhere (mixture, flow and VampPrior priors, flow
guides). Both have the same expectation, the ELBO, so the optimum does not move; the closed form
only removes the KL term's Monte Carlo noise from the gradient, which on the 8x8 digits was worth
about 0.4 nats of test log-likelihood (README, "Objectives").

The JIT mean-field ELBO:

pyro-ppl 1.9.2's ``JitTraceMeanField_ELBO.differentiable_loss`` looks for its compiled closure
under ``_loss_and_surrogate_loss`` but stores it as ``_differentiable_loss``, so it builds a new
closure, and calls ``torch.jit.trace`` again, on every step (4x to 11x slower than no JIT,
measured here). ``CachedJitTraceMeanField_ELBO`` checks the attribute it stores.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Dict

import pyro
import pyro.distributions as dist
import pyro.ops.jit
import torch
from pyro.infer import JitTrace_ELBO, JitTraceMeanField_ELBO, Trace_ELBO, TraceEnum_ELBO, TraceMeanField_ELBO

from ..registry import Registry

ELBOS: Registry["ElboRecipe"] = Registry("elbo")


class CachedJitTraceMeanField_ELBO(JitTraceMeanField_ELBO):
    """``JitTraceMeanField_ELBO`` that traces once per model/guide pair and kwargs."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        kwargs["_pyro_model_id"] = id(model)
        kwargs["_pyro_guide_id"] = id(guide)
        if getattr(self, "_differentiable_loss", None) is None:
            weakself = weakref.ref(self)

            @pyro.ops.jit.trace(ignore_warnings=self.ignore_jit_warnings, jit_options=self.jit_options)
            def differentiable_loss(*args, **kwargs):
                kwargs.pop("_pyro_model_id")
                kwargs.pop("_pyro_guide_id")
                self = weakself()
                assert self is not None, "the ELBO was garbage-collected while its compiled loss ran"
                loss = 0.0
                for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
                    _, particle = self._differentiable_loss_particle(model_trace, guide_trace)
                    loss = loss + particle / self.num_particles
                return loss

            self._differentiable_loss = differentiable_loss
        return self._differentiable_loss(*args, **kwargs)


@dataclass(frozen=True)
class ElboRecipe:
    """How to make one registered ELBO. ``compiled`` ELBOs trace the program with torch.jit:
    they need the parameters registered in Pyro's param store (``CVAE.model``/``guide``) and
    tensors as positional arguments (see ``SVIStep``)."""

    cls: type
    compiled: bool = False
    #: sums discrete latents out exactly (a model with missing labels needs it)
    enumerates: bool = False
    #: trains on the importance-weighted bound: early stopping watches that bound, not the ELBO
    importance_weighted: bool = False

    def make(self, num_particles: int = 1):
        """An ELBO instance; particles are vectorized (one batched pass, not a Python loop)."""
        kwargs: Dict[str, object] = dict(num_particles=num_particles, vectorize_particles=num_particles > 1)
        if self.compiled:
            kwargs["ignore_jit_warnings"] = True
        # max_plate_nesting=1: the data plate. Stating it skips a tracing pass to discover it.
        return self.cls(max_plate_nesting=1, **kwargs)


ELBOS.register(
    "analytic-kl",
    "the default: TraceMeanField_ELBO, the KL term in closed form where one exists, else Trace_ELBO's estimate",
)(ElboRecipe(TraceMeanField_ELBO))
ELBOS.register("trace", "Trace_ELBO: Monte Carlo ELBO, the KL term estimated from one draw")(ElboRecipe(Trace_ELBO))
ELBOS.register("mean-field", "the same as analytic-kl, by Pyro's name (TraceMeanField_ELBO)")(
    ElboRecipe(TraceMeanField_ELBO)
)
ELBOS.register("jit-trace", "JitTrace_ELBO: Trace_ELBO compiled with torch.jit")(ElboRecipe(JitTrace_ELBO, True))
ELBOS.register("jit-mean-field", "TraceMeanField_ELBO compiled once with torch.jit")(
    ElboRecipe(CachedJitTraceMeanField_ELBO, True)
)


def make_elbo(name: str, num_particles: int = 1):
    """The ELBO registered as ``name``, made for ``num_particles`` vectorized particles."""
    return ELBOS.get(name).make(num_particles)


class ImportanceWeightedELBO(Trace_ELBO):
    r"""The importance-weighted bound (IWAE, Burda et al. 2016) as a differentiable loss.

    For each data point, K particles z_k ~ q(z | x, y) (one vectorized pass) give

        log w_k = log p(x, z_k | y) - log q(z_k | x, y),
        L_K = log (1/K) Σ_k w_k  ≤  log p(x | y),

    a bound that tightens as K grows (K = 1 is the ELBO). Training on it (``elbo="iwae"``,
    ``num_particles=K``) lets the decoder fit a posterior the guide cannot match. Gradients flow
    through the reparameterized z_k and the self-normalized weights, so the guide must be
    reparameterizable (every guide registered here is).

    Why not Pyro's ``RenyiELBO(alpha=0)``, which is the same bound on full data: it sums the
    *scaled* log densities into each particle's weight, so a mini-batch's plate scale
    N / batch lands inside the log-sum-exp (a tempered bound, not the full-data estimate), and
    it has no ``differentiable_loss``, which ``SVIStep`` and a Lightning module need. Here each
    site's plain log density is weighted by its scale relative to the data plate's, and the
    plate's scale multiplies the bound outside the log-sum-exp: under KL annealing with weight β,
    log w_k = log p(x | z_k, y) + β (log p(z_k | y) - log q(z_k | x, y)), and the sum over the
    batch is scaled to the full data set as ``Trace_ELBO`` does.
    """

    def __init__(self, num_particles: int = 1, max_plate_nesting: int = 1, **kwargs):
        kwargs["vectorize_particles"] = num_particles > 1
        super().__init__(num_particles=num_particles, max_plate_nesting=max_plate_nesting, **kwargs)

    #: score the guide's draws with its parameters detached (``DoublyReparameterizedIWAE``)
    detach_guide = False

    def differentiable_loss(self, model, guide, *args, **kwargs):
        log_w, plate_scale, guide_trace = None, 1.0, None
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            # vectorized: one pair of traces with a leading particle dim; K = 1: one pair
            log_w, plate_scale = _log_weights(model_trace, guide_trace, self.detach_guide)
        assert log_w is not None
        self._reweight_draws(guide_trace, log_w)
        log_w = log_w.reshape(self.num_particles, -1)
        bound = torch.logsumexp(log_w, 0) - math.log(self.num_particles)
        return -plate_scale * bound.sum()

    def _reweight_draws(self, guide_trace, log_w: torch.Tensor) -> None:
        """A hook for the gradient that reaches the guide's draws (IWAE's: as it is)."""

    def loss(self, model, guide, *args, **kwargs) -> float:
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs) -> float:
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())


class DoublyReparameterizedIWAE(ImportanceWeightedELBO):
    r"""The IWAE bound with the doubly reparameterized gradient for the guide (DReG, Tucker et
    al. 2019): the same loss value, the same gradient for the model's parameters, a gradient
    for the guide's parameters with less noise.

    Why: IWAE's gradient for the guide φ holds a score term, ∂ log q_φ(z_k) / ∂φ at fixed z_k,
    whose noise grows against its signal as K grows (Rainforth et al. 2018), so the more
    particles the model trains on, the less the recognition network learns. DReG rewrites that
    gradient without the score term, by a second reparameterization,

        ∇_φ L_K = E[ Σ_k w̃_k² ∂ log w_k / ∂z_k · ∂z_k / ∂φ ],   w̃_k = w_k / Σ_j w_j,

    where ∂ log w_k / ∂z_k differentiates log p(x, z_k | y) - log q_φ(z_k | x, y) in z at fixed φ.
    Here: the guide's log-density is taken with its parameters detached (φ reaches the loss only
    through the draws z_k), and a hook multiplies the gradient arriving at each draw z_k by
    its w̃_k, which turns the w̃_k that log-sum-exp already gives into w̃_k². Under a KL weight
    β (annealing: log w_k = log p(x | z_k, y) + β (log p(z_k | y) - log q(z_k | x, y))) the same
    argument leaves (1 - β) w̃_k + β w̃_k², so the hook multiplies by (1 - β) + β w̃_k. Parameters the
    guide does not use (decoder, prior network) get IWAE's gradient unchanged; a parameter the
    guide shares with the model (an embedding network) gets IWAE's through the model and DReG's
    through the draws, an unbiased sum. The guide's family must have parameters that can be
    detached: diagonal and full-covariance Gaussians (a flow guide raises).
    """

    detach_guide = True

    def _reweight_draws(self, guide_trace, log_w: torch.Tensor) -> None:
        shape = log_w.shape  # (K, batch) under vectorized particles, (batch,) for K = 1
        weights = torch.softmax(log_w.detach().reshape(self.num_particles, -1), 0).reshape(shape)
        for site in guide_trace.nodes.values():
            z = site["value"] if site["type"] == "sample" else None
            if z is None or not z.requires_grad:  # not a draw, or no graph (torch.no_grad)
                continue
            beta = site["scale"] / _plate_scale(site)  # the draw's KL weight
            factor = (1 - beta) + beta * weights.reshape(shape + (1,) * (z.dim() - len(shape)))
            z.register_hook(_scaled_by(factor))


def _scaled_by(weights: torch.Tensor):
    return lambda grad: grad * weights


def detached_parameters(fn, name: str = "z"):
    """``fn`` with its parameters cut from the graph: its log-density still differentiates in
    the value, not in the parameters (the guide's density under DReG)."""
    if isinstance(fn, torch.distributions.Independent):
        return dist.Independent(detached_parameters(fn.base_dist, name), fn.reinterpreted_batch_ndims)
    if isinstance(fn, torch.distributions.Normal):
        return dist.Normal(fn.loc.detach(), fn.scale.detach())
    if isinstance(fn, torch.distributions.MultivariateNormal):
        return dist.MultivariateNormal(fn.loc.detach(), scale_tril=fn.scale_tril.detach())
    raise NotImplementedError(
        f"elbo='iwae-dreg' needs a Gaussian guide (diagonal or full covariance); its site {name!r} "
        f"draws from {type(fn).__name__}: use elbo='iwae' with this guide"
    )


def _plate_scale(site) -> float:
    """The scale a subsampled plate puts on a site: full size over batch size."""
    scale = 1.0
    for frame in site["cond_indep_stack"]:
        if frame.full_size is not None and frame.size:
            scale *= frame.full_size / frame.size
    return scale


def _log_weights(model_trace, guide_trace, detach_guide: bool = False):
    """``(log w per particle and data point, the data plate's scale)`` from a pair of traces;
    ``detach_guide``: the guide's densities with their parameters cut from the graph (DReG)."""
    total: object = 0.0
    plate_scale = 1.0
    for sign, trace in ((1.0, model_trace), (-1.0, guide_trace)):
        for site in trace.nodes.values():
            if site["type"] != "sample":
                continue
            if sign < 0 and not site["fn"].has_rsample:
                raise NotImplementedError(
                    f"elbo='iwae' needs a reparameterizable guide; its site {site['name']!r} is not"
                )
            plate_scale = _plate_scale(site)
            # Pyro's site["log_prob"] already carries the site's scale; the weight needs the
            # plain density, times the scale beyond the plate's (the KL weight of poutine.scale)
            if sign < 0 and detach_guide:
                log_p = detached_parameters(site["fn"], site["name"]).log_prob(site["value"])
            else:
                log_p = site.get("unscaled_log_prob")
                if log_p is None:
                    log_p = site["fn"].log_prob(site["value"])
            total = total + sign * log_p * (site["scale"] / plate_scale)
    return total, plate_scale


ELBOS.register("iwae", "importance-weighted bound (IWAE) over num_particles draws")(
    ElboRecipe(ImportanceWeightedELBO, importance_weighted=True)
)
ELBOS.register("iwae-dreg", "the IWAE bound with doubly reparameterized gradients for the guide (DReG)")(
    ElboRecipe(DoublyReparameterizedIWAE, importance_weighted=True)
)
ELBOS.register("trace-enum", "TraceEnum_ELBO: sums discrete latents (missing labels) out exactly")(
    ElboRecipe(TraceEnum_ELBO, enumerates=True)
)

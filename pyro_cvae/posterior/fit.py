"""``fit_posterior``: from a prior and a simulator (or from (θ, x) pairs) to an ``AmortizedPosterior``.

The defaults of this path (``POSTERIOR_MODEL``, ``POSTERIOR_FIT``) were chosen by measurement on
tasks kept apart from the four the suite is scored on (``bench/posterior_defaults.py``:
two_scale, slcp_distractors, gaussian_linear_uniform, bernoulli_glm; docs/inverse_problem.md,
"How the defaults were chosen", gives the figures). Every one can be overridden by a keyword: a
``ModelConfig`` field through ``model={...}``, a ``FitConfig`` field directly (the previous
defaults: ``model={"prior": "conditional-gaussian"}, elbo="analytic-kl", num_particles=1``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch

from ..build import build
from ..checks import as_tensor, check_positive_int, check_tensor
from ..config import FitConfig, ModelConfig
from ..seeding import seeded
from ..train.loop import fit as fit_model
from ..train.run import Run
from .amortized import AmortizedPosterior
from .ensemble import EnsemblePosterior, member_folder, write_manifest
from .simulate import Simulations, simulate
from .standardize import ObservationScaler, ParameterSpace, bound_vector, support_bounds

__all__ = ["FLOW_BY_SPACE", "POSTERIOR_FIT", "POSTERIOR_MODEL", "fit_posterior", "posterior_model_config"]

#: the CVAE of this path: a flow prior network r(z | x) as wide as θ (a Gaussian one is the
#: lighter choice: ``model={"prior": "conditional-gaussian"}``); a decoder that maps (z, x)
#: linearly to the context of a flow likelihood over θ; the recognition encoder q(z | θ, x)
POSTERIOR_MODEL: Dict[str, Any] = {
    "variant": "dual-encoder",
    "prior": "conditional-flow",
    "likelihood": "flow",
    "hidden_sizes": (),
    "prior_hidden_sizes": (128, 128),
}

#: the flow family by the space θ is modelled in: splines where the support is mapped onto the
#: real line (``support="transform"``: the logistic map skews the posterior near the bounds,
#: which affine layers cannot follow), masked autoregressive layers otherwise (fewer weights,
#: less over-fitting on few simulations)
FLOW_BY_SPACE = {"transformed": ("nsf", 3), "plain": ("maf", 5)}

#: how it trains: on the importance-weighted bound with 8 draws of z per pair, which brings the
#: model's marginal p(θ | x) = E_r[p(θ | z, x)], the thing sampled, closer to what is
#: maximized than the ELBO does; until that bound on the validation pairs has not improved for
#: 20 epochs (the best weights are kept), as sbi's trainers stop
POSTERIOR_FIT: Dict[str, Any] = {
    "epochs": 2000,
    "patience": 20,
    "batch_size": 200,
    "learning_rate": 1e-3,
    "clip_norm": 5.0,
    "elbo": "iwae",
    "num_particles": 8,
}


def posterior_model_config(
    num_parameters: int, observation_shape: Sequence[int], transformed: bool = False, **overrides
) -> ModelConfig:
    """The ``ModelConfig`` of this path for θ of ``num_parameters`` and observations shaped
    ``observation_shape``: the latent z as wide as θ, the flow family of ``FLOW_BY_SPACE``
    (``transformed``: the support is mapped onto the real line), a conv embedding for sequence
    and image observations (pass ``embedding="set"`` for i.i.d. trials ``(trials, features)``)."""
    flow_type, flow_layers = FLOW_BY_SPACE["transformed" if transformed else "plain"]
    fields: Dict[str, Any] = dict(POSTERIOR_MODEL, latent_dim=num_parameters, flow_type=flow_type)
    fields.update(flow_layers=flow_layers)
    fields["embedding"] = "conv" if len(observation_shape) in (2, 3) else "none"
    fields.update(overrides)
    return ModelConfig.from_dict(fields, x_shape=(num_parameters,), y_shape=tuple(observation_shape))


def _pairs(theta, x) -> Tuple[torch.Tensor, torch.Tensor]:
    theta = check_tensor(as_tensor(theta), "theta").float()
    if theta.dim() == 1:
        theta = theta[:, None]
    if theta.dim() != 2:
        raise ValueError(f"theta must have shape (num_simulations, num_parameters), got {tuple(theta.shape)}")
    x = check_tensor(as_tensor(x), "x").float()
    if x.shape[0] != theta.shape[0]:
        raise ValueError(f"theta and x must hold the same number of simulations, got {theta.shape[0]} and {x.shape[0]}")
    return theta, x


def _bounds(prior, bounds, num_parameters: int) -> Tuple[torch.Tensor, torch.Tensor]:
    if bounds is not None:
        lower = bound_vector(bounds[0], -math.inf, num_parameters, "bounds[0] (the lower bounds)")
        upper = bound_vector(bounds[1], math.inf, num_parameters, "bounds[1] (the upper bounds)")
        if not (lower < upper).all():
            raise ValueError(f"bounds must have lower < upper for every parameter, got {bounds}")
        return lower, upper
    if prior is None:
        inf = torch.full((num_parameters,), float("inf"))
        return -inf, inf
    return support_bounds(prior, num_parameters)


def fit_posterior(
    prior: Optional[torch.distributions.Distribution] = None,
    simulator=None,
    num_simulations: Optional[int] = None,
    *,
    theta=None,
    x=None,
    parameter_names: Optional[Sequence[str]] = None,
    bounds=None,
    support: str = "reject",
    model: Optional[Dict[str, Any]] = None,
    validation_fraction: float = 0.1,
    num_workers: int = 1,
    simulation_batch_size: int = 1000,
    seed: int = 0,
    ensemble: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    **fit_overrides,
) -> Union[AmortizedPosterior, EnsemblePosterior]:
    """Fit an amortized posterior p(θ | x) by SVI on simulated pairs.

    Either ``prior``, ``simulator`` and ``num_simulations`` (the budget is simulated with
    ``pyro_cvae.posterior.simulate``, ``num_workers`` processes, ``simulation_batch_size`` θ per
    call), or the pairs ``theta`` ``(n, num_parameters)`` and ``x`` ``(n, *observation_shape)``
    you simulated yourself (a ``prior`` is then optional: it gives the support).

    The prior's support (or ``bounds=(lower, upper)``, per parameter or one for all, None for an
    open side) is respected: draws outside it are rejected (``support="reject"``), or the
    network works on the support mapped onto the real line (``support="transform"``; see
    ``standardize`` for what each costs). θ and x are standardized with statistics of the
    training pairs, saved with the model. A share ``validation_fraction`` of the pairs is held out for early
    stopping. ``model={...}`` overrides fields of the CVAE (``posterior_model_config``), other
    keywords fields of the ``FitConfig`` (``POSTERIOR_FIT``), e.g. ``learning_rate=5e-4``,
    ``checkpoint_dir="runs/posterior"``.

    ``ensemble=M`` fits M posteriors on the same pairs, member m from seed ``seed + m`` (its own
    initial weights and validation split), and returns their equal-weight mixture, an
    ``EnsemblePosterior``: M times the fit, wider where the members disagree (docs/inverse_problem.md,
    "slcp's over-confidence", for what it bought). A ``checkpoint_dir`` then gets one subfolder per member.

    >>> posterior = fit_posterior(prior, simulator, 10_000, parameter_names=["a", "b"])
    >>> theta = posterior.sample(x_o, 1000)                    # (1000, 2), inside the prior
    >>> posterior.log_prob(theta[:5], x_o).value               # (5,)
    """
    simulations: Optional[Simulations] = None
    if theta is None and x is None:
        if prior is None or simulator is None or num_simulations is None:
            raise ValueError("give prior, simulator and num_simulations, or the pairs theta= and x=")
        simulations = simulate(prior, simulator, num_simulations, simulation_batch_size, num_workers, seed, progress)
        theta, x = simulations.theta, simulations.x
    elif theta is None or x is None:
        raise ValueError("give both theta= and x= (the simulated pairs), or neither")
    elif simulator is not None or num_simulations is not None:
        raise ValueError("give either the pairs (theta=, x=) or a simulator and num_simulations, not both")
    theta, x = _pairs(theta, x)
    check_positive_int(ensemble, "ensemble")
    if ensemble > 1:
        checkpoint_dir = fit_overrides.pop("checkpoint_dir", None)
        members = []
        for m in range(ensemble):
            if checkpoint_dir is not None:
                fit_overrides["checkpoint_dir"] = str(Path(checkpoint_dir) / member_folder(m))
            member = fit_posterior(
                prior, theta=theta, x=x, parameter_names=parameter_names, bounds=bounds, support=support,
                model=model, validation_fraction=validation_fraction, seed=seed + m, progress=progress,
                overwrite=overwrite, **fit_overrides,
            )  # fmt: skip
            assert isinstance(member, AmortizedPosterior)  # ensemble=1: one fit
            if simulations is not None:
                member.run.metadata["failed_simulations"] = simulations.failed
            members.append(member)
        if checkpoint_dir is not None:
            write_manifest(checkpoint_dir, ensemble)
        return EnsemblePosterior(members)
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must lie in (0, 1), got {validation_fraction!r}")
    num_val = max(1, int(round(validation_fraction * len(theta))))
    if len(theta) - num_val < 2:
        raise ValueError(f"too few simulations to train on: {len(theta)}")

    if support not in ("reject", "transform"):
        raise ValueError(f"support must be 'reject' or 'transform', got {support!r}")
    space = ParameterSpace.fit(theta, *_bounds(prior, bounds, theta.shape[1]), transform=support == "transform")
    scaler = ObservationScaler.fit(x)
    transformed = space.transform and space.bounded
    config = posterior_model_config(theta.shape[1], tuple(x.shape[1:]), transformed, **dict(model or {}))
    fit_config = FitConfig.from_dict(dict(POSTERIOR_FIT, seed=seed, progress=progress), **fit_overrides)
    with seeded(seed):
        order = torch.randperm(len(theta))
    u, y = space.to_network(theta), scaler(x)
    val, train = order[:num_val], order[num_val:]
    cvae = build(config)
    posterior = AmortizedPosterior(cvae, space, scaler, parameter_names)
    metadata = dict(posterior.run.metadata)
    if simulations is not None:
        metadata["failed_simulations"] = simulations.failed
    history = fit_model(
        cvae, (u[train], y[train]), fit_config, val_data=(u[val], y[val]), metadata=metadata, overwrite=overwrite
    )
    posterior.run = Run(cvae.eval(), fit_config=fit_config, history=history, metadata=metadata)
    return posterior

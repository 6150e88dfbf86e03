"""A posterior over θ as ArviZ's ``InferenceData``: θ in the ``posterior`` group, one variable
per parameter name, so ``az.summary``, ``az.plot_pair`` and ``az.plot_posterior`` read it as
they read MCMC draws. The command line's ``pyro-cvae sample`` writes the same for a posterior
run (``.nc``)."""

from __future__ import annotations

from typing import Any

from ..checks import as_tensor

__all__ = ["posterior_inference_data"]


def posterior_inference_data(posterior, x_o, num_samples: int = 1000, chains: int = 1) -> Any:
    """``az.InferenceData`` of ``num_samples`` draws of θ given ``x_o``: the ``posterior`` group
    holds one variable per parameter name, shaped ``(chain, draw)`` for one observation and
    ``(chain, draw, obs)`` for a batch of them; ``observed_data`` holds ``x_o``. ``chains``
    splits the draws (independent, as an amortized posterior's are) into that many chains."""
    import arviz as az

    if num_samples % chains:
        raise ValueError(f"num_samples ({num_samples}) must be a multiple of chains ({chains})")
    draws = posterior.sample(x_o, num_samples)  # (S, D) or (S, B, D)
    values = draws.reshape(chains, num_samples // chains, *draws.shape[1:]).numpy()
    group = {name: values[..., d] for d, name in enumerate(posterior.parameter_names)}
    dims = {name: ["obs"] for name in group} if draws.dim() == 3 else None
    observed = as_tensor(x_o).detach().cpu().numpy()
    return az.from_dict(posterior=group, observed_data={"x_o": observed}, dims=dims)

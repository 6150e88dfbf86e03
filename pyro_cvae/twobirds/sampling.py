"""Draw Two Birds solutions from a trained CVAE, optionally sharpened with the known forward model.

Sharpeners (``SHARPENERS``, chosen by name):

``laplace`` (the default)
    The calibrated posterior of ``twobirds.posterior``: CVAE proposals refined onto the modes,
    each mode weighted by its Laplace mass, samples drawn from that mixture. The share of
    samples per solution matches the posterior (the older sharpeners below keep the CVAE's).

``none``
    x = E[x | z, y] with z ~ r_θ1(z | y): the CVAE alone.
``importance``
    ``oversample * S`` proposals come from the CVAE through ``pyro.infer.Predictive``; each is
    weighted by the forward likelihood N(y | F(x), forward_scale), and S are drawn by weight
    *without replacement* (so equally good proposals are not duplicated). This favours
    proposals that reproduce y; it is not importance resampling for the posterior p(x | y):
    drawing without replacement, from a proposal whose density is not used, the share of
    samples each solution gets stays the CVAE's, not the posterior's.
``refine``
    Each of S proposals is pulled onto the nearest exact solution by Levenberg-Marquardt on the
    y misfit (``refine_endpoints``). Keeps the CVAE's share of samples per mode.
``refine-importance``
    Refine ``oversample * S`` proposals, then keep S of them by the forward likelihood, as in
    ``importance``: refined proposals that reached a solution all have weight ~1, those stuck
    in a local minimum ~0, so the draw keeps the first and drops the second. Every sample is
    then a solution, but, as above, the probability of each solution is the CVAE's basin mass,
    not its posterior weight (measured in the README).
"""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from ..checks import check_positive_int
from ..model import CVAE
from ..registry import Registry
from ..sampling.predictive import sample
from .functions import ForwardFunctions
from .lines import endpoints_from_lines, lines_from_endpoints
from .posterior import posterior_modes, sample_modes
from .refine import refine_endpoints

SHARPENERS: Registry = Registry("sharpener")


def _forward_of(model: CVAE, functions) -> Callable:
    # explicit functions, else the model's forward term
    if functions is not None:
        return ForwardFunctions(functions)
    if model.forward_model is None:
        raise ValueError(
            "sharpening needs the forward functions: pass functions= (a Two Birds run's are "
            "twobirds.functions_of(run)), or build the model with forward_model='twobirds:...'"
        )
    return model.forward_model


def forward_log_likelihood(x: torch.Tensor, y: torch.Tensor, forward: Callable, scale: float) -> torch.Tensor:
    """log N(y | F(x), scale²) summed over the signal, for proposals ``x (K, N, n, 2)``."""
    residual = forward(x.double()) - y.double()
    return -0.5 * (residual / scale).pow(2).sum((-2, -1))


def resample(x: torch.Tensor, log_weights: torch.Tensor, num_samples: int, generator=None) -> torch.Tensor:
    """Per condition, draw ``num_samples`` of the ``K`` proposals ``x (K, N, ...)`` by weight,
    without replacement (``K >= num_samples``)."""
    weights = torch.softmax(log_weights.double().T, dim=-1)  # (N, K)
    # a floor keeps every proposal drawable, so a condition with few good proposals still
    # returns num_samples (the good ones first, by weight)
    weights = weights + 1e-300
    index = torch.multinomial(weights, num_samples, replacement=False, generator=generator)  # (N, S)
    gather = index.T.reshape(num_samples, -1, *([1] * (x.dim() - 2))).expand(num_samples, *x.shape[1:])
    return x.gather(0, gather)


def _proposals(model: CVAE, y: torch.Tensor, num: int) -> torch.Tensor:
    return sample(model, y, num_samples=num, mean=True, chunk_size=num).double()  # conditions are chunked instead


def _refined(x: torch.Tensor, y: torch.Tensor, forward: Callable, iterations: int) -> torch.Tensor:
    endpoints = refine_endpoints(endpoints_from_lines(x), y, forward, iterations)
    return lines_from_endpoints(endpoints, x.shape[-2])


@SHARPENERS.register("none", "the CVAE alone: x = E[x | z, y], z ~ r(z | y)")
def _none(model, y, num_samples, forward, options):
    return _proposals(model, y, num_samples)


@SHARPENERS.register("importance", "resample oversample*S CVAE proposals by the forward likelihood")
def _importance(model, y, num_samples, forward, options):
    x = _proposals(model, y, options["oversample"] * num_samples)
    return resample(x, forward_log_likelihood(x, y, forward, options["forward_scale"]), num_samples)


@SHARPENERS.register("refine", "pull each CVAE sample onto the nearest solution (Levenberg-Marquardt)")
def _refine(model, y, num_samples, forward, options):
    return _refined(_proposals(model, y, num_samples), y, forward, options["iterations"])


@SHARPENERS.register("refine-importance", "refine oversample*S proposals, resample S by the forward likelihood")
def _refine_importance(model, y, num_samples, forward, options):
    x = _refined(_proposals(model, y, options["oversample"] * num_samples), y, forward, options["iterations"])
    return resample(x, forward_log_likelihood(x, y, forward, options["forward_scale"]), num_samples)


@SHARPENERS.register(
    "laplace", "the calibrated posterior: CVAE proposals refined to modes, weighted by Laplace (twobirds.posterior)"
)
def _laplace(model, y, num_samples, forward, options):
    modes = posterior_modes(
        model,
        y,
        forward,
        options["noise_scale"],
        options["num_proposals"],
        options["iterations"],
        chunk=y.shape[0],
        prior_fraction=options["prior_fraction"],
        translation_rounds=options["translation_rounds"],
    )
    return sample_modes(modes, num_samples, y.shape[-2]).double()


def draw(
    model: CVAE,
    y: torch.Tensor,
    num_samples: int = 30,
    sharpen: str = "laplace",
    functions=None,
    oversample: int = 4,
    forward_scale: float = 0.01,
    iterations: int = 30,
    noise_scale: float = 0.0,
    num_proposals: Optional[int] = None,
    prior_fraction: float = 0.0625,
    chunk: int = 25,
    translation_rounds: int = 3,
) -> torch.Tensor:
    """``num_samples`` solutions per condition: ``(num_samples, N, n_points, 2)``, float32.

    ``y`` is ``(N, n_points, 2)``; conditions go through in chunks of ``chunk`` to bound memory.
    ``functions`` (a preset, text, callable or ``ForwardFunctions``) defaults to the model's
    forward model. The default sharpener, ``laplace``, draws from the calibrated posterior
    (``twobirds.posterior``): ``noise_scale`` is the measurements' known σ (0: noise-free), and
    ``num_proposals`` the proposals per condition that find its modes (default
    max(256, num_samples); ``prior_fraction`` of them from the prior, the rest from the
    CVAE; ``translation_rounds`` of completion by translation find the modes they miss).
    ``oversample`` and ``forward_scale`` serve the older sharpeners.
    """
    check_positive_int(num_samples, "num_samples")
    if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
        raise ValueError(f"oversample must be an int >= 1, got {oversample!r}")
    method = SHARPENERS.get(sharpen)
    forward = _forward_of(model, functions) if sharpen != "none" else None
    options: Dict[str, object] = dict(
        oversample=oversample,
        forward_scale=forward_scale,
        iterations=iterations,
        noise_scale=noise_scale,
        num_proposals=num_proposals or max(256, num_samples),
        prior_fraction=prior_fraction,
        translation_rounds=translation_rounds,
    )
    y = y.to(model.device)
    parts = [
        method(model, y[i : i + chunk], num_samples, forward, options).float().cpu()
        for i in range(0, y.shape[0], chunk)
    ]
    return torch.cat(parts, dim=1)

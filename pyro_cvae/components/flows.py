"""Normalizing flows on zuko as Pyro distributions, for flow guides and flow priors.

``pyro.contrib.zuko.ZukoToPyro`` wraps a zuko distribution for ``pyro.sample``, which draws by
calling it; its ``sample`` and ``rsample`` raise ``NotImplementedError``, and it keeps every
draw it made in a dict. Torch-style callers need those two methods: the VampPrior's mixture over
a flow guide, ``latents.point_estimate``, any user code. ``ZukoFlow`` implements them and takes
leading plate dims (a particle plate) as extra sample dims.

Drawing and scoring: a guide scores every z it draws, so a flow guide computes each draw's
log-density as it draws it and keeps that of its latest draw (zuko computes both at once; the
guide's layers run in the drawing direction, one pass for both), and scoring its sample costs
nothing more. A prior or likelihood flow runs its layers in the density direction: a draw takes
D passes of each masked autoregressive layer, its log-density one more, and most of its draws
are never scored (``Predictive`` scores none). Those flows draw without it
(``keep_draw_density=False``) and score a draw when asked, for the pass it would have cost
beside the draw: ``AmortizedPosterior.sample`` is about 1.5x faster at D = 2 and 1.04-1.14x at
D = 5 and 10 (``python bench/sampling.py --draw-density``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import pyro.distributions as dist
import torch
import zuko
from torch.distributions import constraints

from ..registry import Registry

#: zuko flow families by name: ``ModelConfig.flow_type``
FLOW_TYPES: Registry = Registry("flow type")
FLOW_TYPES.register("nsf", "neural spline flow (Durkan et al., 2019): monotone rational-quadratic splines")(
    zuko.flows.NSF
)
FLOW_TYPES.register("maf", "masked autoregressive flow (Papamakarios et al., 2017): affine layers")(zuko.flows.MAF)


def conditional_flow(flow_type: str, features: int, context: int, layers: int, hidden: int) -> zuko.flows.Flow:
    """A zuko flow over ``features`` dims whose every layer is conditioned on ``context`` features."""
    return FLOW_TYPES.get(flow_type)(
        features=features, context=context, transforms=layers, hidden_features=(hidden,) * 2
    )


class ZukoFlow(dist.TorchDistribution):
    """A zuko distribution (batch shape B, event (D,)) as a Pyro distribution whose batch shape
    may be expanded on the left (plates), e.g. to (K, B) under a particle plate."""

    arg_constraints: Dict[str, constraints.Constraint] = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        flow: torch.distributions.Distribution,
        batch_shape: Optional[torch.Size] = None,
        keep_draw_density: bool = True,
    ):
        self.flow: Any = flow  # a zuko NormalizingFlow (rsample_and_log_prob is zuko's)
        #: whether ``rsample`` computes each draw's log-density and keeps the latest (module docstring)
        self.keep_draw_density = keep_draw_density
        self._last: Optional[tuple] = None  # (the latest draw, its log-density)
        shape = flow.batch_shape if batch_shape is None else torch.Size(batch_shape)
        if shape[len(shape) - len(flow.batch_shape) :] != flow.batch_shape:
            raise ValueError(f"a flow of batch shape {tuple(flow.batch_shape)} cannot expand to {tuple(shape)}")
        super().__init__(shape, flow.event_shape, validate_args=False)

    def expand(self, batch_shape, _instance=None) -> "ZukoFlow":
        return ZukoFlow(self.flow, torch.Size(batch_shape), self.keep_draw_density)

    def rsample(self, sample_shape=()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape[: len(self.batch_shape) - len(self.flow.batch_shape)]
        if not self.keep_draw_density:
            return self.flow.rsample(shape)
        value, log_p = self.flow.rsample_and_log_prob(shape)
        self._last = (value, log_p)  # a guide scores what it just drew; the draw is held, so `is` is safe
        return value

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._last is not None and value is self._last[0]:
            return self._last[1]
        # expanded, not broadcast: zuko's MAF layers do not broadcast a value against a context
        # of more batch dims (observed data under a particle dim, one θ scored for K draws of z)
        shape = torch.broadcast_shapes(value.shape, self.flow.batch_shape + self.flow.event_shape)
        return self.flow.log_prob(value.expand(shape))

    @property
    def mean(self) -> torch.Tensor:
        raise NotImplementedError("a flow has no closed-form mean; use pyro_cvae.components.latents.point_estimate")

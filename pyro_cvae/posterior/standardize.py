"""Where the network sees θ and x: a standardized space.

The CVAE learns p(u | x̃) for u = (g⁻¹(θ) - m) / s and x̃ = (x - μ) / σ. The network's inputs
and outputs are then O(1) whatever units the user measures in (the same signal in other units
gives the same posterior). Densities move between the spaces with the change of variables,
``log p(θ | x) = log p(u | x̃) - Σ log s - log |dg/du|``.

g handles a bounded prior's support in one of two ways (``support``):

- ``"reject"`` (the default): g is the identity; draws outside the support are rejected and
  drawn again, and densities are renormalized by the share of draws inside (as sbi does).
- ``"transform"``: g maps the real line onto the support per parameter (a scaled logistic on an
  interval, an exponential on a half-line), so every draw is inside by construction. It costs
  accuracy: the logistic map skews and stretches the posterior near the bounds, and on a box
  prior the fitted posterior was 0.6 nats per point worse than with rejection (2 parameters,
  3,000 simulations); use it where rejection would discard most draws.

The statistics come from the training simulations and are saved with the model (``to_dict``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch.distributions import constraints
from torch.nn.functional import logsigmoid

__all__ = ["ObservationScaler", "ParameterSpace", "bound_vector", "support_bounds"]


def support_bounds(prior, num_parameters: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-parameter lower and upper bounds of ``prior``'s support (±inf where open), read from
    its ``support`` constraint (interval, greater-than, less-than, real, and ``independent`` of
    these). A support of another kind is an error that says to pass ``bounds``."""
    support = getattr(prior, "support", constraints.real)
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    lower = getattr(support, "lower_bound", -math.inf)
    upper = getattr(support, "upper_bound", math.inf)
    known = (
        constraints._Real,
        constraints._Interval,
        constraints._HalfOpenInterval,
        constraints._GreaterThan,
        constraints._GreaterThanEq,
        constraints._LessThan,
    )
    if not isinstance(support, known):
        raise ValueError(
            f"the prior's support {support} is not a box; pass bounds=(lower, upper) per parameter "
            "(None or inf for an open side)"
        )

    def full(value) -> torch.Tensor:
        return torch.as_tensor(value, dtype=torch.float32).expand(num_parameters).clone()

    return full(lower), full(upper)


def bound_vector(values: Any, open_side: float, n: int, name: str = "bounds") -> torch.Tensor:
    """One bound per parameter ``(n,)`` from a number, None (the open side, ``open_side``: ±inf),
    or a sequence of them (as ``bounds=`` takes them and ``ParameterSpace.to_dict`` saves them)."""
    if values is None or isinstance(values, (int, float)):
        values = [values] * n
    values = [v.item() if isinstance(v, torch.Tensor) else v for v in values]
    if len(values) != n:
        raise ValueError(f"{name} must give one value per parameter ({n}), got {values}")
    return torch.tensor([open_side if v is None else float(v) for v in values], dtype=torch.float32)


@dataclass
class ParameterSpace:
    """θ ↔ u: the prior's support mapped to the real line, then standardized (see the module)."""

    lower: torch.Tensor
    upper: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor
    #: map the support onto the real line (True), or leave θ as it is and reject draws outside (False)
    transform: bool = False

    @property
    def bounded(self) -> bool:
        return bool(torch.isfinite(self.lower).any() or torch.isfinite(self.upper).any())

    @property
    def rejects(self) -> bool:
        """Whether draws outside the support must be rejected (bounded, not transformed)."""
        return self.bounded and not self.transform

    @classmethod
    def fit(
        cls, theta: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, transform: bool = False
    ) -> "ParameterSpace":
        """The space whose standardization makes the (mapped) training θ mean 0, std 1."""
        outside = (theta < lower) | (theta > upper)
        if outside.any():
            raise ValueError(
                f"theta has {int(outside.any(-1).sum())} row(s) outside the prior's support "
                f"[{lower.tolist()}, {upper.tolist()}]"
            )
        space = cls(lower, upper, torch.zeros_like(lower), torch.ones_like(lower), transform)
        unconstrained = space._unbound(theta)
        # a parameter at its bound maps to ±inf: standardize on the finite values
        finite = torch.where(torch.isfinite(unconstrained), unconstrained, torch.nan)
        space.loc = finite.nanmean(0)
        space.scale = (finite - space.loc).pow(2).nanmean(0).sqrt().clamp_min(1e-6)
        return space

    # the two bounds of a parameter decide its map g: logistic, exponential or identity
    def _kinds(self):
        low, high = torch.isfinite(self.lower), torch.isfinite(self.upper)
        return low & high, low & ~high, ~low & high

    def _unbound(self, theta: torch.Tensor) -> torch.Tensor:
        if not self.transform:
            return theta
        both, low, high = self._kinds()
        width = torch.where(both, self.upper - self.lower, 1.0)
        fraction = ((theta - self.lower) / width).clamp(0, 1)
        u = torch.where(both, torch.logit(fraction), theta)
        u = torch.where(low, torch.log(theta - self.lower), u)
        return torch.where(high, torch.log(self.upper - theta), u)

    def _bound(self, u: torch.Tensor) -> torch.Tensor:
        if not self.transform:
            return u
        both, low, high = self._kinds()
        theta = torch.where(both, self.lower + (self.upper - self.lower) * torch.sigmoid(u), u)
        grown = u.clamp(max=80.0).exp()  # e^80 ≈ 5e34: far out, and still finite in float32
        theta = torch.where(low, self.lower + grown, theta)
        return torch.where(high, self.upper - grown, theta)

    def to_network(self, theta: torch.Tensor) -> torch.Tensor:
        """u for θ ``(..., num_parameters)``."""
        return (self._unbound(theta) - self.loc) / self.scale

    def from_network(self, u: torch.Tensor) -> torch.Tensor:
        """θ for u. With ``transform``, always inside the support (clamped against rounding at
        the bounds); without, possibly outside it (the caller rejects those)."""
        theta = self._bound(self.loc + self.scale * u)
        if not self.transform:
            return theta
        return torch.maximum(torch.minimum(theta, self.upper), self.lower)

    def log_abs_det(self, theta: torch.Tensor) -> torch.Tensor:
        """``log |du/dθ|`` summed over parameters: add it to log p(u | x) to get log p(θ | x)."""
        if not self.transform:
            return -self.scale.log().sum().expand(theta.shape[:-1])
        both, low, high = self._kinds()
        v = self._unbound(theta)
        width = torch.where(both, self.upper - self.lower, 1.0)
        # log |dθ/dv| per parameter for each kind of map
        log_dtheta = torch.where(both, width.log() + logsigmoid(v) + logsigmoid(-v), torch.zeros_like(v))
        log_dtheta = torch.where(low | high, v, log_dtheta)
        return -(log_dtheta + self.scale.log()).sum(-1)

    def inside(self, theta: torch.Tensor) -> torch.Tensor:
        """Whether each θ lies strictly inside the support (where the density is defined)."""
        return ((theta > self.lower) & (theta < self.upper)).all(-1)

    def to_dict(self) -> Dict[str, Any]:
        def listed(t: torch.Tensor) -> List[Optional[float]]:
            return [None if math.isinf(v) else v for v in t.tolist()]

        return {
            "lower": listed(self.lower),
            "upper": listed(self.upper),
            "loc": self.loc.tolist(),
            "scale": self.scale.tolist(),
            "transform": self.transform,
        }

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "ParameterSpace":
        n = len(values["loc"])
        return cls(
            bound_vector(values["lower"], -math.inf, n, "the saved lower bounds"),
            bound_vector(values["upper"], math.inf, n, "the saved upper bounds"),
            torch.tensor(values["loc"], dtype=torch.float32),
            torch.tensor(values["scale"], dtype=torch.float32),
            bool(values["transform"]),
        )


@dataclass
class ObservationScaler:
    """x ↔ x̃ = (x - μ) / σ: per feature for a flat observation; one μ and σ for the whole of a
    sequence, image or set, whose values share units (and whose embedding reads their shape)."""

    loc: torch.Tensor
    scale: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> "ObservationScaler":
        flat = x.dim() == 2
        loc = x.mean(0) if flat else x.mean().reshape(1)
        scale = x.std(0) if flat else x.std().reshape(1)
        # a feature that never varies carries no information: leave it unscaled, not divided by 0
        return cls(loc, torch.where(scale > 1e-8, scale, torch.ones_like(scale)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.loc.numel() == 1:
            return (x - self.loc.squeeze()) / self.scale.squeeze()
        return (x - self.loc) / self.scale

    def to_dict(self) -> Dict[str, Any]:
        return {"loc": self.loc.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "ObservationScaler":
        return cls(torch.tensor(values["loc"], dtype=torch.float32), torch.tensor(values["scale"], dtype=torch.float32))

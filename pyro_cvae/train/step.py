"""One SVI step, the same for both engines: the built-in loop calls it, and the Lightning
module (``train.lightning.module``) takes its ``loss`` inside Lightning's own backward and step.

The fast path, measured on this project's hardware (see ``bench/svi_overhead.py``): compute
``elbo.differentiable_loss`` on the unregistered model/guide, back-propagate, and update every
parameter with one fused ``torch.optim.Adam``. ``pyro.optim`` makes one optimizer per parameter
tensor and ``SVI.step`` re-registers every parameter each step; both cost more than they give
here. The JIT ELBOs need registered parameters, so they trace ``model``/``guide`` instead, with
the KL weight as a tensor input (a float kwarg would be frozen into the trace).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..model import CVAE
from .elbos import ELBOS, make_elbo


def make_optimizer(parameters, learning_rate: float) -> torch.optim.Optimizer:
    parameters = list(parameters)
    try:  # the fused kernel updates all tensors at once; older builds lack it for some devices
        return torch.optim.Adam(parameters, lr=learning_rate, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(parameters, lr=learning_rate, foreach=True)


class SVIStep:
    """Loss and update for one mini-batch.

    ``loss(x, y, kl_weight, num_data)`` returns the differentiable negative ELBO of the batch,
    scaled to ``num_data`` points (the Lightning module back-propagates it); calling the object
    takes the whole step (loss, backward, clipping, Adam) and returns the detached loss.
    """

    def __init__(
        self,
        module: CVAE,
        elbo: str = "analytic-kl",
        num_particles: int = 1,
        learning_rate: float = 1e-3,
        clip_norm: Optional[float] = None,
    ):
        self.module = module
        if getattr(module, "enumerates", False) and not ELBOS.get(elbo).enumerates:
            raise ValueError(
                f"this model sums its missing labels out exactly and needs elbo='trace-enum', got elbo={elbo!r}"
            )
        self.elbo = make_elbo(elbo, num_particles)
        self.jit = ELBOS.get(elbo).compiled
        self.clip_norm = clip_norm
        self.optimizer = make_optimizer(module.parameters(), learning_rate)
        if self.jit:
            # JIT wants tensors positionally, non-tensors as kwargs, and no None arguments
            def model(x, kl_weight, *y, num_data):
                return module.model(x, y[0] if y else None, kl_weight, num_data)

            def guide(x, kl_weight, *y, num_data):
                return module.guide(x, y[0] if y else None, kl_weight, num_data)

            self._model, self._guide = model, guide

    def loss(self, x, y=None, kl_weight: float = 1.0, num_data: Optional[int] = None) -> torch.Tensor:
        if self.jit:
            weight = torch.as_tensor(kl_weight, dtype=x.dtype, device=x.device)
            args = (x, weight) if y is None else (x, weight, y)
            return self.elbo.differentiable_loss(self._model, self._guide, *args, num_data=num_data)
        m = self.module
        return self.elbo.differentiable_loss(m.raw_model, m.raw_guide, x, y, kl_weight, num_data)

    def __call__(self, x, y=None, kl_weight: float = 1.0, num_data: Optional[int] = None) -> torch.Tensor:
        """One optimizer step; returns the (detached) loss, left on the device: reading it would
        wait for the GPU at every step."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, y, kl_weight, num_data)
        loss.backward()
        if self.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.clip_norm)
        self.optimizer.step()
        return loss.detach()

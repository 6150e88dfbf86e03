"""The root module: a Pyro model/guide pair assembled from a prior, a guide, a decoder and a
likelihood."""

from __future__ import annotations

import contextlib
import itertools
from typing import Callable, Dict, Optional, Sequence, Tuple, Union, overload

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from .checks import check_tensor
from .components.likelihoods import Likelihood
from .protocols import Decoder, Guide, Prior

_instances = itertools.count(1)


class CVAE(nn.Module):
    r"""A conditional VAE as a Pyro model and guide. The VAE is the case ``y is None``.

    Generative story, for each data point (one ``pyro.plate("data")``)::

        c = embedding(y)                               c = y without an embedding network
        z ~ prior(c)                                   p(z | y):  N(0, I) or r_θ1(z | c)
        x ~ likelihood(decoder(z, c))                  p(x | z, y) = r_θ2(x | z, c), observed
        y ~ Normal(F(E[x | z, y]), forward_scale)      only with a known forward model F
        factor(-w_k * penalty_k(E[x | z, y], x))       only with penalties, in train mode

    Guide (amortized variational posterior)::

        z ~ q_φ(z | x, c)      or q_φ(z | x)

    The embedding network c(y) (``ModelConfig.embedding``) is one module shared by the prior,
    the guide and the decoder, so sequence, image and set conditions are read once, jointly
    trained; ``features(y)`` gives c(y) to code that calls the components directly.

    ``Trace_ELBO`` on this pair maximizes
    E_q[log p(x | z, y)] - KL(q_φ(z | x, y) || p(z | y)); with the learnable prior network this
    is the dual-encoder CVAE's objective, in the single, correct KL direction. Penalties
    (``pyro_cvae.components.penalties``) subtract weighted extra terms while training, which makes the
    objective no longer an ELBO; in eval mode the model is the pure generative model.

    Arguments common to ``model`` and ``guide``::

        x : (batch, *x_shape) observed x, or None to generate.
        y : (batch, *y_shape) condition, or None for a VAE.
        kl_weight : β multiplying the KL term (``poutine.scale`` on z in both model and guide).
        num_data : size of the whole data set when (x, y) is a mini-batch; the data plate then scales
            the log-densities by ``num_data / batch`` so the loss estimates the full-data ELBO.
        batch_size : how many x to generate when both x and y are None.

    ``model`` and ``guide`` register the parameters in Pyro's param store (``pyro.module``), so
    they work with ``pyro.infer.SVI`` and ``pyro.optim``. Each model registers under its own
    ``name`` (``cvae_1``, ``cvae_2``, ... unless given), so any number of models live in one
    process: sharing one name would hand the second model the first one's stored parameters.
    ``raw_model`` and ``raw_guide`` are the same functions without registration, for a torch
    optimizer over ``module.parameters()``
    (what ``pyro_cvae.fit`` uses; registration costs ~10% of a step).
    """

    def __init__(
        self,
        prior: Prior,
        encoder: Guide,
        decoder: Decoder,
        likelihood: Likelihood,
        x_shape: Sequence[int],
        y_shape: Optional[Sequence[int]] = None,
        forward_model: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        forward_scale: float = 0.1,
        config=None,
        penalties: Optional[nn.ModuleDict] = None,
        custom_components: Sequence[str] = (),
        name: Optional[str] = None,
        embedding: Optional[nn.Module] = None,
    ):
        super().__init__()
        self.prior, self.encoder, self.decoder, self.likelihood = prior, encoder, decoder, likelihood
        self.embedding = embedding
        if hasattr(prior, "attach_guide"):  # a prior built from the guide (the VampPrior)
            prior.attach_guide(encoder)
        self.x_shape = tuple(x_shape)
        self.y_shape = None if y_shape is None else tuple(y_shape)
        self._y_event_dim = 0 if self.y_shape is None else len(self.y_shape)
        if forward_model is not None and self.y_shape is None:
            raise ValueError("forward_model needs a condition y: set y_shape")
        self.forward_model, self.forward_scale = forward_model, forward_scale
        self.config = config
        #: the prefix of this model's parameters in Pyro's param store: unique per instance
        self.name = name if name is not None else f"cvae_{next(_instances)}"
        self.penalties = penalties if penalties is not None else nn.ModuleDict()
        #: components given as objects rather than by config names (see ``build``)
        self.custom_components = tuple(custom_components)

    # ------------------------------------------------------------------ Pyro program

    def model(self, x=None, y=None, kl_weight=1.0, num_data=None, batch_size=None):
        pyro.module(self.name, self)
        return self.raw_model(x, y, kl_weight, num_data, batch_size)

    def guide(self, x=None, y=None, kl_weight=1.0, num_data=None, batch_size=None):
        pyro.module(self.name, self)
        return self.raw_guide(x, y, kl_weight, num_data, batch_size)

    def raw_model(self, x=None, y=None, kl_weight=1.0, num_data=None, batch_size=None):
        with self._data_plate(x, y, num_data, batch_size):
            c = self.features(y)
            with _scaled(kl_weight):
                z = pyro.sample("z", self.prior(c))
            param = self.decoder(z, c)
            observed = x
            x = pyro.sample("x", self.likelihood(param), obs=observed)
            if self.forward_model is not None:
                y_hat = self.forward_model(self.likelihood.mean(param))
                noise = dist.Normal(y_hat, self.forward_scale).to_event(self._y_event_dim)
                pyro.sample("y_fwd", noise, obs=y)
            if self.penalties and self.training and observed is not None:
                for name, value in self.penalty_values(self.likelihood.mean(param), observed).items():
                    pyro.factor(f"penalty_{name}", -value)
        return x

    def raw_guide(self, x=None, y=None, kl_weight=1.0, num_data=None, batch_size=None):
        if x is None:
            raise ValueError("the guide q(z | x, y) needs x; to generate x from y use pyro_cvae.sample")
        with self._data_plate(x, y, num_data, batch_size):
            with _scaled(kl_weight):
                return pyro.sample("z", self.encoder(x, self.features(y)))

    def _data_plate(self, x, y, num_data, batch_size):
        present = x if x is not None else y
        if present is not None:
            batch = present.shape[0]
        elif batch_size is not None:
            batch = batch_size
        else:
            raise ValueError("give x, y or batch_size so the model knows how many x to generate")
        if num_data is None or num_data == batch:
            return pyro.plate("data", batch)
        # a mini-batch: the plate scales log-densities by num_data / batch
        device = present.device if present is not None else None
        return pyro.plate("data", num_data, subsample=torch.arange(batch, device=device))

    # ------------------------------------------------------------------ helpers

    def features(self, y: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
        """c(y): what the prior, guide and decoder are given for the condition y (y itself
        without an embedding network)."""
        if self.embedding is None or y is None:
            return y
        return self.embedding(y)

    def penalty_values(self, mean: torch.Tensor, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Each penalty's weighted value per data point, ``{name: (batch,)}``."""
        return {name: penalty.weight * penalty(mean, x) for name, penalty in self.penalties.items()}

    @property
    def latent_dim(self) -> int:
        return self.decoder.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def float_type(self) -> torch.dtype:
        """The weights' floating-point type: float32, or float64 after ``model.double()``."""
        return next(self.parameters()).dtype

    @overload
    def check_data(
        self, x: torch.Tensor, y: Optional[torch.Tensor], allow_batchless: bool = False
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]: ...

    @overload
    def check_data(
        self, x: None, y: Optional[torch.Tensor], allow_batchless: bool = False
    ) -> Tuple[None, Optional[torch.Tensor]]: ...

    def check_data(self, x, y, allow_batchless=False):
        """Validate a batch against this model's shapes and support (clear errors); returns it,
        with a batch dim of 1 added to a single example when ``allow_batchless``. Never copies."""
        if x is not None:
            x = check_tensor(x, "x", self.x_shape, allow_batchless)
            self.likelihood.check_data(x, "x")
        if self.y_shape is None:
            if y is not None:
                raise ValueError("this model has no condition (y_shape is None) but y was given")
        elif y is None:
            raise ValueError(f"this model is conditional: y of shape (batch, {self.y_shape}) is required")
        else:
            y = check_tensor(y, "y", self.y_shape, allow_batchless)
            if x is not None and x.shape[0] != y.shape[0]:
                raise ValueError(f"x and y must have the same batch size, got {x.shape[0]} and {y.shape[0]}")
        return x, y

    @overload
    def prepare_data(
        self, x: torch.Tensor, y: Optional[torch.Tensor], allow_batchless: bool = False
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]: ...

    @overload
    def prepare_data(
        self, x: None, y: Optional[torch.Tensor], allow_batchless: bool = False
    ) -> Tuple[None, Optional[torch.Tensor]]: ...

    def prepare_data(self, x, y, allow_batchless=False):
        """``check_data``, then ``(x, y)`` on this model's device, floating-point data in its float
        type. Every function that takes a model and data (sampling, evaluation, diagnostics)
        goes through here, so a model that ``fit`` left on a GPU, or in float64, works with the
        CPU float32 tensors a user holds."""
        x, y = self.check_data(x, y, allow_batchless)
        device, dtype = self.device, self.float_type
        return tuple(None if t is None else t.to(device, dtype if t.is_floating_point() else None) for t in (x, y))


def _scaled(weight: Union[float, torch.Tensor]):
    if isinstance(weight, (int, float)) and weight == 1.0:
        return contextlib.nullcontext()  # skip the handler on the common path
    return poutine.scale(scale=weight)

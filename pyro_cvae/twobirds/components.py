"""What the Two Birds app adds to the core's registries: the ``lines`` decoder and the
``twobirds:<functions>`` forward model.

The core finds this module through the entry points in ``pyproject.toml``
(``pyro_cvae.components``), so ``build({"decoder": "lines", ...})`` works without importing
the app first, and the core never imports it by name.
"""

from __future__ import annotations

from typing import Optional

from torch import nn

from ..components.decoders import DECODERS
from ..components.forward_models import FORWARD_MODELS, ForwardModel
from .decoder import LineDecoder
from .functions import ForwardFunctions


@DECODERS.register("lines", "Two Birds: two straight lines from 4 endpoints, inside the prior's box by construction")
def _lines(config) -> nn.Module:
    return LineDecoder(config.latent_dim, config.y_shape, config.x_shape, config.hidden_sizes)


@FORWARD_MODELS.register(
    "twobirds", "Two Birds signals y_k = f_k(x0, x1); argument: a preset or 'f0, f1' (default original)"
)
def _twobirds(argument: Optional[str] = None) -> ForwardModel:
    return ForwardFunctions(argument or "original")

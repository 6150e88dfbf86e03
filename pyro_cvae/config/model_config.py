"""``ModelConfig``: everything needed to build a model (``pyro_cvae.build`` turns it into a
``CVAE``). Component names (prior, guide, likelihood, ...) are checked against the registries by
``build``, which is what lets an app add names without this module knowing them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar, Dict, Literal, Optional, Tuple

from ..checks import as_shape, check_positive_int
from ..variants import VARIANTS
from .fields import ConfigBase, check_field_types

__all__ = ["FlowType", "ModelConfig"]

#: zuko flow families (``pyro_cvae.components.flows.FLOW_TYPES``)
FlowType = Literal["nsf", "maf"]

#: component names that changed, old -> new; a config with the old name is read with a warning
RENAMED_PRIORS = {"conditional-zuko-flow": "conditional-flow"}


def _check_penalties(penalties) -> Dict[str, float]:
    if not isinstance(penalties, dict):
        raise ValueError(f"penalties must be a mapping of penalty name to weight, got {penalties!r}")
    for name, weight in penalties.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ValueError(f"penalties[{name!r}] must be a weight >= 0, got {weight!r}")
    return {str(name): float(weight) for name, weight in penalties.items()}


@dataclass
class ModelConfig(ConfigBase):
    """Everything needed to build a model; ``pyro_cvae.build`` turns it into a ``CVAE``.

    Shapes are event shapes, without the batch dim: ``(64,)`` for flat 8x8 digits,
    ``(1, 8, 8)`` for the same as an image (conv networks want ``(channels, *grid)``).

    ``variant`` names a recipe (``pyro_cvae.VARIANTS``) for the fields left unset (None):
    ``prior``, ``guide`` and ``network``. A field given explicitly always wins over the recipe,
    however the config is made (constructor, dict, file, ``build`` keywords), so
    ``ModelConfig(x_shape=(4,), y_shape=(2,), variant="dual-encoder")`` has the learnable prior
    and ``variant="dual-encoder", prior="conditional-mixture"`` a mixture one.
    """

    x_shape: Tuple[int, ...]
    y_shape: Optional[Tuple[int, ...]] = None
    #: the recipe the other fields started from (``pyro_cvae.VARIANTS``); "custom" for none
    variant: str = "custom"
    latent_dim: int = 8
    prior: Optional[str] = None
    guide: Optional[str] = None
    likelihood: str = "normal"
    decoder: str = "network"
    network: Optional[str] = None
    hidden_sizes: Tuple[int, ...] = (256, 256)
    prior_hidden_sizes: Tuple[int, ...] = (256, 256)
    channels: Optional[Tuple[int, ...]] = None
    mixture_components: int = 5
    #: layers of a flow guide or prior, and the zuko family (``pyro_cvae.components.flows.FLOW_TYPES``)
    flow_layers: int = 2
    flow_type: FlowType = "nsf"
    #: pseudo-inputs of the ``vamp`` prior
    pseudo_inputs: int = 50
    #: y is a one-hot class label that may be missing (NaN rows): the semi-supervised M2 model,
    #: with a classifier q(y | x) whose log-likelihood on labelled points is weighted by
    #: ``classifier_weight`` (``pyro_cvae.semisupervised``; fit it with elbo="trace-enum")
    missing_labels: bool = False
    classifier_weight: float = 50.0
    #: a network that embeds the condition y (``pyro_cvae.components.embeddings``: "mlp", "conv",
    #: "set"), shared by the prior, the guide and the decoder; "none" hands them y itself
    embedding: str = "none"
    embedding_dim: int = 32
    likelihood_scale: float = 0.1
    learn_likelihood_scale: bool = False
    forward_model: Optional[str] = None
    forward_scale: float = 0.1
    #: extra training-objective terms by name and weight, e.g. {"total-variation": 0.5};
    #: any of them makes the objective no longer an ELBO (see pyro_cvae.components.penalties)
    penalties: Dict[str, float] = field(default_factory=dict)
    #: seed of the initial weights: the same config builds the same network; None draws them
    #: from torch's global generator instead
    seed: Optional[int] = 0

    _section: ClassVar[str] = "model"

    def _validate(self) -> None:
        if self.prior in RENAMED_PRIORS:
            warnings.warn(
                f"prior {self.prior!r} is now called {RENAMED_PRIORS[self.prior]!r}", DeprecationWarning, stacklevel=4
            )
            self.prior = RENAMED_PRIORS[self.prior]
        check_field_types(self)
        self.x_shape = as_shape(self.x_shape, "x_shape")
        self.y_shape = None if self.y_shape is None else as_shape(self.y_shape, "y_shape")
        self._apply_recipe()
        # () is allowed: no hidden layer, a linear map (e.g. a probabilistic-PCA decoder)
        self.hidden_sizes = as_shape(self.hidden_sizes, "hidden_sizes", allow_empty=True)
        self.prior_hidden_sizes = as_shape(self.prior_hidden_sizes, "prior_hidden_sizes", allow_empty=True)
        if self.channels is not None:
            self.channels = as_shape(self.channels, "channels")
        check_positive_int(self.latent_dim, "latent_dim")
        check_positive_int(self.mixture_components, "mixture_components")
        check_positive_int(self.flow_layers, "flow_layers")
        check_positive_int(self.pseudo_inputs, "pseudo_inputs")
        check_positive_int(self.embedding_dim, "embedding_dim")
        if self.embedding != "none" and self.y_shape is None:
            raise ValueError(f"embedding {self.embedding!r} embeds the condition y: set y_shape, or embedding='none'")
        if self.embedding != "none" and self.missing_labels:
            raise ValueError("missing_labels reads y as one-hot labels: it takes no embedding (embedding='none')")
        if self.missing_labels and (self.y_shape is None or len(self.y_shape) != 1):
            raise ValueError(f"missing_labels needs one-hot labels: y_shape = (classes,), got {self.y_shape}")
        if not self.classifier_weight >= 0:
            raise ValueError(f"classifier_weight must be >= 0, got {self.classifier_weight!r}")
        self.penalties = _check_penalties(self.penalties)
        for name in ("likelihood_scale", "forward_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    def _apply_recipe(self) -> None:
        recipe = VARIANTS.get(self.variant)
        # without a recipe: the standard choices, with a guide that can see y only if there is one
        base = {
            "prior": "standard-normal",
            "network": "mlp",
            "guide": "encoder-xy" if self.y_shape is not None else "encoder-x",
        }
        for name, default in base.items():
            if getattr(self, name) is None:
                setattr(self, name, recipe.get(name, default))

"""``build``: a config, a variant name or a config file in, a ready ``CVAE`` out.

There is one path: every kind of spec becomes a ``ModelConfig`` (whose variant recipe fills the
fields left unset, explicit fields winning), the component names are checked against the
registries, and the networks are initialized under the config's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

from .components.decoders import DECODERS
from .components.embeddings import EMBEDDINGS, embedded_shape
from .components.forward_models import FORWARD_MODELS, make_forward_model, split_name
from .components.guides import GUIDES
from .components.likelihoods import LIKELIHOODS
from .components.nets import NETWORKS
from .components.penalties import PENALTIES, build_penalties
from .components.priors import PRIORS
from .config import ModelConfig
from .model import CVAE
from .seeding import seeded
from .semisupervised import SemiSupervisedCVAE, semi_supervised_parts
from .variants import VARIANTS

#: components that may be given as objects instead of names
INJECTABLE = ("prior", "guide", "likelihood", "decoder", "forward_model")

Spec = Union[str, Path, ModelConfig, Dict[str, Any]]


def build(spec: Spec, **overrides) -> CVAE:
    """Build a model.

    ``spec`` is a variant name (``pyro_cvae.VARIANTS``), a ``ModelConfig``, a dict of config
    fields, or the path of a JSON / YAML / TOML config file. Keyword arguments override fields.
    Whatever the kind of spec, the variant's recipe fills only the fields left unset.
    ``prior``, ``guide``, ``likelihood``, ``decoder`` may also be ``nn.Module`` objects, and
    ``forward_model`` a torch callable, to inject custom components. The model lists them in
    ``model.custom_components``; a checkpoint of it needs the same objects again to load.

    The initial weights are drawn under ``config.seed`` (default 0) with a private generator
    state, so the same config gives the same network and torch's global RNG is left as it was.

    >>> model = build("dual-encoder", x_shape=(50, 2), y_shape=(50, 2), latent_dim=8)
    """
    objects = {k: overrides.pop(k) for k in INJECTABLE if k in overrides and not isinstance(overrides[k], str)}
    config = resolve_config(spec, **overrides)
    check_component_names(config, injected=objects)
    assert config.prior is not None and config.guide is not None  # the variant recipe filled them
    # under an embedding the prior, guide and decoder see c(y), a vector, in place of y
    parts = config
    if embedded_shape(config) != config.y_shape:
        parts = config.replace(y_shape=embedded_shape(config), embedding="none")
    with seeded(config.seed):
        kind: type[CVAE] = CVAE
        extra: Dict[str, Any] = {}
        if config.missing_labels:
            kind, extra = SemiSupervisedCVAE, semi_supervised_parts(config)
        return kind(
            prior=objects.get("prior") or PRIORS.get(config.prior)(parts),
            encoder=objects.get("guide") or GUIDES.get(config.guide)(parts),
            decoder=objects.get("decoder") or DECODERS.get(config.decoder)(parts),
            likelihood=objects.get("likelihood") or LIKELIHOODS.get(config.likelihood)(parts),
            embedding=EMBEDDINGS.get(config.embedding)(config),
            x_shape=config.x_shape,
            y_shape=config.y_shape,
            forward_model=objects.get("forward_model")
            or (make_forward_model(config.forward_model) if config.forward_model else None),
            forward_scale=config.forward_scale,
            config=config,
            penalties=build_penalties(config),
            custom_components=tuple(sorted(objects)),
            **extra,
        ).train()


def resolve_config(spec: Spec, **overrides) -> ModelConfig:
    """The ``ModelConfig`` that ``build`` would use for these arguments."""
    if isinstance(spec, ModelConfig):
        return spec.replace(**overrides) if overrides else spec
    if isinstance(spec, dict):
        return ModelConfig.from_dict(spec, **overrides)
    if isinstance(spec, (str, Path)):
        if str(spec) in VARIANTS:
            return ModelConfig.from_dict({"variant": str(spec)}, **overrides)
        if Path(spec).suffix in (".json", ".yaml", ".yml", ".toml"):
            return ModelConfig.from_file(spec, **overrides)
        raise KeyError(
            f"{str(spec)!r} is neither a variant nor a config file; variants are: {', '.join(VARIANTS.names())}"
        )
    raise TypeError(f"spec must be a variant name, ModelConfig, dict or path, got {type(spec).__name__}")


def check_component_names(config: ModelConfig, injected: Optional[Dict[str, object]] = None) -> None:
    """Every name in ``config`` is registered (plugins included); the error lists the choices.
    Fields in ``injected`` were given as objects and have no name to check."""
    injected = injected or {}
    named = {
        "prior": PRIORS,
        "guide": GUIDES,
        "likelihood": LIKELIHOODS,
        "decoder": DECODERS,
        "network": NETWORKS,
        "embedding": EMBEDDINGS,
    }
    for field, registry in named.items():
        if field not in injected:
            registry.check(getattr(config, field))
    for name in config.penalties:
        PENALTIES.check(name)
    if "flow" in f"{config.prior} {config.guide}":
        from .components.flows import FLOW_TYPES  # zuko is imported only for the models that use it

        FLOW_TYPES.check(config.flow_type)
    if config.forward_model is not None and "forward_model" not in injected:
        FORWARD_MODELS.check(split_name(config.forward_model)[0])

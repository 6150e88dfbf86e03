"""The named recipes of the seed projects, as data: each fills in a ``ModelConfig``.

A variant only fills the fields a config leaves unset (``prior``, ``guide``, ``network``); any
field given explicitly wins, e.g. ``build("cvae", network="conv2", ...)`` is the seed's
2-conv-layer standard CVAE. ``custom`` is the empty recipe.
"""

from __future__ import annotations

from .registry import Registry

VARIANTS: Registry = Registry("variant")

_RECIPES = {
    "custom": ("no recipe: standard-normal prior, mlp network, the guide sees y when there is one", {}),
    "vae": (
        "VAE: z ~ N(0, I), x ~ p(x|z), guide q(z|x); no condition",
        dict(prior="standard-normal", guide="encoder-x", network="mlp"),
    ),
    "cvae": (
        "standard CVAE: z ~ N(0, I), x ~ p(x|z,y), guide q(z|x,y)",
        dict(prior="standard-normal", guide="encoder-xy", network="mlp"),
    ),
    "cvae-xonly": (
        "standard CVAE whose condition skips the encoder: guide q(z|x)",
        dict(prior="standard-normal", guide="encoder-x", network="mlp"),
    ),
    "cvae-deep": (
        "deeper conv CVAE: 3 conv layers with batch norm, ReLU encoder, LeakyReLU decoder",
        dict(prior="standard-normal", guide="encoder-xy", network="conv3-bn"),
    ),
    "dual-encoder": (
        "dual-encoder CVAE: learnable prior network r(z|y), guide q(z|x,y), decoder r(x|z,y)",
        dict(prior="conditional-gaussian", guide="encoder-xy", network="mlp"),
    ),
}

for _name, (_help, _fields) in _RECIPES.items():
    VARIANTS.register(_name, _help)(_fields)

"""A post-hoc latent sampler: a Gaussian mixture fitted to the aggregate posterior.

After training, the encodings of the data, z ~ q_φ(z | x, y), fill the latent space unevenly;
N(0, I) puts mass in holes the decoder never learned, which is where blurry samples come from.
The aggregate posterior q(z) = E_data q_φ(z | x, y) is the prior the decoder was trained
against, so a K-component full-covariance Gaussian mixture fitted to draws from it (EM, via
scikit-learn) is a better sampling prior (Ghosh et al., 2020, "From variational to
deterministic autoencoders"; Pythae's ``GaussianMixtureSampler``).

Use it in place of the model's prior for anything, with ``using_prior``::

    mixture = fit_latent_mixture(model, x, components=10)
    with using_prior(model, mixture):
        images = pc.sample(model, None, 64, batch_size=1)
        log_px = iwae_log_likelihood(model, x_test)   # log p(x) under the post-hoc prior

It replaces p(z), so it fits models whose prior does not depend on y (a VAE, or a CVAE with the
N(0, I) prior): a conditional prior would lose its condition.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import pyro.distributions as dist
import torch
from torch import nn

from ..checks import check_positive_int
from ..model import CVAE
from ..sampling.evaluate import eval_mode
from ..sampling.predictive import posterior_latent


class LatentMixture(nn.Module):
    """p(z) = Σ_k π_k N(μ_k, Σ_k), a prior module (``forward(y)`` ignores y)."""

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor

    def __init__(self, weights: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor):
        super().__init__()
        self.register_buffer("weights", weights)
        self.register_buffer("means", means)
        self.register_buffer("scale_tril", torch.linalg.cholesky(covariances))

    def forward(self, y: Optional[torch.Tensor] = None) -> dist.TorchDistribution:
        components = dist.MultivariateNormal(self.means, scale_tril=self.scale_tril)
        return dist.MixtureSameFamily(dist.Categorical(probs=self.weights), components)


@torch.no_grad()
def fit_latent_mixture(
    model: CVAE,
    x: torch.Tensor,
    y: Optional[torch.Tensor] = None,
    components: int = 10,
    draws_per_point: int = 1,
    seed: int = 0,
) -> LatentMixture:
    """Fit a ``components``-Gaussian mixture to ``draws_per_point`` draws of q_φ(z | x, y) per
    data point (one draw per point is what Pythae's sampler fits; more draws cost EM time and,
    on the digits, did not raise log p(x)). Refuses a model whose prior depends on y (see the
    module docstring)."""
    from sklearn.mixture import GaussianMixture

    if model.y_shape is not None and type(model.prior).__name__ != "StandardNormalPrior":
        raise ValueError(
            f"fit_latent_mixture replaces p(z) and ignores y; this model's prior ({type(model.prior).__name__}) "
            "depends on y. Use it with a VAE or a CVAE with prior='standard-normal'"
        )
    check_positive_int(components, "components")
    x, y = model.prepare_data(x, y)
    with eval_mode(model):
        z = posterior_latent(model, x, y, draws_per_point).reshape(-1, model.latent_dim).double().cpu()
    if len(z) < components:
        raise ValueError(f"{len(z)} latent draws cannot fit {components} components; give more data")
    gmm = GaussianMixture(components, covariance_type="full", random_state=seed, reg_covar=1e-6).fit(z.numpy())
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32, device=model.device)  # noqa: E731
    return LatentMixture(as_tensor(gmm.weights_), as_tensor(gmm.means_), as_tensor(gmm.covariances_))


@contextlib.contextmanager
def using_prior(model: CVAE, prior: nn.Module) -> Iterator[CVAE]:
    """Within the block, ``model`` draws and scores z with ``prior`` instead of its own (any
    module whose ``forward(y)`` returns a distribution over z); the original comes back after."""
    original = model.prior
    model.prior = prior
    try:
        yield model
    finally:
        model.prior = original

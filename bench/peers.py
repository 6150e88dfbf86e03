"""Side by side with Pythae 0.1.2: the same protocol, interleaved in one process.

Protocol (the issue's): scikit-learn's 8x8 digits in [0, 1], ``split_indices(1797,
test_size=360, seed=0)``, encoder and decoder MLPs 256-256, latent 8, Bernoulli likelihood
(binary cross-entropy), Adam 1e-3, batch 64, 50 epochs, the same initial weights (Pythae's
encoder and decoder wrap copies of ours, with our output parametrization), and one estimator of
test log p(x) for both: importance sampling with the trained guide, K = 1000 (written here for
Pythae's models from their encoder, flow and prior, with every constant).

Pairs: ``vae`` (ours: ``vae``, default objective) vs Pythae ``VAE``; ``vamp`` (prior
``vamp``, 50 pseudo-inputs) vs ``VAMP`` (50 components); ``iwae`` (``elbo="iwae"``, K = 10) vs
``IWAE`` (10 samples); ``flow`` (guide ``flow-x``, 2 MAF layers) vs ``VAE_IAF`` (2 MADE blocks); ``gmm``: the post-hoc
10-component mixture sampler (``fit_latent_mixture``) vs ``GaussianMixtureSampler``, each fitted
to its trained ``vae`` and scored as that model's prior (the same K = 1000 estimator of log p(x)
with the mixture in place of N(0, I)). Printed per pair and seed: test log p(x) for each, ours
minus Pythae's NLL (negative: ours better), and our seconds over theirs (per epoch of each
library's own training loop, ``pc.fit`` and Pythae's ``BaseTrainer``; for ``gmm``, fitting the
sampler).

    pip install pythae==0.1.2     # a benchmark extra only, never a dependency of pyro_cvae
    python bench/peers.py [--seeds 0,1,2] [--epochs 50] [--pairs vae,vamp,iwae,flow,gmm]
"""

import argparse
import copy
import logging
import math
import statistics
import tempfile
import time

import torch

import pyro_cvae as pc
from pyro_cvae.data.digits import load_digits_data
from pyro_cvae.data.tensors import split_indices
from pyro_cvae.diagnostics import iwae_log_likelihood

K_TEST = 1000
OURS = {
    "vae": (dict(), dict()),
    "vamp": (dict(prior="vamp", pseudo_inputs=50), dict()),
    "iwae": (dict(), dict(elbo="iwae", num_particles=10)),
    "flow": (dict(guide="flow-x", flow_type="maf", flow_layers=2), dict()),
    "gmm": (dict(), dict()),
}


def peer_model(kind, ours):
    """A Pythae model whose encoder and decoder start from copies of ``ours``'s weights."""
    from pythae.models import IWAE, VAE, VAE_IAF, VAMP, IWAEConfig, VAE_IAF_Config, VAEConfig, VAMPConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self, net):
            BaseEncoder.__init__(self)
            self.net = copy.deepcopy(net)

        def forward(self, x):
            loc, raw = self.net(x.reshape(len(x), -1), None)[..., :16].chunk(2, -1)
            scale = torch.nn.functional.softplus(raw) + pc.components.nets.MIN_SCALE  # our parametrization
            return ModelOutput(embedding=loc, log_covariance=2 * scale.log())

    class Decoder(BaseDecoder):
        def __init__(self, net):
            BaseDecoder.__init__(self)
            self.net = copy.deepcopy(net)

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z, None)))

    common = dict(input_dim=(64,), latent_dim=8, reconstruction_loss="bce")
    config, cls = {
        "vae": (VAEConfig(**common), VAE),
        "vamp": (VAMPConfig(**common, number_components=50), VAMP),
        "iwae": (IWAEConfig(**common, number_samples=10), IWAE),
        "flow": (VAE_IAF_Config(**common, n_made_blocks=2), VAE_IAF),
        "gmm": (VAEConfig(**common), VAE),
    }[kind]
    return cls(config, encoder=Encoder(ours.encoder.net), decoder=Decoder(ours.decoder))


@torch.no_grad()
def peer_log_px(kind, model, x, k=K_TEST, log_prior=None):
    """log p(x) by importance sampling with the Pythae model's own guide (and flow, and prior);
    ``log_prior(z)`` replaces N(0, I) (a fitted sampler's density)."""
    model.eval()
    out = []
    for xb in x.split(60):
        encoded = model.encoder(xb)
        loc, std = encoded.embedding, (0.5 * encoded.log_covariance).exp()
        q0 = torch.distributions.Normal(loc, std)
        z0 = q0.rsample((k,))  # (k, b, 8)
        z, log_q = z0, q0.log_prob(z0).sum(-1)
        if kind == "flow":
            flowed = model.iaf_flow.inverse(z0.reshape(-1, 8))
            z = flowed.out.reshape(z0.shape)
            log_q = log_q - flowed.log_abs_det_jac.reshape(log_q.shape)
        if kind == "vamp":
            u = model.pseudo_inputs(model.idle_input).reshape(50, 64)
            prior = model.encoder(u)
            components = torch.distributions.Normal(prior.embedding, (0.5 * prior.log_covariance).exp())
            log_p = torch.logsumexp(components.log_prob(z.unsqueeze(-2)).sum(-1), -1) - math.log(50)
        elif log_prior is not None:
            log_p = log_prior(z)
        else:
            log_p = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        probs = model.decoder(z.reshape(-1, 8))["reconstruction"].reshape(k, len(xb), 64).clamp(1e-7, 1 - 1e-7)
        log_lik = (xb * probs.log() + (1 - xb) * (1 - probs).log()).sum(-1)
        out.append(torch.logsumexp(log_lik + log_p - log_q, 0) - math.log(k))
    return float(torch.cat(out).mean())


def train_peer(model, x, epochs, seed):
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as folder:
        config = BaseTrainerConfig(output_dir=folder, num_epochs=epochs, learning_rate=1e-3,
                                   per_device_train_batch_size=64, steps_saving=None, no_cuda=True)  # fmt: skip
        data = BaseDataset(x, torch.zeros(len(x)))
        trainer = BaseTrainer(model=model, train_dataset=data, training_config=config)
        start = time.perf_counter()
        trainer.train()
        return (time.perf_counter() - start) / epochs


def run_pair(kind, x_train, x_test, epochs, seed):
    model_fields, fit_fields = OURS[kind]
    ours = pc.build("vae", x_shape=(64,), latent_dim=8, likelihood="bernoulli", seed=seed, **model_fields)
    peer = peer_model(kind, ours)  # same initial encoder/decoder weights
    start = time.perf_counter()
    pc.fit(ours, x_train, epochs=epochs, batch_size=64, learning_rate=1e-3, seed=seed, progress=False, **fit_fields)
    ours_seconds = (time.perf_counter() - start) / epochs
    peer_seconds = train_peer(peer, x_train, epochs, seed)
    if kind == "gmm":
        return compare_mixture_samplers(ours, peer, x_train, x_test, seed)
    torch.manual_seed(seed)
    ours_log_px = float(iwae_log_likelihood(ours, x_test, num_samples=K_TEST, chunk=250).mean())
    return ours_log_px, peer_log_px(kind, peer, x_test), ours_seconds, peer_seconds


def compare_mixture_samplers(ours, peer, x_train, x_test, seed):
    """Each library's post-hoc 10-component mixture on its own trained VAE, scored as its prior."""
    from pythae.samplers import GaussianMixtureSampler, GaussianMixtureSamplerConfig

    torch.manual_seed(seed)
    start = time.perf_counter()
    mixture = pc.fit_latent_mixture(ours, x_train, components=10, seed=seed)
    ours_seconds = time.perf_counter() - start
    sampler = GaussianMixtureSampler(model=peer, sampler_config=GaussianMixtureSamplerConfig(n_components=10))
    start = time.perf_counter()
    sampler.fit(x_train)
    peer_seconds = time.perf_counter() - start
    with pc.using_prior(ours, mixture):
        ours_log_px = float(iwae_log_likelihood(ours, x_test, num_samples=K_TEST, chunk=250).mean())

    def gmm_log_density(z):
        flat = z.reshape(-1, z.shape[-1]).double().numpy()
        return torch.as_tensor(sampler.gmm.score_samples(flat), dtype=z.dtype).reshape(z.shape[:-1])

    return ours_log_px, peer_log_px("gmm", peer, x_test, log_prior=gmm_log_density), ours_seconds, peer_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--pairs", default="vae,vamp,iwae,flow,gmm")
    args = parser.parse_args(argv)
    logging.getLogger("pythae").setLevel(logging.WARNING)  # its trainer logs every epoch
    x, _, _ = load_digits_data()
    train, test = split_indices(len(x), test_size=360, seed=0)
    seeds = [int(s) for s in args.seeds.split(",")]
    pairs = args.pairs.split(",")
    results = {kind: [] for kind in pairs}
    print("| pair | seed | ours log p(x) | Pythae log p(x) | NLL ours − Pythae | seconds ours / Pythae |")
    print("|---|---|---|---|---|---|")
    for seed in seeds:  # interleaved: every pair once per seed
        for kind in pairs:
            ours, peer, ours_s, peer_s = run_pair(kind, x[train], x[test], args.epochs, seed)
            results[kind].append((peer - ours, ours_s / peer_s))
            print(
                f"| {kind} | {seed} | {ours:.2f} | {peer:.2f} | {peer - ours:+.2f} | {ours_s / peer_s:.2f} |",
                flush=True,
            )
    print(
        "\n| pair | NLL ours − Pythae, mean ± sd over seeds | time ratio, median | NLL target met (≤ 0 within 2 sd) |"
    )
    print("|---|---|---|---|")
    for kind, rows in results.items():
        gaps = [gap for gap, _ in rows]
        mean, sd = statistics.mean(gaps), statistics.stdev(gaps) if len(gaps) > 1 else 0.0
        ratio = statistics.median(ratio for _, ratio in rows)
        print(f"| {kind} | {mean:+.2f} ± {sd:.2f} | {ratio:.2f} | {'yes' if mean <= 2 * sd else 'no'} |")


if __name__ == "__main__":
    main()

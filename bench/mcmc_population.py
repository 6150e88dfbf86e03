"""Do the Metropolis–Hastings moves stay exact when the population that tunes them is small?

``pyro_cvae.posterior.mcmc`` reads its step size and clusters off all chains together. With 100
chains (what ``bench/posterior_checks.py --calibrate-corrected`` gives each truth), one chain
weighs 1% of the population and more of its cluster. Here chains start at exact draws of a known
target (two mirror-image Gaussian modes in 3 dimensions, correlated in opposite directions,
equal masses; the fresh proposal is one broad Gaussian over both), ``--repeats`` times with
``--chains`` chains each; after ``--steps`` moves the pooled chains are compared with exact
draws (means, standard deviations, the upper mode's mass), and the rank of a further exact draw
among each repeat's chains is tested for uniformity per coordinate (SBC: the chains and the draw share one law
exactly when the moves keep it). ``--distinct K`` starts every repeat from K exact draws
resampled onto the chains, as importance resampling from an effective sample of K does::

    python bench/mcmc_population.py [--repeats 300] [--chains 100] [--steps 150] [--distinct 3]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from pyro_cvae.diagnostics import rank_uniformity
from pyro_cvae.posterior.mcmc import metropolis_moves

DIM = 3
MEANS = torch.tensor([[0.0, 2.5, 0.0], [0.0, -2.5, 0.0]], dtype=torch.float64)
_UPPER = torch.tensor([[1.0, 0.6, 0.0], [0.6, 0.5, 0.0], [0.0, 0.0, 0.3]], dtype=torch.float64)
_LOWER = _UPPER * torch.tensor([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
MODES = [torch.distributions.MultivariateNormal(m, c) for m, c in zip(MEANS, (_UPPER, _LOWER))]
#: the proposal: one broad Gaussian over both modes (about 15% of its fresh draws are accepted)
PROPOSAL = torch.distributions.Normal(torch.zeros(DIM, dtype=torch.float64), torch.tensor([0.6, 4.0, 0.6]).double())


def log_target(u: torch.Tensor) -> torch.Tensor:
    u = u.double()
    return torch.logsumexp(torch.stack([mode.log_prob(u) for mode in MODES]), 0) - math.log(2)


def exact(n: int, generator: torch.Generator) -> torch.Tensor:
    upper = torch.rand(n, generator=generator) < 0.5
    draws = [m.loc + torch.randn(n, DIM, generator=generator, dtype=torch.float64) @ m.scale_tril.T for m in MODES]
    return torch.where(upper[:, None], draws[0], draws[1])


def propose(n: int):
    u = PROPOSAL.sample((n,))
    return u, log_target(u), -PROPOSAL.log_prob(u).sum(-1)


def auxiliary(u: torch.Tensor) -> torch.Tensor:
    return -PROPOSAL.log_prob(u.double()).sum(-1)


def run(repeats: int, chains: int, steps: int, distinct: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    finals, ranks, start = [], [], time.perf_counter()
    for repeat in range(repeats):
        starts = exact(distinct, generator)[torch.randint(distinct, (chains,), generator=generator)]
        truth = exact(1, generator)
        u, moves = metropolis_moves(
            starts.float(), log_target, propose, auxiliary, steps, torch.Generator().manual_seed(repeat)
        )
        finals.append(u.double())
        ranks.append((u.double() < truth).sum(0))
    pooled = torch.cat(finals)
    reference = exact(len(pooled), torch.Generator().manual_seed(99))
    test = rank_uniformity(torch.stack(ranks), chains)
    return {
        "repeats": repeats,
        "chains": chains,
        "steps": steps,
        "distinct_starts": distinct,
        "mean": [round(v, 3) for v in pooled.mean(0).tolist()],
        "exact_mean": [round(v, 3) for v in reference.mean(0).tolist()],
        "mean_stderr": [round(v, 3) for v in (reference.std(0) / math.sqrt(len(pooled))).tolist()],
        "std": [round(v, 3) for v in pooled.std(0).tolist()],
        "exact_std": [round(v, 3) for v in reference.std(0).tolist()],
        "upper_mode_mass": round(float((pooled[:, 1] > 0).double().mean()), 4),
        "rank_p": [round(p, 4) for p in test["p_values"]],
        "acceptance": [round(moves.random_walk_acceptance, 3), round(moves.jump_acceptance, 3),
                       round(moves.independence_acceptance, 3)],
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--chains", type=int, default=100)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--distinct", type=int, default=None, help="distinct exact starts (default: one per chain)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.repeats, args.chains, args.steps, args.distinct or args.chains)), flush=True)


if __name__ == "__main__":
    main()

"""``EnsemblePosterior``: an equal-weight mixture of amortized posteriors fitted on the same pairs.

Each member is an ``AmortizedPosterior`` trained from its own seed (its own initial weights, its
own validation split), and the ensemble is their average density::

    p(θ | x) = (1/M) Σ_m p_m(θ | x)

A member that over-fits its training pairs is confident in its own way; the average spreads the
mass where members disagree, so an ensemble is wider where a single fit is too sure of itself
(Hermans et al. 2022 saw NPE ensembles turn over-confident posteriors conservative). It costs M
fits and M passes per ``log_prob``; ``sample`` costs what one member's does. Under rejection
(``support="reject"``) every member must keep its draws inside the prior's support for every
observation: one member that leaks out of it stops ``sample`` with the error that says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, List, Sequence, Union

import torch

from ..checks import check_positive_int
from .amortized import AmortizedPosterior, LogProb

__all__ = ["EnsemblePosterior", "MANIFEST", "member_folder", "write_manifest"]

PathLike = Union[str, Path]

#: the file that marks a folder as an ensemble's: the members' subfolder names
MANIFEST = "ensemble.json"


class EnsemblePosterior:
    """The mixture (1/M) Σ_m p_m(θ | x) of ``members``: ``sample``, ``log_prob``, ``save``/``load``,
    parameter names, as an ``AmortizedPosterior`` has them. Made by ``fit_posterior(...,
    ensemble=M)``."""

    def __init__(self, members: Sequence[AmortizedPosterior]):
        members = list(members)
        if not members:
            raise ValueError("an ensemble needs at least one member posterior")
        first = members[0]
        for m, member in enumerate(members[1:], 1):
            if member.parameter_names != first.parameter_names or member.observation_shape != first.observation_shape:
                raise ValueError(
                    f"member {m} has parameters {member.parameter_names} and observations shaped "
                    f"{member.observation_shape}; member 0 has {first.parameter_names}, {first.observation_shape}"
                )
        self.members: List[AmortizedPosterior] = members

    @property
    def parameter_names(self) -> List[str]:
        return self.members[0].parameter_names

    @property
    def num_parameters(self) -> int:
        return self.members[0].num_parameters

    @property
    def observation_shape(self) -> tuple:
        return self.members[0].observation_shape

    @property
    def history(self):
        """The first member's training history (each member keeps its own: ``members[m].history``)."""
        return self.members[0].history

    @torch.no_grad()
    def sample(self, x_o: Any, num_samples: int = 1000, chunk_size=None) -> torch.Tensor:
        """θ ~ p(θ | x_o): each draw from a member picked uniformly at random (the draws are
        shuffled, so any slice of them is a draw from the mixture). Shapes as
        ``AmortizedPosterior.sample``."""
        check_positive_int(num_samples, "num_samples")
        picks = torch.multinomial(torch.ones(len(self.members)), num_samples, replacement=True)
        counts = torch.bincount(picks, minlength=len(self.members)).tolist()
        draws = [member.sample(x_o, n, chunk_size) for member, n in zip(self.members, counts) if n]
        return torch.cat(draws)[torch.randperm(num_samples)]

    @torch.no_grad()
    def read_observations(self, x: Any) -> None:
        """Each member's ``read_observations``: what its ``log_prob`` reads once per observation."""
        for member in self.members:
            member.read_observations(x)

    @torch.no_grad()
    def log_prob(self, theta: Any, x_o: Any, num_particles: int = 256) -> LogProb:
        """log (1/M) Σ_m p_m(θ | x_o), each member's density importance-sampled as
        ``AmortizedPosterior.log_prob`` does; the standard error combines the members' (delta
        method: each member's stderr is the relative error of its density)."""
        parts = [member.log_prob(theta, x_o, num_particles) for member in self.members]
        values = torch.stack([part.value.double() for part in parts])  # (M, N)
        value = torch.logsumexp(values, 0) - math.log(len(self.members))
        # relative error of the mixture: sqrt(Σ (p_m se_m)²) / Σ p_m, in the members' weights
        weights = torch.softmax(torch.nan_to_num(values, neginf=-1e300), 0)
        stderr = (weights * torch.stack([part.stderr.double() for part in parts])).pow(2).sum(0).sqrt()
        stderr = torch.where(torch.isfinite(value), stderr, torch.zeros_like(stderr))
        return LogProb(value.float(), stderr.float())

    def save(self, folder: PathLike, overwrite: bool = False) -> Path:
        """Each member into ``folder/member_<m>`` (``AmortizedPosterior.save``), and the list of
        them into ``folder/ensemble.json``; ``load_posterior(folder)`` reads it back."""
        folder = Path(folder)
        for m, member in enumerate(self.members):
            member.save(folder / member_folder(m), overwrite=overwrite)
        write_manifest(folder, len(self.members))
        return folder

    @classmethod
    def load(cls, folder: PathLike, device: Union[str, torch.device] = "cpu") -> "EnsemblePosterior":
        """The ensemble saved in ``folder`` by ``save``."""
        folder = Path(folder)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise FileNotFoundError(f"{folder} holds no ensemble posterior (no {MANIFEST})")
        try:
            names = json.loads(manifest.read_text())["members"]
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f'{manifest} is corrupt: expected {{"members": [folder names]}} ({error})') from None
        return cls([AmortizedPosterior.load(folder / name, device=device) for name in names])

    def __repr__(self) -> str:
        return f"EnsemblePosterior({len(self.members)} members of {self.members[0]!r})"


def member_folder(m: int) -> str:
    """The subfolder of an ensemble's folder that holds member ``m``."""
    return f"member_{m}"


def write_manifest(folder: PathLike, num_members: int) -> None:
    """Mark ``folder`` as an ensemble's: ``ensemble.json`` lists its members' subfolders."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    names = [member_folder(m) for m in range(num_members)]
    (Path(folder) / MANIFEST).write_text(json.dumps({"members": names}))

"""Is the posterior right at *your* observation? The local classifier two-sample test (L-C2ST,
Linhart et al. 2023), which needs no reference draws.

SBC, TARP and the HPD coverage average over the prior's simulations, so a posterior that is right
on average and wrong at the observation x_o one cares about passes them; C2ST checks one
observation, but only against reference draws, which nobody has for their own problem. L-C2ST
reads the same held-out pairs as the other checks:

1. For each pair (θ_i, x_i), one draw θ'_i ~ q(θ | x_i) of the posterior. A classifier learns to
   tell the posterior's pairs (θ'_i, x_i) from the simulator's (θ_i, x_i). Where q is the true
   posterior at every x, the two sets of pairs come from one joint distribution and no classifier
   beats chance: its probability d(θ, x) that a pair is the posterior's is 1/2 everywhere.
2. At x_o, the classifier scores the posterior's own draws θ' ~ q(θ | x_o); the statistic is the
   mean of (d(θ', x_o) - 1/2)²: near 0 where q is right near x_o. Where d > 1/2 the posterior puts
   more mass than the truth would (its draws there look like its own), where d < 1/2 less:
   ``plot_local_c2st`` maps it over the draws.
3. Its null distribution: the same classifier trained again on the same pairs with the two members
   of each pair swapped at random. If q is the posterior, θ_i and θ'_i are exchangeable given x_i,
   so each swapped data set is distributed as the real one: a permutation test, whose p-value
   (1 + #{null statistics >= the observed one}) / (1 + num_null) is valid whatever the classifier
   learns. (sbi's ``LC2ST`` permutes all 2N rows instead, which also breaks the pairs: each x_i
   then sits in one class twice or in neither, which the real labels never do.)

The classifiers are trained once; ``LocalC2ST.test`` then checks any number of observations at
the cost of drawing from the posterior and scoring the draws. The classifier is the field's
protocol (sbibm's C2ST, the paper's and sbi's L-C2ST): scikit-learn's ``MLPClassifier``, two
hidden layers of 10 × num_parameters units, Adam, early stopping; the inputs z-scored.

Its limits, measured (docs/inverse_problem.md): with 1,000 pairs it rejects a posterior 1.5× too
wide or too narrow at one observation of a two-parameter problem 85% and 65% of the time; on
sbibm it catches slcp's over-confident posterior and not errors of C2ST 0.55-0.65. Where x is
long (a 40-sample signal) the classifier sometimes learns nothing about θ: its probability is
then the same at every draw (a flat ``plot_local_c2st`` map), and a pass means nothing.
"""

from __future__ import annotations

import math
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from ..checks import as_tensor, check_positive_int
from ..figures import finish, subplots
from .posterior_checks import _draws, _pairs

__all__ = ["LocalC2ST", "LocalC2STResult", "local_c2st", "plot_local_c2st"]


class LocalC2STResult(NamedTuple):
    """L-C2ST at one observation: the ``statistic`` (mean of (d - 1/2)² over the draws), its
    ``p_value`` (small: the posterior is wrong near x_o), the statistic of each classifier trained
    under the null ``(num_null,)``, the posterior's ``draws`` at x_o ``(num_draws, D)`` and the
    classifier's ``probabilities`` d that each is the posterior's, not the truth's ``(num_draws,)``."""

    statistic: float
    p_value: float
    null: torch.Tensor
    draws: torch.Tensor
    probabilities: torch.Tensor


class LocalC2ST:
    """L-C2ST's classifiers, trained on held-out pairs (``theta`` ``(N, D)``, ``x`` ``(N, ...)``
    from the prior and the simulator, never the fit's) and one posterior draw for each; then
    ``test(x_o)`` for any observation. ``num_null`` classifiers estimate the null distribution
    (its smallest p-value is 1 / (1 + num_null)); each fit is one scikit-learn MLP on 2N rows,
    a few seconds for a few thousand pairs."""

    def __init__(self, posterior, theta, x, num_null: int = 100, seed: int = 0, progress: bool = False):
        check_positive_int(num_null, "num_null")
        theta, x = _pairs(theta, x)
        if len(theta) < 10:
            raise ValueError(f"theta and x must hold at least 10 pairs to train a classifier on, got {len(theta)}")
        if not (bool(torch.isfinite(theta).all()) and bool(torch.isfinite(x).all())):
            raise ValueError("theta and x must be finite: drop the simulations that gave NaN or inf")
        self.posterior, self.observation_shape = posterior, tuple(x.shape[1:])
        self.num_parameters, self.seed = theta.shape[1], int(seed)
        draws = _draws(posterior, x, 1)[0].float()  # (N, D): one draw of the posterior per pair
        if tuple(draws.shape) != tuple(theta.shape):
            raise ValueError(
                f"the posterior drew {tuple(draws.shape)} for one draw of each of the {len(x)} observations of x, "
                f"expected {tuple(theta.shape)}"
            )
        flat = x.reshape(len(x), -1)
        rows = torch.cat([torch.cat([theta, flat], 1), torch.cat([draws, flat], 1)])  # the truths, then q's
        self._loc, self._scale = rows.mean(0), rows.std(0).clamp_min(1e-12)
        features = self._standardize(rows)
        n = len(theta)
        self._labels = np.concatenate([np.zeros(n, dtype=np.int64), np.ones(n, dtype=np.int64)])  # 1: q's
        generator = torch.Generator().manual_seed(self.seed)
        # each classifier's own initialization, dealt at random: the real labels' classifier is
        # then exchangeable with the null ones (the same procedure, whatever the seeds do)
        states = (torch.randperm(num_null + 1, generator=generator) + self.seed).tolist()
        self.classifier = self._train(features, self._labels, states[0])
        self.null_classifiers: List[Any] = []
        for k in tqdm(range(num_null), disable=not progress, desc="L-C2ST null", unit="classifier"):
            self.null_classifiers.append(self._train(features, self._null_labels(generator), states[k + 1]))

    def _null_labels(self, generator: torch.Generator) -> np.ndarray:
        """The labels of one data set under the null: the two members of each pair trade labels
        with probability 1/2."""
        swapped = torch.randint(0, 2, (len(self._labels) // 2,), generator=generator).numpy()
        return np.concatenate([swapped, 1 - swapped])

    def _standardize(self, rows: torch.Tensor) -> np.ndarray:
        return ((rows - self._loc) / self._scale).double().numpy()

    def _train(self, features: np.ndarray, labels: np.ndarray, random_state: int):
        from sklearn.neural_network import MLPClassifier

        width = 10 * self.num_parameters
        classifier = MLPClassifier(
            hidden_layer_sizes=(width, width),
            solver="adam",
            max_iter=1000,
            early_stopping=True,
            n_iter_no_change=50,
            random_state=random_state,
        )
        return classifier.fit(features, labels)

    def _observation(self, x_o: Any) -> torch.Tensor:
        x_o = as_tensor(x_o).float()
        if tuple(x_o.shape) == (1, *self.observation_shape):
            x_o = x_o[0]
        if tuple(x_o.shape) != self.observation_shape:
            raise ValueError(
                f"x_o must be one observation shaped {self.observation_shape} (as each of the pairs' x), "
                f"got {tuple(x_o.shape)}"
            )
        if not bool(torch.isfinite(x_o).all()):
            raise ValueError("x_o must be finite")
        return x_o

    @torch.no_grad()
    def test(self, x_o: Any, num_draws: int = 1000) -> LocalC2STResult:
        """L-C2ST at the observation ``x_o`` (one, shaped as each of the pairs' x), on
        ``num_draws`` draws of the posterior there, scored by the trained classifier and by each
        null classifier."""
        check_positive_int(num_draws, "num_draws")
        x_o = self._observation(x_o)
        draws = as_tensor(self.posterior.sample(x_o, num_draws)).float().reshape(num_draws, -1)
        if draws.shape[1] != self.num_parameters:
            raise ValueError(f"the posterior drew {draws.shape[1]} parameters at x_o, expected {self.num_parameters}")
        rows = torch.cat([draws, x_o.reshape(1, -1).expand(num_draws, -1)], 1)
        features = self._standardize(rows)

        def statistic(classifier) -> Tuple[float, np.ndarray]:
            posterior_column = list(classifier.classes_).index(1)
            probability = classifier.predict_proba(features)[:, posterior_column]
            return float(np.mean((probability - 0.5) ** 2)), probability

        observed, probability = statistic(self.classifier)
        null = torch.tensor([statistic(classifier)[0] for classifier in self.null_classifiers], dtype=torch.float64)
        p_value = (1 + int((null >= observed).sum())) / (1 + len(null))
        return LocalC2STResult(observed, p_value, null, draws, torch.from_numpy(probability).float())


def local_c2st(
    posterior, theta, x, x_o, num_draws: int = 1000, num_null: int = 100, seed: int = 0, progress: bool = False
) -> LocalC2STResult:
    """L-C2ST of ``posterior`` at the observation ``x_o``, its classifiers trained on the held-out
    pairs ``theta``, ``x`` (``LocalC2ST``; keep that object to test more observations without
    training again)."""
    return LocalC2ST(posterior, theta, x, num_null=num_null, seed=seed, progress=progress).test(x_o, num_draws)


def plot_local_c2st(
    result: LocalC2STResult,
    names: Optional[Sequence[str]] = None,
    parameters: Tuple[int, int] = (0, 1),
    path=None,
) -> Figure:
    """Two panels: the null statistics with the observed one marked (and its p-value); the
    posterior's draws at x_o on two of its ``parameters`` (one, against the probability, for a
    posterior of one parameter), coloured by the classifier's probability that each is the
    posterior's: red where the posterior puts too much mass, blue where too little."""
    draws, probability = result.draws, result.probabilities
    dims = draws.shape[1]
    names = list(names or [f"theta_{d}" for d in range(dims)])
    if len(names) != dims:
        raise ValueError(f"names must name the {dims} parameters, got {len(names)}")
    fig, (null_ax, map_ax) = subplots(1, 2, figsize=(8, 3.4))
    bins = max(5, int(math.sqrt(len(result.null))))
    null_ax.hist(result.null.tolist(), bins=bins, color="grey", alpha=0.7, label="under the null")
    null_ax.axvline(result.statistic, color="tab:red", label=f"observed (p={result.p_value:.2g})")
    null_ax.set(xlabel="mean (d - 1/2)²", ylabel="classifiers", title="L-C2ST at x_o")
    null_ax.legend(fontsize=7)
    style = dict(c=probability.tolist(), cmap="coolwarm", vmin=0.0, vmax=1.0, s=6)
    if dims == 1:
        points = map_ax.scatter(draws[:, 0].tolist(), probability.tolist(), **style)
        map_ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        map_ax.set(xlabel=names[0], ylabel="d")
    else:
        i, j = parameters
        if not (0 <= i < dims and 0 <= j < dims and i != j):
            raise ValueError(f"parameters must be two different indices below {dims}, got {parameters}")
        points = map_ax.scatter(draws[:, i].tolist(), draws[:, j].tolist(), **style)
        map_ax.set(xlabel=names[i], ylabel=names[j])
    map_ax.set_title("d: the draw is the posterior's", fontsize=9)
    fig.colorbar(points, ax=map_ax)
    return finish(fig, path)

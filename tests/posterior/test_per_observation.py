"""What a wrapped posterior keeps per observation: one entry per observation's values (a batch of
one and the observation alone are the same observation), all forgotten at once when full."""

import pytest
import torch

from pyro_cvae.posterior import per_observation
from pyro_cvae.posterior.recalibrate import RecalibratedPosterior

from .cases import ExactPosterior


def test_an_observation_is_kept_by_its_values_and_all_are_forgotten_when_full(monkeypatch):
    monkeypatch.setattr(per_observation, "NUMBERS_KEPT", 30)
    kept = per_observation.PerObservation(numbers_each=10)
    assert kept.capacity == 3

    def read(observation: torch.Tensor, value: float) -> torch.Tensor:
        return kept.read(observation[None], lambda batch, keys: [torch.full((10,), value)])[0]

    for value in range(3):
        read(torch.tensor([float(value), 1.0]), float(value))
    assert torch.tensor([[2.0, 1.0]]) in kept  # a batch of one is the observation alone
    assert torch.equal(read(torch.tensor([2.0, 1.0]), -1.0), torch.full((10,), 2.0))  # kept: not read again
    assert len(kept) == 3
    read(torch.tensor([9.0, 1.0]), 9.0)  # a fourth: the others are forgotten
    assert len(kept) == 1 and torch.tensor([0.0, 1.0]) not in kept
    assert torch.equal(kept.kept(kept.key(torch.tensor([9.0, 1.0])), torch.zeros(10)), torch.full((10,), 9.0))


def test_more_observations_than_are_kept_still_get_their_own_map(monkeypatch):
    monkeypatch.setattr(per_observation, "NUMBERS_KEPT", 2 * 50 * 2)  # two observations' reference draws
    mended = RecalibratedPosterior(ExactPosterior(), torch.rand(100, 2), min_draws=50)
    x_o = torch.randn(5, 2)
    draws = mended.sample(x_o, 30)
    assert draws.shape == (30, 5, 2) and len(mended._references) <= 2
    assert mended.log_prob(draws[:, 0], x_o[0]).shape == (30,)


def test_a_batch_is_read_in_one_call_for_the_observations_not_kept_each_once(monkeypatch):
    kept = per_observation.PerObservation(numbers_each=1)
    kept.read(torch.tensor([[1.0, 0.0]]), lambda batch, keys: [torch.tensor(10.0)])
    asked = []

    def read_missing(batch, keys):
        asked.append((batch.clone(), keys))
        return batch.sum(1).unbind(0)

    hashed = []
    key = per_observation.PerObservation.key
    monkeypatch.setattr(per_observation.PerObservation, "key", staticmethod(lambda x: hashed.append(1) or key(x)))
    batch = torch.tensor([[2.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    assert torch.stack(kept.read(batch, read_missing)).tolist() == [2.0, 10.0, 2.0, 3.0]
    assert len(asked) == 1 and asked[0][0].tolist() == [[2.0, 0.0], [3.0, 0.0]]  # a repeat is read once
    assert len(hashed) == 4 and len(kept) == 3  # each observation hashed once
    assert asked[0][1] == [key(observation) for observation in asked[0][0]]  # the keys they are kept under
    assert torch.stack(kept.read(batch, read_missing)).tolist() == [2.0, 10.0, 2.0, 3.0] and len(asked) == 1
    with pytest.raises(ValueError, match="read_missing gave 1 entries for a batch of 2 observations"):
        kept.read(torch.tensor([[7.0, 0.0], [8.0, 0.0]]), lambda batch, keys: [torch.tensor(0.0)])

import pytest
import torch

from pyro_cvae.images.quadrant_benchmark import run_quadrant_benchmark
from pyro_cvae.images.quadrants import BaselineNet, fit_baseline, join_quadrants, quadrant_mask, split_quadrants


def test_masks_cover_the_right_quadrants():
    assert quadrant_mask(4, 4, 1).tolist() == [
        [True, True, False, False],
        [True, True, False, False],
        [False] * 4,
        [False] * 4,
    ]
    assert quadrant_mask(8, 8, 3).sum() == 48
    with pytest.raises(ValueError, match="1, 2 or 3"):
        quadrant_mask(8, 8, 4)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_split_and_join_round_trip(k):
    images = torch.rand(5, 3, 8, 8)
    x, y = split_quadrants(images, k)
    assert x.shape == (5, 3 * 16 * (4 - k)) and y.shape == (5, 3 * 16 * k)
    assert torch.equal(join_quadrants(x, y, (3, 8, 8), k), images)
    # extra leading sample dims, as from pyro_cvae.sample
    assert join_quadrants(x.expand(2, 5, -1), y, (3, 8, 8), k).shape == (2, 5, 3, 8, 8)


def test_baseline_learns_a_deterministic_completion():
    torch.manual_seed(0)
    y = torch.rand(256, 4)
    x = (y.sum(-1, keepdim=True) > 2).float().expand(256, 3)  # a function of y
    net = BaselineNet(4, 3, (32,))
    before = net.nll(x, y).mean().item()
    fit_baseline(net, (x[:200], y[:200]), (x[200:], y[200:]), epochs=60, batch_size=32, learning_rate=1e-2)
    assert net.nll(x[200:], y[200:]).mean().item() < before / 3


def test_benchmark_runs_and_reports_every_setting():
    images = torch.rand(120, 1, 8, 8).round()
    results = run_quadrant_benchmark(images, (1, 3), epochs=1, num_importance=4, test_size=20)
    assert set(results) == {1, 3}
    for r in results.values():
        # IWAE with K >= 1 is at least the ELBO up to Monte Carlo noise: -IWAE <= -ELBO + slack
        assert r["cvae_iwae_nll"] < r["cvae_elbo_nll"] + 1.0 and r["baseline_nll"] > 0

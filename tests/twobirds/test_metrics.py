import pytest
import torch

from pyro_cvae.twobirds.data import generate
from pyro_cvae.twobirds.exact import exact_solutions
from pyro_cvae.twobirds.lines import lines_from_endpoints
from pyro_cvae.twobirds.metrics import coverage, evaluate_samples, sample_gates


def test_exact_solutions_as_samples_score_perfectly():
    _, y = generate(6, seed=4)
    sets = exact_solutions(y)
    # 40 samples per condition cycling through every exact solution
    samples = torch.stack([lines_from_endpoints(s[torch.arange(40) % len(s)]) for s in sets], dim=1).float()
    result = evaluate_samples(samples, y, "original", sets)
    assert result["pass_rate"] == result["precision"] == result["recall"] == result["weighted_recall"] == 1.0
    assert result["y_mse"] < 1e-10 and result["r2"] == pytest.approx(1.0)
    assert len(result["per_condition"]["recall"]) == 6


def test_gates_catch_each_failure():
    good = lines_from_endpoints(torch.tensor([0.9, 0.2, 0.3, 0.8], dtype=torch.float64))
    y = torch.cos(torch.stack([49 * good[:, 0] + 42 * good[:, 1], 56 * good[:, 0] + 63 * good[:, 1]], -1))
    wrong_sign = lines_from_endpoints(torch.tensor([0.2, 0.9, 0.3, 0.8], dtype=torch.float64))
    wiggly = good + 0.3 * torch.sin(torch.arange(50.0, dtype=torch.float64) * 3).unsqueeze(-1)
    flat = lines_from_endpoints(torch.tensor([0.5, 0.5, 0.3, 0.8], dtype=torch.float64))
    gates = sample_gates(torch.stack([good, wrong_sign, wiggly, flat]), y, "original")
    assert gates["passes"].tolist() == [True, False, False, False]
    assert gates["signs"].tolist() == [True, False, True, False]
    assert gates["straight"].tolist() == [True, True, False, False]  # a constant line has r = 0
    assert gates["fits_y"][0] and not gates["fits_y"][1]


def test_coverage_counts_precision_recall_and_weights():
    solutions = torch.tensor([[0.5, 0.2, 0.3, 0.6], [0.95, 0.9, 0.3, 0.6]], dtype=torch.float64)
    # one sample near the first solution, one far from both
    samples = torch.tensor([[0.51, 0.21, 0.29, 0.61], [0.1, 0.1, 0.1, 0.1]], dtype=torch.float64)
    result = coverage(samples, solutions, tol=0.02)
    assert result["precision"] == 0.5 and result["recall"] == 0.5
    assert result["weighted_recall"] == pytest.approx(0.1 / 0.9)  # the heavier solution is missed
    assert coverage(samples, solutions[:0])["precision"] == 0.0


def test_shape_mismatch_is_reported():
    _, y = generate(2, seed=0)
    with pytest.raises(ValueError, match=r"\(num_samples, N, n_points, 2\)"):
        evaluate_samples(torch.zeros(3, 50, 2), y)

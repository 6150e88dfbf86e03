from pathlib import Path

import pytest
import torch

from pyro_cvae.twobirds.data import generate, load_challenge
from pyro_cvae.twobirds.exact import exact_solutions, fit_phase_lines, solution_weights
from pyro_cvae.twobirds.functions import ForwardFunctions
from pyro_cvae.twobirds.lines import endpoints_from_lines, lines_from_endpoints, log_prior_density, sample_endpoints
from pyro_cvae.twobirds.refine import refine_endpoints

CHALLENGE = Path(__file__).resolve().parents[3] / "shared" / "data" / "twobirds"


def _check_solution_set(x, y, functions, max_y_error=1e-5):
    forward = ForwardFunctions(functions)
    sets = exact_solutions(y, functions)
    truth = endpoints_from_lines(x.double())
    for members, true, target in zip(sets, truth, y):
        assert len(members) >= 1
        # the true x is a member...
        assert (members - true).abs().amax(-1).min() < 1e-4
        # ...and every member reproduces y
        recomputed = forward(lines_from_endpoints(members))
        assert (recomputed - target.double()).abs().max() < max_y_error
        assert torch.isfinite(log_prior_density(members.clamp(0.1, 1))).all()
    return sets


@pytest.mark.parametrize("functions", ["original", "data1", "data2", "sin(31*x0 + 17*x1), cos(23*x0 + 41*x1 + 0.5)"])
def test_true_x_is_always_in_the_set_and_members_reproduce_y(functions):
    x, y = generate(300, functions, seed=11)
    _check_solution_set(x, y, functions)


def test_set_is_complete_against_many_local_searches():
    """An independent check of completeness: refine 4000 random starts for each condition;
    every start that converges to y exactly must be a member of the enumerated set."""
    x, y = generate(2, "original", seed=5)
    forward = ForwardFunctions("original")
    for members, target in zip(exact_solutions(y), y):
        starts = sample_endpoints(2000, torch.Generator().manual_seed(0)).double()
        found = refine_endpoints(starts, target, forward, iterations=30)
        misfit = (forward(lines_from_endpoints(found)) - target.double()).abs().flatten(1).amax(-1)
        converged = found[misfit < 1e-5]
        assert len(converged) > 50
        distance = (converged[:, None] - members[None]).abs().amax(-1).min(-1).values
        assert distance.max() < 1e-4


def test_near_zero_phase_slope_and_flat_line():
    # 49 Δx0 + 42 Δx1 = 0: the first signal is constant along the line
    tilted = torch.tensor([[0.8, 0.7, 0.3, 0.3 + 0.1 * 49 / 42]], dtype=torch.float64)
    flat = torch.tensor([[0.5, 0.5, 0.2, 0.9]], dtype=torch.float64)  # x0 does not move at all
    for endpoints in (tilted, flat):
        x = lines_from_endpoints(endpoints).float()
        _check_solution_set(x, ForwardFunctions("original")(x.double()).float(), "original")


def test_condition_with_a_single_solution():
    # long lines leave no room for another phase line of the same shape inside the box
    endpoints = torch.tensor([[0.9093, 0.1496, 0.3769, 0.7665]], dtype=torch.float64)
    x = lines_from_endpoints(endpoints).float()
    y = ForwardFunctions("original")(x.double()).float()
    members = _check_solution_set(x, y, "original")[0]
    assert len(members) == 1
    assert solution_weights(members).tolist() == [1.0]


def test_single_condition_shape_and_noisy_y_has_no_solution():
    x, y = generate(1, seed=2)
    members = exact_solutions(y[0])
    assert members.dim() == 2 and members.shape[1] == 4
    noisy = y[0] + 0.05 * torch.randn(y[0].shape, generator=torch.Generator().manual_seed(0))
    assert len(exact_solutions(noisy)) == 0


def test_phase_fit_recovers_a_sinusoid():
    t = torch.arange(50, dtype=torch.float64)
    alpha, beta, residual = fit_phase_lines(torch.cos(0.7 + 1.3 * t).unsqueeze(0))
    assert residual.item() < 1e-10
    assert torch.allclose(torch.cos(alpha + beta * t), torch.cos(0.7 + 1.3 * t))


def test_weights_follow_the_prior_density():
    members = torch.tensor([[0.5, 0.2, 0.3, 0.6], [0.95, 0.9, 0.3, 0.6]], dtype=torch.float64)
    w = solution_weights(members)
    # density ∝ 1 / ((1 - x0 end)(1 - x1 start)): 1/(0.8*0.7) against 1/(0.1*0.7)
    assert torch.allclose(w, torch.tensor([0.1 / 0.9, 0.8 / 0.9], dtype=torch.float64))


def test_errors():
    with pytest.raises(ValueError, match="sin/cos"):
        exact_solutions(torch.zeros(50, 2), "cos(x0*x1), cos(x0)")
    with pytest.raises(ValueError, match="linearly dependent"):
        exact_solutions(torch.zeros(50, 2), "cos(2*x0 + x1), sin(4*x0 + 2*x1)")
    with pytest.raises(ValueError, match="NaN"):
        exact_solutions(torch.full((50, 2), float("nan")))
    with pytest.raises(ValueError, match=r"\(n_points, 2\)"):
        exact_solutions(torch.zeros(50, 3))


@pytest.mark.skipif(not CHALLENGE.is_dir(), reason="the challenge files are reference data beside the repository")
def test_challenge_scoring_set():
    x, y = load_challenge(CHALLENGE / "scoring_dataset.pt")
    sets = _check_solution_set(x, y, "original")
    counts = [len(s) for s in sets]
    assert min(counts) == 1 and max(counts) == 29 and abs(sum(counts) / len(counts) - 11.84) < 1e-9

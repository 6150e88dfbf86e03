import torch

from pyro_cvae.twobirds.exact import exact_solutions
from pyro_cvae.twobirds.functions import ForwardFunctions
from pyro_cvae.twobirds.lines import lines_from_endpoints
from pyro_cvae.twobirds.refine import project_to_box, refine_endpoints


def test_refinement_pulls_nearby_samples_onto_the_solution():
    truth = torch.tensor([[0.8, 0.35, 0.25, 0.7]], dtype=torch.float64)
    forward = ForwardFunctions("original")
    y = forward(lines_from_endpoints(truth))[0]
    noise = 0.01 * torch.randn(64, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    refined = refine_endpoints(truth + noise, y, forward)
    error = forward(lines_from_endpoints(refined)) - y
    assert error.abs().amax((-2, -1)).median() < 1e-6
    # each converged start ends on a member of the exact set
    members = exact_solutions(y)
    distance = (refined[:, None] - members[None]).abs().amax(-1).min(-1).values
    assert (distance < 1e-5).float().mean() > 0.9


def test_projection_keeps_the_prior_support():
    e = project_to_box(torch.tensor([[0.3, 0.5, 1.2, 0.05], [2.0, -1.0, 0.5, 0.6]]))
    x0s, x0e, x1s, x1e = e.unbind(-1)
    assert (x0s >= x0e).all() and (x1e >= x1s).all() and (e >= 0.1).all() and (e <= 1).all()

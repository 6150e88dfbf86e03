import torch

from pyro_cvae.twobirds.calibration import endpoint_calibration
from pyro_cvae.twobirds.data import generate
from pyro_cvae.twobirds.exact import exact_solutions, solution_weights
from pyro_cvae.twobirds.lines import lines_from_endpoints


def exact_sampler(weighting):
    """Samples from the exact solution set with the given per-set weights."""

    def sampler(y, num_samples):
        g = torch.Generator().manual_seed(1)
        columns = []
        for members in exact_solutions(y):
            index = torch.multinomial(weighting(members), num_samples, replacement=True, generator=g)
            columns.append(lines_from_endpoints(members[index]))
        return torch.stack(columns, dim=1)

    return sampler


def test_the_exact_posterior_is_calibrated_and_a_wrong_weighting_is_not():
    x, y = generate(400, seed=3)
    exact = endpoint_calibration(exact_sampler(solution_weights), x, y)
    assert exact["sbc_p_value"] > 0.001
    # a discrete posterior's closed central intervals cover at least the nominal share
    assert exact["coverage"][0.9] >= 0.88
    # every solution equally likely: ignores the prior density, so the ranks are off
    uniform = endpoint_calibration(exact_sampler(lambda m: torch.ones(len(m), dtype=torch.float64)), x, y)
    assert uniform["sbc_p_value"] < 1e-4

"""The diagnostics against the linear-Gaussian conditional model, where everything is analytic
(``pyro_cvae.diagnostics.linear_gaussian``): after fitting, the IWAE estimate must match the
exact log p(x | y) and the intervals must be calibrated; the same model made over-confident must
fail the same checks. (The README's figures come from ``python bench/known_answers.py``, which
prints this report.)"""

import pytest

from pyro_cvae.diagnostics.linear_gaussian import fit_linear_cvae, known_answer_report


@pytest.fixture(scope="module")
def report():
    return known_answer_report(fit_linear_cvae(seed=0))


def test_iwae_matches_the_exact_conditional_log_likelihood(report):
    assert abs(report["iwae_minus_exact"]) < 0.05
    assert report["elbo"] < report["iwae_k500"] + 0.01  # the ELBO is the K=1 bound, below the IWAE estimate
    assert report["median_pareto_khat"] < 0.5


def test_predictive_intervals_are_calibrated_and_overconfidence_fails(report):
    assert 0.88 <= report["x_coverage_90"] <= 0.92 and 0.48 <= report["x_coverage_50"] <= 0.52
    assert report["over_confident_x_coverage_90"] < 0.5


def test_sbc_and_posterior_coverage_pass_for_the_fit_and_fail_for_a_shrunk_guide(report):
    assert report["sbc_p_value"] > 0.001
    assert 0.87 <= report["z_coverage_90"] <= 0.93
    assert report["shrunk_guide_sbc_p_value"] < 1e-6
    # U-shaped: the true z falls outside the too-narrow posterior, in the extreme bins
    assert report["shrunk_guide_extreme_rank_share"] > 0.5
    assert report["shrunk_guide_z_coverage_90"] < 0.3

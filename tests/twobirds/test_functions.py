import math

import pytest
import torch

from pyro_cvae.twobirds.functions import PRESETS, ForwardFunctions


def test_original_preset_matches_the_challenge_formula():
    x = torch.rand(3, 50, 2, dtype=torch.float64)
    y = ForwardFunctions("original")(x)
    assert torch.allclose(y[..., 0], torch.cos(49 * x[..., 0] + 42 * x[..., 1]))
    assert torch.allclose(y[..., 1], torch.cos(56 * x[..., 0] + 63 * x[..., 1]))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_trig_linear(name):
    assert ForwardFunctions(name).trig_linear is not None


def test_expression_with_sine_offset_and_pi_is_parsed_and_recognized():
    f = ForwardFunctions("sin(31*x0 + 17*x1 + pi/4), -(-cos(2*(x0 - x1)))")
    x = torch.rand(4, 50, 2, dtype=torch.float64)
    y = f(x)
    assert torch.allclose(y[..., 0], torch.sin(31 * x[..., 0] + 17 * x[..., 1] + math.pi / 4))
    assert torch.allclose(y[..., 1], torch.cos(2 * x[..., 0] - 2 * x[..., 1]))
    first, second = f.terms
    assert (first.p, first.q) == pytest.approx((31, 17))
    assert first.c == pytest.approx(math.pi / 4 - math.pi / 2)  # a sine is a shifted cosine
    # the second is not sin/cos at the top (a negation), so the pair is not trig-linear
    assert second is None and f.trig_linear is None


def test_nonlinear_argument_is_not_trig_linear_but_still_evaluates():
    f = ForwardFunctions("cos(x0*x1), exp(-x0)")
    assert f.trig_linear is None
    assert f(torch.full((1, 5, 2), 0.5)).shape == (1, 5, 2)


def test_callable_spec():
    f = ForwardFunctions(lambda x0, x1: (x0 + x1, x0 - x1))
    y = f(torch.ones(2, 5, 2))
    assert torch.equal(y[..., 0], torch.full((2, 5), 2.0)) and f.trig_linear is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("__import__('os').system('echo hacked'), cos(x0)", "found Call"),
        ("open('f'), cos(x0)", "unknown function 'open'"),
        ("x0.__class__, cos(x0)", "found Attribute"),
        ("cos(y), cos(x0)", "unknown name 'y'"),
        ("cos(x0)", "two comma-separated"),
        ("cos(x0 +), cos(x1)", "not a valid expression"),
        ("lambda: 1, cos(x1)", "found Lambda"),
        ("cos(x0, x1), cos(x1)", "takes one argument"),
    ],
)
def test_unsafe_or_malformed_text_is_rejected_without_running_it(text, message, capfd):
    with pytest.raises(ValueError, match=message):
        ForwardFunctions(text)
    assert "hacked" not in capfd.readouterr().out


def test_wrong_x_shape_is_named():
    with pytest.raises(ValueError, match=r"\(\.\.\., n_points, 2\)"):
        ForwardFunctions("original")(torch.ones(5, 3))

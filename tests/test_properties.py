"""Property tests (Hypothesis): whatever a user types into a config file or a --functions
argument, the loader and the parser answer with the suite's own error, never another
exception, and what they accept works."""

import string

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyro_cvae.config import FitConfig, ModelConfig, load_config
from pyro_cvae.errors import ExpressionError, PyroCVAEError
from pyro_cvae.twobirds.functions import ForwardFunctions

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
model_keys = st.sampled_from([f for f in ModelConfig.__dataclass_fields__] + ["latnet_dim", "x", ""])
fit_keys = st.sampled_from([f for f in FitConfig.__dataclass_fields__] + ["lr", "epoch"])


@SETTINGS
@given(st.dictionaries(model_keys, values, max_size=6))
def test_any_model_section_is_accepted_or_refused_with_a_config_error(section):
    try:
        config = ModelConfig.from_dict(section)
    except PyroCVAEError:
        return
    assert ModelConfig.from_dict(config.to_dict()) == config  # what is accepted round-trips


@SETTINGS
@given(st.dictionaries(fit_keys, values, max_size=6))
def test_any_fit_section_is_accepted_or_refused_with_a_config_error(section):
    try:
        config = FitConfig.from_dict(section)
    except PyroCVAEError:
        return
    assert config.epochs > 0 and config.learning_rate > 0


@SETTINGS
@given(st.text(max_size=200), st.sampled_from([".yaml", ".json", ".toml"]))
def test_any_config_file_is_read_or_refused_with_a_config_error(tmp_path_factory, text, suffix):
    path = tmp_path_factory.mktemp("configs") / f"config{suffix}"
    path.write_text(text)
    try:
        sections = load_config(path)
        ModelConfig.from_dict(sections.get("model", {}), x_shape=(4,))
        FitConfig.from_dict(sections.get("fit", {}))
    except PyroCVAEError:
        pass


expression_parts = st.sampled_from(
    [
        "x0",
        "x1",
        "pi",
        "1",
        "2.5",
        "0",
        "1e300",
        "10**400",
        "+",
        "-",
        "*",
        "/",
        "**",
        "(",
        ")",
        ",",
        " ",
        "sin(",
        "cos(",
        "log(",
        "exp(",
        "sqrt(",
        "tan(",
        "abs(",
        "__import__",
        "'a'",
        "[1]",
        "lambda:",
        "x2",
        "9**9**9",
    ]
)


@SETTINGS
@given(st.lists(expression_parts, max_size=14).map("".join) | st.text(string.printable, max_size=60))
def test_any_functions_text_is_compiled_or_refused_with_an_expression_error(text):
    try:
        functions = ForwardFunctions(text)
    except ExpressionError:
        return
    # accepted: finite signals for every line the prior can draw
    x = torch.rand(5, 50, 2, dtype=torch.float64) * 0.9 + 0.1
    assert torch.isfinite(functions(x)).all()


def test_the_parser_bounds_numbers_and_exponents():
    for text, message in [
        ("9**9**9, x0", "numbers must stay within"),
        ("x0**x1, x1", "exponents"),
        ("x0**17, x1", "exponents"),
        ("10**400, x0", "exponents"),
        ("1" + "0" * 400 + ", x0", "beyond"),
        ("log(x0 - 2), x1", "NaN"),
    ]:
        try:
            ForwardFunctions(text)
        except ExpressionError as error:
            assert message in str(error), (text, str(error))
        else:
            raise AssertionError(f"{text!r} was accepted")
    assert ForwardFunctions("x0**2 + 1e6, x1**-16").trig_linear is None  # at the bounds: accepted

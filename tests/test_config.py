import pytest

import pyro_cvae as pc
from pyro_cvae.config import FitConfig, ModelConfig, load_config
from pyro_cvae.errors import ConfigError, UnknownNameError
from pyro_cvae.registry import Registry


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_model_config_round_trips_through_files(tmp_path, suffix):
    config = ModelConfig(
        x_shape=(1, 8, 8),
        y_shape=(10,),
        prior="conditional-mixture",
        network="conv2",
        channels=(4, 8),
        learn_likelihood_scale=True,
    )
    path = tmp_path / f"model{suffix}"
    config.save(path)
    assert ModelConfig.from_file(path) == config


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_fit_config_round_trips_through_files(tmp_path, suffix):
    config = FitConfig(epochs=3, elbo="mean-field", clip_norm=5.0, patience=2)
    config.save(tmp_path / f"fit{suffix}")
    assert FitConfig.from_file(tmp_path / f"fit{suffix}") == config


def test_keyword_arguments_override_the_file(tmp_path):
    (tmp_path / "c.yaml").write_text("model:\n  x_shape: [4]\n  latent_dim: 2\nfit:\n  epochs: 7\n")
    assert ModelConfig.from_file(tmp_path / "c.yaml", latent_dim=5).latent_dim == 5
    assert FitConfig.from_file(tmp_path / "c.yaml").epochs == 7


def test_a_file_without_sections_is_a_model_section(tmp_path):
    (tmp_path / "c.json").write_text('{"x_shape": [4], "prior": "standard-normal"}')
    assert load_config(tmp_path / "c.json") == {"model": {"x_shape": [4], "prior": "standard-normal"}}


def test_replace_validates_like_a_new_config():
    config = ModelConfig(x_shape=(4,), y_shape=(2,))
    assert config.replace(prior="conditional-mixture").prior == "conditional-mixture"
    assert config.prior == "standard-normal"  # the original is untouched
    # names are the registries' business: build checks them, whatever made the config
    with pytest.raises(KeyError, match="unknown guide 'encoder-z'; valid choices are: encoder-x, encoder-xy"):
        pc.build(config.replace(guide="encoder-z"))


def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(KeyError, match="unknown ModelConfig key.*'latnet_dim'.*valid keys are: x_shape"):
        ModelConfig.from_dict({"x_shape": [4], "latnet_dim": 3})


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(x_shape=(0, 3)), "x_shape must be a non-empty sequence of positive ints"),
        (dict(x_shape="abc"), "x_shape must be an int or a sequence of ints"),
        (dict(x_shape=(4,), latent_dim=0), "latent_dim must be a positive int"),
        (dict(x_shape=(4,), likelihood="poisson"), "unknown likelihood 'poisson'"),
        (dict(x_shape=(4,), network="resnet"), "unknown network 'resnet'; valid choices are: conv2"),
        (dict(x_shape=(4,), likelihood_scale=-1.0), "likelihood_scale must be a positive number"),
        (dict(x_shape=(4,), forward_model="radar"), "unknown forward_model 'radar'"),
    ],
)
def test_bad_model_fields_get_clear_errors(fields, message):
    with pytest.raises((KeyError, ValueError, TypeError), match=message):
        pc.build(ModelConfig(**fields))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(learning_rate="1.0e6"), "'learning_rate' must be a float, got str '1.0e6'.*without the quotes"),
        (dict(epochs=2.5), "FitConfig key 'epochs' must be an int, got float"),
        (dict(progress="yes"), "FitConfig key 'progress' must be a bool"),
    ],
)
def test_config_values_of_the_wrong_type_name_the_key(fields, message):
    with pytest.raises(ConfigError, match=message):
        FitConfig(**fields)
    assert FitConfig(learning_rate=1).learning_rate == 1.0  # an int where a float goes is fine


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(elbo="renyi"), "unknown elbo 'renyi'"),
        (dict(epochs=0), "epochs must be a positive int"),
        (dict(device="tpu"), "device must be 'auto', 'cpu' or 'cuda"),
        (dict(clip_norm=0.0), "clip_norm must be positive"),
        (dict(kl_weight=0.0), "kl_weight must be > 0"),
    ],
)
def test_bad_fit_fields_get_clear_errors(fields, message):
    with pytest.raises((KeyError, ValueError), match=message):
        FitConfig(**fields)


def test_bad_config_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "c.ini").write_text("[model]")
    with pytest.raises(ValueError, match=r"must end in \.json, \.yaml, \.yml or \.toml"):
        load_config(tmp_path / "c.ini")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_config(tmp_path / "list.yaml")


def test_registry_rejects_duplicates_and_describes():
    registry = Registry("thing")
    registry.register("a", "first")(object)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(object)
    assert registry.describe() == {"a": "first"}


def test_run_config_file_gives_back_both_configs(tmp_path):
    model_config = ModelConfig(x_shape=(1, 8, 8), network="conv2", penalties={"total-variation": 0.5})
    fit_config = FitConfig(epochs=7, tensorboard_dir="runs/tb")
    pc.Run(pc.build(model_config), fit_config, metadata={"note": "kept"}).save(tmp_path)
    path = tmp_path / "config.yaml"
    assert ModelConfig.from_file(path) == model_config and FitConfig.from_file(path) == fit_config
    assert load_config(path)["metadata"] == {"note": "kept"}


@pytest.mark.parametrize("written, value", [("1e-3", 1e-3), ("5E+2", 500.0), ("2.5e-4", 2.5e-4), (".5", 0.5)])
def test_yaml_numbers_in_exponent_notation_are_floats(tmp_path, written, value):
    # YAML 1.1 (PyYAML's default) reads 1e-3 as text; config files are read by YAML 1.2's rule
    path = tmp_path / "fit.yaml"
    path.write_text(f"fit:\n  learning_rate: {written}\n")
    assert pc.FitConfig.from_file(path).learning_rate == value


def test_the_old_name_of_the_flow_prior_builds_the_flow_prior_with_a_warning():
    with pytest.warns(DeprecationWarning, match="'conditional-zuko-flow' is now called 'conditional-flow'"):
        config = pc.ModelConfig(x_shape=(3,), y_shape=(2,), prior="conditional-zuko-flow")
    assert config.prior == "conditional-flow"


def test_choice_fields_are_literals_that_list_their_choices():
    with pytest.raises(UnknownNameError, match="unknown flow_type 'realnvp'; choose one of: nsf, maf"):
        pc.ModelConfig(x_shape=(3,), flow_type="realnvp")
    with pytest.raises(UnknownNameError, match="unknown engine 'spark'; choose one of: loop, lightning"):
        pc.FitConfig(engine="spark")

"""A variant builds the same model whatever way the user names it: name, dict, YAML, TOML,
JSON file or ModelConfig, with explicit fields winning over the recipe."""

import pytest

from .conftest import run_fresh

EXPECTED = {  # variant: (prior class, encoder sees y, network of the encoder trunk)
    "vae": ("StandardNormalPrior", False, "Flatten"),
    "cvae": ("StandardNormalPrior", True, "Flatten"),
    "cvae-xonly": ("StandardNormalPrior", False, "Flatten"),
    "cvae-deep": ("StandardNormalPrior", True, "Sequential"),
    "dual-encoder": ("ConditionalGaussianPrior", True, "Flatten"),
}


def test_every_variant_builds_the_same_model_from_every_kind_of_spec(tmp_path):
    found = run_fresh(f"""
        import json, pyro_cvae as pc
        from pyro_cvae.config import write_config_file

        def describe(model):
            return [type(model.prior).__name__, model.encoder.uses_condition,
                    type(model.encoder.net.trunk).__name__, model.config.variant]

        out = {{}}
        for variant in {list(EXPECTED)}:
            shapes = {{"x_shape": [1, 8, 8], "y_shape": None if variant == "vae" else [10], "latent_dim": 2,
                      "hidden_sizes": [8], "prior_hidden_sizes": [8]}}
            values = {{"variant": variant, **shapes}}
            ways = {{"name": pc.build(variant, **shapes), "dict": pc.build(values),
                    "config": pc.build(pc.ModelConfig(**values))}}
            for suffix in ("yaml", "toml", "json"):
                path = r"{tmp_path}" + f"/{{variant}}.{{suffix}}"
                write_config_file(path, {{"model": {{k: v for k, v in values.items() if v is not None}}}})
                ways[suffix] = pc.build(path)
            out[variant] = {{way: describe(model) for way, model in ways.items()}}
        # explicit fields win over the recipe, from a dict as from keywords
        mixed = pc.build({{"variant": "dual-encoder", "x_shape": [4], "y_shape": [2], "prior": "conditional-mixture"}})
        out["override"] = type(mixed.prior).__name__
        print(json.dumps(out))
    """)
    for variant, (prior, sees_y, trunk) in EXPECTED.items():
        for way, described in found[variant].items():
            assert described == [prior, sees_y, trunk, variant], (variant, way)
    assert found["override"] == "ConditionalMixturePrior"


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_the_cli_and_the_api_build_the_same_model_from_one_file(tmp_path):
    (tmp_path / "model.yaml").write_text(
        "model: {variant: dual-encoder, latent_dim: 3, hidden_sizes: [16], prior_hidden_sizes: [16]}\n"
        "fit: {epochs: 1, progress: false}\n"
    )
    found = run_fresh(f"""
        import json, pyro_cvae as pc
        from pyro_cvae.cli import main
        main(["fit", "--config", r"{tmp_path / "model.yaml"}", "--out", r"{tmp_path / "run"}"])
        from_cli = pc.Run.load(r"{tmp_path / "run"}").model
        from_api = pc.build(r"{tmp_path / "model.yaml"}", x_shape=(64,), y_shape=(10,))
        print(json.dumps([type(m.prior).__name__ for m in (from_cli, from_api)]))
    """)
    assert found == ["ConditionalGaussianPrior", "ConditionalGaussianPrior"]


@pytest.mark.parametrize("variant", ["vae", "dual-encoder"])
def test_the_same_config_builds_the_same_weights_without_touching_the_global_rng(variant):
    found = run_fresh(f"""
        import json, torch, pyro_cvae as pc
        shapes = dict(x_shape=(4,), y_shape=None if "{variant}" == "vae" else (2,), latent_dim=2)
        before = torch.get_rng_state()
        a, b = pc.build("{variant}", **shapes), pc.build("{variant}", **shapes)
        untouched = torch.equal(before, torch.get_rng_state())
        same = all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        other = pc.build("{variant}", seed=1, **shapes)
        differs = any(not torch.equal(p, q) for p, q in zip(a.parameters(), other.parameters()))
        print(json.dumps([untouched, same, differs, a.name != b.name]))
    """)
    assert found == [True, True, True, True]

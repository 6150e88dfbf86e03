"""Several models in one process all train: with pc.fit, with the textbook Pyro SVI loop and
with every JIT ELBO, every parameter moving, the param store never cleared in between."""

import pytest

from .conftest import run_fresh

TRAINING = """
    import json, pyro, torch, pyro_cvae as pc
    from pyro.infer import SVI, Trace_ELBO
    x, y = torch.rand(64, 4), torch.rand(64, 2)

    def new_model():
        return pc.build("dual-encoder", x_shape=(4,), y_shape=(2,), latent_dim=2, hidden_sizes=(8,),
                        prior_hidden_sizes=(8,), seed=None)

    def moved(model, train):
        before = [p.detach().cpu().clone() for p in model.parameters()]
        train(model)  # pc.fit moves the model to a GPU where there is one
        return [not torch.equal(b, p.detach().cpu()) for b, p in zip(before, model.parameters())]

    def textbook(model):
        svi = SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-2}), Trace_ELBO())
        for _ in range(3):  # after pc.fit the model may be on a GPU: the loop's data goes there too
            svi.step(x.to(model.device), y.to(model.device))
"""


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
@pytest.mark.parametrize("elbo", ["trace", "mean-field", "jit-trace", "jit-mean-field"])
def test_three_models_fit_one_after_another(elbo):
    found = run_fresh(
        TRAINING
        + f"""
    fit = lambda model: pc.fit(model, (x, y), epochs=2, batch_size=32, elbo="{elbo}", progress=False)
    print(json.dumps([moved(new_model(), fit) for _ in range(3)]))
    """
    )
    assert len(found) == 3 and all(all(model) for model in found)


@pytest.mark.slow  # a fresh interpreter or a whole command-line workflow
def test_textbook_svi_and_pc_fit_alternate_on_several_models():
    found = run_fresh(
        TRAINING
        + """
    fit = lambda model: pc.fit(model, (x, y), epochs=1, batch_size=32, progress=False)
    models = [new_model() for _ in range(3)]
    print(json.dumps([moved(models[0], textbook), moved(models[1], fit), moved(models[2], textbook),
                      moved(models[0], fit), moved(models[1], textbook)]))
    """
    )
    assert all(all(model) for model in found)

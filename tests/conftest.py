"""Shared test helpers. Deliberately no autouse fixture that clears Pyro's parameter store or
reseeds the RNGs: the tests run one after another in one process, as a user's notebook does,
so a model that only works in a fresh param store fails here. A test that needs fixed random
numbers seeds them itself."""

import pickle

import pytest
import torch

torch.set_num_threads(1)  # tiny tensors: threads cost more than they give


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


def check_refuses_unreadable_files(load, tmp_path, message):
    """``load`` turns a missing file into FileNotFoundError, and a corrupt or code-holding one
    into ValueError matching ``message``, without running the code."""
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "corrupt.pt")
    write_code_pickle(tmp_path / "code.pt")
    with pytest.raises(ValueError, match=message):
        load(tmp_path / "code.pt")

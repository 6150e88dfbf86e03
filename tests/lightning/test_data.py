"""The sampler that shares each epoch among processes, and the data modules built on it."""

import pytest
import torch

import pyro_cvae as pc
from pyro_cvae.images.datamodule import image_datamodule
from pyro_cvae.train.batches import shuffled_batches
from pyro_cvae.train.lightning import EpochBatches, TensorDataModule
from pyro_cvae.twobirds.datamodule import TwoBirdsDataModule


def epoch_of(sampler, epoch):
    sampler.set_epoch(epoch)
    return list(sampler)


@pytest.mark.parametrize("n, batch, world", [(100, 16, 1), (100, 16, 2), (101, 16, 3), (97, 10, 4), (10, 32, 2)])
def test_each_process_takes_its_own_equal_share_of_an_epoch(n, batch, world):
    samplers = [EpochBatches(n, batch, seed=3, rank=r, world_size=world) for r in range(world)]
    shares = [epoch_of(s, 5) for s in samplers]
    assert len({len(share) for share in shares}) == 1  # same step count: DDP would hang otherwise
    assert all(len(share) == len(s) for share, s in zip(shares, samplers))
    seen = torch.cat([torch.cat(share) for share in shares])
    assert len(seen) == n - n % world and len(set(seen.tolist())) == len(seen)  # no point twice
    # the same batch-size rule as pc.fit: a single left-over point joins the last batch
    sizes = [len(b) for b in shares[0]]
    expected = [len(b) for b in shuffled_batches(n // world, batch)]
    assert sizes == expected


def test_orders_depend_on_seed_and_epoch_only_and_a_resumed_run_draws_the_same():
    sampler = EpochBatches(50, 8, seed=1)
    first, second = epoch_of(sampler, 0), epoch_of(sampler, 1)
    assert not torch.equal(torch.cat(first), torch.cat(second))
    assert all(torch.equal(a, b) for a, b in zip(first, epoch_of(EpochBatches(50, 8, seed=1), 0)))
    resumed = EpochBatches(50, 8, seed=1, first_epoch=1)  # Lightning counts from 0 again
    assert all(torch.equal(a, b) for a, b in zip(second, epoch_of(resumed, 0)))
    other_seed = epoch_of(EpochBatches(50, 8, seed=2), 0)
    assert not torch.equal(torch.cat(first), torch.cat(other_seed))


def test_the_sampler_refuses_what_it_cannot_share():
    with pytest.raises(ValueError, match="rank must lie in"):
        EpochBatches(10, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="3 training points cannot be shared among 4 processes"):
        EpochBatches(3, 2, world_size=4)
    with pytest.raises(ValueError, match="batch_size must be"):
        EpochBatches(10, 0)


def test_a_tensor_data_module_hands_out_whole_batches():
    x, y = torch.randn(20, 3), torch.randn(20, 2)
    module = TensorDataModule((x, y), batch_size=8)
    batches = list(module.train_dataloader())
    assert [b[0].shape[0] for b in batches] == [8, 8, 4]
    rows = torch.cat([b[0] for b in batches])
    assert sorted(rows[:, 0].tolist()) == sorted(x[:, 0].tolist())
    assert module.num_data == 20


def test_two_birds_processes_generate_different_reproducible_pairs():
    shares = []
    for rank in (0, 1):
        module = TwoBirdsDataModule("original", num_train=40, num_val=8, batch_size=8, seed=4)
        module._rank_world = lambda rank=rank: (rank, 2)  # what the Trainer would tell process `rank`
        shares.append(module.local_train())
    assert shares[0][0].shape == (20, 50, 2) and not torch.equal(shares[0][0], shares[1][0])
    again = TwoBirdsDataModule("original", num_train=40, num_val=8, batch_size=8, seed=4)
    again._rank_world = lambda: (1, 2)
    assert torch.equal(again.local_train()[0], shares[1][0])
    assert module.num_data == 40 and module.val[0].shape == (8, 50, 2)


def test_two_birds_fits_under_lightning_from_its_generator(tmp_path):
    run = pc.twobirds.fit_twobirds(
        "original",
        out=tmp_path / "run",
        num_train=64,
        num_val=16,
        epochs=1,
        batch_size=32,
        engine="lightning",
        device="cpu",
        progress=False,
        model_overrides={"latent_dim": 2, "hidden_sizes": [16]},
    )
    loaded = pc.Run.load(tmp_path / "run")
    assert loaded.metadata["app"] == "twobirds" and loaded.history.epoch == [0] and len(run.history.val_elbo) == 1


def test_an_image_set_becomes_a_data_module_with_a_held_out_split():
    module = image_datamodule("digits", conditional=True, limit=200, batch_size=16)
    (x, y), (val_x, val_y) = module.train, module.val
    assert x.shape[1:] == (64,) and y.shape[1:] == (10,) and len(x) + len(val_x) == 200
    assert val_y.shape == (len(val_x), 10)
    model = pc.build("cvae", x_shape=(64,), y_shape=(10,), latent_dim=2, hidden_sizes=(16,))
    history = pc.fit(model, module, epochs=1, engine="lightning", device="cpu", progress=False)
    assert len(history.val_elbo) == 1


def test_with_one_process_the_sampler_gives_the_built_in_loops_batches_for_a_seeded_order():
    from pyro_cvae.train.lightning.data import epoch_seed

    sampler = EpochBatches(50, 8, seed=3)
    ours = epoch_of(sampler, 2)
    loop = list(shuffled_batches(50, 8, generator=torch.Generator().manual_seed(epoch_seed(3, 2))))
    assert len(ours) == len(loop) and all(torch.equal(a, b) for a, b in zip(ours, loop))

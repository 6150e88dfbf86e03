"""Cost of one Pyro SVI training step against the same step written by hand in PyTorch.

Dual-encoder CVAE, MLPs of width 256, batch 256, x and y shaped (50, 2), latent 8. Three ways
of taking the same step, interleaved in one process so machine noise hits all alike:

* ``pyro_cvae``: ``SVIStep`` (the ELBO's ``differentiable_loss`` on the unregistered
  model/guide, one fused torch Adam), what ``pyro_cvae.fit`` runs; by default with ``fit``'s
  default objective, ``analytic-kl`` (Pyro's TraceMeanField_ELBO: the KL in closed form);
* ``textbook``: ``pyro.infer.SVI(model, guide, pyro.optim.Adam, Trace_ELBO())``, for context;
* ``torch``: the same networks and the same estimator by hand: the closed-form KL for
  ``analytic-kl`` and ``mean-field``, the single-sample Monte Carlo KL for the others.

Last line: ``svi_over_torch_ratio <median pyro_cvae step / median torch step>``. Target <= 1.10.
``--elbo trace`` measures the Monte Carlo ELBO, ``--elbo jit-trace`` the compiled one.

Before it, the whole-epoch overhead of ``pc.fit`` (history scoring, callbacks, a checkpoint
every epoch) on the embedded digits: a dual-encoder CVAE, batch 64, 300 validation digits,
``--epochs`` epochs of ``pc.fit`` (each timed from the end of the one before) against as many
epochs of bare ``SVIStep`` calls on the same batches, interleaved ``--epoch-repeats`` times; the line
``fit_epoch_over_steps_ratio <median per-epoch time of fit / of the bare steps>``. Target <= 1.15.

    python bench/svi_overhead.py [--steps 300] [--elbo analytic-kl|trace|jit-trace|jit-mean-field]
"""

import argparse
import statistics
import time

import pyro
import pyro.optim
import torch
from pyro.infer import SVI, Trace_ELBO

import pyro_cvae as pc
from pyro_cvae.train.step import SVIStep, make_optimizer

SHAPE, BATCH, NUM_DATA = (50, 2), 256, 10_000


def build(seed):
    torch.manual_seed(seed)
    return pc.build("dual-encoder", x_shape=SHAPE, y_shape=SHAPE, latent_dim=8, hidden_sizes=(256, 256))


def torch_step(model, optimizer, x, y, analytic_kl: bool):
    """Negative ELBO by hand: -(N/B) Σ [log p(x|z,y) - KL(q(z|x,y) || r(z|y))], z ~ q, with the
    KL in closed form or as log q(z|x,y) - log r(z|y) at the draw."""
    optimizer.zero_grad(set_to_none=True)
    loc, raw = model.encoder.net(x, y).chunk(2, -1)
    q = torch.distributions.Normal(loc, torch.nn.functional.softplus(raw) + 1e-4)
    z = q.rsample()
    p_loc, p_raw = model.prior.net(y).chunk(2, -1)
    p = torch.distributions.Normal(p_loc, torch.nn.functional.softplus(p_raw) + 1e-4)
    x_loc = model.decoder(z, y)
    log_lik = torch.distributions.Normal(x_loc, 0.1).log_prob(x).sum((-1, -2))
    if analytic_kl:
        kl = torch.distributions.kl_divergence(q, p).sum(-1)
    else:
        kl = q.log_prob(z).sum(-1) - p.log_prob(z).sum(-1)
    elbo = log_lik - kl
    loss = -(NUM_DATA / x.shape[0]) * elbo.sum()
    loss.backward()
    optimizer.step()
    return loss.detach()


class EpochClock(pc.Callback):
    """Runs last: the time from one epoch's end to the next is one whole epoch of ``fit``."""

    def __init__(self):
        self.ends = []

    def on_epoch_end(self, state):
        self.ends.append(time.perf_counter())


def epoch_overhead(repeats: int, epochs: int, threads: int) -> float:
    """Median per-epoch seconds of ``pc.fit`` over those of the bare steps (see the docstring).

    A fit epoch is timed from the end of the one before (the first is left out), so the once-
    per-fit costs (building the optimizer, the last checkpoint) are not charged to an epoch."""
    import tempfile

    from pyro_cvae.train.batches import shuffled_batches

    x, y, _ = pc.data.load_digits_data()
    train, val = pc.data.split_indices(len(x), test_size=300)
    settings = dict(x_shape=(64,), y_shape=(10,), latent_dim=8, likelihood="continuous-bernoulli")
    fit_times, bare_times = [], []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(repeats):
            model, clock = pc.build("dual-encoder", **settings), EpochClock()
            pc.fit(
                model,
                (x[train], y[train]),
                val_data=(x[val], y[val]),
                epochs=epochs + 1,
                batch_size=64,
                checkpoint_dir=f"{folder}/repeat{repeat}",  # a run folder each: fit never overwrites one
                progress=False,
                seed=repeat,
                callbacks=[clock],
            )
            fit_times += [b - a for a, b in zip(clock.ends, clock.ends[1:])]

            model = pc.build("dual-encoder", **settings)
            step, n = SVIStep(model), len(train)
            xt, yt = x[train], y[train]
            with pyro.validation_enabled(False):
                for _ in range(epochs):
                    start = time.perf_counter()
                    for idx in shuffled_batches(n, 64):
                        step(xt[idx], yt[idx], 1.0, n)
                    bare_times.append(time.perf_counter() - start)
    fit_median, bare_median = statistics.median(fit_times), statistics.median(bare_times)
    print(f"fit epoch {1e3 * fit_median:8.1f} ms   bare steps {1e3 * bare_median:8.1f} ms")
    return fit_median / bare_median


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--elbo", default="analytic-kl", help="the ELBO of the pyro_cvae step (fit's default)")
    parser.add_argument("--epoch-repeats", type=int, default=7, help="0 skips the whole-epoch comparison")
    parser.add_argument("--epochs", type=int, default=5, help="epochs per repeat of the whole-epoch comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.epoch_repeats:
        ratio = epoch_overhead(args.epoch_repeats, args.epochs, args.threads)
        print(f"fit_epoch_over_steps_ratio {ratio:.3f}")

    x, y = torch.randn(BATCH, *SHAPE), torch.randn(BATCH, *SHAPE)
    ours_model, torch_model, textbook_model = build(0), build(0), build(0)
    ours = SVIStep(ours_model, args.elbo, learning_rate=1e-4)
    by_hand_optimizer = make_optimizer(torch_model.parameters(), 1e-4)
    svi = SVI(textbook_model.model, textbook_model.guide, pyro.optim.Adam({"lr": 1e-4}), Trace_ELBO())
    runners = {
        "pyro_cvae": lambda: ours(x, y, 1.0, NUM_DATA),
        "torch": lambda: torch_step(
            torch_model, by_hand_optimizer, x, y, args.elbo in ("analytic-kl", "mean-field", "jit-mean-field")
        ),
        "textbook": lambda: svi.step(x, y, num_data=NUM_DATA),
    }
    times = {name: [] for name in runners}
    with pyro.validation_enabled(False):  # as in pyro_cvae.fit
        for i in range(args.warmup + args.steps):
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                if i >= args.warmup:
                    times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        elbo = args.elbo if name == "pyro_cvae" else "-"
        ratio = median / medians["torch"]
        print(f"{name:<10} ({elbo}) median step {1e3 * median:7.3f} ms   ratio to torch {ratio:.3f}")
    print(f"svi_over_torch_ratio {medians['pyro_cvae'] / medians['torch']:.3f}")


if __name__ == "__main__":
    main()

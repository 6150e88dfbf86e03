"""A user's training script, run by the DDP tests as a subprocess: Lightning's launcher starts
the other processes by running this same command again, each with its own rank.

    python ddp_fit.py OUT DEVICES BATCH_SIZE EPOCHS

Fits a CVAE on 512 digits on the CPU, and every process writes what it ends with:
``OUT/rank{r}.pt`` (its parameters and history). Rank 0 also writes the run folder ``OUT/run``.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

import pyro_cvae as pc

out, devices, batch_size, epochs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
x, y, _ = pc.data.load_digits_data()
x, y = x[:512], y[:512]
model = pc.build("cvae", x_shape=x.shape[1:], y_shape=y.shape[1:], latent_dim=4, hidden_sizes=(64,), seed=0)
history = pc.fit(
    model,
    (x, y),
    epochs=epochs,
    batch_size=batch_size,
    learning_rate=3e-3,
    engine="lightning",
    device="cpu",
    devices=devices,
    strategy="ddp" if devices > 1 else "auto",
    checkpoint_dir=str(out / "run"),
    eval_train_size=None,
    progress=False,
)
rank = dist.get_rank() if dist.is_initialized() else 0
world = dist.get_world_size() if dist.is_initialized() else 1
state = {name: value.detach().clone() for name, value in model.state_dict().items()}
torch.save({"state": state, "history": history.to_dict(), "world": world}, out / f"rank{rank}.pt")
print(json.dumps({"rank": rank, "world": world, "train_elbo": history.train_elbo[-1]}))

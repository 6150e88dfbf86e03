"""A user's sampling script, run by the tests as a subprocess with two gloo processes:

    python ddp_sample.py RUN_FOLDER CONDITIONS.pt OUT.pt

Draws 7 samples for each condition with ``sample_distributed`` on 2 CPU processes; rank 0
writes the gathered draws to OUT.pt.
"""

import sys

import torch

import pyro_cvae as pc
from pyro_cvae.train.distributed import is_main_process
from pyro_cvae.train.lightning import sample_distributed

run_folder, conditions, out = sys.argv[1:4]
model = pc.Run.load(run_folder).model
y = torch.load(conditions, weights_only=True)
draws = sample_distributed(
    model, y, num_samples=7, conditions_per_chunk=3, seed=5, accelerator="cpu", devices=2, strategy="ddp"
)
if is_main_process():
    torch.save(draws, out)

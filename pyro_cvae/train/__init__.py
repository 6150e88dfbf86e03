"""Training: the loop (``loop.fit``), the SVI step, the objectives (``elbos``), mini-batches,
callbacks and the training state they share (``state``), the history, checkpoints, the run
folder, ``Run``, and the Lightning engine (``lightning``), which drives the same state.
"""

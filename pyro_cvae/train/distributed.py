"""Which process this is, for code that runs on every process of a multi-process fit.

Under ``engine="lightning"`` with several processes, every process runs the user's script (or
the CLI command) from the top, fits, and returns. Files and printed summaries must then come from
one of them: ``is_main_process()`` is True in rank 0, and in any single-process run.
"""

from __future__ import annotations

import atexit

import torch.distributed as dist


def is_main_process() -> bool:
    """True unless this is a process of rank > 0 in an initialized process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def close_process_group_at_exit() -> None:
    """Have the process group (Lightning's, left open after a multi-process run so that
    ``is_main_process`` still answers) shut down when Python exits, before the interpreter tears
    down. Left to the C++ destructors instead, a gloo process sometimes aborted at exit with
    "terminate called without an active exception" after its work was done."""
    atexit.unregister(_destroy_process_group)  # once, however many runs register it
    atexit.register(_destroy_process_group)

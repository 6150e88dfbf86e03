"""Which process this is, for code that runs on every process of a multi-process fit.

Under ``engine="lightning"`` with several processes, every process runs the user's script (or
the CLI command) from the top, fits, and returns. Files and printed summaries must then come from
one of them: ``is_main_process()`` is True in rank 0, and in any single-process run.
"""

from __future__ import annotations

import torch.distributed as dist


def is_main_process() -> bool:
    """True unless this is a process of rank > 0 in an initialized process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

"""Journeys run as a user runs them: each in a fresh Python process, with nothing reset behind
its back (no fixture touches Pyro's parameter store, the seeds or matplotlib)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path


def run_fresh(code: str, cwd: Path = None, timeout: int = 300) -> dict:
    """Run ``code`` in a new interpreter; it must print one JSON object last, which is returned."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("MPLBACKEND", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])

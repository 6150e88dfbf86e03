"""The README's code for "Your own inverse problem" runs as written, on a problem of three
parameters, in a fresh Python process as a user pastes it: only its budgets are made small (the
block's ``10_000`` simulations become 200, its ``5000`` 100, ``nearest``'s 1,000 pairs 50 and the
MCMC steps 5; 40 pairs to check on), so a renamed function, a changed signature or a stale keyword in it fails here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: what the block takes as given: a prior, a simulator, an observation, fresh pairs to check on
#: and the likelihood (x = θ + N(0, 0.1²) on the unit cube)
PROBLEM = """
import torch
from pyro_cvae.posterior import simulate

torch.manual_seed(0)
prior = torch.distributions.Independent(torch.distributions.Uniform(torch.zeros(3), torch.ones(3)), 1)

def simulator(theta):
    return theta + 0.1 * torch.randn_like(theta)

def log_likelihood(x_o, theta):
    return torch.distributions.Normal(theta, 0.1).log_prob(x_o).sum(-1)

theta_true = torch.tensor([0.3, 0.6, 0.5])
x_o = simulator(theta_true)
check = simulate(prior, simulator, 40, progress=False)
theta_check, x_check = check.theta, check.x
"""

#: the block's budgets, and what they become here
SMALLER = {
    "10_000": "200",
    "5000": "100",
    ".nearest(x_o, 1000)": ".nearest(x_o, 50)",
    "mcmc_steps=150": "mcmc_steps=5",
}


def readme_block(section: str) -> str:
    """The first ```python block after the heading ``section``."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {section}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no python block under {section!r}"
    return match.group(1)


@pytest.mark.slow
def test_the_inverse_problem_block_runs_as_written(tmp_path):
    block = readme_block("Your own inverse problem")
    for old, new in SMALLER.items():
        assert old in block, f"the README block no longer has {old!r}: update SMALLER"
        block = block.replace(old, new)
    script = tmp_path / "readme_block.py"
    # the block's last names, printed: the checks ran and returned what the README says they do
    report = "\nprint('draws', tuple(theta.shape), 'sbc', len(sbc(focused, near.theta, near.x)['p_values']))\n"
    script.write_text(PROBLEM + block + report)
    environment = {**os.environ, "MPLBACKEND": "Agg"}  # a script's figures, not a window
    command = [sys.executable, str(script)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "draws (100, 3) sbc 3" in result.stdout, result.stdout[-2000:]
    assert (tmp_path / "runs" / "mine").is_dir()

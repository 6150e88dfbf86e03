"""The errors this suite raises, in one place.

For bad input, each message is one line that names the argument and what was expected; the
command line prints it as it is (exit code 2). They subclass the built-in error a caller would
expect (``ValueError``, ``KeyError``), so ``except ValueError`` keeps working. A fit whose
numbers stop being numbers raises ``TrainingDiverged`` (``train.finite``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence


class PyroCVAEError(Exception):
    """Base class: bad input, described in one line."""


class ConfigError(PyroCVAEError, ValueError):
    """A config file or config value that cannot be used: unreadable, wrong type, out of range."""


class UnknownNameError(PyroCVAEError, KeyError):
    """A name no registry or config knows; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class ExpressionError(PyroCVAEError, ValueError):
    """A function expression (Two Birds' ``--functions``) outside the allowed arithmetic."""


class RunFolderError(PyroCVAEError, ValueError):
    """A run folder that is taken: it holds a run (and neither resume nor overwrite was asked
    for), another process is writing it, or the path is not a usable folder."""


class OutputExistsError(PyroCVAEError, FileExistsError):
    """A file or run that a writer would replace: refused unless ``overwrite=True`` (``--overwrite``)."""


def refuse_to_replace(path, overwrite: bool, what: str = "file") -> None:
    """Raise ``OutputExistsError`` if ``path`` exists and ``overwrite`` is not given: nothing a
    user has is replaced without a word."""
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(
            f"{what} {str(path)!r} exists; pass overwrite=True (--overwrite) to replace it, or give another path"
        )


class TrainingDiverged(RuntimeError):
    """The loss or the parameters became NaN or infinite; nothing of that epoch was saved."""


class SupportLeak(RuntimeError):
    """A posterior put (almost) none of its draws inside the prior's support for an observation:
    ``observation`` is its index in the batch that was sampled, ``observations`` the indices of
    every observation found leaking at the same time (the first of them is ``observation``)."""

    def __init__(self, message: str, observation: int, observations: Optional[Sequence[int]] = None):
        super().__init__(message)
        self.observation = observation
        self.observations = [observation] if observations is None else [int(b) for b in observations]


def one_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message on one line (parsers' messages span several), cut at ``limit``."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."

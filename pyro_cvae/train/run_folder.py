"""Exclusive, non-destructive use of a run folder by one fit.

``with RunFolder(folder, resume, overwrite):`` around a fit that writes ``folder``:

- the folder is created if needed; a path that is a file, or a folder that cannot be written,
  is refused with a ``RunFolderError`` before anything trains;
- a folder that already holds a run (``checkpoint.pt``) is refused unless ``resume`` (continue
  it) or ``overwrite`` (replace it) is given: a finished run is never replaced without a word;
- a lock file holding the writer's pid and host stops a second process from writing the same
  folder at once. A lock whose process is gone (a crash, a ``kill -9``) is stale and taken over;
- ``overwrite`` removes the old run's checkpoint and config before the new run writes, so the
  folder never pairs one run's config with another's weights, whenever the process stops.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Optional, Union

from ..errors import RunFolderError
from .checkpoint import FILENAME

LOCK_NAME = ".pyro_cvae.lock"
#: the files a run writes and ``overwrite`` replaces (nothing else in the folder is touched)
RUN_FILES = (FILENAME, "config.yaml")


class RunFolder:
    def __init__(
        self, folder: Union[str, Path], resume: bool = False, overwrite: bool = False, can_resume: bool = True
    ):
        self.folder = Path(folder)
        self.resume, self.overwrite = resume, overwrite
        #: whether the caller offers resuming (the refusal only suggests what the caller has)
        self.can_resume = can_resume
        self.lock = self.folder / LOCK_NAME
        self._held = False

    def __enter__(self) -> "RunFolder":
        if self.folder.exists() and not self.folder.is_dir():
            raise RunFolderError(f"run folder {str(self.folder)!r} is a file, not a folder: give another path")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunFolderError(f"run folder {str(self.folder)!r} cannot be created: {error.strerror}") from None
        self._acquire()
        try:
            self._check_existing_run()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._release()

    # ------------------------------------------------------------------ the lock

    def _acquire(self) -> None:
        for _ in range(2):  # a second try after taking over a stale lock
            try:
                handle = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is None or not _alive(*owner):
                    self.lock.unlink(missing_ok=True)  # stale: its writer is gone
                    continue
                pid, host = owner
                raise RunFolderError(
                    f"run folder {str(self.folder)!r} is being written by another process (pid {pid} on {host}); "
                    f"wait for it to finish or give another folder (if that process is gone, delete {LOCK_NAME})"
                ) from None
            except OSError as error:
                raise RunFolderError(f"run folder {str(self.folder)!r} is not writable: {error.strerror}") from None
            with os.fdopen(handle, "w") as file:
                file.write(f"{os.getpid()} {socket.gethostname()}\n")
            self._held = True
            return
        raise RunFolderError(f"run folder {str(self.folder)!r}: could not take the lock {LOCK_NAME}")

    def _owner(self) -> Optional[tuple]:
        try:
            pid, host = self.lock.read_text().split()
            return int(pid), host
        except (OSError, ValueError):
            return None  # unreadable or half-written: treat as stale

    def _release(self) -> None:
        if self._held:
            self.lock.unlink(missing_ok=True)
            self._held = False

    # ------------------------------------------------------------------ the run already there

    def _check_existing_run(self) -> None:
        checkpoint = self.folder / FILENAME
        if not checkpoint.exists() or self.resume:
            return
        if not self.overwrite:
            choices = "continue it with resume (--resume), replace it" if self.can_resume else "replace it"
            raise RunFolderError(
                f"run folder {str(self.folder)!r} already holds a run ({FILENAME}); {choices} with overwrite "
                "(--overwrite), or give another folder"
            )
        for name in RUN_FILES:  # the old run goes first: no config of one run beside another's weights
            (self.folder / name).unlink(missing_ok=True)


def _alive(pid: int, host: str) -> bool:
    if host != socket.gethostname():
        return True  # another machine's process: we cannot tell, so we do not take its lock
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    return True

"""Writing an output's file: whole or not at all, mode 0640, under a name no concurrent run takes.

Every file a run writes (reports, pages, state) goes through here, so they all share one mode and one
way of being put in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

REPORT_MODE = 0o640  # owner and group read, whatever the umask; others not: reports name hosts and failures


def write_temporary(directory: Path, name: str, parts: Iterable[str] | Path) -> Path:
    """Write the text `parts` (or copy the file `parts`) to a new hidden temporary file in `directory`, mode
    REPORT_MODE; return its path (the caller moves it into place)."""
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        os.fchmod(fd, REPORT_MODE)  # mkstemp's is 0600: the scheduler's group could not read the report
        if isinstance(parts, Path):
            with os.fdopen(fd, "wb") as handle, open(parts, "rb") as source:
                shutil.copyfileobj(source, handle)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.writelines(parts)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomically(path: Path, parts: Iterable[str] | Path) -> None:
    """Write the text `parts` (or copy the file `parts`) to a temporary file, then move it to `path`."""
    tmp = write_temporary(path.parent, path.name, parts)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def claim(tmp: Path, path: Path) -> bool:
    """Give the complete file `tmp` the name `path` unless that name exists (False then): a hard link fails
    rather than replace, so two runs finishing in the same second never overwrite each other's report, and
    the name never shows a half-written file. Where hard links are refused, the name is reserved with
    O_CREAT|O_EXCL and the file moved onto it."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # e.g. a file system without hard links
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, REPORT_MODE))
        except FileExistsError:
            return False
        os.replace(tmp, path)
        return True
    tmp.unlink()
    return True


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """An exclusive lock, across processes, on `directory`'s state (flock on the directory itself: no
    lock file left behind): concurrent runs read, merge and write the state one after the other, so none
    loses another's."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock

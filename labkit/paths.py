"""Where labkit keeps things on disk: its state (PIDs it started, logs), its downloads, the notebooks.

And how it writes there, so that no state file can be turned against the user: every file labkit
creates is ``0600`` and every directory ``0700`` whatever the umask; a file is opened with
``O_NOFOLLOW`` (a symbolic link at its path is refused, never followed: its target is not truncated
nor appended to), must be a regular file with one link, owned by the user; a record is replaced
atomically from a temp file created exclusively (``O_EXCL``); a name that becomes part of a path
(``labkit consumer --name``) is checked: no separator, no ``..``, nothing a shell or a log would split.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import re
import stat
import uuid
from pathlib import Path

__all__ = ["state_dir", "cache_dir", "notebooks_dir", "UnsafePath", "check_name", "name_arg", "private_dir",
           "open_private", "write_private", "read_private", "PrivateFileHandler"]

FILE_MODE = 0o600
DIR_MODE = 0o700
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class UnsafePath(OSError):
    """A path labkit refuses to write or read through: a link, not a regular file, not the user's."""


def state_dir() -> Path:
    """``$LABKIT_STATE_DIR``, else ``$XDG_STATE_HOME/labkit``, else ``~/.local/state/labkit``.

    Created ``0700``; an existing one must belong to the user (:class:`UnsafePath` otherwise) and is
    made ``0700`` if it was open to others (the PIDs it holds are signalled by ``labkit broker down``)."""
    explicit = os.environ.get("LABKIT_STATE_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        path = Path(base) / "labkit"
    private_dir(path)
    info = os.stat(path)
    if info.st_uid != os.getuid():
        raise UnsafePath(f"labkit's state dir {path} belongs to another user (uid {info.st_uid}); "
                         "set LABKIT_STATE_DIR to a directory of yours")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, DIR_MODE)
    return path


def cache_dir() -> Path:
    """Downloads that survive resets (the Kafka jars): ``$LABKIT_CACHE_DIR`` or ``~/.cache/labkit``."""
    explicit = os.environ.get("LABKIT_CACHE_DIR")
    base = Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit"
    base.mkdir(parents=True, exist_ok=True)
    return base


def notebooks_dir() -> Path:
    """``notebooks/`` of the checkout labkit runs from (editable install), else the current directory's."""
    here = Path(__file__).resolve().parent.parent / "notebooks"
    return here if here.is_dir() else Path.cwd() / "notebooks"


# --- names and private files -----------------------------------------------------------------------


def check_name(name: str, what: str = "name") -> str:
    """``name`` if it can be a file name inside a labkit dir, else ``ValueError`` saying why.

    >>> check_name("consumer-1")
    'consumer-1'
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"invalid {what} {name!r}: use 1 to 100 letters, digits, '.', '_' or '-', "
                         "starting with a letter, digit or '_' (no '/', no '..', no spaces)")
    return name


def name_arg(value: str) -> str:
    """:func:`check_name` as an argparse ``type``: ``labkit consumer --name ../x`` exits 2 with the reason."""
    try:
        return check_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def private_dir(path: str | os.PathLike) -> Path:
    """Make ``path`` and its missing parents, each ``0700`` whatever the umask; an existing directory is
    left as it is. Returns the path."""
    path = Path(path)
    missing = []
    here = path
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)
    if not path.is_dir():
        raise UnsafePath(f"{path} is not a directory")
    return path


def _refuse(path: Path, exc: OSError) -> UnsafePath:
    if exc.errno == errno.ELOOP:
        return UnsafePath(f"{path} is a symbolic link: labkit does not write or read through links "
                          "(remove it, or choose another file)")
    if exc.errno == errno.ENXIO:
        return UnsafePath(f"{path} is not a regular file (a FIFO?): remove it, or choose another file")
    return UnsafePath(f"cannot open {path}: {exc.strerror or exc}")


def _checked(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(f"{path} is not a regular file: remove it, or choose another file")
    if info.st_nlink != 1:
        raise UnsafePath(f"{path} has {info.st_nlink} hard links: labkit does not write to a file linked "
                         "elsewhere (remove it, or choose another file)")
    if info.st_uid != os.getuid():
        raise UnsafePath(f"{path} belongs to another user (uid {info.st_uid}): remove it, or choose another file")
    if stat.S_IMODE(info.st_mode) != FILE_MODE:
        os.fchmod(fd, FILE_MODE)


def open_private(path: str | os.PathLike, *, truncate: bool = False) -> int:
    """A write-only descriptor on ``path`` (appending, or emptied with ``truncate``), never through a link.

    A new file is created exclusively, ``0600``. An existing one must be a regular file with one link,
    owned by the user (then made ``0600``); a link, a FIFO, a device, a hard-linked or foreign file is
    :class:`UnsafePath`, and nothing was written."""
    path = Path(path)
    flags = os.O_WRONLY | _NOFOLLOW | _CLOEXEC | (0 if truncate else os.O_APPEND)
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        try:  # O_NONBLOCK: a FIFO planted here answers ENXIO instead of blocking the writer forever
            fd = os.open(path, flags | os.O_NONBLOCK)
        except OSError as exc:
            raise _refuse(path, exc) from None
        try:
            _checked(fd, path)
            os.set_blocking(fd, True)
            if truncate:
                os.ftruncate(fd, 0)
        except BaseException:
            os.close(fd)
            raise
        return fd
    except OSError as exc:
        raise _refuse(path, exc) from None
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: str | os.PathLike, text: str) -> None:
    """Replace ``path`` with ``text`` atomically: a temp file beside it, created exclusively ``0600``, then
    renamed over it (a rename replaces a link at ``path``, it never writes to its target)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def read_private(path: str | os.PathLike) -> str:
    """The text of ``path``, never through a link (:class:`UnsafePath`); ``FileNotFoundError`` if absent."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refuse(path, exc) from None
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnsafePath(f"{path} is not a regular file")
        return f.read()


class PrivateFileHandler(logging.FileHandler):
    """A ``logging.FileHandler`` that appends through :func:`open_private`: a missing log is created
    ``0600`` (its missing directories ``0700``), a link at its path is refused, never followed."""

    def __init__(self, filename: str | os.PathLike, encoding: str | None = "utf-8") -> None:
        private_dir(Path(os.path.abspath(filename)).parent)
        super().__init__(filename, mode="a", encoding=encoding)

    def _open(self):
        return os.fdopen(open_private(self.baseFilename), "a", encoding=self.encoding, errors=self.errors)

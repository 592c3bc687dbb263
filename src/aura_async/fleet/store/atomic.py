"""Files that are either their old or their new version, on disk when the call returns.

A write goes to a private (0600) temporary file beside its target, is fsynced, renamed over
the target, and then the directory is fsynced; directories are made private (0700). The
ledger's documents and ``.env`` files are written this way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import secrets
import stat

__all__ = ["fsync_directory", "os_reason", "private_directory", "write_atomic"]

logger = logging.getLogger("aura_async")


def os_reason(exc: OSError) -> str:
    """Word an OSError for a message: its strerror (or its class name), never ``str(exc)``."""
    # strerror and the file name never hold a secret; str(exc) of an odd OSError might.
    return exc.strerror or type(exc).__name__


def write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once and durably, never readable by others.

    The temporary file is created with mode 0600 by the open itself, and removed again if
    anything fails, so a failure leaves the previous version of ``path`` and no partial file.

    Raises:
        OSError: the file or its directory could not be written, synced or renamed.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    for extra in ("O_CLOEXEC", "O_NOFOLLOW", "O_BINARY"):
        flags |= getattr(os, extra, 0)
    # Created 0600 by the open itself: there is no moment at which others could read it.
    fd = os.open(temporary, flags, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(path.parent)


def fsync_directory(path: pathlib.Path) -> None:
    """Make the entries of directory ``path`` (a rename, a new file) durable.

    Does nothing on Windows, which cannot open a directory.

    Raises:
        OSError: the directory could not be opened or synced.
    """
    # A rename is durable only once its directory is.
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def private_directory(path: pathlib.Path) -> None:
    """Make ``path`` (and missing parents) with mode 0700, or tighten it if others can read it.

    Only what this call creates, and ``path`` itself, are changed: existing parents keep their
    modes. A ``path`` that cannot be tightened is logged as a WARNING and used as it is.

    Raises:
        OSError: a directory could not be made or synced, or ``path`` is not there.
    """
    missing: list[pathlib.Path] = []
    current = path
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o700)
            # The umask may have taken more than group and world bits away.
            os.chmod(directory, 0o700)
        fsync_directory(directory.parent)
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError as exc:
            # Each file is 0600 anyway; a directory others can list shows only ids.
            logger.warning(
                "Could not make the ledger directory %s private (mode %o): %s",
                path,
                mode,
                os_reason(exc),
            )

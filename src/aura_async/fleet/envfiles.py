"""``.env`` files written the moment credentials are saved, and their paths checked first.

Used by the command (``instance create --env-file``, ``fleet up --env-dir``) and the MCP
server (``write_env_files``). The command used to write its ``.env`` files after the wait,
and found out only then that the path could not be written: the instance was created
(billable) and the command failed. Now the paths are made (0700) and checked before the first
request (:func:`prepare_env_file`, :func:`prepare_env_dir`), and :class:`EnvFileStore` writes
each file as soon as the credential store has the credentials, before any wait, and again
when they change (a connection URL filled in later).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread

from aura_async.errors import CredentialStoreError
from aura_async.fleet.store import (
    Credentials,
    CredentialStore,
    EntryState,
    Intent,
    LedgerEntry,
    write_env_file,
)

__all__ = ["EnvFileStore", "env_file_in", "prepare_env_dir", "prepare_env_file"]


def _writable_directory(directory: Path, what: str) -> None:
    """Make ``directory`` (0700, with its parents) and check it can be written.

    Raises:
        CredentialStoreError: it cannot be made or written (nothing was sent yet).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not directory.is_dir():
            raise NotADirectoryError(20, "not a directory", str(directory))
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PermissionError(13, "not writable", str(directory))
    except OSError as error:
        raise CredentialStoreError(
            f"cannot write {what} in {directory}: {error.strerror or error}",
            location=str(directory),
            hint="choose a directory you can write; nothing was created",
        ) from None


def prepare_env_file(path: Path) -> Path:
    """Check (and make) where ``--env-file`` will go; return the file that will be written.

    A directory means ``DIR/.env``; a missing parent directory is made with mode 0700.

    Raises:
        CredentialStoreError: the place cannot be written.
    """
    target = path / ".env" if path.is_dir() else path
    _writable_directory(target.parent, "the .env file")
    if target.exists() and not os.access(target, os.W_OK):
        raise CredentialStoreError(
            f"cannot write the .env file {target}: it is read-only",
            location=str(target),
            hint="choose another --env-file; nothing was created",
        )
    return target


def prepare_env_dir(directory: Path) -> Path:
    """Check (and make, mode 0700) the ``--env-dir`` directory; return it.

    Raises:
        CredentialStoreError: it cannot be made or written.
    """
    _writable_directory(directory, ".env files")
    return directory


def env_file_in(directory: Path, name: str) -> Path:
    """The ``.env`` file of an instance named ``name`` in ``directory``: ``<name>.env``.

    Raises:
        CredentialStoreError: the name would put the file elsewhere (a path separator, or
            a name such as ``..``), where it could overwrite another file.
    """
    separators = {"/", "\\", os.sep, *([os.altsep] if os.altsep else [])}
    if not name or any(sep in name for sep in separators) or name in (".", ".."):
        raise CredentialStoreError(
            f"the instance name {name!r} cannot name a file in {directory}",
            location=str(directory),
            hint="Use a name without path separators for instances given .env files",
        )
    return directory / f"{name}.env"


class EnvFileStore:
    """A credential store that also writes each instance's ``.env`` when its credentials are.

    Everything else goes to the store it wraps. A ``.env`` that cannot be written does not
    fail the save (the credentials are in the store): the failure is kept in
    :attr:`failures` for the command to report.

    Args:
        inner: the credential store.
        path_for: the ``.env`` file of an instance's credentials.
    """

    def __init__(self, inner: CredentialStore, path_for: Callable[[Credentials], Path]) -> None:
        self._inner = inner
        self.path_for = path_for
        self.written: dict[str, Path] = {}
        self.failures: dict[str, str] = {}

    @property
    def location(self) -> str:
        """The wrapped store's location."""
        return self._inner.location

    async def record_intent(self, intent: Intent) -> None:
        """Record an intent in the wrapped store.

        Raises:
            CredentialStoreError: the wrapped store could not record it.
        """
        await self._inner.record_intent(intent)

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        """Save the credentials in the wrapped store, then write their ``.env`` file.

        Raises:
            CredentialStoreError: the wrapped store could not save them (the ``.env`` file's
                own failure is kept in :attr:`failures` instead).
        """
        await self._inner.save_credentials(credentials, intent_id=intent_id)
        try:
            path = self.path_for(credentials)
            written = await anyio.to_thread.run_sync(write_env_file, path, credentials)
        except (CredentialStoreError, OSError) as error:
            self.failures[credentials.instance_id] = (
                f"{credentials.name}: no .env written ({error})"
            )
        else:
            self.written[credentials.instance_id] = written
            self.failures.pop(credentials.instance_id, None)

    async def mark(
        self, intent_id: str, state: EntryState, *, instance_id: str | None = None
    ) -> None:
        """Move an intent to ``state`` in the wrapped store.

        Raises:
            CredentialStoreError: the wrapped store could not record it.
        """
        await self._inner.mark(intent_id, state, instance_id=instance_id)

    async def entries(self) -> list[LedgerEntry]:
        """The wrapped store's entries.

        Raises:
            CredentialStoreError: the ledger could not be read.
        """
        return await self._inner.entries()

    async def lookup(
        self, *, name: str | None = None, instance_id: str | None = None
    ) -> Credentials | None:
        """Look credentials up in the wrapped store.

        Raises:
            CredentialStoreError: the ledger could not be read.
        """
        return await self._inner.lookup(name=name, instance_id=instance_id)

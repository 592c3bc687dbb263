"""FileStore: the ledger in a private directory, one atomic, fsynced, 0600 JSON file per record.

::

    <directory>/                    mode 0700, with a .gitignore of "*" so it is never committed
        intents/<intent_id>.json
        credentials/<instance_id>.json

Blocking I/O runs in a worker thread that cancellation waits for, so a write that has started
always finishes.
"""

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

import anyio.to_thread

from aura_async.errors import CredentialStoreError
from aura_async.fleet.store.atomic import os_reason, private_directory, write_atomic
from aura_async.fleet.store.ledger import DocumentLedger, Kind

__all__ = ["FileStore", "default_store_directory"]

_T = TypeVar("_T")


class FileStore(DocumentLedger):
    """A ledger in a private directory: one atomic, fsynced, mode-0600 JSON file per record.

    The directory (and any missing parents) is made on the first write with mode 0700; an
    existing one that others can read is tightened to 0700. Use one store per directory in a
    process: two stores on one directory do not serialize their updates of an intent.

    Attributes:
        unreadable: the files the last :meth:`entries` skipped because they could not be read.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        """Use ``directory`` for the ledger; nothing is touched until the first call."""
        super().__init__()
        self._directory = pathlib.Path(os.path.abspath(os.path.expanduser(directory)))
        self._ready = False
        self._setup_lock = threading.Lock()

    @property
    def directory(self) -> pathlib.Path:
        """The ledger's directory (absolute)."""
        return self._directory

    @property
    def location(self) -> str:
        """The ledger's directory, as a string."""
        return str(self._directory)

    def __repr__(self) -> str:
        return f"FileStore({self.location!r})"

    async def prepare(self) -> None:
        """Make the ledger's directory now (mode 0700), before anything is created.

        A command calls this before its first request, so that a directory that cannot be
        written stops it while nothing billable exists yet.

        Raises:
            CredentialStoreError: the directory cannot be made or written.
        """

        def ready() -> None:
            try:
                self._prepare()
                if not os.access(self._directory, os.W_OK | os.X_OK):
                    raise PermissionError(13, "not writable", str(self._directory))
            except OSError as exc:
                raise CredentialStoreError(
                    f"cannot use the credential directory {self._directory}: {os_reason(exc)}",
                    location=self.location,
                    hint="choose a directory you can write; nothing was created",
                ) from None

        await self._run(ready)

    def _prepare(self, *, again: bool = False) -> None:
        if self._ready and not again:
            return
        with self._setup_lock:
            if self._ready and not again:
                return
            private_directory(self._directory)
            for kind in ("intents", "credentials"):
                private_directory(self._directory / kind)
            ignore = self._directory / ".gitignore"
            if not ignore.exists():
                write_atomic(ignore, b"# aura-async's credential ledger: never commit it.\n*\n")
            self._ready = True

    def _path(self, kind: Kind, key: str) -> pathlib.Path:
        return self._directory / kind / f"{key}.json"

    def _get(self, kind: Kind, key: str) -> str | None:
        try:
            return self._path(kind, key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            return ""  # not JSON: the parser reports it as unreadable

    def _put(self, kind: Kind, key: str, text: str) -> None:
        self._prepare()
        path = self._path(kind, key)
        data = text.encode("utf-8")
        try:
            write_atomic(path, data)
        except FileNotFoundError:
            # The directory went away since it was made (cleaned up by hand): make it again.
            self._prepare(again=True)
            write_atomic(path, data)

    def _all(self, kind: Kind, unreadable: list[str]) -> Iterator[tuple[str, str]]:
        folder = self._directory / kind
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return
        for name in names:
            # Dot files are temporary files of writes in progress (or left by a crash).
            if name.startswith(".") or not name.endswith(".json"):
                continue
            path = folder / name
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                continue
            except (OSError, UnicodeDecodeError) as exc:
                reason = os_reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
                self._skip(str(path), reason, unreadable)
                continue
            yield str(path), text

    async def _run(self, call: Callable[[], _T]) -> _T:
        # Not abandoned on cancellation: a cancelled caller waits for the write to finish.
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=False)


def default_store_directory(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """Where the ledger lives by default.

    ``AURA_LEDGER_DIR`` if set, else ``$XDG_STATE_HOME/aura-async/ledger`` (when that is an
    absolute path, as the XDG spec requires), else ``~/.local/state/aura-async/ledger``.

    Args:
        environ: the environment to read (``os.environ`` if None).

    Raises:
        RuntimeError: there is no ``HOME`` and the home directory cannot be found.
    """
    env = os.environ if environ is None else environ
    home = pathlib.Path(env["HOME"]) if env.get("HOME") else pathlib.Path.home()
    explicit = env.get("AURA_LEDGER_DIR")
    if explicit:
        if explicit == "~" or explicit.startswith("~/"):
            return home / explicit[2:]
        return pathlib.Path(explicit)
    state = env.get("XDG_STATE_HOME")
    if state and os.path.isabs(state):
        return pathlib.Path(state) / "aura-async" / "ledger"
    return home / ".local" / "state" / "aura-async" / "ledger"

"""The credential store: a ledger that never loses a one-time password or a created instance.

The API shows an instance's password once, in the answer to its create, and has no idempotency
key. So a fleet records an *intent* (what it is about to create) durably before sending the
POST, saves the *credentials* durably as soon as the answer is parsed, and *marks* each intent
with what became of it. After a crash, :meth:`CredentialStore.entries` lists every intent with
its state and credentials, so nothing created is ever unknown.

:class:`FileStore` keeps the ledger in a private directory (mode 0700, with a ``.gitignore`` of
``*`` so it is never committed)::

    intents/<intent_id>.json        the intent, its state, its instance id, when it last changed
    credentials/<instance_id>.json  the credentials, the intent they came from, when saved

Every file is human-readable JSON (``cat`` it), mode 0600, written atomically (a private
temporary file, fsynced, renamed over the final name, then the directory fsynced): a file is
either its old or its new version, never half of one, and it is on disk when the call
returns. Blocking I/O runs in a worker thread that cancellation waits for, so a write that has
started always finishes.

:class:`MemoryStore` has the same semantics without files, for tests and for callers who keep
the credentials themselves.

Also here: :func:`write_env_file` writes one instance's credentials as a ``.env`` file (mode
0600) and :func:`ensure_gitignored` makes sure git ignores it.
"""

from __future__ import annotations

import abc
import contextlib
import datetime
import enum
import functools
import json
import logging
import os
import pathlib
import re
import secrets
import shutil
import stat
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Literal, Protocol, TypeVar, runtime_checkable

import anyio.to_thread
import attrs

from aura_async.errors import CredentialStoreError
from aura_async.models import CreatedInstance

__all__ = [
    "CredentialStore",
    "Credentials",
    "EntryState",
    "FileStore",
    "Intent",
    "LedgerEntry",
    "MemoryStore",
    "default_store_directory",
    "ensure_gitignored",
    "new_intent_id",
    "write_env_file",
]

logger = logging.getLogger("aura_async")

_T = TypeVar("_T")
_Kind = Literal["intents", "credentials"]

# Bumped if the documents' shape ever changes, so an old ledger can still be read.
_FORMAT = 1
# Ids become file names: nothing that could climb out of the directory or hide as a dot file.
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Read-modify-writes of intent records are serialized per intent; striping bounds the memory
# while unrelated intents rarely wait on each other.
_LOCK_STRIPES = 64


class EntryState(enum.StrEnum):
    """What became of an intent to create an instance."""

    INTENDED = "intended"
    """The intent is recorded; the create POST may have been sent."""
    CREATED = "created"
    """The instance was created and its credentials are saved."""
    LOST = "credentials-lost"
    """The instance exists but its password was never received."""
    NOT_CREATED = "not-created"
    """Reconciled: no instance came of the intent."""
    ADOPTED = "adopted"
    """An instance that already existed under the name was taken over."""
    DELETED = "deleted"
    """The instance was torn down."""


@attrs.frozen
class Intent:
    """An instance about to be created, recorded before its create request is sent.

    Attributes:
        intent_id: a unique id (:func:`new_intent_id`).
        name: the instance's name.
        spec: the create arguments, JSON-able and without secrets.
        tenant_id: the project it is created in.
        started_at: when the create was started (UTC), taken before the request.
    """

    intent_id: str
    name: str
    spec: Mapping[str, object]
    tenant_id: str | None
    started_at: datetime.datetime


@attrs.frozen
class Credentials:
    """How to connect to one instance; the password is left out of ``repr()`` and ``str()``."""

    instance_id: str
    name: str
    username: str
    password: str = attrs.field(repr=False)
    connection_url: str | None = None
    tenant_id: str | None = None
    created_at: datetime.datetime | None = None

    @classmethod
    def from_created(cls, created: CreatedInstance) -> Credentials:
        """The credentials in a create's answer."""
        return cls(
            instance_id=created.id,
            name=created.name,
            username=created.username,
            password=created.password,
            connection_url=created.connection_url,
            tenant_id=created.tenant_id,
            created_at=created.created_at,
        )


@attrs.frozen
class LedgerEntry:
    """One intent (or credentials saved without one) with its state and credentials.

    Attributes:
        intent_id: the intent's id; pass it to :meth:`CredentialStore.mark`.
        name: the instance's name.
        state: what became of the intent.
        intent: the recorded intent; ``None`` for credentials saved without one.
        instance_id: the instance, once known.
        credentials: its saved credentials, if any (their repr hides the password).
        updated_at: when the entry last changed (UTC).
    """

    intent_id: str
    name: str
    state: EntryState
    intent: Intent | None
    instance_id: str | None
    credentials: Credentials | None
    updated_at: datetime.datetime


@runtime_checkable
class CredentialStore(Protocol):
    """Where a fleet records its intents and saves the credentials of what it creates."""

    @property
    def location(self) -> str:
        """Where the store keeps its ledger, for messages and events (a directory path)."""
        ...

    async def record_intent(self, intent: Intent) -> None:
        """Record an intent durably, in state INTENDED; send the create only after this.

        Raises:
            CredentialStoreError: it could not be recorded.
        """
        ...

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        """Save credentials durably, then move their intent (if any) to CREATED.

        Raises:
            CredentialStoreError: they could not be saved (the message says whether the
                credentials themselves were).
        """
        ...

    async def mark(
        self, intent_id: str, state: EntryState, *, instance_id: str | None = None
    ) -> None:
        """Move a recorded intent to ``state`` (and tie it to ``instance_id`` if given).

        Raises:
            CredentialStoreError: the intent is unknown, or the change could not be recorded.
        """
        ...

    async def entries(self) -> list[LedgerEntry]:
        """Every intent with its state and credentials, plus credentials saved without one.

        Raises:
            CredentialStoreError: the ledger could not be read at all.
        """
        ...

    async def lookup(
        self, *, name: str | None = None, instance_id: str | None = None
    ) -> Credentials | None:
        """The credentials of an instance id, or the newest ones saved for a name.

        Raises:
            CredentialStoreError: the ledger could not be read.
        """
        ...


def new_intent_id() -> str:
    """A new, unique intent id (a random UUID in hex)."""
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- documents


class _Corrupt(Exception):
    """A ledger document that cannot be read back; ``reason`` never quotes its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class _Saved:
    """A credentials document: the credentials, the intent they belong to, when saved."""

    credentials: Credentials
    intent_id: str | None
    saved_at: datetime.datetime


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _encode_time(value: datetime.datetime) -> str:
    # Naive datetimes are taken as UTC, the package's convention, so every stored time has a zone.
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat()


def _dumps(document: Mapping[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _intent_document(entry: LedgerEntry) -> str:
    intent = entry.intent
    return _dumps(
        {
            "format": _FORMAT,
            "intent_id": entry.intent_id,
            "name": entry.name,
            "state": entry.state.value,
            "instance_id": entry.instance_id,
            "updated_at": _encode_time(entry.updated_at),
            "intent": None
            if intent is None
            else {
                "tenant_id": intent.tenant_id,
                "started_at": _encode_time(intent.started_at),
                "spec": dict(intent.spec),
            },
        }
    )


def _credentials_document(saved: _Saved) -> str:
    credentials = saved.credentials
    created_at = credentials.created_at
    return _dumps(
        {
            "format": _FORMAT,
            "instance_id": credentials.instance_id,
            "name": credentials.name,
            "username": credentials.username,
            "password": credentials.password,
            "connection_url": credentials.connection_url,
            "tenant_id": credentials.tenant_id,
            "created_at": None if created_at is None else _encode_time(created_at),
            "intent_id": saved.intent_id,
            "saved_at": _encode_time(saved.saved_at),
        }
    )


def _load(text: str) -> Mapping[str, object]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Corrupt(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise _Corrupt("not a JSON object")
    return data


def _str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise _Corrupt(f"{key!r} is missing or not a string")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise _Corrupt(f"{key!r} is not a string")
    return value


def _time(data: Mapping[str, object], key: str) -> datetime.datetime:
    value = data.get(key)
    if not isinstance(value, str):
        raise _Corrupt(f"{key!r} is missing or not a timestamp")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise _Corrupt(f"{key!r} is not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def _optional_time(data: Mapping[str, object], key: str) -> datetime.datetime | None:
    return None if data.get(key) is None else _time(data, key)


def _parse_intent(text: str) -> LedgerEntry:
    data = _load(text)
    intent_id = _str(data, "intent_id")
    name = _str(data, "name")
    try:
        state = EntryState(_str(data, "state"))
    except ValueError:
        raise _Corrupt("'state' is not a known state") from None
    raw = data.get("intent")
    intent: Intent | None = None
    if raw is not None:
        if not isinstance(raw, dict) or not isinstance(raw.get("spec"), dict):
            raise _Corrupt("'intent' is not an intent")
        intent = Intent(
            intent_id=intent_id,
            name=name,
            spec=raw["spec"],
            tenant_id=_optional_str(raw, "tenant_id"),
            started_at=_time(raw, "started_at"),
        )
    return LedgerEntry(
        intent_id=intent_id,
        name=name,
        state=state,
        intent=intent,
        instance_id=_optional_str(data, "instance_id"),
        credentials=None,
        updated_at=_time(data, "updated_at"),
    )


def _parse_credentials(text: str) -> _Saved:
    data = _load(text)
    credentials = Credentials(
        instance_id=_str(data, "instance_id"),
        name=_str(data, "name"),
        username=_str(data, "username"),
        password=_str(data, "password"),
        connection_url=_optional_str(data, "connection_url"),
        tenant_id=_optional_str(data, "tenant_id"),
        created_at=_optional_time(data, "created_at"),
    )
    return _Saved(credentials, _optional_str(data, "intent_id"), _time(data, "saved_at"))


def _join(records: list[LedgerEntry], saved: list[_Saved]) -> list[LedgerEntry]:
    by_instance: dict[str, _Saved] = {}
    by_intent: dict[str, _Saved] = {}
    for item in sorted(saved, key=lambda s: s.saved_at):
        by_instance[item.credentials.instance_id] = item
        if item.intent_id is not None:
            by_intent[item.intent_id] = item
    joined: set[str] = set()
    entries: list[LedgerEntry] = []
    for record in records:
        match = by_instance.get(record.instance_id) if record.instance_id else None
        # Credentials are written before their intent is updated: if the update never
        # happened (a crash between the two), the credentials still name their intent.
        match = match or by_intent.get(record.intent_id)
        if match is None:
            entries.append(record)
            continue
        joined.add(match.credentials.instance_id)
        entries.append(
            attrs.evolve(
                record,
                state=EntryState.CREATED if record.state is EntryState.INTENDED else record.state,
                instance_id=record.instance_id or match.credentials.instance_id,
                credentials=match.credentials,
            )
        )
    for item in by_instance.values():
        if item.credentials.instance_id in joined:
            continue
        entries.append(
            LedgerEntry(
                intent_id=item.intent_id or item.credentials.instance_id,
                name=item.credentials.name,
                state=EntryState.CREATED,
                intent=None,
                instance_id=item.credentials.instance_id,
                credentials=item.credentials,
                updated_at=item.saved_at,
            )
        )
    entries.sort(key=lambda e: (e.intent.started_at if e.intent else e.updated_at, e.intent_id))
    return entries


def _reason(exc: OSError) -> str:
    # strerror and the file name never hold a secret; str(exc) of an odd OSError might.
    return exc.strerror or type(exc).__name__


def _check_key(key: str, what: str, location: str) -> None:
    if not _SAFE_KEY.fullmatch(key):
        raise CredentialStoreError(
            f"{what} {key!r} cannot name a ledger file",
            location=location,
            hint="Ids may hold only letters, digits, '.', '_' and '-'",
        )


# --------------------------------------------------------------------------- stores


class _Ledger(abc.ABC):
    """The ledger's logic over a store of JSON documents; subclasses say where they live."""

    def __init__(self) -> None:
        self._intent_locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self.unreadable: tuple[str, ...] = ()

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the ledger lives, for messages."""

    @abc.abstractmethod
    def _get(self, kind: _Kind, key: str) -> str | None:
        """One document's text, or None if there is none; raises OSError."""

    @abc.abstractmethod
    def _put(self, kind: _Kind, key: str, text: str) -> None:
        """Replace one document atomically and durably; raises OSError."""

    @abc.abstractmethod
    def _all(self, kind: _Kind, unreadable: list[str]) -> Iterator[tuple[str, str]]:
        """Every document of a kind as (label, text); adds those it cannot read to unreadable."""

    @abc.abstractmethod
    async def _run(self, call: Callable[[], _T]) -> _T:
        """Run a blocking call so that, once started, it finishes even if cancelled."""

    def _skip(self, label: str, reason: str, unreadable: list[str]) -> None:
        logger.warning("Skipped unreadable ledger file %s: %s", label, reason)
        unreadable.append(label)

    def _lock(self, intent_id: str) -> threading.Lock:
        return self._intent_locks[hash(intent_id) % _LOCK_STRIPES]

    def _failure(self, message: str, exc: OSError, hint: str | None = None) -> CredentialStoreError:
        return CredentialStoreError(f"{message}: {_reason(exc)}", location=self.location, hint=hint)

    # The blocking halves of the public methods; a worker thread runs them for FileStore.

    def _record_intent(self, intent: Intent) -> None:
        _check_key(intent.intent_id, "Intent id", self.location)
        record = LedgerEntry(
            intent_id=intent.intent_id,
            name=intent.name,
            state=EntryState.INTENDED,
            intent=intent,
            instance_id=None,
            credentials=None,
            updated_at=_now(),
        )
        try:
            text = _intent_document(record)
        except (TypeError, ValueError) as exc:
            raise CredentialStoreError(
                f"The intent to create {intent.name!r} has a spec that is not JSON: {exc}",
                location=self.location,
                hint="Pass only JSON values (strings, numbers, booleans, lists, dicts) as the spec",
            ) from exc
        try:
            self._put("intents", intent.intent_id, text)
        except OSError as exc:
            raise self._failure(
                f"Could not record the intent to create {intent.name!r} in {self.location}",
                exc,
                "Check that the ledger directory is writable and has space; do not create "
                "the instance until its intent is recorded",
            ) from exc

    def _save_credentials(self, credentials: Credentials, intent_id: str | None) -> None:
        location = self.location
        _check_key(credentials.instance_id, "Instance id", location)
        # Credentials saved without an intent still get an intent record, so that every
        # entry can be marked (deleted, say) by its intent id.
        intent_id = intent_id or new_intent_id()
        now = _now()
        document = _credentials_document(_Saved(credentials, intent_id, now))
        try:
            self._put("credentials", credentials.instance_id, document)
        except OSError as exc:
            raise self._failure(
                f"Could not save the credentials of instance {credentials.instance_id} "
                f"({credentials.name!r}) in {location}",
                exc,
            ) from exc
        # Checked only now: a bad intent id must not keep the password from being saved.
        _check_key(intent_id, "Intent id", location)
        try:
            with self._lock(intent_id):
                existing = self._read_intent(intent_id)
                record = LedgerEntry(
                    intent_id=intent_id,
                    name=existing.name if existing else credentials.name,
                    state=EntryState.CREATED,
                    intent=existing.intent if existing else None,
                    instance_id=credentials.instance_id,
                    credentials=None,
                    updated_at=now,
                )
                self._put("intents", intent_id, _intent_document(record))
        except OSError as exc:
            raise self._failure(
                f"Saved the credentials of instance {credentials.instance_id}, but could not "
                f"mark intent {intent_id} as created in {location}",
                exc,
                "The credentials are safe and the ledger still ties them to their intent; check "
                "that the ledger directory is writable",
            ) from exc

    def _read_intent(self, intent_id: str) -> LedgerEntry | None:
        text = self._get("intents", intent_id)
        if text is None:
            return None
        try:
            return _parse_intent(text)
        except _Corrupt as exc:
            self._skip(f"intents/{intent_id}.json in {self.location}", exc.reason, [])
            return None

    def _mark(self, intent_id: str, state: EntryState, instance_id: str | None) -> None:
        location = self.location
        _check_key(intent_id, "Intent id", location)
        state = EntryState(state)
        try:
            with self._lock(intent_id):
                existing = self._read_intent(intent_id)
                if existing is None:
                    raise CredentialStoreError(
                        f"There is no readable intent {intent_id} in the ledger at {location}",
                        location=location,
                        hint="Mark only intents recorded by record_intent() or save_credentials()",
                    )
                record = attrs.evolve(
                    existing,
                    state=state,
                    instance_id=instance_id or existing.instance_id,
                    updated_at=_now(),
                )
                self._put("intents", intent_id, _intent_document(record))
        except OSError as exc:
            raise self._failure(
                f"Could not mark intent {intent_id} as {state.value} in {location}",
                exc,
                "Check that the ledger directory is writable and has space; the ledger "
                "still shows the intent's previous state",
            ) from exc

    def _entries(self) -> list[LedgerEntry]:
        unreadable: list[str] = []
        records: list[LedgerEntry] = []
        saved: list[_Saved] = []
        try:
            for label, text in self._all("intents", unreadable):
                try:
                    records.append(_parse_intent(text))
                except _Corrupt as exc:
                    self._skip(label, exc.reason, unreadable)
            for label, text in self._all("credentials", unreadable):
                try:
                    saved.append(_parse_credentials(text))
                except _Corrupt as exc:
                    self._skip(label, exc.reason, unreadable)
        except OSError as exc:
            raise self._failure(
                f"Could not read the ledger in {self.location}",
                exc,
                "Check that the ledger directory exists and is readable",
            ) from exc
        self.unreadable = tuple(unreadable)
        return _join(records, saved)

    def _lookup(self, name: str | None, instance_id: str | None) -> Credentials | None:
        if name is None and instance_id is None:
            raise TypeError("lookup() needs name= or instance_id=")
        try:
            if instance_id is not None:
                if not _SAFE_KEY.fullmatch(instance_id):
                    return None
                text = self._get("credentials", instance_id)
                if text is None:
                    return None
                try:
                    found = _parse_credentials(text).credentials
                except _Corrupt as exc:
                    self._skip(f"credentials/{instance_id}.json in {self.location}", exc.reason, [])
                    return None
                return found if name is None or found.name == name else None
            newest: _Saved | None = None
            unreadable: list[str] = []
            for label, text in self._all("credentials", unreadable):
                try:
                    item = _parse_credentials(text)
                except _Corrupt as exc:
                    self._skip(label, exc.reason, unreadable)
                    continue
                if item.credentials.name == name and (
                    newest is None or item.saved_at > newest.saved_at
                ):
                    newest = item
            return newest.credentials if newest else None
        except OSError as exc:
            raise self._failure(
                f"Could not read the ledger in {self.location}",
                exc,
                "Check that the ledger directory exists and is readable",
            ) from exc

    # The CredentialStore protocol.

    async def record_intent(self, intent: Intent) -> None:
        """Record an intent durably, in state INTENDED; send the create only after this.

        Raises:
            CredentialStoreError: it could not be recorded (its id cannot name a file, its
                spec is not JSON, or the write failed).
        """
        await self._run(functools.partial(self._record_intent, intent))

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        """Save credentials durably, then move their intent to CREATED with the instance id.

        The credentials are written first. Without an ``intent_id`` (or with one never
        recorded), an intent record without an intent is made for them, so that
        :meth:`mark` works on every entry.

        Raises:
            CredentialStoreError: the credentials could not be saved, or (the message says so)
                they were saved but the intent could not be updated.
        """
        await self._run(functools.partial(self._save_credentials, credentials, intent_id))

    async def mark(
        self, intent_id: str, state: EntryState, *, instance_id: str | None = None
    ) -> None:
        """Move a recorded intent to ``state``, tying it to ``instance_id`` if given.

        Raises:
            CredentialStoreError: no readable intent has this id, or the change could not be
                written.
        """
        await self._run(functools.partial(self._mark, intent_id, state, instance_id))

    async def entries(self) -> list[LedgerEntry]:
        """Every intent joined with its credentials, plus credentials saved without an intent.

        Ordered by when each intent started (or the entry last changed). Documents that cannot
        be read are skipped with a WARNING on the ``aura_async`` logger and listed in
        :attr:`unreadable`.

        Raises:
            CredentialStoreError: the ledger could not be listed.
        """
        return await self._run(self._entries)

    async def lookup(
        self, *, name: str | None = None, instance_id: str | None = None
    ) -> Credentials | None:
        """The credentials of ``instance_id``, or else the newest ones saved for ``name``.

        With both, the instance's credentials only if they carry that name.

        Raises:
            TypeError: neither was given.
            CredentialStoreError: the ledger could not be read.
        """
        return await self._run(functools.partial(self._lookup, name, instance_id))


class FileStore(_Ledger):
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
                    f"cannot use the credential directory {self._directory}: {_reason(exc)}",
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
            _private_directory(self._directory)
            for kind in ("intents", "credentials"):
                _private_directory(self._directory / kind)
            ignore = self._directory / ".gitignore"
            if not ignore.exists():
                _write_atomic(ignore, b"# aura-async's credential ledger: never commit it.\n*\n")
            self._ready = True

    def _path(self, kind: _Kind, key: str) -> pathlib.Path:
        return self._directory / kind / f"{key}.json"

    def _get(self, kind: _Kind, key: str) -> str | None:
        try:
            return self._path(kind, key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            return ""  # not JSON: the parser reports it as unreadable

    def _put(self, kind: _Kind, key: str, text: str) -> None:
        self._prepare()
        path = self._path(kind, key)
        data = text.encode("utf-8")
        try:
            _write_atomic(path, data)
        except FileNotFoundError:
            # The directory went away since it was made (cleaned up by hand): make it again.
            self._prepare(again=True)
            _write_atomic(path, data)

    def _all(self, kind: _Kind, unreadable: list[str]) -> Iterator[tuple[str, str]]:
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
                reason = _reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
                self._skip(str(path), reason, unreadable)
                continue
            yield str(path), text

    async def _run(self, call: Callable[[], _T]) -> _T:
        # Not abandoned on cancellation: a cancelled caller waits for the write to finish.
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=False)


class MemoryStore(_Ledger):
    """A ledger in memory, with the same semantics as :class:`FileStore` but no files.

    For tests, and for callers who keep the credentials themselves: read them back with
    :meth:`entries` or :meth:`lookup` before the process ends.

    Attributes:
        unreadable: always empty (kept for parity with :class:`FileStore`).
    """

    def __init__(self) -> None:
        """An empty ledger."""
        super().__init__()
        self._documents: dict[tuple[_Kind, str], str] = {}

    @property
    def location(self) -> str:
        """``"memory"``."""
        return "memory"

    def __repr__(self) -> str:
        return f"MemoryStore(documents={len(self._documents)})"

    def _get(self, kind: _Kind, key: str) -> str | None:
        return self._documents.get((kind, key))

    def _put(self, kind: _Kind, key: str, text: str) -> None:
        self._documents[kind, key] = text

    def _all(self, kind: _Kind, unreadable: list[str]) -> Iterator[tuple[str, str]]:
        for (each, key), text in sorted(self._documents.items()):
            if each == kind:
                yield f"memory:{kind}/{key}", text

    async def _run(self, call: Callable[[], _T]) -> _T:
        return call()


# --------------------------------------------------------------------------- files


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once and durably, never readable by others."""
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
    _fsync_directory(path.parent)


def _fsync_directory(path: pathlib.Path) -> None:
    # A rename is durable only once its directory is; Windows cannot open directories.
    if os.name == "nt":
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_directory(path: pathlib.Path) -> None:
    """Make ``path`` (and missing parents) with mode 0700, or tighten it if others can read it."""
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
        _fsync_directory(directory.parent)
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
                _reason(exc),
            )


def default_store_directory(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """Where the ledger lives by default.

    ``AURA_LEDGER_DIR`` if set, else ``$XDG_STATE_HOME/aura-async/ledger`` (when that is an
    absolute path, as the XDG spec requires), else ``~/.local/state/aura-async/ledger``.

    Args:
        environ: the environment to read (``os.environ`` if None).
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


_ENV_HEADER = "# Neo4j Aura instance credentials, written by aura-async. Keep this file secret.\n"


def write_env_file(
    path: str | os.PathLike[str], credentials: Credentials, *, database: str = "neo4j"
) -> pathlib.Path:
    """Write an instance's credentials as a ``.env`` file (mode 0600, atomically) git ignores.

    Writes NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD, NEO4J_DATABASE and AURA_INSTANCE_ID,
    single-quoted so that python-dotenv reads them back unchanged. Other lines of an
    existing file (your own variables, comments) are kept; these five are replaced. Then
    :func:`ensure_gitignored` adds the file to the enclosing work tree's ``.gitignore``.

    Args:
        path: the file, or a directory to write ``.env`` in.
        credentials: what to write.
        database: the database name to write as NEO4J_DATABASE.

    Returns:
        The file written.

    Raises:
        CredentialStoreError: it could not be read, written or git-ignored, or a value
            holds ``${`` (which python-dotenv would expand); the message never holds the
            password.
    """
    from dotenv.parser import parse_stream

    target = pathlib.Path(path)
    if target.is_dir():
        target = target / ".env"
    values = {
        "NEO4J_URI": credentials.connection_url or "",
        "NEO4J_USERNAME": credentials.username,
        "NEO4J_PASSWORD": credentials.password,
        "NEO4J_DATABASE": database,
        "AURA_INSTANCE_ID": credentials.instance_id,
    }
    for key, value in values.items():
        # python-dotenv expands ${...} whatever the quoting and offers no escape for it.
        if "${" in value:
            raise CredentialStoreError(
                f"{key} holds '${{', which python-dotenv would expand; {target} not written",
                location=str(target),
                hint="Write this value to the file by hand",
            )
    kept = ""
    try:
        if target.exists():
            with target.open(encoding="utf-8") as stream:
                kept = "".join(
                    binding.original.string
                    for binding in parse_stream(stream)
                    if binding.key not in values and binding.original.string != _ENV_HEADER
                )
        if kept and not kept.endswith("\n"):
            kept += "\n"
        lines = "".join(f"{key}={_dotenv_quote(value)}\n" for key, value in values.items())
        _write_atomic(target, (kept + _ENV_HEADER + lines).encode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CredentialStoreError(
            f"{target} exists and is not a text file; it was not overwritten",
            location=str(target),
            hint="Pass another path",
        ) from exc
    except OSError as exc:
        raise CredentialStoreError(
            f"Could not write the credentials of instance {credentials.instance_id} to "
            f"{target}: {_reason(exc)}",
            location=str(target),
        ) from exc
    ensure_gitignored(target)
    return target


def read_env_file(path: str | os.PathLike[str], instance_id: str | None = None) -> Credentials:
    """Read an instance's credentials back from a ``.env`` file (as :func:`write_env_file`
    writes it, or as Aura's console downloads it).

    Reads NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD and AURA_INSTANCEID or AURA_INSTANCE_ID
    (and AURA_INSTANCENAME, when there); ``path`` may be a directory holding ``.env``.

    Args:
        path: the file, or its directory.
        instance_id: the instance the file must be of: a file that names another one is
            refused (a file that names none is taken as this one's).

    Raises:
        CredentialStoreError: the file cannot be read, lacks a value, or names another
            instance; the message never holds the password.
    """
    from dotenv import dotenv_values

    target = pathlib.Path(path)
    if target.is_dir():
        target = target / ".env"
    try:
        with target.open(encoding="utf-8") as stream:
            values = dotenv_values(stream=stream, interpolate=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise CredentialStoreError(
            f"Could not read {target}: {_reason(exc) if isinstance(exc, OSError) else exc}",
            location=str(target),
            hint="Check the path",
        ) from None
    named = values.get("AURA_INSTANCEID") or values.get("AURA_INSTANCE_ID") or ""
    if instance_id is not None and named and named != instance_id:
        raise CredentialStoreError(
            f"{target} holds the credentials of instance {named}, not {instance_id}",
            location=str(target),
            hint="Pass the .env file of this instance",
        )
    missing = [
        key for key in ("NEO4J_URI", "NEO4J_USERNAME", "NEO4J_PASSWORD") if not values.get(key)
    ]
    if missing:
        raise CredentialStoreError(
            f"{target} holds no {', '.join(missing)}",
            location=str(target),
            hint="Pass a .env file as `instance create --env-file` or the Aura console writes it",
        )
    return Credentials(
        instance_id=instance_id or named,
        name=values.get("AURA_INSTANCENAME") or "",
        username=values["NEO4J_USERNAME"] or "",
        password=values["NEO4J_PASSWORD"] or "",
        connection_url=values["NEO4J_URI"],
    )


def _dotenv_quote(value: str) -> str:
    # In single quotes python-dotenv decodes only \\ and \'; everything else is literal.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ensure_gitignored(path: str | os.PathLike[str]) -> pathlib.Path | None:
    """Make sure git ignores the file at ``path``, adding it to the work tree's ``.gitignore``.

    The enclosing work tree is the nearest directory above ``path`` holding ``.git``. Whether
    the file is already ignored is asked of ``git check-ignore --no-index`` when git is on
    PATH (so global and repository excludes count too), else read from the ``.gitignore``
    files and ``.git/info/exclude`` for the usual patterns. If not ignored, a line is appended
    to the work tree's top ``.gitignore``: ``.env`` for a file named ``.env``, else its path
    from the top (``/config/neo4j.env``).

    Returns:
        The ``.gitignore`` changed, or None when nothing needed changing or there is no
        work tree.

    Raises:
        CredentialStoreError: the ``.gitignore`` could not be read or written.
    """
    target = pathlib.Path(path).resolve()
    root = next((d for d in target.parents if (d / ".git").exists()), None)
    if root is None:
        return None
    relative = target.relative_to(root).as_posix()
    gitignore = root / ".gitignore"
    try:
        ignored = _git_ignores(root, relative)
        if ignored is None:
            ignored = _patterns_ignore(root, relative)
        if ignored:
            return None
        entry = ".env" if target.name == ".env" else "/" + _escape_pattern(relative)
        existing = gitignore.read_bytes() if gitignore.exists() else b""
        with gitignore.open("ab") as stream:
            if existing and not existing.endswith(b"\n"):
                stream.write(b"\n")
            stream.write(entry.encode("utf-8") + b"\n")
    except OSError as exc:
        raise CredentialStoreError(
            f"Could not add {relative} to {gitignore}: {_reason(exc)}",
            location=str(gitignore),
            hint=f"Add {relative} to .gitignore by hand: it holds a password",
        ) from exc
    return gitignore


def _git_ignores(root: pathlib.Path, relative: str) -> bool | None:
    """Ask git whether ``relative`` is ignored; None when git cannot say."""
    git = shutil.which("git")
    if git is None:
        return None
    try:
        # A fixed argument list (no shell); --no-index reads patterns only, never the index.
        result = subprocess.run(  # noqa: S603
            [git, "-C", str(root), "check-ignore", "-q", "--no-index", "--", relative],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {0: True, 1: False}.get(result.returncode)


def _patterns_ignore(root: pathlib.Path, relative: str) -> bool:
    """Whether the ignore files in ``root`` ignore ``relative`` (common gitignore patterns)."""
    parts = relative.split("/")
    sources = [(root / ".git" / "info" / "exclude", "")]
    sources += [
        (root.joinpath(*parts[:depth], ".gitignore"), "/".join(parts[:depth]))
        for depth in range(len(parts))
    ]
    patterns: list[tuple[str, str]] = []
    for file, base in sources:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            text = file.read_text(encoding="utf-8", errors="replace")
            patterns += [(base, line) for line in text.splitlines()]
    # Git ignores everything below an ignored directory, whatever later patterns say.
    for depth in range(1, len(parts) + 1):
        candidate = "/".join(parts[:depth])
        is_dir = depth < len(parts)
        ignored = False
        for base, line in patterns:
            match = _pattern_match(line, base, candidate, is_dir)
            if match is not None:
                ignored = match
        if ignored:
            return True
    return False


def _pattern_match(line: str, base: str, candidate: str, is_dir: bool) -> bool | None:
    """True/False if ``line`` ignores/re-includes ``candidate``; None if it does not apply."""
    pattern = line.rstrip()
    if not pattern or pattern.startswith("#"):
        return None
    negated = pattern.startswith("!")
    if negated or pattern.startswith(("\\!", "\\#")):
        pattern = pattern[1:]
    if base:
        if not candidate.startswith(base + "/"):
            return None
        candidate = candidate[len(base) + 1 :]
    if pattern.endswith("/"):
        if not is_dir:
            return None
        pattern = pattern.rstrip("/")
    if "/" in pattern:
        subject = candidate
        pattern = pattern.lstrip("/")
    else:
        subject = candidate.rsplit("/", 1)[-1]
    return not negated if _glob(pattern).fullmatch(subject) else None


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def _escape_pattern(relative: str) -> str:
    escaped = re.sub(r"([\\*?\[\]])", r"\\\1", relative)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return escaped

"""The ledger's rules, over a store of JSON documents that subclasses keep somewhere.

:class:`DocumentLedger` implements :class:`~aura_async.fleet.store.CredentialStore`: the
intent is written before the create, the credentials before their intent's new state, every
intent is serialized against itself, and reading joins intents with their credentials (also
those whose intent update never happened). :class:`~aura_async.fleet.store.FileStore` keeps
the documents in files, :class:`~aura_async.fleet.store.MemoryStore` in a dict.
"""

from __future__ import annotations

import abc
import datetime
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterator
from typing import Literal, TypeVar

import attrs

from aura_async.errors import CredentialStoreError
from aura_async.fleet.store.atomic import os_reason
from aura_async.fleet.store.documents import (
    CorruptDocument,
    SavedCredentials,
    credentials_document,
    intent_document,
    parse_credentials,
    parse_intent,
)
from aura_async.fleet.store.records import (
    Credentials,
    EntryState,
    Intent,
    LedgerEntry,
    new_intent_id,
)

__all__ = ["SAFE_KEY", "DocumentLedger", "Kind"]

logger = logging.getLogger("aura_async")

_T = TypeVar("_T")
Kind = Literal["intents", "credentials"]
"""The two kinds of document: an intent's record, or an instance's credentials."""

# Ids become file names: nothing that could climb out of the directory or hide as a dot file.
SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Read-modify-writes of intent records are serialized per intent; striping bounds the memory
# while unrelated intents rarely wait on each other.
_LOCK_STRIPES = 64


class DocumentLedger(abc.ABC):
    """The ledger's logic over a store of JSON documents; subclasses say where they live.

    Attributes:
        unreadable: the documents the last :meth:`entries` skipped because they could not
            be read.
    """

    def __init__(self) -> None:
        self._intent_locks = tuple(threading.Lock() for _ in range(_LOCK_STRIPES))
        self.unreadable: tuple[str, ...] = ()

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the ledger lives, for messages."""

    @abc.abstractmethod
    def _get(self, kind: Kind, key: str) -> str | None:
        """One document's text, or None if there is none; raises OSError."""

    @abc.abstractmethod
    def _put(self, kind: Kind, key: str, text: str) -> None:
        """Replace one document atomically and durably; raises OSError."""

    @abc.abstractmethod
    def _all(self, kind: Kind, unreadable: list[str]) -> Iterator[tuple[str, str]]:
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
        return CredentialStoreError(
            f"{message}: {os_reason(exc)}", location=self.location, hint=hint
        )

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
            text = intent_document(record)
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
        document = credentials_document(SavedCredentials(credentials, intent_id, now))
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
                self._put("intents", intent_id, intent_document(record))
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
            return parse_intent(text)
        except CorruptDocument as exc:
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
                self._put("intents", intent_id, intent_document(record))
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
        saved: list[SavedCredentials] = []
        try:
            for label, text in self._all("intents", unreadable):
                try:
                    records.append(parse_intent(text))
                except CorruptDocument as exc:
                    self._skip(label, exc.reason, unreadable)
            for label, text in self._all("credentials", unreadable):
                try:
                    saved.append(parse_credentials(text))
                except CorruptDocument as exc:
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
                return self._lookup_instance(instance_id, name)
            newest: SavedCredentials | None = None
            unreadable: list[str] = []
            for label, text in self._all("credentials", unreadable):
                try:
                    item = parse_credentials(text)
                except CorruptDocument as exc:
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

    def _lookup_instance(self, instance_id: str, name: str | None) -> Credentials | None:
        """The credentials of ``instance_id``, if they carry ``name`` when given; raises OSError."""
        if not SAFE_KEY.fullmatch(instance_id):
            return None
        text = self._get("credentials", instance_id)
        if text is None:
            return None
        try:
            found = parse_credentials(text).credentials
        except CorruptDocument as exc:
            self._skip(f"credentials/{instance_id}.json in {self.location}", exc.reason, [])
            return None
        return found if name is None or found.name == name else None

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


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _check_key(key: str, what: str, location: str) -> None:
    if not SAFE_KEY.fullmatch(key):
        raise CredentialStoreError(
            f"{what} {key!r} cannot name a ledger file",
            location=location,
            hint="Ids may hold only letters, digits, '.', '_' and '-'",
        )


def _join(records: list[LedgerEntry], saved: list[SavedCredentials]) -> list[LedgerEntry]:
    """Each intent record with its credentials, then credentials no record claims; in order."""
    by_instance: dict[str, SavedCredentials] = {}
    by_intent: dict[str, SavedCredentials] = {}
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

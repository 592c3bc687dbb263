"""The ledger's records as JSON documents, and back.

Two kinds of document, each a human-readable JSON object (``cat`` it)::

    intents/<intent_id>.json        the intent, its state, its instance id, when it last changed
    credentials/<instance_id>.json  the credentials, the intent they came from, when saved

Reading a document that does not fit raises :class:`CorruptDocument`, whose reason names the
field and what is wrong with it, never the field's value: a credentials document holds a
password.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping

import attrs

from aura_async.fleet.store.records import Credentials, EntryState, Intent, LedgerEntry

__all__ = [
    "CorruptDocument",
    "SavedCredentials",
    "credentials_document",
    "intent_document",
    "parse_credentials",
    "parse_intent",
]

# Bumped if the documents' shape ever changes, so an old ledger can still be read.
_FORMAT = 1


class CorruptDocument(Exception):
    """A ledger document that cannot be read back; ``reason`` never quotes its content."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class SavedCredentials:
    """A credentials document: the credentials, the intent they belong to, when saved."""

    credentials: Credentials
    intent_id: str | None
    saved_at: datetime.datetime


def intent_document(entry: LedgerEntry) -> str:
    """The text of ``entry``'s intent document (its credentials are not part of it).

    Raises:
        TypeError, ValueError: the intent's spec holds a value JSON cannot (a datetime, NaN).
    """
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


def credentials_document(saved: SavedCredentials) -> str:
    """The text of a credentials document, password included."""
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


def parse_intent(text: str) -> LedgerEntry:
    """Read an intent document back as an entry without credentials.

    Raises:
        CorruptDocument: the text is not an intent document.
    """
    data = _load(text)
    intent_id = _str(data, "intent_id")
    name = _str(data, "name")
    try:
        state = EntryState(_str(data, "state"))
    except ValueError:
        raise CorruptDocument("'state' is not a known state") from None
    raw = data.get("intent")
    intent: Intent | None = None
    if raw is not None:
        if not isinstance(raw, dict) or not isinstance(raw.get("spec"), dict):
            raise CorruptDocument("'intent' is not an intent")
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


def parse_credentials(text: str) -> SavedCredentials:
    """Read a credentials document back.

    Raises:
        CorruptDocument: the text is not a credentials document.
    """
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
    return SavedCredentials(credentials, _optional_str(data, "intent_id"), _time(data, "saved_at"))


def _encode_time(value: datetime.datetime) -> str:
    # Naive datetimes are taken as UTC, the package's convention, so every stored time has a zone.
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat()


def _dumps(document: Mapping[str, object]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _load(text: str) -> Mapping[str, object]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptDocument(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise CorruptDocument("not a JSON object")
    return data


def _str(data: Mapping[str, object], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise CorruptDocument(f"{key!r} is missing or not a string")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise CorruptDocument(f"{key!r} is not a string")
    return value


def _time(data: Mapping[str, object], key: str) -> datetime.datetime:
    value = data.get(key)
    if not isinstance(value, str):
        raise CorruptDocument(f"{key!r} is missing or not a timestamp")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise CorruptDocument(f"{key!r} is not an ISO 8601 timestamp") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def _optional_time(data: Mapping[str, object], key: str) -> datetime.datetime | None:
    return None if data.get(key) is None else _time(data, key)

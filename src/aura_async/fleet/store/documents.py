"""The ledger's records as JSON documents, and back, through the package's cattrs converter.

Two kinds of document, each a human-readable JSON object (``cat`` it)::

    intents/<intent_id>.json        the intent, its state, its instance id, when it last changed
    credentials/<instance_id>.json  the credentials, the intent they came from, when saved

Their shapes are the attrs classes below, field for field in the files' order; the package's
converter (:mod:`aura_async._serde`) checks and builds them, so a document that does not fit
is reported as the converter reports any JSON: what is wrong and where, never the value (a
credentials document holds a password). What the converter's rules would write differently
stays here, so that every ledger ever written reads back and is rewritten byte for byte:

- Times are kept as the ledger's ISO 8601 text with its own offset (``+00:00``), where the
  converter writes UTC with ``Z`` and reads any offset as UTC.
- The state is a plain string checked against :class:`EntryState` here: the converter's
  string rule answers for every ``str`` subclass that is not an ``OpenEnum``.
- An intent's spec goes to ``json.dumps`` as the caller gave it, where the converter would
  turn a datetime into a string: a value JSON cannot hold is refused, as it always was.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any, Final, TypeVar

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from aura_async._serde import ResponseShapeError, converter, structure
from aura_async.fleet.store.records import Credentials, EntryState, Intent, LedgerEntry

__all__ = [
    "CorruptDocument",
    "SavedCredentials",
    "credentials_document",
    "intent_document",
    "parse_credentials",
    "parse_intent",
]

# Bumped if the documents' shape ever changes, so an old ledger can still be read. Written
# first in every document; never required on reading (the converter ignores it).
_FORMAT: Final = 1

_D = TypeVar("_D")


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


# The documents as they are on disk. Optional fields default to None so that a document
# written without them (by hand, or by an older version) still reads, as it always did.


@attrs.frozen(kw_only=True)
class _IntentPart:
    """The ``intent`` object of an intent document: what was asked for, where, and when."""

    tenant_id: str | None = None
    started_at: str
    spec: Mapping[str, Any]


@attrs.frozen(kw_only=True)
class _IntentDocument:
    """``intents/<intent_id>.json``."""

    intent_id: str
    name: str
    state: str
    instance_id: str | None = None
    updated_at: str
    intent: _IntentPart | None = None


@attrs.frozen(kw_only=True)
class _CredentialsDocument:
    """``credentials/<instance_id>.json``."""

    instance_id: str
    name: str
    username: str
    password: str = attrs.field(repr=False)
    connection_url: str | None = None
    tenant_id: str | None = None
    created_at: str | None = None
    intent_id: str | None = None
    saved_at: str


# The spec as given (see the module's docstring): json.dumps refuses what JSON cannot hold,
# where the converter's rules would have written a datetime as a string.
converter.register_unstructure_hook(
    _IntentPart, make_dict_unstructure_fn(_IntentPart, converter, spec=override(unstruct_hook=dict))
)
# Generated now, once: stores parse in several worker threads at a time.
for _document in (_IntentDocument, _CredentialsDocument):
    converter.get_structure_hook(_document)
    converter.get_unstructure_hook(_document)


def intent_document(entry: LedgerEntry) -> str:
    """The text of ``entry``'s intent document (its credentials are not part of it).

    Raises:
        TypeError, ValueError: the intent's spec holds a value JSON cannot (a datetime, NaN).
    """
    intent = entry.intent
    document = _IntentDocument(
        intent_id=entry.intent_id,
        name=entry.name,
        state=entry.state.value,
        instance_id=entry.instance_id,
        updated_at=_encode_time(entry.updated_at),
        intent=None
        if intent is None
        else _IntentPart(
            tenant_id=intent.tenant_id,
            started_at=_encode_time(intent.started_at),
            spec=intent.spec,
        ),
    )
    return _dumps(converter.unstructure(document))


def credentials_document(saved: SavedCredentials) -> str:
    """The text of a credentials document, password included."""
    credentials = saved.credentials
    created_at = credentials.created_at
    document = _CredentialsDocument(
        instance_id=credentials.instance_id,
        name=credentials.name,
        username=credentials.username,
        password=credentials.password,
        connection_url=credentials.connection_url,
        tenant_id=credentials.tenant_id,
        created_at=None if created_at is None else _encode_time(created_at),
        intent_id=saved.intent_id,
        saved_at=_encode_time(saved.saved_at),
    )
    return _dumps(converter.unstructure(document))


def parse_intent(text: str) -> LedgerEntry:
    """Read an intent document back as an entry without credentials.

    Raises:
        CorruptDocument: the text is not an intent document.
    """
    document = _structure(text, _IntentDocument)
    try:
        state = EntryState(document.state)
    except ValueError:
        raise CorruptDocument("not a known state @ $.state") from None
    part = document.intent
    return LedgerEntry(
        intent_id=document.intent_id,
        name=document.name,
        state=state,
        intent=None
        if part is None
        else Intent(
            intent_id=document.intent_id,
            name=document.name,
            spec=part.spec,
            tenant_id=part.tenant_id,
            started_at=_time(part.started_at, "$.intent.started_at"),
        ),
        instance_id=document.instance_id,
        credentials=None,
        updated_at=_time(document.updated_at, "$.updated_at"),
    )


def parse_credentials(text: str) -> SavedCredentials:
    """Read a credentials document back.

    Raises:
        CorruptDocument: the text is not a credentials document.
    """
    document = _structure(text, _CredentialsDocument)
    created_at = document.created_at
    credentials = Credentials(
        instance_id=document.instance_id,
        name=document.name,
        username=document.username,
        password=document.password,
        connection_url=document.connection_url,
        tenant_id=document.tenant_id,
        created_at=None if created_at is None else _time(created_at, "$.created_at"),
    )
    return SavedCredentials(credentials, document.intent_id, _time(document.saved_at, "$.saved_at"))


def _structure(text: str, cls: type[_D]) -> _D:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Where it broke, not the text around it: that may be the password.
        raise CorruptDocument(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    try:
        return structure(data, cls)
    except ResponseShapeError as exc:
        # One "<what> @ <where>" per problem; the converter never quotes a string's value.
        raise CorruptDocument("; ".join(exc.errors)) from None


def _encode_time(value: datetime.datetime) -> str:
    # Naive datetimes are taken as UTC, the package's convention, so every stored time has a zone.
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat()


def _time(text: str, where: str) -> datetime.datetime:
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CorruptDocument(f"not an ISO 8601 timestamp @ {where}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=datetime.UTC)


def _dumps(document: Mapping[str, object]) -> str:
    return (
        json.dumps({"format": _FORMAT, **document}, indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )

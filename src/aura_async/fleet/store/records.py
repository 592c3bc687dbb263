"""The ledger's records: an intent, its state, the credentials, and an entry joining them.

Plain values (frozen attrs classes), shared by every store and by the fleet that fills them.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import Mapping

import attrs

from aura_async.models import CreatedInstance

__all__ = ["Credentials", "EntryState", "Intent", "LedgerEntry", "new_intent_id"]


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


def new_intent_id() -> str:
    """A new, unique intent id (a random UUID in hex)."""
    return uuid.uuid4().hex

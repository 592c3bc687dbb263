"""CredentialStore: what a fleet needs of the place it keeps its intents and credentials."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from aura_async.fleet.store.records import Credentials, EntryState, Intent, LedgerEntry

__all__ = ["CredentialStore"]


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

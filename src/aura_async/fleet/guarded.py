"""How the fleet writes to a credential store without letting a store's failure escape.

The fleet's guarantees rest on store failures being caught where they happen: a third-party
store may raise anything, which would otherwise tear a whole call down. :class:`GuardedStore`
turns every failure into a :class:`CredentialStoreError`; :func:`keep_credentials` keeps the
credentials on their item before writing them, and :func:`mark` logs a failed state change
instead of raising it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

from aura_async.errors import CredentialStoreError
from aura_async.events import CredentialsSaved
from aura_async.fleet.report import FleetItem
from aura_async.fleet.store import Credentials, CredentialStore, EntryState, Intent, LedgerEntry

__all__ = ["GuardedStore", "guarded", "keep_credentials", "mark"]

logger = logging.getLogger("aura_async")

T = TypeVar("T")


class GuardedStore:
    """A credential store whose every failure is a :class:`CredentialStoreError`."""

    def __init__(self, inner: CredentialStore) -> None:
        self._inner = inner

    @property
    def location(self) -> str:
        try:
            return str(self._inner.location)
        except Exception:
            return type(self._inner).__name__

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except CredentialStoreError:
            raise
        except Exception as error:
            raise CredentialStoreError(
                f"the credential store failed to {what} ({type(error).__name__})",
                location=self.location,
            ) from error

    async def record_intent(self, intent: Intent) -> None:
        await self._call("record an intent", lambda: self._inner.record_intent(intent))

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        await self._call(
            "save credentials",
            lambda: self._inner.save_credentials(credentials, intent_id=intent_id),
        )

    async def mark(
        self, intent_id: str, state: EntryState, *, instance_id: str | None = None
    ) -> None:
        await self._call(
            "mark an entry", lambda: self._inner.mark(intent_id, state, instance_id=instance_id)
        )

    async def entries(self) -> list[LedgerEntry]:
        return await self._call("read the ledger", self._inner.entries)

    async def lookup(
        self, *, name: str | None = None, instance_id: str | None = None
    ) -> Credentials | None:
        return await self._call(
            "look up credentials", lambda: self._inner.lookup(name=name, instance_id=instance_id)
        )


@overload
def guarded(store: CredentialStore) -> CredentialStore: ...
@overload
def guarded(store: None) -> None: ...
@overload
def guarded(store: CredentialStore | None) -> CredentialStore | None: ...
def guarded(store: CredentialStore | None) -> CredentialStore | None:
    """``store`` behind a :class:`GuardedStore` (once: a guarded store is returned as it is)."""
    return None if store is None or isinstance(store, GuardedStore) else GuardedStore(store)


async def mark(
    store: CredentialStore, intent_id: str, state: EntryState, *, instance_id: str | None = None
) -> None:
    """Record a state; a store failure is logged (WARNING), not raised.

    The entry then keeps its earlier state, which errs on the safe side: "intended" sends
    :meth:`Fleet.recover` to look at it again, "created" keeps it in teardowns by ledger.
    """
    try:
        await store.mark(intent_id, state, instance_id=instance_id)
    except CredentialStoreError as error:
        logger.warning(
            "could not mark ledger entry %s as %s (%s)", intent_id, state.value, error.message
        )


async def keep_credentials(
    item: FleetItem,
    credentials: Credentials,
    intent_id: str | None,
    store: CredentialStore,
    publish: Callable[[object], None],
) -> None:
    """Keep the credentials on the item, then in the (guarded) store; never raise.

    A failure to save becomes the item's :class:`CredentialStoreError`, saying that the
    credentials are only in the report; a success publishes :class:`CredentialsSaved`.
    """
    item.instance_id = credentials.instance_id
    item.credentials = credentials
    try:
        await store.save_credentials(credentials, intent_id=intent_id)
    except Exception as error:  # any store's failure: the credentials must not be lost
        cause = error.message if isinstance(error, CredentialStoreError) else type(error).__name__
        failure = CredentialStoreError(
            f"instance {credentials.instance_id} ({item.name}) was created but its "
            f"credentials could not be saved to {store.location} ({cause}); they are "
            "only in this report's item.credentials",
            location=store.location,
        )
        failure.__cause__ = error
        item.error = failure
        return
    item.saved_to = store.location
    publish(
        CredentialsSaved(
            resource_id=credentials.instance_id, name=item.name, location=item.saved_to
        )
    )

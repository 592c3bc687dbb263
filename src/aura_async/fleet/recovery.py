"""Recovery: account for every instance a ledger's intents may have made (after a crash, say).

Each intent without credentials is matched against the projects' instances by name and
creation time (as an ambiguous create is: :func:`~.reconciling.match_created`): a match is
marked ``credentials-lost``, no match ``not-created``; entries whose instance is gone are
marked ``deleted``; with ``delete_lost`` the instances whose password is lost are deleted.
Absence is concluded only from a listing sent once the window in which a new instance may
still be missing has passed. :func:`recover` does it; :class:`RecoveryReport` says what it
found.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import anyio
import attrs

from aura_async._http.transport import counting_requests
from aura_async.errors import AuraError
from aura_async.fleet.context import FleetContext, delete_instance, now
from aura_async.fleet.reconciling import match_created
from aura_async.fleet.store import CredentialStore, EntryState, LedgerEntry
from aura_async.models import InstanceSummary

__all__ = ["RecoveredEntry", "RecoveryReport", "recover"]

logger = logging.getLogger("aura_async")


@attrs.frozen
class RecoveredEntry:
    """One ledger entry as :meth:`Fleet.recover` found it.

    Attributes:
        name: the instance's name.
        intent_id: the ledger entry.
        state: the entry's state after recovery.
        instance_id: the instance matched to it (None when none exists).
        exists: whether that instance exists on the server now.
        credentials_known: whether the ledger holds its password.
        deleted: whether recovery deleted it (only credential-less ones, when asked).
        error: what went wrong while deleting it, if anything.
    """

    name: str
    intent_id: str
    state: EntryState
    instance_id: str | None
    exists: bool
    credentials_known: bool
    deleted: bool = False
    error: str | None = None


@attrs.frozen
class RecoveryReport:
    """What :meth:`Fleet.recover` found: every ledger entry, matched against the server.

    Attributes:
        entries: one per ledger entry that had (or may have had) an instance.
        unknown: instances on the server that look like the ledger's (same name) but match
            no entry; always empty when the ledger was written by this package.
        requests: HTTP requests recovery sent.
    """

    entries: tuple[RecoveredEntry, ...]
    unknown: tuple[InstanceSummary, ...]
    requests: int

    @property
    def lost(self) -> list[RecoveredEntry]:
        """Entries whose instance exists (or existed) without a known password."""
        return [e for e in self.entries if e.state is EntryState.LOST]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values (no passwords)."""
        return {
            "entries": [
                {
                    "name": e.name,
                    "intent_id": e.intent_id,
                    "state": e.state.value,
                    "instance_id": e.instance_id,
                    "exists": e.exists,
                    "credentials_known": e.credentials_known,
                    "deleted": e.deleted,
                    "error": e.error,
                }
                for e in self.entries
            ],
            "unknown": [{"id": s.id, "name": s.name} for s in self.unknown],
            "requests": self.requests,
        }


async def recover(
    context: FleetContext,
    store: CredentialStore,
    *,
    delete_lost: bool = False,
    tenant_id: str | None = None,
) -> RecoveryReport:
    """Match every entry of ``store`` (guarded, checked) against the server; see the module.

    Raises:
        CredentialStoreError: the ledger cannot be read or written.
        AuraError: listing the project's instances failed.
    """
    with counting_requests() as tally:
        entries = await store.entries()
        projects = _projects(entries, context.tenant_id, tenant_id)
        listed = await _listing(context, entries, projects)
        by_id = {s.id: s for s in listed}
        claimed = {e.instance_id for e in entries if e.instance_id is not None}
        # Oldest intents first: of two intents with one name, the earlier gets the
        # earlier instance.
        results = [
            await _recover_one(entry, store, by_id, claimed, listed)
            for entry in sorted(entries, key=_started)
        ]
        if delete_lost:
            results = await _delete_lost(context, results, store)
        names = {e.name for e in entries}
        unknown = tuple(s for s in listed if s.name in names and s.id not in claimed)
    return RecoveryReport(tuple(results), unknown, tally.sent)


def _projects(
    entries: list[LedgerEntry], default: str | None, tenant_id: str | None
) -> list[str | None]:
    """The projects to list: the one asked for, else every project the ledger names.

    An instance of another project than the client's default must not be taken for gone.
    """
    if tenant_id is not None:
        return [tenant_id]
    named: set[str] = {e.intent.tenant_id for e in entries if e.intent and e.intent.tenant_id}
    named |= {e.credentials.tenant_id for e in entries if e.credentials and e.credentials.tenant_id}
    if default is not None:
        named.add(default)
    return [*sorted(named)] or [None]


async def _listing(
    context: FleetContext, entries: list[LedgerEntry], projects: list[str | None]
) -> list[InstanceSummary]:
    """The projects' instances, listed late enough that an absence proves what it says."""
    began = context.clock()
    listed = await _list_projects(context, projects, began)
    window = context.watcher.not_found_window()
    if _absence_unproven(entries, listed, window):
        # What is missing from the listing may be too new to be listed: look again once
        # the window in which a new instance may be missing has passed (any instance of
        # these entries was made before this call began).
        pause = max(0.0, began + context.watcher.not_found_window() - context.clock())
        logger.info(
            "recover: some ledger entries are missing from the listing; looking "
            "again in %.0f s, since a new instance may not be listed yet",
            pause,
        )
        await anyio.sleep(pause)
        listed = await _list_projects(context, projects, context.clock())
    return listed


async def _list_projects(
    context: FleetContext, projects: list[str | None], after: float
) -> list[InstanceSummary]:
    listed: list[InstanceSummary] = []
    for project in projects:
        listed.extend(await context.instances.list(tenant_id=project, sent_after=after))
    return listed


async def _recover_one(
    entry: LedgerEntry,
    store: CredentialStore,
    by_id: dict[str, InstanceSummary],
    claimed: set[str],
    listed: list[InstanceSummary],
) -> RecoveredEntry:
    """Match one entry to the listing and mark what it concluded (``claimed`` grows)."""
    known = entry.credentials is not None
    state = entry.state
    instance_id = entry.instance_id
    if state is EntryState.INTENDED and instance_id is None:
        started = entry.intent.started_at if entry.intent is not None else entry.updated_at
        candidates = [s for s in listed if s.id not in claimed]
        match = match_created(candidates, entry.name, started, set())
        if match is None:
            await store.mark(entry.intent_id, EntryState.NOT_CREATED)
            state = EntryState.NOT_CREATED
        else:
            claimed.add(match.id)
            instance_id = match.id
            state = EntryState.LOST
            await store.mark(entry.intent_id, state, instance_id=match.id)
    exists = instance_id is not None and instance_id in by_id
    if (
        instance_id is not None
        and not exists
        and state in (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST)
    ):
        await store.mark(entry.intent_id, EntryState.DELETED, instance_id=instance_id)
        state = EntryState.DELETED
    return RecoveredEntry(
        name=entry.name,
        intent_id=entry.intent_id,
        state=state,
        instance_id=instance_id,
        exists=exists,
        credentials_known=known,
    )


async def _delete_lost(
    context: FleetContext, results: list[RecoveredEntry], store: CredentialStore
) -> list[RecoveredEntry]:
    """Delete the existing instances whose password is lost; the entries as they end."""
    out = list(results)

    async def drop(index: int, entry: RecoveredEntry) -> None:
        assert entry.instance_id is not None
        instance_id = entry.instance_id
        try:
            await delete_instance(context, instance_id)
        except AuraError as error:
            out[index] = attrs.evolve(entry, error=str(error))
            return
        await store.mark(entry.intent_id, EntryState.DELETED, instance_id=instance_id)
        out[index] = attrs.evolve(entry, state=EntryState.DELETED, deleted=True, exists=False)

    async with anyio.create_task_group() as tg:
        for index, entry in enumerate(results):
            if entry.state is EntryState.LOST and entry.exists:
                tg.start_soon(drop, index, entry)
    return out


def _absence_unproven(
    entries: list[LedgerEntry], listed: list[InstanceSummary], window: float
) -> bool:
    """Whether some entry would be concluded from an instance's absence it cannot yet prove.

    An intent never matched to an instance may have made one just now; an instance named
    in the ledger and not listed may be too new to be listed, unless the ledger has known
    it for longer than the window.
    """
    ids = {s.id for s in listed}
    claimed = {e.instance_id for e in entries if e.instance_id is not None}
    unclaimed = [s for s in listed if s.id not in claimed]
    settled = now() - dt.timedelta(seconds=window)  # (the ledger's times are this machine's)
    for entry in entries:
        if entry.state is EntryState.INTENDED and entry.instance_id is None:
            # (An instance of that name made before the intent is no proof either way.)
            if match_created(unclaimed, entry.name, _started(entry), set()) is None:
                return True
        elif (
            entry.instance_id is not None
            and entry.instance_id not in ids
            and entry.state in (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST)
            and entry.updated_at > settled
        ):
            return True
    return False


def _started(entry: LedgerEntry) -> dt.datetime:
    return entry.intent.started_at if entry.intent is not None else entry.updated_at

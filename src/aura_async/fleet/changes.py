"""One item of a change to existing instances: pause, resume, resize, snapshot, delete.

Each sends its request (a 409 waited out and sent again, a 404 inside a new instance's
not-found window sent again once it is past: :func:`~.engine.retry_conflicts`), then waits
for the operation to end when asked. A pause or resume refused because the instance is
already where it should be is skipped; a delete counts once the service took it or the
instance is proven absent, and marks the ledger entries that named the instance.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs

from aura_async.errors import APIError
from aura_async.fleet.context import FleetContext, delete_instance
from aura_async.fleet.engine import Run, retry_conflicts
from aura_async.fleet.guarded import mark
from aura_async.fleet.report import FleetItem, Outcome
from aura_async.fleet.store import CredentialStore, EntryState
from aura_async.lifecycle.operations import Operation
from aura_async.models import InstanceStatus

__all__ = ["Change", "change_item", "delete_item", "ledger_index", "snapshot_item"]

_INVALID_STATUS = "invalid-instance-status"


@attrs.frozen(kw_only=True)
class Change:
    """A change sent to every item of a call (pause, resume, resize).

    Attributes:
        kind: the operation, for its wait.
        send: sends the change for one instance id.
        done: the status an instance already changed is in: a change refused as
            ``invalid-instance-status`` in it is skipped.
        underway: the status of a change already under way: refused so, it is waited for.
        memory: a resize's new memory, for its wait.
        storage: a resize's new storage, for its wait.
    """

    kind: Operation
    send: Callable[[str], Awaitable[Any]]
    done: InstanceStatus | None = None
    underway: InstanceStatus | None = None
    memory: str | None = None
    storage: str | None = None


async def change_item(
    context: FleetContext,
    change: Change,
    item: FleetItem,
    run: Run,
    *,
    wait: bool,
    timeout: float | None,
) -> None:
    """Send ``change`` for one item and, with ``wait``, wait until it is done.

    Raises:
        AuraError: the change was refused or failed, or its wait failed.
    """
    instance_id = item.instance_id or ""
    try:
        accepted = await retry_conflicts(
            context, lambda: change.send(instance_id), run, instance_id
        )
    except APIError as error:
        if error.reason != _INVALID_STATUS or change.done is None:
            raise
        # Not in the state the change starts from: maybe already where it should be.
        current = await context.instances.get(instance_id)
        item.instance = current
        if current.status is change.done:
            item.outcome = Outcome.SKIPPED
            return
        if current.status is not change.underway:
            raise
        accepted = current
    submitted = context.clock()  # accepted now: waits count from here
    item.submitted = submitted
    item.instance = accepted
    if getattr(accepted, "name", None):
        item.name = accepted.name
    if wait and timeout != 0:
        item.instance = await context.instances.wait(
            instance_id,
            change.kind,
            memory=change.memory,
            storage=change.storage,
            name=item.name,
            submitted=submitted,
            timeout=timeout,
            cohort=True,
        )
    item.outcome = Outcome.SUCCEEDED


async def snapshot_item(
    context: FleetContext,
    item: FleetItem,
    run: Run,
    *,
    wait: bool,
    timeout: float | None,
) -> None:
    """Take an on-demand snapshot of one item's instance; with ``wait``, until it completes.

    Raises:
        AuraError: the snapshot was refused or failed, or its wait failed.
    """
    instance_id = item.instance_id or ""
    taken = await retry_conflicts(
        context, lambda: context.snapshots.create(instance_id), run, instance_id
    )
    submitted = context.clock()
    item.snapshot_id = taken.snapshot_id
    item.snapshot_status = "Pending"  # the create's answer holds the id alone
    item.submitted = submitted
    if wait and timeout != 0:
        snapshot = await context.snapshots.wait(
            instance_id,
            taken.snapshot_id,
            submitted=submitted,
            timeout=timeout,
            cohort=True,
        )
        item.snapshot_status = str(snapshot.status)
    item.outcome = Outcome.SUCCEEDED


async def delete_item(
    context: FleetContext,
    item: FleetItem,
    *,
    store: CredentialStore | None,
    intents: dict[str, list[str]],
    wait: bool,
    timeout: float | None,
) -> None:
    """Delete one item's instance, then mark the ledger entries (``intents``) that name it.

    Raises:
        AuraError: the delete failed, or the instance was not proven gone in time.
    """
    instance_id = item.instance_id or ""
    await delete_instance(context, instance_id, item=item, wait=wait, timeout=timeout)
    item.instance = None
    item.outcome = Outcome.SUCCEEDED
    if store is not None:
        with anyio.CancelScope(shield=True):
            for intent_id in intents.get(instance_id, ()):
                await mark(store, intent_id, EntryState.DELETED, instance_id=instance_id)


async def ledger_index(store: CredentialStore) -> dict[str, list[str]]:
    """Instance id -> the ledger entries (intent ids) that name it and are not yet deleted.

    Raises:
        CredentialStoreError: the ledger cannot be read.
    """
    index: dict[str, list[str]] = {}
    for entry in await store.entries():
        if entry.instance_id is not None and entry.state is not EntryState.DELETED:
            index.setdefault(entry.instance_id, []).append(entry.intent_id)
    return index

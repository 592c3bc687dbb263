"""What every part of a fleet call works with, and the one teardown they all use.

:class:`FleetContext` holds the client's parts a fleet needs (its resources, its one watcher,
its clocks, its event hook); the facade builds it once per client and hands it to the engine,
the create path, the changes and recovery, so none of them reaches into the
:class:`~aura_async.fleet.fleet.Fleet`. :func:`delete_instance` is the teardown of deletes,
rollbacks and recovery alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import attrs

from aura_async.fleet.claims import NameClaims
from aura_async.fleet.report import FleetItem
from aura_async.lifecycle.watcher import Watcher
from aura_async.policies import RateLimit
from aura_async.resources import Instances, Snapshots

__all__ = ["FleetContext", "delete_instance", "now"]


def now() -> dt.datetime:
    """This machine's wall clock in UTC (intents' start times, events' ``at``)."""
    return dt.datetime.now(dt.UTC)


@attrs.frozen(eq=False)
class FleetContext:
    """The client's parts a fleet call uses.

    Attributes:
        instances: the instance resource every instance request goes through.
        snapshots: the snapshot resource.
        watcher: the client's one poller (its policy, its not-found window).
        publish: the client's event hook.
        clock: the monotonic clock items and waits are timed by.
        server_now: the server's wall clock (its Date headers'), for instances' ages.
        tenant_id: the client's project, when one is configured.
        rate: the client's rate limit, when it has one (for the queue a fleet makes).
        names: the names its create calls are creating (one create per name at a time).
    """

    instances: Instances
    snapshots: Snapshots
    watcher: Watcher
    publish: Callable[[object], None]
    clock: Callable[[], float]
    server_now: Callable[[], dt.datetime]
    tenant_id: str | None
    rate: Callable[[], RateLimit | None]
    names: NameClaims = attrs.field(factory=NameClaims)


async def delete_instance(
    context: FleetContext,
    instance_id: str,
    *,
    item: FleetItem | None = None,
    wait: bool = False,
    timeout: float | None = None,
) -> None:
    """Delete an instance; return once the service took the delete, or it is proven gone.

    A 202 is the service's word that it is deleting the instance (with ``wait``, the
    instance is then waited for until gone). A 404 is not: a just-created instance
    answers 404 for a while (see :meth:`Instances.ensure_deleted`).

    Raises:
        WaitTimeoutError: not proven gone (or, with ``wait``, not gone) in time.
        AuraError: the delete failed.
    """
    if item is not None:
        item.submitted = context.clock()
    deleted = await context.instances.ensure_deleted(
        instance_id, wait=wait and timeout != 0, timeout=timeout or None, cohort=True
    )
    # Going or gone: no create call is to adopt it from here on (fleet/claims.py).
    context.names.forget(instance_id)
    if item is not None and not deleted:
        item.already_gone = True

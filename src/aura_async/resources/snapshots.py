"""``aura.snapshots``: an instance's snapshots: list, inspect, take one, restore from one."""

from __future__ import annotations

import builtins
import datetime as dt

import anyio

from aura_async._validation import check_date, check_id, check_instance_id
from aura_async.errors import ConflictError
from aura_async.lifecycle.operations import Operation
from aura_async.models import CreatedSnapshot, Instance, InstanceStatus, Snapshot
from aura_async.resources._base import ACTION, READ, Resource, check_timeout

__all__ = ["Snapshots"]


class Snapshots(Resource):
    """Snapshots of an instance (scheduled ones and those taken on demand)."""

    async def list(
        self, instance_id: str, *, date: dt.date | str | None = None
    ) -> builtins.list[Snapshot]:
        """List the snapshots an instance took on one day (UTC; today by default).

        Raises:
            ValidationError: a malformed id or date; nothing was sent.
            NotFoundError: no such instance.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        params = {"date": check_date(date)} if date is not None else None
        return await self._call(
            "GET", f"/instances/{instance_id}/snapshots", list[Snapshot], kind=READ, params=params
        )

    async def get(self, instance_id: str, snapshot_id: str) -> Snapshot:
        """Return one snapshot with its status (Pending, InProgress, Completed, Failed).

        Raises:
            NotFoundError: no such snapshot.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_id(snapshot_id, "snapshot_id")
        return await self._call(
            "GET", f"/instances/{instance_id}/snapshots/{snapshot_id}", Snapshot, kind=READ
        )

    async def create(
        self, instance_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> CreatedSnapshot:
        """Start an on-demand snapshot; with ``wait=True``, return once it is Completed.

        It is resent after a lost answer like any other action, so in that rare case the
        instance may take two snapshots; that costs nothing and loses nothing.

        Raises:
            PaymentRequiredError: AuraDB Free has no on-demand snapshots.
            ConflictError: the instance is busy or not running.
            WaitError: waiting failed (the snapshot Failed), timed out or was cancelled.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        created = await self._call(
            "POST", f"/instances/{instance_id}/snapshots", CreatedSnapshot, kind=ACTION
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if wait and timeout != 0:
            await self.wait(instance_id, created.snapshot_id, submitted=submitted, timeout=timeout)
        return created

    async def wait(
        self,
        instance_id: str,
        snapshot_id: str,
        *,
        submitted: float | None = None,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Snapshot:
        """Wait until a snapshot is Completed, on the client's shared poller.

        ``cohort``: this wait is one of a fleet's (polled for the fleet's make-span).

        Raises:
            WaitFailedError: the snapshot Failed or was Cancelled.
            WaitTimeoutError: the timeout passed.
            WaitCancelledError: the client was closed.
        """
        check_instance_id(instance_id)
        check_id(snapshot_id, "snapshot_id")
        result = await self._await(
            snapshot_id,
            lambda: self.get(instance_id, snapshot_id),
            self._target(Operation.SNAPSHOT),
            submitted=submitted,
            timeout=timeout,
            cohort=cohort,
        )
        assert isinstance(result, Snapshot)
        return result

    async def restore(
        self,
        instance_id: str,
        snapshot_id: str,
        *,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Instance:
        """Start restoring an instance from one of its completed snapshots.

        The instance is ``restoring`` and then ``running`` again; ``wait=True`` returns once
        it runs after the restore was seen (or after a restore's usual duration).

        Raises:
            NotFoundError: no such snapshot.
            ConflictError: the instance is busy, or the snapshot is not completed.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_id(snapshot_id, "snapshot_id")
        check_timeout(timeout)
        try:
            accepted = await self._call(
                "POST",
                f"/instances/{instance_id}/snapshots/{snapshot_id}/restore",
                Instance,
                kind=ACTION,
            )
        except ConflictError as error:
            if not error.after_lost_answer:
                raise
            # The first attempt's answer was lost but it started the restore: success.
            accepted = await self._call("GET", f"/instances/{instance_id}", Instance, kind=READ)
            if accepted.status != InstanceStatus.RESTORING:
                raise
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if not wait or timeout == 0:
            return accepted
        waited = await self._await(
            instance_id,
            lambda: self._call("GET", f"/instances/{instance_id}", Instance, kind=READ),
            self._target(Operation.RESTORE),
            name=accepted.name,
            submitted=submitted,
            timeout=timeout,
        )
        assert isinstance(waited, Instance)
        return waited

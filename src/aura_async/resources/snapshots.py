"""``aura.snapshots``: an instance's snapshots: list, inspect, take one, restore from one."""

from __future__ import annotations

import builtins
import datetime as dt

from aura_async._validation import check_date, check_id, check_instance_id
from aura_async.errors import ConflictError
from aura_async.models import CreatedSnapshot, Instance, InstanceStatus, Snapshot
from aura_async.resources._base import ACTION, READ, Resource

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

    async def create(self, instance_id: str) -> CreatedSnapshot:
        """Start an on-demand snapshot; poll :meth:`get` until it is Completed.

        It is resent after a lost answer like any other action, so in that rare case the
        instance may take two snapshots; that costs nothing and loses nothing.

        Raises:
            PaymentRequiredError: AuraDB Free has no on-demand snapshots.
            ConflictError: the instance is busy or not running.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        return await self._call(
            "POST", f"/instances/{instance_id}/snapshots", CreatedSnapshot, kind=ACTION
        )

    async def restore(self, instance_id: str, snapshot_id: str) -> Instance:
        """Start restoring an instance from one of its completed snapshots.

        The instance is ``restoring`` and then ``running`` again.

        Raises:
            NotFoundError: no such snapshot.
            ConflictError: the instance is busy, or the snapshot is not completed.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_id(snapshot_id, "snapshot_id")
        try:
            return await self._call(
                "POST",
                f"/instances/{instance_id}/snapshots/{snapshot_id}/restore",
                Instance,
                kind=ACTION,
            )
        except ConflictError as error:
            if not error.after_lost_answer:
                raise
            # The first attempt's answer was lost but it started the restore: success.
            current = await self._call("GET", f"/instances/{instance_id}", Instance, kind=READ)
            if current.status == InstanceStatus.RESTORING:
                return current
            raise

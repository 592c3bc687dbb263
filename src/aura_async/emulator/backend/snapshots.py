"""Snapshots: on-demand snapshots of running instances, and restoring from one."""

from __future__ import annotations

import datetime as dt
import re

from aura_async.emulator.backend.checks import _bad, _ongoing, _snapshot_not_found
from aura_async.emulator.backend.core import BackendCore
from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import InstanceRecord, SnapshotRecord


class SnapshotsMixin(BackendCore):
    """The rules of the snapshot routes."""

    def list_snapshots(self, instance_id: str, date: str | None) -> list[SnapshotRecord]:
        """Return an instance's snapshots taken on ``date`` (YYYY-MM-DD, default today, UTC).

        Raises:
            ApiError: 400 for a malformed date; 404 ``db-not-found``.
        """
        self._live_instance(instance_id)
        if date is None:
            day = dt.datetime.fromtimestamp(self.now(), tz=dt.UTC).date()
        else:
            try:
                # fromisoformat also takes 20231115 and week dates; the API wants YYYY-MM-DD.
                if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date):
                    raise ValueError(date)
                day = dt.date.fromisoformat(date)
            except ValueError:
                raise _bad(f"date must be an ISO date (YYYY-MM-DD); got {date!r}", "date") from None
        return [
            s
            for s in self.snapshots.values()
            if s.instance_id == instance_id
            and dt.datetime.fromtimestamp(s.started_at, tz=dt.UTC).date() == day
        ]

    def create_snapshot(self, instance_id: str) -> SnapshotRecord:
        """Start an on-demand snapshot of a running instance.

        Raises:
            ApiError: 402 for AuraDB Free (no on-demand snapshots); 404; 409 while the
                instance is busy or not running.
        """
        instance = self._live_instance(instance_id)
        if instance.type == "free-db":
            raise ApiError(
                402,
                "Payment Required. On-demand snapshots are not available for AuraDB Free",
                "payment-required",
            )
        if instance.busy:
            raise _ongoing(instance)
        if instance.status != "running":
            raise ApiError(
                409,
                f"Instance {instance.id} is {instance.status}; it must be running",
                "invalid-instance-status",
            )
        now = self.now()
        duration = self._duration("snapshot")
        snapshot = SnapshotRecord(
            snapshot_id=self._uuid(),
            instance_id=instance.id,
            profile="AdHoc",
            started_at=now,
            in_progress_at=now + duration * 0.2,
            done_at=now + duration,
            fails=self.draw(self.faults.snapshot_failure),
            exportable=True,
        )
        self.snapshots[snapshot.snapshot_id] = snapshot
        return snapshot

    def get_snapshot(self, instance_id: str, snapshot_id: str) -> SnapshotRecord:
        """Return one snapshot of an instance.

        Raises:
            ApiError: 404 ``snapshot-not-found`` (or ``db-not-found`` for the instance).
        """
        self._live_instance(instance_id)
        snapshot = self.snapshots.get(snapshot_id)
        if snapshot is None or snapshot.instance_id != instance_id:
            raise _snapshot_not_found(snapshot_id)
        return snapshot

    def restore_snapshot(self, instance_id: str, snapshot_id: str) -> InstanceRecord:
        """Start restoring an instance from one of its completed snapshots.

        Raises:
            ApiError: 404 for an unknown instance or snapshot; 409 while busy, when not
                running, or when the snapshot is not completed.
        """
        snapshot = self.get_snapshot(instance_id, snapshot_id)
        instance = self._idle_instance(instance_id)
        if snapshot.status(self.now()) != "Completed":
            raise ApiError(
                409,
                f"Snapshot {snapshot_id} is {snapshot.status(self.now())}; only a "
                "completed snapshot can be restored",
                "snapshot-not-ready",
            )
        if instance.status != "running":
            raise ApiError(
                409,
                f"Instance {instance.id} is {instance.status}; it must be running",
                "invalid-instance-status",
            )
        self._start(instance, "restore", "restoring")
        return instance

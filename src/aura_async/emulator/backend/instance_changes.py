"""Changes to an existing instance: update (rename, resize, settings), pause, resume,
overwrite from another instance or a snapshot, and upgrade to Business Critical.

Each checks the request against the instance's state and its project's configurations,
then starts an operation through the core's lifecycle engine (an upgrade and a rename alone
take effect at once).
"""

from __future__ import annotations

from aura_async.emulator.backend.checks import (
    _bad,
    _check_name,
    _choice,
    _instance_not_found,
    _object,
    _ongoing,
    _optional,
    _snapshot_not_found,
    _text,
)
from aura_async.emulator.backend.core import BackendCore
from aura_async.emulator.catalog import gigabytes
from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import InstanceRecord

CDC_MODES = ("OFF", "DIFF", "FULL")


def _setting_changes(
    instance: InstanceRecord,
    vector: bool | None,
    plugin: bool | None,
    secondaries: int | None,
    cdc: str | None,
) -> dict[str, object]:
    """The record changes an update of the instance's settings makes (those given).

    Raises:
        ApiError: 400 for a setting the instance's tier does not have.
    """
    changes: dict[str, object] = {}
    if secondaries is not None:
        if instance.type != "enterprise-db":
            raise _bad(
                "secondaries_count applies to Virtual Dedicated Cloud only", "secondaries_count"
            )
        changes["secondaries_count"] = secondaries
    if cdc is not None:
        _choice(cdc, CDC_MODES, "cdc_enrichment_mode")
        if instance.type not in ("enterprise-db", "business-critical"):
            raise _bad(
                "cdc_enrichment_mode applies to VDC and Business Critical only",
                "cdc_enrichment_mode",
            )
        changes["cdc_enrichment_mode"] = cdc
    if vector is not None:
        changes["vector_optimized"] = vector
    if plugin is not None:
        changes["graph_analytics_plugin"] = plugin
    return changes


class InstanceChangesMixin(BackendCore):
    """The rules of the routes that change an existing instance."""

    def update_instance(self, instance_id: str, raw: object) -> tuple[int, InstanceRecord]:
        """Rename, resize or reconfigure an instance; return (HTTP status, instance).

        A rename alone is immediate and answers 200 (while another operation is in flight,
        only with ``rename_while_busy="allow"``); anything else starts an operation and
        answers 202 with the instance still showing its old memory.

        Raises:
            ApiError: 400 for invalid input or a change the tier does not allow; 404; 409
                while another operation is in flight.
        """
        body = _object(raw)
        instance = self._live_instance(instance_id)
        if instance.status in ("destroying", "deleting"):
            raise _ongoing(instance)
        name = _optional(body, "name")
        if name is not None:
            _check_name(name)
        memory = _optional(body, "memory")
        storage = _optional(body, "storage")
        vector = _optional(body, "vector_optimized", bool)
        plugin = _optional(body, "graph_analytics_plugin", bool)
        secondaries = _optional(body, "secondaries_count", int)
        cdc = _optional(body, "cdc_enrichment_mode")
        resizing = memory is not None or storage is not None
        updating = any(v is not None for v in (vector, plugin, secondaries, cdc))
        if name is None and not resizing and not updating:
            raise _bad(
                "The request must change at least one of name, memory, storage, "
                "vector_optimized, graph_analytics_plugin, secondaries_count or "
                "cdc_enrichment_mode"
            )
        if name is not None and instance.busy and self.config.rename_while_busy == "reject":
            raise _ongoing(instance)
        if resizing or updating:
            if instance.busy:
                raise _ongoing(instance)
            if instance.status != "running":
                raise _bad(
                    f"Instance {instance.id} is {instance.status}; it must be running",
                    reason="invalid-instance-status",
                )
        changes = self._resize_changes(instance, memory, storage) if resizing else {}
        changes.update(_setting_changes(instance, vector, plugin, secondaries, cdc))
        if name is not None:
            instance.name = name
        if resizing:
            self._start(
                instance,
                "resize",
                self.config.resize_status,
                changes=changes,
            )
        elif updating:
            self._start(instance, "update", "updating", changes=changes)
        else:
            return 200, instance
        return 202, instance

    def _resize_changes(
        self, instance: InstanceRecord, memory: str | None, storage: str | None
    ) -> dict[str, object]:
        """The record changes a resize to ``memory`` and/or ``storage`` makes.

        A new memory brings its configuration's storage unless ``storage`` is given too.

        Raises:
            ApiError: 400 for AuraDB Free or a size the instance's configuration lacks.
        """
        if instance.type == "free-db":
            raise _bad(
                "Resizing is not supported for AuraDB Free instances",
                "memory" if memory is not None else "storage",
                "unsupported-for-tier",
            )
        project = self._project(instance.tenant_id)
        offered = self._configs(
            project, type=instance.type, cloud=instance.cloud_provider, region=instance.region
        )
        changes: dict[str, object] = {}
        if memory is not None:
            match = [c for c in offered if c.memory == memory]
            if not match:
                sizes = ", ".join(dict.fromkeys(c.memory for c in offered))
                raise _bad(f"Memory {memory} is not available; use one of {sizes}", "memory")
            changes["memory"] = memory
            changes["storage"] = match[0].storage
        if storage is not None:
            if storage not in {c.storage for c in offered}:
                raise _bad(f"Storage {storage} is not available", "storage")
            changes["storage"] = storage
        return changes

    def pause_instance(self, instance_id: str) -> InstanceRecord:
        """Start pausing a running instance.

        Raises:
            ApiError: 404; 409 while another operation is in flight; 400 when not running.
        """
        instance = self._idle_instance(instance_id)
        if instance.status != "running":
            raise _bad(
                f"Instance {instance.id} is {instance.status}; only a running "
                "instance can be paused",
                reason="invalid-instance-status",
            )
        self._start(instance, "pause", "pausing", final_status="paused")
        return instance

    def resume_instance(self, instance_id: str) -> InstanceRecord:
        """Start resuming a paused instance.

        Raises:
            ApiError: 404; 409 while another operation is in flight or when not paused.
        """
        instance = self._idle_instance(instance_id)
        if instance.status != "paused":
            raise ApiError(
                409,
                f"Instance {instance.id} is {instance.status}; only a paused "
                "instance can be resumed",
                "invalid-instance-status",
            )
        self._start(instance, "resume", "resuming")
        return instance

    def overwrite_instance(self, instance_id: str, raw: object) -> InstanceRecord:
        """Start overwriting an instance from another instance or one of its snapshots.

        Raises:
            ApiError: 400 for a missing source; 404 for an unknown target, source or snapshot;
                409 while an operation is in flight; 420 for a free instance; 500 when the
                source is larger than the target (as the live service answers).
        """
        body = _object(raw)
        target = self._live_instance(instance_id)
        if target.type == "free-db":
            raise ApiError(
                420, "Action unsupported for this tier of instance", "unsupported-for-tier"
            )
        source_id = _text(body, "source_instance_id")
        snapshot_id = _optional(body, "source_snapshot_id")
        if target.busy:
            raise _ongoing(target)
        if target.status != "running":
            raise ApiError(
                409,
                f"Instance {target.id} is {target.status}; it must be running",
                "invalid-instance-status",
            )
        source = self.instances.get(source_id)
        if source is None or not self._settle(source, self.now()):
            raise _instance_not_found(source_id)
        if snapshot_id is None and source.status != "running":
            raise ApiError(
                409,
                f"Source instance {source_id} is {source.status}; it must be running",
                "invalid-instance-status",
            )
        if snapshot_id is not None:
            snapshot = self.snapshots.get(snapshot_id)
            if snapshot is None or snapshot.instance_id != source_id:
                raise _snapshot_not_found(snapshot_id)
            if snapshot.status(self.now()) != "Completed":
                raise ApiError(
                    409, f"Snapshot {snapshot_id} is not completed", "snapshot-not-ready"
                )
        source_gb, target_gb = gigabytes(source.memory) or 0, gigabytes(target.memory) or 0
        if source_gb > target_gb:
            raise ApiError(
                500,
                f"Cannot clone database {source.id} into smaller database {target.id}.",
                "db-overwrite-size-disparity",
            )
        self._start(target, "overwrite", "overwriting")
        return target

    def upgrade_instance(self, instance_id: str, raw: object) -> InstanceRecord:
        """Upgrade an AuraDB Professional instance to Business Critical, at once.

        Raises:
            ApiError: 400 when only one of memory and storage is given or a size is not
                offered; 404; 409 for another type, a non-running instance or an operation in
                flight.
        """
        body = _object(raw)
        instance = self._idle_instance(instance_id)
        memory = _optional(body, "memory")
        storage = _optional(body, "storage")
        if instance.type != "professional-db":
            raise ApiError(
                409,
                f"Only AuraDB Professional instances can be upgraded; {instance.id} "
                f"is {instance.type}",
                "upgrade-not-supported",
            )
        if instance.status != "running":
            raise ApiError(
                409,
                f"Instance {instance.id} is {instance.status}; it must be running",
                "invalid-instance-status",
            )
        if (memory is None) != (storage is None):
            raise _bad(
                "memory and storage must be given together",
                "memory" if memory is None else "storage",
            )
        project = self._project(instance.tenant_id)
        offered = self._configs(
            project, type="business-critical", cloud=instance.cloud_provider, region=instance.region
        )
        if not offered:
            raise ApiError(
                409, "Business Critical is not available in this region", "upgrade-not-supported"
            )
        if memory is not None:
            if memory not in {c.memory for c in offered}:
                raise _bad(f"Memory {memory} is not available for business-critical", "memory")
            if storage not in {c.storage for c in offered}:
                raise _bad(f"Storage {storage} is not available for business-critical", "storage")
            instance.memory, instance.storage = memory, str(storage)
        elif instance.memory not in {c.memory for c in offered}:
            sizes = ", ".join(dict.fromkeys(c.memory for c in offered))
            raise _bad(
                f"Business Critical does not offer {instance.memory}; upgrade with memory and "
                f"storage of one of {sizes}",
                "memory",
            )
        instance.type = "business-critical"
        return instance

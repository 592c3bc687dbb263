"""Instances coming and going: list, get, create (with its checks), delete; the sizing estimate.

A create is checked against the project's configurations, quotas, clone source and key, then
starts its operation through the core's lifecycle engine; the operation finishes when a
later look at the instance finds its time has come. Changes to an existing instance are in
:mod:`~aura_async.emulator.backend.instance_changes`.
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from typing import Any

import attrs

from aura_async.emulator.backend.checks import (
    _bad,
    _categories,
    _check_name,
    _choice,
    _count,
    _instance_not_found,
    _object,
    _ongoing,
    _optional,
    _text,
)
from aura_async.emulator.backend.core import CLOUD_PROVIDERS, CMK_TYPES, BackendCore
from aura_async.emulator.catalog import (
    INSTANCE_TYPES,
    MEMORY_BY_TYPE,
    InstanceConfiguration,
    gigabytes,
)
from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import InstanceRecord, ProjectRecord
from aura_async.emulator.secrets import record as record_secret


@attrs.frozen
class CreatedInstance:
    """What a create hands back: the new instance and its one-time password."""

    instance: InstanceRecord
    username: str
    password: str = attrs.field(repr=False)


class InstancesMixin(BackendCore):
    """The rules of the routes that list, read, create and delete instances."""

    def list_instances(self, tenant_id: str | None = None) -> list[InstanceRecord]:
        """Return the instances, optionally of one project, oldest first.

        Raises:
            ApiError: 404 ``tenant-not-found`` for an unknown project.
        """
        if tenant_id is not None:
            self._project(tenant_id)
        self.settle_all()
        now = self.now()
        unlisted = self.faults.not_found_after_create_unlisted
        return [
            i
            for i in self.instances.values()
            if (tenant_id is None or i.tenant_id == tenant_id)
            and not (unlisted and now < i.hidden_until)
        ]

    def get_instance(self, instance_id: str) -> InstanceRecord:
        """Return one instance (the first answer that shows a new instance running is noted).

        Raises:
            ApiError: 404 ``db-not-found`` (also, briefly, for a just-created instance when
                the ``not_found_after_create`` fault is on).
        """
        instance = self._live_instance(instance_id)
        now = self.now()
        if instance.status == "running":
            self.counters.record_seen_running(instance_id, now)
        return instance

    def create_instance(self, raw: object) -> CreatedInstance:
        """Validate a create request against the project's configurations and start it.

        Raises:
            ApiError: 400 for invalid input (with ``field``), missing billing details or a
                bad clone source; 405 over the project's instance quota; 409 for a duplicate
                name when duplicates are rejected.
        """
        body = _object(raw)
        version = _text(body, "version")
        region = _text(body, "region")
        memory = _text(body, "memory")
        name = _check_name(_text(body, "name"))
        type_ = _text(body, "type")
        tenant_id = _text(body, "tenant_id")
        cloud = _text(body, "cloud_provider")
        storage = _optional(body, "storage")
        source_instance_id = _optional(body, "source_instance_id")
        source_snapshot_id = _optional(body, "source_snapshot_id")
        cmk_id = _optional(body, "customer_managed_key_id")
        vector = _optional(body, "vector_optimized", bool)
        plugin = _optional(body, "graph_analytics_plugin", bool)

        project = self._project_in_body(tenant_id)
        config = self._offered_configuration(
            project, type_, cloud, region, memory, version, storage
        )
        if type_ != "free-db" and not project.billing_details:
            raise _bad(
                "You must provide billing details in the Aura Console before creating an instance",
                reason="missing-billing-details",
            )
        self._check_clone_source(project, source_instance_id, source_snapshot_id)
        if cmk_id is not None:
            self._check_key_for_instance(cmk_id, project.id, type_, cloud, region)
        self._check_room(project, type_, name)

        now = self.now()
        instance = InstanceRecord(
            id=self._new_instance_id(),
            name=name,
            tenant_id=project.id,
            type=type_,
            cloud_provider=cloud,
            region=region,
            memory=memory,
            storage=storage or config.storage,
            version=version,
            created_at=now,
            status="creating",
            customer_managed_key_id=cmk_id,
            vector_optimized=bool(vector),
            graph_analytics_plugin=bool(plugin),
        )
        self._draw_create_faults(instance, now)
        failed = self.draw(self.faults.create_failure)
        drawn = self._start(
            instance,
            "create",
            "creating",
            final_status="loading failed" if failed else "running",
            at=now,
        )
        self.instances[instance.id] = instance
        self.counters.record_create(instance.id, name, now, drawn)
        password = secrets.token_urlsafe(32)
        record_secret(password, "password")
        instance.password = password
        return CreatedInstance(instance, "neo4j", password)

    def _offered_configuration(
        self,
        project: ProjectRecord,
        type_: str,
        cloud: str,
        region: str,
        memory: str,
        version: str,
        storage: str | None,
    ) -> InstanceConfiguration:
        """The project's configuration a create asks for, checked field by field.

        Raises:
            ApiError: 400 naming the first field (type, cloud, region, memory, version,
                storage) the project does not offer in combination with those before it.
        """
        _choice(type_, INSTANCE_TYPES, "type")
        _choice(cloud, CLOUD_PROVIDERS, "cloud_provider")
        offered = self._configs(project, type=type_)
        if not offered:
            raise _bad(f"Instance type {type_} is not available in this project", "type")
        offered = [c for c in offered if c.cloud_provider == cloud]
        if not offered:
            raise _bad(f"Instance type {type_} is not available on {cloud}", "cloud_provider")
        offered = [c for c in offered if c.region == region]
        if not offered:
            raise _bad(f"Region {region} is not available for {type_} on {cloud}", "region")
        by_memory = [c for c in offered if c.memory == memory]
        if not by_memory:
            sizes = ", ".join(dict.fromkeys(c.memory for c in offered))
            raise _bad(
                f"Memory {memory} is not available for {type_}; use one of {sizes}", "memory"
            )
        by_version = [c for c in by_memory if c.version == version]
        if not by_version:
            raise _bad(f"Version {version} is not available for {type_}", "version")
        if storage is not None and storage not in {c.storage for c in offered}:
            raise _bad(f"Storage {storage} is not available for {type_}", "storage")
        return by_version[0]

    def _check_room(self, project: ProjectRecord, type_: str, name: str) -> None:
        """Check the project has room for one more instance of ``type_`` named ``name``.

        Raises:
            ApiError: 405 over the project's instance or free-instance quota; 409 for a
                duplicate name when duplicates are rejected.
        """
        self.settle_all()
        in_project = [i for i in self.instances.values() if i.tenant_id == project.id]
        if len(in_project) >= project.max_instances:
            raise ApiError(
                405,
                f"You have reached the maximum number of instances ({project.max_instances}) "
                "for this project",
                "instance-limit-reached",
            )
        if type_ == "free-db":
            free = sum(1 for i in in_project if i.type == "free-db")
            if free >= project.max_free_instances:
                raise ApiError(
                    405,
                    "You have reached the maximum number of free instances for this project",
                    "free-instance-limit-reached",
                )
        if self.config.duplicate_names == "reject" and any(i.name == name for i in in_project):
            raise ApiError(409, f"An instance named {name!r} already exists", "duplicate-name")

    def _draw_create_faults(self, instance: InstanceRecord, now: float) -> None:
        """Draw the faults a new instance will show for its whole life, in a fixed order.

        The order of the draws is part of a seed's meaning: the same seed replays the same
        faults.
        """
        faults = self.faults
        if faults.not_found_after_create > 0 and self.draw(
            faults.not_found_after_create_probability
        ):
            instance.hidden_until = now + faults.not_found_after_create
        instance.null_connection_url = self.draw(faults.null_connection_url)
        instance.null_connection_url_until_running = faults.null_connection_url_until_running
        instance.memory_missing_while_deleting = self.draw(faults.memory_missing_while_deleting)
        if self.draw(faults.deleting_status):
            instance.deleting_word = "deleting"

    def _check_clone_source(
        self, project: ProjectRecord, source_id: str | None, snapshot_id: str | None
    ) -> None:
        """Check a clone's source instance (and snapshot, when given) in ``project``.

        Raises:
            ApiError: 400 naming the source field: a snapshot without its instance, an
                unknown source or snapshot, a source not running (when no snapshot is
                given), a snapshot not completed or not exportable.
        """
        if source_id is None:
            if snapshot_id is not None:
                raise _bad("source_snapshot_id requires source_instance_id", "source_instance_id")
            return
        source = self.instances.get(source_id)
        if source is None or not self._settle(source, self.now()) or source.tenant_id != project.id:
            raise _bad(f"DB not found: {source_id}", "source_instance_id", "db-not-found")
        if snapshot_id is None and source.status != "running":
            # Without a snapshot, Aura snapshots the source first, which needs it running.
            raise _bad(
                f"Source instance {source_id} is {source.status}; it must be running",
                "source_instance_id",
                "invalid-instance-status",
            )
        if snapshot_id is not None:
            snapshot = self.snapshots.get(snapshot_id)
            if snapshot is None or snapshot.instance_id != source_id:
                raise _bad(
                    f"Snapshot not found: {snapshot_id}", "source_snapshot_id", "snapshot-not-found"
                )
            if snapshot.status(self.now()) != "Completed" or not snapshot.exportable:
                raise _bad(
                    f"Snapshot {snapshot_id} is not a completed, exportable snapshot",
                    "source_snapshot_id",
                )

    def _check_key_for_instance(
        self, key_id: str, tenant_id: str, type_: str, cloud: str, region: str
    ) -> None:
        """Check a customer managed key can encrypt the instance being created.

        Raises:
            ApiError: 400 on ``customer_managed_key_id``: unknown in the project, for another
                type or region, or not ready yet.
        """
        key = self.keys.get(key_id)
        field = "customer_managed_key_id"
        if key is None or key.tenant_id != tenant_id:
            raise _bad(f"Encryption Key not found: {key_id}", field, "encryption-key-not-found")
        if type_ not in CMK_TYPES or key.instance_type != type_:
            raise _bad(f"Encryption key {key_id} cannot be used for {type_} instances", field)
        if key.cloud_provider != cloud or key.region != region:
            raise _bad(f"Encryption key {key_id} is configured for another region", field)
        if key.status(self.now()) != "ready":
            raise _bad(f"Encryption key {key_id} is not ready", field)

    def delete_instance(self, instance_id: str) -> InstanceRecord:
        """Start deleting an instance; it disappears (404) when done.

        Raises:
            ApiError: 404 when unknown or already being deleted (the API answers 202 at most
                once); 409 while another operation is in flight.
        """
        instance = self._live_instance(instance_id)
        if instance.operation is not None and instance.operation.kind == "delete":
            raise _instance_not_found(instance_id)
        if instance.busy:
            raise _ongoing(instance)
        self._start(
            instance,
            "delete",
            instance.deleting_word,
            final_status="deleted",
        )
        self.deleted_once.add(instance.id)
        return instance

    def instance_sizing(self, raw: object) -> dict[str, Any]:
        """Estimate the memory a graph of the given size needs.

        Raises:
            ApiError: 400 for missing or invalid counts or an unknown instance type.
        """
        body = _object(raw)
        nodes = _count(body, "node_count")
        rels = _count(body, "relationship_count")
        type_ = _optional(body, "instance_type") or "professional-ds"
        _choice(type_, INSTANCE_TYPES, "instance_type")
        categories = _categories(body)
        factor = 1.0 + 0.5 * len(categories)
        required_gb = max(1, math.ceil((nodes * 120 + rels * 80) * factor / 1e9) + 1)
        sizes = [gigabytes(m) or 0 for m in MEMORY_BY_TYPE[type_]]
        fitting = [s for s in sizes if s >= required_gb]
        recommended = fitting[0] if fitting else sizes[-1]
        return {
            "did_exceed_maximum": not fitting,
            "min_required_memory": f"{required_gb}GB",
            "recommended_size": f"{recommended}GB",
        }

    def instances_by_status(self) -> dict[str, int]:
        """Count the existing instances by their current status."""
        self.settle_all()
        return dict(sorted(Counter(i.status for i in self.instances.values()).items()))

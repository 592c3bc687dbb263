"""The emulated Aura service: state, validation and the lifecycle engine, with no HTTP in sight.

Like moto's backends, this module knows nothing of requests and responses: each method takes
parsed JSON values, changes the stored records and returns them, or raises :class:`ApiError`
with the status, reason code and field the live service would use. The HTTP layer
(:mod:`aura_async.emulator.app`) renders what it returns.

Operations complete lazily: any look at an instance first finishes the operation whose time
has come, so a manual clock drives the whole lifecycle deterministically.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from aura_async.emulator.catalog import (
    INSTANCE_TYPES,
    MEMORY_BY_TYPE,
    SESSION_MEMORY_SIZES,
    InstanceConfiguration,
    default_configurations,
    gigabytes,
)
from aura_async.emulator.clock import Clock
from aura_async.emulator.config import Durations, EmulatorConfig
from aura_async.emulator.counters import Counters
from aura_async.emulator.errors import ApiError
from aura_async.emulator.faults import FaultPlan
from aura_async.emulator.records import (
    REACHABLE_STATUSES,
    InstanceRecord,
    KeyRecord,
    Operation,
    ProjectRecord,
    SessionRecord,
    SnapshotRecord,
)
from aura_async.emulator.secrets import record as record_secret

__all__ = ["AuraBackend", "CreatedInstance"]

CLOUD_PROVIDERS = ("gcp", "aws", "azure")
CDC_MODES = ("OFF", "DIFF", "FULL")
CMK_TYPES = ("enterprise-db", "enterprise-ds")
METRICS_TYPES = ("enterprise-db", "enterprise-ds", "business-critical")
ORGANIZATION_ID = "7f3c1a2b-5d4e-4f60-8a9b-0c1d2e3f4a5b"
USER_ID = "emulator-user"
DEFAULT_SESSION_TTL = 3600.0
_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_INVALID = "invalid-request"


@attrs.frozen
class CreatedInstance:
    """What a create hands back: the new instance and its one-time password."""

    instance: InstanceRecord
    username: str
    password: str = attrs.field(repr=False)


def _bad(message: str, field: str | None = None, reason: str = _INVALID) -> ApiError:
    return ApiError(400, message, reason, field)


def _instance_not_found(instance_id: str) -> ApiError:
    return ApiError(404, f"DB not found: {instance_id}", "db-not-found")


def _snapshot_not_found(snapshot_id: str) -> ApiError:
    return ApiError(404, f"Snapshot not found: {snapshot_id}", "snapshot-not-found")


def _ongoing(instance: InstanceRecord) -> ApiError:
    # The live message really says "is current undergoing".
    return ApiError(
        409,
        f"The database is current undergoing an operation: {instance.status}",
        "ongoing-database-operation",
    )


def _object(body: object) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object")
    return body


def _optional(body: Mapping[str, Any], field: str, kind: type[Any] = str) -> Any:
    """Return ``body[field]`` checked to be of ``kind``, or None when absent or null."""
    value = body.get(field)
    if value is None:
        return None
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(f"{field} must be a non-negative integer", field)
    elif not isinstance(value, kind):
        raise _bad(f"{field} must be a {'boolean' if kind is bool else 'string'}", field)
    return value


def _text(body: Mapping[str, Any], field: str) -> str:
    value: str | None = _optional(body, field)
    if value is None:
        raise _bad(f"{field} is required", field)
    if not value:
        raise _bad(f"{field} must not be empty", field)
    return value


def _count(body: Mapping[str, Any], field: str) -> int:
    value: int | None = _optional(body, field, int)
    if value is None:
        raise _bad(f"{field} is required", field)
    return value


def _categories(body: Mapping[str, Any]) -> list[str]:
    value = body.get("algorithm_categories")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _bad("algorithm_categories must be a list of strings", "algorithm_categories")
    return value


def _check_name(name: str, field: str = "name") -> str:
    if not 1 <= len(name) <= 30:
        raise _bad(f"{field} must be between 1 and 30 characters", field)
    if name != name.strip():
        raise _bad(f"{field} must not start or end with white space", field)
    return name


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise _bad(f"{field} must be one of {', '.join(allowed)}", field)
    return value


def parse_go_duration(text: str) -> float | None:
    """Parse a Go-style duration such as ``30m``, ``1h30m`` or ``20m0s`` into seconds."""
    match = _DURATION_RE.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def format_go_duration(seconds: float) -> str:
    """Render seconds the way Go's ``time.Duration`` prints: ``1h0m0s``, ``20m0s``, ``45s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def iso(timestamp: float) -> str:
    """Render an emulated timestamp as the API does: ``2023-01-20T13:44:42Z``."""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class AuraBackend:
    """The state of one emulated Aura account and the rules that change it.

    All public methods are synchronous and must be called with :attr:`lock` held when the
    backend is shared between threads (the HTTP app does so for every request).
    """

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        seed = config.seed if config.seed is not None else secrets.randbits(32)
        self.seed = seed
        self._ids = random.Random(seed)
        self._jitter = random.Random(seed + 1)
        self.fault_rng = random.Random(seed + 2)
        # Its own source, so that stragglers change which draws are slow, not the draws.
        self._stragglers = random.Random(seed + 3)
        self.faults: FaultPlan = config.faults
        self.counters = Counters(config.rate_limit.window)
        self.projects: dict[str, ProjectRecord] = {}
        self.instances: dict[str, InstanceRecord] = {}
        self.snapshots: dict[str, SnapshotRecord] = {}
        self.keys: dict[str, KeyRecord] = {}
        self.sessions: dict[str, SessionRecord] = {}
        self.deleted_once: set[str] = set()
        # Where the Bolt listener serves, while one runs ("127.0.0.1:7687"); connection URLs
        # point there instead of at Aura's hosts.
        self.bolt_address: str | None = None
        for credential in config.credentials:
            record_secret(credential.client_secret, "client-secret")
        for spec in config.projects:
            self.projects[spec.id] = ProjectRecord(
                id=spec.id,
                name=spec.name,
                configurations=tuple(default_configurations(spec.instance_types)),
                max_instances=spec.max_instances,
                max_free_instances=spec.max_free_instances,
                billing_details=spec.billing_details,
            )

    # ----------------------------------------------------------------- helpers

    @property
    def default_project_id(self) -> str:
        """The id of the first project, the one a newcomer uses."""
        return next(iter(self.projects))

    @property
    def organization_id(self) -> str:
        """The id of the one organization all projects belong to."""
        return ORGANIZATION_ID

    def now(self) -> float:
        """Return the emulated time."""
        return self.clock.now()

    def _duration(self, operation: str) -> float:
        return self.config.durations.draw(operation, self._jitter, self._stragglers)

    def set_durations(self, durations: Durations) -> None:
        """Draw every operation started from now on by ``durations`` (those running keep theirs).

        ``config`` becomes a copy with these durations.

        Raises:
            ValueError: if the configuration with them is inconsistent.
        """
        self.config = attrs.evolve(self.config, durations=durations)

    def _hex(self, digits: int) -> str:
        return f"{self._ids.getrandbits(digits * 4):0{digits}x}"

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def draw(self, probability: float) -> bool:
        """Draw True with ``probability`` from the fault source."""
        return probability > 0 and self.fault_rng.random() < probability

    def _new_instance_id(self) -> str:
        while True:
            candidate = self._hex(8)
            if candidate not in self.instances and candidate not in self.deleted_once:
                return candidate

    def _project(self, tenant_id: str) -> ProjectRecord:
        project = self.projects.get(tenant_id)
        if project is None:
            raise ApiError(404, "The tenant you specified could not be found", "tenant-not-found")
        return project

    def _project_in_body(self, tenant_id: str) -> ProjectRecord:
        project = self.projects.get(tenant_id)
        if project is None:
            raise _bad(
                f"The tenant you specified could not be found: {tenant_id}",
                "tenant_id",
                "tenant-not-found",
            )
        return project

    def _configs(
        self,
        project: ProjectRecord,
        *,
        type: str | None = None,
        cloud: str | None = None,
        region: str | None = None,
    ) -> list[InstanceConfiguration]:
        return [
            c
            for c in project.configurations
            if (type is None or c.type == type)
            and (cloud is None or c.cloud_provider == cloud)
            and (region is None or c.region == region)
        ]

    # ------------------------------------------------------------- lifecycle

    def _settle(self, instance: InstanceRecord, now: float) -> bool:
        """Finish the instance's operation if its time has come; False if it is now gone."""
        op = instance.operation
        if op is None:
            self._auto_pause(instance, now)
            return True
        if now < op.ends_at:
            return True
        instance.operation = None
        if op.kind == "delete":
            self.instances.pop(instance.id, None)
            # Sessions attached to the instance go with it.
            for session_id in [
                s.id for s in self.sessions.values() if s.instance_id == instance.id
            ]:
                del self.sessions[session_id]
            for snap_id in [
                s for s, snap in self.snapshots.items() if snap.instance_id == instance.id
            ]:
                del self.snapshots[snap_id]
            return False
        for key, value in op.changes.items():
            setattr(instance, key, value)
        instance.status = op.final_status
        # An online operation (update, resize) never took the database down: it has been
        # running all along. Anything else brings it (back) up at the operation's end.
        if instance.status == "running" and op.status not in REACHABLE_STATUSES:
            instance.running_since = op.ends_at
        if instance.type == "free-db" and op.kind in ("create", "resume"):
            instance.auto_pause_at = op.ends_at + self.config.free_auto_pause_after
        self._auto_pause(instance, now)
        return True

    def _auto_pause(self, instance: InstanceRecord, now: float) -> None:
        # AuraDB Free pauses itself after 72 h without use; the emulator sees no queries, so
        # it counts from the moment the instance last started running.
        if (
            instance.auto_pause_at
            and instance.status == "running"
            and now >= instance.auto_pause_at
        ):
            instance.status = "paused"
            instance.auto_pause_at = 0.0

    def settle_all(self) -> None:
        """Finish every operation whose time has come (for counters and listings)."""
        now = self.now()
        for instance in list(self.instances.values()):
            self._settle(instance, now)

    def _start(
        self,
        instance: InstanceRecord,
        kind: str,
        status: str,
        final_status: str = "running",
        changes: dict[str, object] | None = None,
        *,
        at: float | None = None,
    ) -> float:
        """Start an operation at ``at`` (now when None); return the duration drawn for it.

        ``kind`` names the operation (create, pause, ...) whose durations it is drawn from.
        """
        drawn = self._duration(kind)
        instance.status = status
        instance.operation = Operation(
            kind=kind,
            status=status,
            ends_at=(self.now() if at is None else at) + drawn,
            final_status=final_status,
            changes=changes or {},
        )
        return drawn

    def settled_instance(self, instance_id: str) -> InstanceRecord | None:
        """The instance as it stands now (its operation finished if due), or None when gone.

        Unlike the API's routes, this ignores the ``not_found_after_create`` fault: it is what
        the database side (the Bolt listener) sees, not the management API.
        """
        instance = self.instances.get(instance_id)
        if instance is None or not self._settle(instance, self.now()):
            return None
        return instance

    def _live_instance(self, instance_id: str) -> InstanceRecord:
        """The instance an id names, as every by-id route looks it up.

        Raises:
            ApiError: 404 ``db-not-found`` when unknown or gone, and also, for a while, when
                just created with the ``not_found_after_create`` fault on: GET, DELETE and
                every other route by id look the instance up the same way.
        """
        instance = self.instances.get(instance_id)
        now = self.now()
        if instance is None or not self._settle(instance, now):
            raise _instance_not_found(instance_id)
        if now < instance.hidden_until:
            self.counters.faults["not_found_after_create"] += 1
            raise _instance_not_found(instance_id)
        return instance

    def _idle_instance(self, instance_id: str) -> InstanceRecord:
        instance = self._live_instance(instance_id)
        if instance.busy:
            raise _ongoing(instance)
        return instance

    def instances_by_status(self) -> dict[str, int]:
        """Count the existing instances by their current status."""
        self.settle_all()
        return dict(sorted(Counter(i.status for i in self.instances.values()).items()))

    # --------------------------------------------------------------- projects

    def list_projects(self) -> list[ProjectRecord]:
        """Return every project."""
        return list(self.projects.values())

    def get_project(self, tenant_id: str) -> ProjectRecord:
        """Return one project.

        Raises:
            ApiError: 404 ``tenant-not-found``.
        """
        return self._project(tenant_id)

    def metrics_integration(self, tenant_id: str) -> str:
        """Return the project's metrics endpoint.

        Raises:
            ApiError: 404 ``tenant-not-found``; 400 ``tenant-incapable-of-action`` when the
                project has no instance eligible for metrics integration (as the live
                service answers, although the spec says 404).
        """
        self._project(tenant_id)
        self.settle_all()
        if not any(
            i.tenant_id == tenant_id and i.type in METRICS_TYPES for i in self.instances.values()
        ):
            raise ApiError(
                400,
                "This tenant has no instances eligible for metrics integration",
                "tenant-incapable-of-action",
            )
        return f"https://customer-metrics-api.neo4j.io/api/v1/{tenant_id}/metrics"

    # -------------------------------------------------------------- instances

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
        config = by_version[0]
        if storage is not None and storage not in {c.storage for c in offered}:
            raise _bad(f"Storage {storage} is not available for {type_}", "storage")
        if type_ != "free-db" and not project.billing_details:
            raise _bad(
                "You must provide billing details in the Aura Console before creating an instance",
                reason="missing-billing-details",
            )
        self._check_clone_source(project, source_instance_id, source_snapshot_id)
        if cmk_id is not None:
            self._check_key_for_instance(cmk_id, project.id, type_, cloud, region)
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

        now = self.now()
        faults = self.faults
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
        if faults.not_found_after_create > 0 and self.draw(
            faults.not_found_after_create_probability
        ):
            instance.hidden_until = now + faults.not_found_after_create
        instance.null_connection_url = self.draw(faults.null_connection_url)
        instance.null_connection_url_until_running = faults.null_connection_url_until_running
        instance.memory_missing_while_deleting = self.draw(faults.memory_missing_while_deleting)
        if self.draw(faults.deleting_status):
            instance.deleting_word = "deleting"
        failed = self.draw(faults.create_failure)
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

    def _check_clone_source(
        self, project: ProjectRecord, source_id: str | None, snapshot_id: str | None
    ) -> None:
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
        changes: dict[str, object] = {}
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
        if resizing:
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

    # -------------------------------------------------------------- snapshots

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

    # ------------------------------------------------------------------ keys

    def list_keys(self, tenant_id: str | None) -> list[KeyRecord]:
        """Return the customer managed keys, optionally of one project.

        Raises:
            ApiError: 404 ``tenant-not-found``.
        """
        if tenant_id is not None:
            self._project(tenant_id)
        return [k for k in self.keys.values() if tenant_id is None or k.tenant_id == tenant_id]

    def create_key(self, raw: object) -> KeyRecord:
        """Register a customer managed key; it becomes ready after a while.

        Raises:
            ApiError: 400 for invalid input or an unknown project.
        """
        body = _object(raw)
        key_id = _text(body, "key_id")
        region = _text(body, "region")
        name = _check_name(_text(body, "name"))
        instance_type = _text(body, "instance_type")
        tenant_id = _text(body, "tenant_id")
        cloud = _text(body, "cloud_provider")
        project = self._project_in_body(tenant_id)
        _choice(instance_type, CMK_TYPES, "instance_type")
        _choice(cloud, CLOUD_PROVIDERS, "cloud_provider")
        if not self._configs(project, type=instance_type, cloud=cloud, region=region):
            raise _bad(f"Region {region} is not available for {instance_type} on {cloud}", "region")
        now = self.now()
        key = KeyRecord(
            id=self._uuid(),
            name=name,
            tenant_id=tenant_id,
            cloud_provider=cloud,
            region=region,
            instance_type=instance_type,
            key_id=key_id,
            created=now,
            ready_at=now + self._duration("key"),
        )
        self.keys[key.id] = key
        return key

    def get_key(self, key_id: str) -> KeyRecord:
        """Return one key.

        Raises:
            ApiError: 404 ``encryption-key-not-found``.
        """
        key = self.keys.get(key_id)
        if key is None:
            raise ApiError(404, f"Encryption Key not found: {key_id}", "encryption-key-not-found")
        return key

    def delete_key(self, key_id: str) -> None:
        """Delete a key that no instance uses.

        Raises:
            ApiError: 404; 400 ``encryption-key-is-active`` while an instance uses it.
        """
        self.get_key(key_id)
        self.settle_all()
        if any(i.customer_managed_key_id == key_id for i in self.instances.values()):
            raise _bad(
                f"Can not delete encryption key {key_id}. The key is linked to an active instance.",
                reason="encryption-key-is-active",
            )
        del self.keys[key_id]

    # --------------------------------------------------------------- sessions

    def list_sessions(
        self, instance_id: str | None, tenant_id: str | None, organization_id: str | None
    ) -> list[SessionRecord]:
        """Return graph-analytics sessions matching the filters.

        Raises:
            ApiError: 404 for an unknown instance or project.
        """
        if instance_id is not None:
            self._live_instance(instance_id)
        if tenant_id is not None:
            self._project(tenant_id)
        if organization_id is not None and organization_id != ORGANIZATION_ID:
            return []
        self.settle_all()
        return [
            s
            for s in self.sessions.values()
            if (instance_id is None or s.instance_id == instance_id)
            and (tenant_id is None or s.tenant_id == tenant_id)
        ]

    def create_session(self, raw: object) -> tuple[bool, SessionRecord]:
        """Get or create a session by name within a project; return (created, session).

        Raises:
            ApiError: 400 for invalid input; 409 (empty reason) when a live session of that
                name exists with other parameters.
        """
        body = _object(raw)
        name = _text(body, "name")
        memory = _text(body, "memory")
        _choice(memory, SESSION_MEMORY_SIZES, "memory")
        ttl_text = _optional(body, "ttl")
        ttl = DEFAULT_SESSION_TTL
        if ttl_text is not None:
            parsed = parse_go_duration(ttl_text)
            if parsed is None or parsed <= 0:
                raise _bad(f"ttl must be a duration such as 30m or 1h; got {ttl_text!r}", "ttl")
            ttl = parsed
        instance_id = _optional(body, "instance_id")
        database_uuid = _optional(body, "database_uuid")
        tenant_id = _optional(body, "tenant_id")
        cloud = _optional(body, "cloud_provider")
        region = _optional(body, "region")
        if instance_id:
            instance = self.instances.get(instance_id)
            if instance is None or not self._settle(instance, self.now()):
                raise _bad(f"DB not found: {instance_id}", "instance_id", "db-not-found")
            if tenant_id is not None and tenant_id != instance.tenant_id:
                raise _bad(
                    f"Instance {instance_id} does not belong to project {tenant_id}", "tenant_id"
                )
            tenant_id = instance.tenant_id
            cloud, region = instance.cloud_provider, instance.region
        else:
            instance_id = None
            for field, value in (
                ("tenant_id", tenant_id),
                ("cloud_provider", cloud),
                ("region", region),
            ):
                if not value:
                    raise _bad(f"{field} is required for a standalone session", field)
        project = self._project_in_body(tenant_id)
        _choice(cloud, CLOUD_PROVIDERS, "cloud_provider")
        if not self._configs(project, cloud=cloud, region=region):
            raise _bad(f"Region {region} is not available on {cloud}", "region")

        now = self.now()
        for existing in self.sessions.values():
            if existing.name != name or existing.tenant_id != tenant_id:
                continue
            if existing.status(now) in ("Expired", "Failed"):
                continue
            diffs = []
            if existing.memory != memory:
                diffs.append(f"Memory (is: {existing.memory}, requested: {memory})")
            if existing.instance_id != instance_id:
                diffs.append(
                    f"InstanceId (is: {existing.instance_id or ''}, requested: {instance_id or ''})"
                )
            if instance_id is None and (existing.cloud_provider, existing.region) != (
                cloud,
                region,
            ):
                diffs.append(f"Region (is: {existing.region}, requested: {region})")
            if diffs:
                raise ApiError(
                    409,
                    f"session `{name}` already exists for project `{tenant_id}` "
                    f"with different parameters: {', '.join(diffs)}",
                    "",
                )
            return False, existing

        if instance_id is not None:
            session_id = f"{instance_id}-{self._hex(8)}"
        else:
            session_id = f"s-{self._hex(8)}-{self._hex(4)}-{self._hex(1)}"
        session = SessionRecord(
            id=session_id,
            name=name,
            memory=memory,
            tenant_id=tenant_id,
            user_id=USER_ID,
            host=f"{session_id}-gds.{region}.{cloud}.sessions.neo4j.io",
            cloud_provider=cloud,
            region=region,
            created_at=now,
            ready_at=now + self._duration("session"),
            ttl=ttl,
            fails=self.draw(self.faults.session_failure),
            instance_id=instance_id,
            database_uuid=database_uuid or (self._uuid() if instance_id else None),
        )
        self.sessions[session.id] = session
        return True, session

    def get_session(self, session_id: str) -> SessionRecord:
        """Return one session.

        Raises:
            ApiError: 404 with an empty reason, as the live service answers.
        """
        self.settle_all()  # a finished instance delete takes its sessions with it
        session = self.sessions.get(session_id)
        if session is None:
            raise ApiError(404, f"session with id `{session_id}` not found", "")
        return session

    def delete_session(self, session_id: str) -> str:
        """Delete a session; return its id.

        Raises:
            ApiError: 404 with an empty reason.
        """
        self.get_session(session_id)
        del self.sessions[session_id]
        return session_id

    def session_sizing(self, raw: object) -> dict[str, str]:
        """Estimate the memory a session for a graph of the given size needs.

        Raises:
            ApiError: 400 for missing or invalid counts.
        """
        body = _object(raw)
        nodes = _count(body, "node_count")
        rels = _count(body, "relationship_count")
        extra = [
            _optional(body, f, int) or 0
            for f in ("node_property_count", "node_label_count", "relationship_property_count")
        ]
        factor = 1.0 + 0.5 * len(_categories(body))
        props_nodes, labels, props_rels = extra
        bytes_needed = nodes * (40 + 8 * props_nodes + 4 * labels) + rels * (30 + 8 * props_rels)
        estimate = max(1, math.ceil(bytes_needed * 2 * factor / 1e9))
        sizes = [gigabytes(s) or 0 for s in SESSION_MEMORY_SIZES]
        recommended = next((s for s in sizes if s >= estimate), sizes[-1])
        return {"estimated_memory": f"{estimate}GB", "recommended_size": f"{recommended}GB"}

    # ---------------------------------------------------------------- control

    def reset_state(self) -> None:
        """Remove every instance, snapshot, key and session (projects stay)."""
        self.instances.clear()
        self.snapshots.clear()
        self.keys.clear()
        self.sessions.clear()
        self.deleted_once.clear()

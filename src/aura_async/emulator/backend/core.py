"""The backend's shared base: state, ids, random draws, lookups and the lifecycle engine.

:class:`BackendCore` holds what every resource family's rules use: the stored records, the
configuration and clock, the seeded random sources, and the engine that finishes an
operation once its time has come. The resource modules (``projects``, ``instances``, ...)
subclass it, one mixin each, and :class:`~aura_async.emulator.backend.AuraBackend` composes
them; none of them calls another's methods, only these.

Operations complete lazily: any look at an instance first finishes the operation whose time
has come, so a manual clock drives the whole lifecycle deterministically.
"""

from __future__ import annotations

import random
import secrets
import threading
import uuid

import attrs

from aura_async.emulator.backend.checks import _bad, _instance_not_found, _ongoing
from aura_async.emulator.catalog import InstanceConfiguration, default_configurations
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

CLOUD_PROVIDERS = ("gcp", "aws", "azure")
CMK_TYPES = ("enterprise-db", "enterprise-ds")
ORGANIZATION_ID = "7f3c1a2b-5d4e-4f60-8a9b-0c1d2e3f4a5b"


class BackendCore:
    """The state of one emulated Aura account and the engine that moves its instances on.

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

    # ---------------------------------------------------------------- control

    def reset_state(self) -> None:
        """Remove every instance, snapshot, key and session (projects stay)."""
        self.instances.clear()
        self.snapshots.clear()
        self.keys.clear()
        self.sessions.clear()
        self.deleted_once.clear()

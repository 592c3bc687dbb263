"""Every one of the 26 v1 operations through AuraClient, against the emulator over real HTTP.

Each call is wrapped in ``witness.sends(...)``, which reads the emulator's counters before and
after and asserts the call sent exactly the requests named (route template and status), no
more: one POST per create, no hidden retry, one token request per client. Waiting for a
status polls with short sleeps under ``anyio.fail_after``; emulated time runs 3600 times
faster than real time (see ``conftest.py``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from aura_async import (
    AuraClient,
    BadRequestError,
    CdcEnrichmentMode,
    CloudProvider,
    ConflictError,
    CreatedInstance,
    CreatedSnapshot,
    CustomerManagedKey,
    CustomerManagedKeySummary,
    DeletedSession,
    GraphAnalyticsSession,
    Instance,
    InstanceConfiguration,
    InstanceSizing,
    InstanceStatus,
    InstanceSummary,
    InstanceType,
    KeyStatus,
    MetricsIntegration,
    NotFoundError,
    Project,
    ProjectSummary,
    SessionSizing,
    SessionStatus,
    Snapshot,
    SnapshotProfile,
    SnapshotStatus,
)
from aura_async.emulator import Durations, EmulatorServer
from aura_async.emulator.backend import ORGANIZATION_ID
from tests.client.conftest import (
    PROJECTS,
    TIME_SCALE,
    HoldableClock,
    Witness,
    clock_of,
    emulator_config,
    make_client,
    poll_until,
)

pytestmark = pytest.mark.timeout(30)

TOKEN = "POST /oauth/token 200"
TENANTS = "GET /v1/tenants"
TENANT = "GET /v1/tenants/{tenantId}"
METRICS = "GET /v1/tenants/{tenantId}/metrics-integration"
LIST = "GET /v1/instances"
CREATE = "POST /v1/instances"
SIZING = "POST /v1/instances/sizing"
GET = "GET /v1/instances/{instanceId}"
PATCH = "PATCH /v1/instances/{instanceId}"
DELETE = "DELETE /v1/instances/{instanceId}"
PAUSE = "POST /v1/instances/{instanceId}/pause"
RESUME = "POST /v1/instances/{instanceId}/resume"
OVERWRITE = "POST /v1/instances/{instanceId}/overwrite"
UPGRADE = "POST /v1/instances/{instanceId}/upgrade"
SNAPSHOTS = "GET /v1/instances/{instanceId}/snapshots"
TAKE_SNAPSHOT = "POST /v1/instances/{instanceId}/snapshots"
SNAPSHOT = "GET /v1/instances/{instanceId}/snapshots/{snapshotId}"
RESTORE = "POST /v1/instances/{instanceId}/snapshots/{snapshotId}/restore"
KEYS = "GET /v1/customer-managed-keys"
CREATE_KEY = "POST /v1/customer-managed-keys"
KEY = "GET /v1/customer-managed-keys/{customerManagedKeyId}"
DELETE_KEY = "DELETE /v1/customer-managed-keys/{customerManagedKeyId}"
SESSIONS = "GET /v1/graph-analytics/sessions"
CREATE_SESSION = "POST /v1/graph-analytics/sessions"
SESSION_SIZING = "POST /v1/graph-analytics/sessions/sizing"
SESSION = "GET /v1/graph-analytics/sessions/{sessionId}"
DELETE_SESSION = "DELETE /v1/graph-analytics/sessions/{sessionId}"

OTHER_PROJECT = PROJECTS[1].id
PRO: dict[str, Any] = {
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}


def assert_utc(moment: dt.datetime | None) -> None:
    """A timezone-aware timestamp in UTC."""
    assert isinstance(moment, dt.datetime), moment
    assert moment.tzinfo is not None, moment
    assert moment.utcoffset() == dt.timedelta(0), moment


def assert_instance(instance: Instance, *, status: InstanceStatus | None = None) -> None:
    assert type(instance) is Instance
    assert instance.status.known, instance.status
    assert instance.type.known
    assert instance.cloud_provider.known
    assert_utc(instance.created_at)
    if status is not None:
        assert instance.status is status


async def wait_status(aura: AuraClient, instance_id: str, status: InstanceStatus) -> Instance:
    instance = await poll_until(
        lambda: aura.instances.get(instance_id), lambda i: i.status is status
    )
    assert_instance(instance, status=status)
    return instance


async def wait_gone(aura: AuraClient, instance_id: str) -> None:
    async def missing() -> bool:
        try:
            await aura.instances.get(instance_id)
        except NotFoundError:
            return True
        return False

    await poll_until(missing, bool)


async def create_running(
    aura: AuraClient, witness: Witness, name: str, *also: str, **settings: Any
) -> CreatedInstance:
    """Create an instance (sending ``also`` too, e.g. the token request, or the read of the
    project's offer before a client's first create) and wait until it runs."""
    async with witness.sends(f"{CREATE} 202", *also):
        created = await aura.instances.create(name=name, **(PRO | settings))
    await wait_status(aura, created.id, InstanceStatus.RUNNING)
    return created


async def completed_snapshot(aura: AuraClient, witness: Witness, instance_id: str) -> Snapshot:
    async with witness.sends(f"{TAKE_SNAPSHOT} 202"):
        taken = await aura.snapshots.create(instance_id)
    assert type(taken) is CreatedSnapshot
    return await poll_until(
        lambda: aura.snapshots.get(instance_id, taken.snapshot_id),
        lambda s: s.status is SnapshotStatus.COMPLETED,
    )


# --------------------------------------------------------------------------- tenants


async def test_tenants_list_get_and_metrics_integration(
    emulator: EmulatorServer, witness: Witness, aura: AuraClient
) -> None:
    # The first call fetches the token, once; no later call fetches another.
    async with witness.sends(TOKEN, f"{TENANTS} 200"):
        projects = await aura.tenants.list()
    assert projects == [ProjectSummary(id=p.id, name=p.name) for p in PROJECTS]
    assert projects[0].id == emulator.project_id
    assert all(type(p) is ProjectSummary for p in projects)

    async with witness.sends(f"{TENANT} 200"):
        project = await aura.tenants.get()
    assert type(project) is Project
    assert project.id == emulator.project_id
    configurations = project.instance_configurations
    assert isinstance(configurations, tuple)
    assert all(type(c) is InstanceConfiguration for c in configurations)
    assert {c.type for c in configurations} == set(InstanceType)
    assert {c.cloud_provider for c in configurations} == set(CloudProvider)
    free = {(c.cloud_provider, c.memory) for c in configurations if c.type is InstanceType.FREE_DB}
    assert free == {(CloudProvider.GCP, "1GB")}
    async with witness.sends(f"{TENANT} 200"):
        assert await aura.tenants.get(emulator.project_id) == project

    # No instance eligible for metrics yet: the live service answers 400.
    async with witness.sends(f"{METRICS} 400"):
        with pytest.raises(BadRequestError) as refused:
            await aura.tenants.metrics_integration()
    assert refused.value.status == 400
    assert refused.value.reason == "tenant-incapable-of-action"
    assert "Business Critical" in str(refused.value)

    # A Professional instance does not make the project eligible; Business Critical does.
    # The first create reads the project's offer once more (the catalogue keeps its own copy,
    # not what tenants.get() returned); the second create reads nothing.
    await create_running(aura, witness, "pro", f"{TENANT} 200")
    async with witness.sends(f"{METRICS} 400"):
        with pytest.raises(BadRequestError):
            await aura.tenants.metrics_integration()
    await create_running(aura, witness, "critical", type="business-critical")
    async with witness.sends(f"{METRICS} 200"):
        metrics = await aura.tenants.metrics_integration(emulator.project_id)
    assert type(metrics) is MetricsIntegration
    assert emulator.project_id in metrics.endpoint
    assert metrics.endpoint.startswith("https://")


# ------------------------------------------------------------------------- instances


async def test_professional_instance_lifecycle(
    emulator: EmulatorServer, witness: Witness, aura: AuraClient
) -> None:
    # The first create reads the project's offer (its instance configurations) once.
    async with witness.sends(TOKEN, f"{TENANT} 200", f"{CREATE} 202"):
        created = await aura.instances.create(name="lifecycle", **PRO)
    assert type(created) is CreatedInstance
    assert created.name == "lifecycle"
    assert created.type is InstanceType.PROFESSIONAL_DB
    assert created.cloud_provider is CloudProvider.GCP
    assert created.region == "europe-west1"
    assert created.tenant_id == emulator.project_id
    assert created.username == "neo4j"
    assert isinstance(created.password, str)
    assert len(created.password) >= 16
    assert created.password not in repr(created)
    assert_utc(created.created_at)

    async with witness.sends(f"{GET} 200"):
        first = await aura.instances.get(created.id)
    assert_instance(first)
    assert first.status in (InstanceStatus.CREATING, InstanceStatus.RUNNING)
    assert (first.memory, first.storage) == ("2GB", "4GB")
    running = await wait_status(aura, created.id, InstanceStatus.RUNNING)
    assert running.connection_url == f"neo4j+s://{created.id}.databases.neo4j.io"

    # Listing: the client's project by default, another one when named, all without one.
    # Another project: its offer is read once too.
    async with witness.sends(f"{TENANT} 200", f"{CREATE} 202"):
        elsewhere = await aura.instances.create(name="elsewhere", tenant_id=OTHER_PROJECT, **PRO)
    assert elsewhere.tenant_id == OTHER_PROJECT
    async with witness.sends(f"{LIST} 200"):
        listed = await aura.instances.list()
    assert [i.id for i in listed] == [created.id]
    (summary,) = listed
    assert type(summary) is InstanceSummary
    assert (summary.name, summary.tenant_id) == ("lifecycle", emulator.project_id)
    assert summary.cloud_provider is CloudProvider.GCP
    assert_utc(summary.created_at)
    async with witness.sends(f"{LIST} 200"):
        assert await aura.instances.list(emulator.project_id) == listed
    async with witness.sends(f"{LIST} 200"):
        assert [i.id for i in await aura.instances.list(OTHER_PROJECT)] == [elsewhere.id]
    async with (
        make_client(emulator, tenant=False) as everywhere,
        witness.sends(TOKEN, f"{LIST} 200"),
    ):
        every = await everywhere.instances.list()
    assert {i.id for i in every} == {created.id, elsewhere.id}

    # A rename is immediate: 200, and the instance stays running.
    async with witness.sends(f"{PATCH} 200"):
        renamed = await aura.instances.update(created.id, name="renamed")
    assert_instance(renamed, status=InstanceStatus.RUNNING)
    assert renamed.name == "renamed"

    # A resize answers 202 and shows the OLD memory, under the live "resizing" status, until
    # it is done; only then the new memory, running again.
    seen: list[tuple[InstanceStatus, str | None]] = []

    async def observe() -> Instance:
        instance = await aura.instances.get(created.id)
        seen.append((instance.status, instance.memory))
        return instance

    # The emulated clock stands still until the resize has been seen under way once (a
    # 0.2 s resize may end before the first poll on a busy host).
    with clock_of(emulator).held():
        async with witness.sends(f"{PATCH} 202"):
            resizing = await aura.instances.update(created.id, memory="4GB")
        await observe()
    assert_instance(resizing, status=InstanceStatus.RESIZING)
    assert resizing.memory == "2GB"
    done = await poll_until(observe, lambda i: i.memory == "4GB")
    assert_instance(done, status=InstanceStatus.RUNNING)
    assert (done.name, done.storage) == ("renamed", "8GB")
    assert len(seen) >= 2, "the resize finished before it was seen in progress"
    assert set(seen[:-1]) == {(InstanceStatus.RESIZING, "2GB")}

    async with witness.sends(f"{PAUSE} 202"):
        pausing = await aura.instances.pause(created.id)
    assert_instance(pausing, status=InstanceStatus.PAUSING)
    await wait_status(aura, created.id, InstanceStatus.PAUSED)

    async with witness.sends(f"{RESUME} 202"):
        resuming = await aura.instances.resume(created.id)
    assert_instance(resuming, status=InstanceStatus.RESUMING)
    await wait_status(aura, created.id, InstanceStatus.RUNNING)

    async with witness.sends(f"{DELETE} 202"):
        deleting = await aura.instances.delete(created.id)
    assert deleting is not None
    assert_instance(deleting, status=InstanceStatus.DESTROYING)
    await wait_gone(aura, created.id)
    async with witness.sends(f"{GET} 404"):
        with pytest.raises(NotFoundError) as missing:
            await aura.instances.get(created.id)
    assert missing.value.reason == "db-not-found"
    async with witness.sends(f"{LIST} 200"):
        assert await aura.instances.list() == []
    async with witness.sends(f"{LIST} 200"):
        assert [i.id for i in await aura.instances.list(OTHER_PROJECT)] == [elsewhere.id]


async def test_free_instance_needs_no_region_memory_or_cloud(
    witness: Witness, aura: AuraClient
) -> None:
    # The emulator answers 400 when region, memory or cloud_provider is missing: a 202
    # proves the client filled in AuraDB Free's one configuration.
    async with witness.sends(TOKEN, f"{TENANT} 200", f"{CREATE} 202"):
        created = await aura.instances.create(name="free", type="free-db")
    assert type(created) is CreatedInstance
    assert created.type is InstanceType.FREE_DB
    assert (created.cloud_provider, created.region) == (CloudProvider.GCP, "europe-west1")
    assert created.password
    instance = await wait_status(aura, created.id, InstanceStatus.RUNNING)
    assert instance.memory == "1GB"
    assert instance.storage is None
    assert (instance.graph_nodes, instance.graph_relationships) == (0, 0)


async def test_unknown_status_still_parses() -> None:
    config = emulator_config(resize_status="updating", durations=Durations(resize=3600))
    clock = HoldableClock(TIME_SCALE)
    async with EmulatorServer(config, clock=clock) as server, make_client(server) as aura:
        witness = Witness(server)
        try:
            created = await create_running(aura, witness, "statuses", TOKEN, f"{TENANT} 200")
            # The resize must not end (and set the status back) before the odd status is read.
            clock.hold()
            # The spec's word for a resize, instead of the live "resizing".
            async with witness.sends(f"{PATCH} 202"):
                resizing = await aura.instances.update(created.id, memory="4GB")
            assert resizing.status is InstanceStatus.UPDATING
            # A status the SDK has never heard of: the answer still parses, and says so.
            with server.backend.lock:
                server.backend.instances[created.id].status = "migrating"
            async with witness.sends(f"{GET} 200"):
                odd = await aura.instances.get(created.id)
            assert type(odd) is Instance
            assert isinstance(odd.status, InstanceStatus)
            assert not odd.status.known
            assert odd.status == "migrating"
            assert (odd.id, odd.memory, odd.type) == (
                created.id,
                "2GB",
                InstanceType.PROFESSIONAL_DB,
            )
        finally:
            await witness.aclose()


async def test_instance_sizing(witness: Witness, aura: AuraClient) -> None:
    graph: dict[str, Any] = {"node_count": 10**8, "relationship_count": 10**9}
    async with witness.sends(TOKEN, f"{SIZING} 200"):
        default = await aura.instances.sizing(**graph)
    assert type(default) is InstanceSizing
    # 93GB is more than AuraDS Professional (the default type) offers.
    assert default == InstanceSizing(
        did_exceed_maximum=True, min_required_memory="93GB", recommended_size="64GB"
    )
    async with witness.sends(f"{SIZING} 200"):
        enterprise = await aura.instances.sizing(**graph, instance_type=InstanceType.ENTERPRISE_DS)
    assert enterprise == InstanceSizing(
        did_exceed_maximum=False, min_required_memory="93GB", recommended_size="128GB"
    )
    async with witness.sends(f"{SIZING} 200"):
        heavier = await aura.instances.sizing(
            **graph,
            instance_type="enterprise-ds",
            algorithm_categories=("centrality", "community_detection"),
        )
    assert heavier.min_required_memory == "185GB"
    assert heavier.recommended_size == "256GB"


# ------------------------------------------------------------- snapshots and clones


async def test_snapshots_clones_and_restore(witness: Witness, aura: AuraClient) -> None:
    async with witness.sends(TOKEN, f"{TENANT} 200", f"{CREATE} 202"):
        source = await aura.instances.create(name="source", **PRO)
    await wait_status(aura, source.id, InstanceStatus.RUNNING)

    async with witness.sends(f"{TAKE_SNAPSHOT} 202"):
        taken = await aura.snapshots.create(source.id)
    assert type(taken) is CreatedSnapshot
    async with witness.sends(f"{SNAPSHOT} 200"):
        snapshot = await aura.snapshots.get(source.id, taken.snapshot_id)
    assert type(snapshot) is Snapshot
    assert (snapshot.snapshot_id, snapshot.instance_id) == (taken.snapshot_id, source.id)
    assert snapshot.status.known
    assert snapshot.profile is SnapshotProfile.AD_HOC
    assert_utc(snapshot.timestamp)
    done = await poll_until(
        lambda: aura.snapshots.get(source.id, taken.snapshot_id),
        lambda s: s.status is SnapshotStatus.COMPLETED,
    )
    assert done.exportable is True

    # Snapshots are listed by the (UTC) day they were taken, as a date or as a string.
    assert done.timestamp is not None
    day = done.timestamp.date()
    async with witness.sends(f"{SNAPSHOTS} 200"):
        by_date = await aura.snapshots.list(source.id, date=day)
    assert by_date == [done]
    async with witness.sends(f"{SNAPSHOTS} 200"):
        assert await aura.snapshots.list(source.id, date=day.isoformat()) == [done]
    async with witness.sends(f"{SNAPSHOTS} 200"):
        assert await aura.snapshots.list(source.id, date=day - dt.timedelta(days=1)) == []

    # Clones: from the running instance itself, and from its snapshot.
    async with witness.sends(f"{CREATE} 202"):
        from_instance = await aura.instances.create(
            name="from-instance", source_instance_id=source.id, **PRO
        )
    async with witness.sends(f"{CREATE} 202"):
        from_snapshot = await aura.instances.create(
            name="from-snapshot",
            source_instance_id=source.id,
            source_snapshot_id=taken.snapshot_id,
            **PRO,
        )
    assert type(from_instance) is CreatedInstance
    assert type(from_snapshot) is CreatedInstance
    assert len({source.id, from_instance.id, from_snapshot.id}) == 3
    await wait_status(aura, from_instance.id, InstanceStatus.RUNNING)
    await wait_status(aura, from_snapshot.id, InstanceStatus.RUNNING)

    async with witness.sends(f"{RESTORE} 202"):
        restoring = await aura.snapshots.restore(source.id, taken.snapshot_id)
    assert_instance(restoring, status=InstanceStatus.RESTORING)
    assert restoring.id == source.id
    await wait_status(aura, source.id, InstanceStatus.RUNNING)


async def test_overwrite_and_upgrade(
    emulator: EmulatorServer, witness: Witness, aura: AuraClient
) -> None:
    target = await create_running(aura, witness, "target", TOKEN, f"{TENANT} 200")
    source = await create_running(aura, witness, "source")

    async with witness.sends(f"{OVERWRITE} 202"):
        overwriting = await aura.instances.overwrite(target.id, source_instance_id=source.id)
    assert_instance(overwriting, status=InstanceStatus.OVERWRITING)
    assert overwriting.id == target.id
    await wait_status(aura, target.id, InstanceStatus.RUNNING)

    snapshot = await completed_snapshot(aura, witness, source.id)
    async with witness.sends(f"{OVERWRITE} 202"):
        again = await aura.instances.overwrite(
            target.id, source_instance_id=source.id, source_snapshot_id=snapshot.snapshot_id
        )
    assert again.status is InstanceStatus.OVERWRITING
    await wait_status(aura, target.id, InstanceStatus.RUNNING)

    # Upgrades happen at once (200): keeping the size, or with a new memory and storage.
    async with witness.sends(f"{UPGRADE} 200"):
        upgraded = await aura.instances.upgrade(target.id)
    assert_instance(upgraded, status=InstanceStatus.RUNNING)
    assert upgraded.type is InstanceType.BUSINESS_CRITICAL
    assert (upgraded.memory, upgraded.storage) == ("2GB", "4GB")
    assert upgraded.cdc_enrichment_mode is CdcEnrichmentMode.OFF
    assert upgraded.metrics_integration_url is not None
    async with witness.sends(f"{UPGRADE} 200"):
        resized = await aura.instances.upgrade(source.id, memory="4GB", storage="8GB")
    assert resized.type is InstanceType.BUSINESS_CRITICAL
    assert (resized.memory, resized.storage) == ("4GB", "8GB")
    async with witness.sends(f"{GET} 200"):
        assert (await aura.instances.get(source.id)).type is InstanceType.BUSINESS_CRITICAL
    async with witness.sends(f"{METRICS} 200"):
        assert emulator.project_id in (await aura.tenants.metrics_integration()).endpoint


# ------------------------------------------------------------ customer managed keys


async def test_customer_managed_keys(
    emulator: EmulatorServer, witness: Witness, aura: AuraClient
) -> None:
    async with witness.sends(TOKEN, f"{KEYS} 200"):
        assert await aura.customer_managed_keys.list() == []

    async with witness.sends(f"{CREATE_KEY} 202"):
        key = await aura.customer_managed_keys.create(
            name="production key",
            key_id="arn:aws:kms:eu-west-1:123456789012:key/0000",
            region="europe-west1",
            cloud_provider=CloudProvider.GCP,
            instance_type="enterprise-db",
        )
    assert type(key) is CustomerManagedKey
    assert key.status is KeyStatus.PENDING
    assert key.instance_type is InstanceType.ENTERPRISE_DB
    assert key.cloud_provider is CloudProvider.GCP
    assert (key.name, key.region, key.tenant_id) == (
        "production key",
        "europe-west1",
        emulator.project_id,
    )
    assert key.key_id == "arn:aws:kms:eu-west-1:123456789012:key/0000"
    assert_utc(key.created)

    async with witness.sends(f"{KEY} 200"):
        fetched = await aura.customer_managed_keys.get(key.id)
    assert type(fetched) is CustomerManagedKey
    assert fetched.id == key.id
    assert fetched.status.known
    ready = await poll_until(
        lambda: aura.customer_managed_keys.get(key.id), lambda k: k.status is KeyStatus.READY
    )
    assert ready.created == key.created

    summary = CustomerManagedKeySummary(id=key.id, name=key.name, tenant_id=emulator.project_id)
    async with witness.sends(f"{KEYS} 200"):
        assert await aura.customer_managed_keys.list() == [summary]
    async with witness.sends(f"{KEYS} 200"):
        assert await aura.customer_managed_keys.list(emulator.project_id) == [summary]
    async with witness.sends(f"{KEYS} 200"):
        assert await aura.customer_managed_keys.list(OTHER_PROJECT) == []

    # The client's first create: the project's offer is read once.
    async with witness.sends(f"{TENANT} 200", f"{CREATE} 202"):
        encrypted = await aura.instances.create(
            name="encrypted",
            type="enterprise-db",
            region="europe-west1",
            memory="4GB",
            cloud_provider="gcp",
            customer_managed_key_id=key.id,
        )
    instance = await wait_status(aura, encrypted.id, InstanceStatus.RUNNING)
    assert instance.customer_managed_key_id == key.id

    # In use: the API refuses with a reason code and the error says what to do.
    async with witness.sends(f"{DELETE_KEY} 400"):
        with pytest.raises(BadRequestError) as active:
            await aura.customer_managed_keys.delete(key.id)
    assert active.value.reason == "encryption-key-is-active"
    assert "instances" in active.value.hint

    async with witness.sends(f"{DELETE} 202"):
        await aura.instances.delete(encrypted.id)
    await wait_gone(aura, encrypted.id)
    async with witness.sends(f"{DELETE_KEY} 204"):
        await aura.customer_managed_keys.delete(key.id)  # returns None
    async with witness.sends(f"{KEY} 404"):
        with pytest.raises(NotFoundError):
            await aura.customer_managed_keys.get(key.id)
    async with witness.sends(f"{KEYS} 200"):
        assert await aura.customer_managed_keys.list() == []


# ------------------------------------------------------------------ graph analytics


async def test_graph_analytics_sessions(
    emulator: EmulatorServer, witness: Witness, aura: AuraClient
) -> None:
    database = await create_running(aura, witness, "analytics", TOKEN, f"{TENANT} 200")
    # From here emulated time moves only when the test says: a 45m or 30m TTL lasts under a
    # real second at this scale, and an expired session is neither got-or-created by name
    # nor ever seen Ready.
    clock_of(emulator).hold()

    async with witness.sends(f"{CREATE_SESSION} 202"):
        attached = await aura.graph_analytics.create(
            name="attached", memory="4GB", instance_id=database.id, ttl="45m"
        )
    assert type(attached) is GraphAnalyticsSession
    assert attached.status is SessionStatus.ACCEPTED  # the creation answer's empty status
    assert attached.instance_id == database.id
    assert attached.tenant_id == emulator.project_id
    assert attached.cloud_provider is CloudProvider.GCP
    assert_utc(attached.created_at)

    # Get-or-create by name: the same parameters give the same session (200, not 202) ...
    async with witness.sends(f"{CREATE_SESSION} 200"):
        same = await aura.graph_analytics.create(
            name="attached", memory="4GB", instance_id=database.id, ttl="45m"
        )
    assert same.id == attached.id
    assert same.status.known
    assert same.status is not SessionStatus.ACCEPTED
    # ... and other parameters a conflict.
    async with witness.sends(f"{CREATE_SESSION} 409"):
        with pytest.raises(ConflictError) as conflict:
            await aura.graph_analytics.create(
                name="attached", memory="8GB", instance_id=database.id
            )
    assert "Memory" in str(conflict.value)

    async with witness.sends(f"{CREATE_SESSION} 202"):
        standalone = await aura.graph_analytics.create(
            name="standalone",
            memory="2GB",
            ttl=dt.timedelta(minutes=30),
            cloud_provider="gcp",
            region="europe-west1",
        )
    assert type(standalone) is GraphAnalyticsSession
    assert standalone.id != attached.id
    assert standalone.instance_id is None
    assert (standalone.cloud_provider, standalone.region) == (CloudProvider.GCP, "europe-west1")

    async with witness.sends(f"{SESSION} 200"):
        fetched = await aura.graph_analytics.get(standalone.id)
    assert type(fetched) is GraphAnalyticsSession
    assert fetched.status is SessionStatus.CREATING
    await witness.advance(2 * Durations().session)  # past any session's start-up, jitter too
    ready = await poll_until(
        lambda: aura.graph_analytics.get(standalone.id), lambda s: s.status is SessionStatus.READY
    )
    assert ready.ttl == dt.timedelta(minutes=30)  # the timedelta travelled as "30m"
    assert_utc(ready.expiry_date)
    assert_utc(ready.created_at)
    assert ready.expiry_date is not None
    assert ready.created_at is not None
    assert ready.expiry_date > ready.created_at
    attached_now = await aura.graph_analytics.get(attached.id)
    assert attached_now.ttl == dt.timedelta(minutes=45)

    both = {attached.id, standalone.id}
    async with witness.sends(f"{SESSIONS} 200"):
        everything = await aura.graph_analytics.list()
    assert {s.id for s in everything} == both
    assert all(type(s) is GraphAnalyticsSession and s.status.known for s in everything)
    async with witness.sends(f"{SESSIONS} 200"):
        of_instance = await aura.graph_analytics.list(instance_id=database.id)
    assert [s.id for s in of_instance] == [attached.id]
    async with witness.sends(f"{SESSIONS} 200"):
        of_project = await aura.graph_analytics.list(tenant_id=emulator.project_id)
    assert {s.id for s in of_project} == both
    async with witness.sends(f"{SESSIONS} 200"):
        assert await aura.graph_analytics.list(tenant_id=OTHER_PROJECT) == []
    async with witness.sends(f"{SESSIONS} 200"):
        of_organization = await aura.graph_analytics.list(organization_id=ORGANIZATION_ID)
    assert {s.id for s in of_organization} == both
    async with witness.sends(f"{SESSIONS} 200"):
        assert await aura.graph_analytics.list(organization_id="another-organization") == []

    async with witness.sends(f"{DELETE_SESSION} 202"):
        deleted = await aura.graph_analytics.delete(standalone.id)
    assert deleted == DeletedSession(id=standalone.id)
    async with witness.sends(f"{SESSION} 404"):
        with pytest.raises(NotFoundError):
            await aura.graph_analytics.get(standalone.id)
    async with witness.sends(f"{SESSIONS} 200"):
        assert [s.id for s in await aura.graph_analytics.list()] == [attached.id]


async def test_graph_analytics_sizing(witness: Witness, aura: AuraClient) -> None:
    graph: dict[str, Any] = {"node_count": 10**8, "relationship_count": 10**9}
    async with witness.sends(TOKEN, f"{SESSION_SIZING} 200"):
        plain = await aura.graph_analytics.sizing(**graph)
    assert plain == SessionSizing(estimated_memory="68GB", recommended_size="96GB")
    assert type(plain) is SessionSizing
    # Every optional count and the categories reach the server and change its estimate.
    async with witness.sends(f"{SESSION_SIZING} 200"):
        detailed = await aura.graph_analytics.sizing(
            **graph,
            node_property_count=10,
            node_label_count=5,
            relationship_property_count=2,
            algorithm_categories=["centrality"],
        )
    # (1e8 * (40 + 80 + 20) + 1e9 * (30 + 16)) * 2 * 1.5 / 1e9
    assert detailed == SessionSizing(estimated_memory="180GB", recommended_size="192GB")

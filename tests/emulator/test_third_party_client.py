"""An independent, unmodified third-party Aura client against the emulator over real HTTP.

``aura-python-sdk`` (pinned in the test dependencies) was written against the live Aura API,
not against this emulator. Pointing it at an :class:`EmulatorServer` with nothing but its base
URL changed, and driving a whole instance lifecycle through it, shows the emulator speaks the
real wire protocol (token endpoint, paths, status codes, body shapes, ids) rather than our own
assumptions. The emulator's clock is compressed, so the lifecycle takes a second or two.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import aura_python_sdk as aura
import httpx
import pytest

from aura_async.emulator import EmulatorConfig, EmulatorServer

# Real seconds: how often the flows poll, and how long any one wait may take at most.
POLL = 0.05
WAIT = 20.0


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    # x600: creating (120 s emulated) takes ~0.2 s, a resize (180 s) ~0.3 s.
    with EmulatorServer(EmulatorConfig(time_scale=600, seed=20240601)) as server:
        yield server


def sdk_options(server: EmulatorServer) -> dict[str, Any]:
    """The SDK's options: only the base URL differs from what a real user would pass."""
    return {
        "client_id": server.client_id,
        "client_secret": server.client_secret,
        "base_url": server.base_url,
        "allow_insecure_base_url": True,
        "max_retries": 0,
        "timeout": 10,
    }


def instance_config(server: EmulatorServer, name: str) -> aura.InstanceConfig:
    return aura.InstanceConfig(
        name=name,
        tenant_id=server.project_id,
        cloud_provider="gcp",
        region="europe-west1",
        type="professional-db",
        version="5",
        memory="2GB",
    )


def check_created(created: aura.CreatedInstance, server: EmulatorServer, name: str) -> None:
    assert created.name == name
    assert created.tenant_id == server.project_id
    assert created.cloud_provider == "gcp"
    assert created.region == "europe-west1"
    assert created.type == "professional-db"
    assert created.username
    assert created.password
    assert created.connection_url


def check_running(instance: aura.Instance, server: EmulatorServer, memory: str) -> None:
    assert instance.status == aura.InstanceStatus.RUNNING
    assert instance.memory == memory
    assert instance.tenant_id == server.project_id
    assert instance.type == "professional-db"
    assert instance.region == "europe-west1"


def check_counters(server: EmulatorServer, name: str) -> None:
    """The emulator saw exactly one create for ``name`` and never had to answer 429."""
    counters = httpx.get(f"{server.base_url}/_emulator/counters", timeout=10).json()
    assert counters["creates_per_name"] == {name: 1}
    assert counters["rate_limited"] == 0
    assert "429" not in counters["requests_by_status"]
    # Every operation of the flow reached the emulator and succeeded.
    routes = counters["requests"]
    for route in (
        "POST /v1/instances",
        "POST /v1/instances/{instanceId}/pause",
        "POST /v1/instances/{instanceId}/resume",
        "PATCH /v1/instances/{instanceId}",
        "POST /v1/instances/{instanceId}/snapshots",
        "DELETE /v1/instances/{instanceId}",
    ):
        assert routes[route] == {"202": 1}, route
    assert routes["GET /v1/instances/{instanceId}"]["404"] >= 1
    assert counters["tokens_issued"] >= 1


async def poll_while_destroying(client: aura.AsyncAuraClient, instance_id: str) -> None:
    """Get the instance until that raises (NotFoundError once it is gone)."""
    deadline = time.monotonic() + WAIT
    while True:
        still = await client.instances.get(instance_id)
        assert still.status == aura.InstanceStatus.DESTROYING
        assert time.monotonic() < deadline, f"instance never went away: {still}"
        await anyio.sleep(POLL)


def poll_while_destroying_sync(client: aura.AuraClient, instance_id: str) -> None:
    """Get the instance until that raises (NotFoundError once it is gone)."""
    deadline = time.monotonic() + WAIT
    while True:
        still = client.instances.get(instance_id)
        assert still.status == aura.InstanceStatus.DESTROYING
        assert time.monotonic() < deadline, f"instance never went away: {still}"
        time.sleep(POLL)


async def test_async_client_full_lifecycle(emulator: EmulatorServer) -> None:
    name = "sdk-async-flow"
    started = time.monotonic()
    async with aura.AsyncAuraClient(**sdk_options(emulator)) as client:
        tenant = await client.tenants.get(emulator.project_id)
        assert tenant.id == emulator.project_id

        created = await client.instances.create(instance_config(emulator, name))
        check_created(created, emulator, name)
        instance_id = created.id
        running = await client.instances.wait_for_status(
            instance_id, status=aura.InstanceStatus.RUNNING, timeout=WAIT, interval=POLL
        )
        check_running(running, emulator, "2GB")

        paused = await client.instances.pause(instance_id)
        assert paused.status == aura.InstanceStatus.PAUSING
        paused = await client.instances.wait_for_status(
            instance_id, status=aura.InstanceStatus.PAUSED, timeout=WAIT, interval=POLL
        )
        assert paused.status == aura.InstanceStatus.PAUSED

        resumed = await client.instances.resume(instance_id)
        assert resumed.status == aura.InstanceStatus.RESUMING
        resumed = await client.instances.wait_for_status(
            instance_id, status=aura.InstanceStatus.RUNNING, timeout=WAIT, interval=POLL
        )
        check_running(resumed, emulator, "2GB")

        # A resize keeps the old size until it is done, so the SDK's wait_for_status alone
        # can't tell it finished: poll for running with the new memory.
        resizing = await client.instances.update(instance_id, memory="4GB")
        assert resizing.status == "resizing"
        assert resizing.memory == "2GB"
        deadline = time.monotonic() + WAIT
        while True:
            resized = await client.instances.get(instance_id)
            if resized.status == aura.InstanceStatus.RUNNING and resized.memory == "4GB":
                break
            assert time.monotonic() < deadline, f"resize never finished: {resized}"
            await anyio.sleep(POLL)
        check_running(resized, emulator, "4GB")

        snapshot = await client.snapshots.create(instance_id)
        done = await client.snapshots.wait_for_completion(
            instance_id, snapshot.snapshot_id, timeout=WAIT, interval=POLL
        )
        assert done.status == aura.SnapshotStatus.COMPLETED
        assert done.snapshot_id == snapshot.snapshot_id
        assert done.instance_id == instance_id

        deleted = await client.instances.delete(instance_id)
        assert deleted.id == instance_id
        assert deleted.status == aura.InstanceStatus.DESTROYING
        with pytest.raises(aura.NotFoundError) as gone:
            await poll_while_destroying(client, instance_id)
        assert gone.value.status_code == 404
        assert instance_id not in {i.id for i in await client.instances.list()}

    check_counters(emulator, name)
    assert time.monotonic() - started < 15


def test_sync_client_full_lifecycle(emulator: EmulatorServer) -> None:
    name = "sdk-sync-flow"
    started = time.monotonic()
    with aura.AuraClient(**sdk_options(emulator)) as client:
        assert emulator.project_id in {t.id for t in client.tenants.list()}

        created = client.instances.create(instance_config(emulator, name))
        check_created(created, emulator, name)
        instance_id = created.id
        running = client.instances.wait_for_status(
            instance_id, status=aura.InstanceStatus.RUNNING, timeout=WAIT, interval=POLL
        )
        check_running(running, emulator, "2GB")

        assert client.instances.pause(instance_id).status == aura.InstanceStatus.PAUSING
        paused = client.instances.wait_for_status(
            instance_id, status=aura.InstanceStatus.PAUSED, timeout=WAIT, interval=POLL
        )
        assert paused.status == aura.InstanceStatus.PAUSED

        assert client.instances.resume(instance_id).status == aura.InstanceStatus.RESUMING
        resumed = client.instances.wait_for_status(
            instance_id, status=aura.InstanceStatus.RUNNING, timeout=WAIT, interval=POLL
        )
        check_running(resumed, emulator, "2GB")

        resizing = client.instances.update(instance_id, memory="4GB")
        assert (resizing.status, resizing.memory) == ("resizing", "2GB")
        deadline = time.monotonic() + WAIT
        while True:
            resized = client.instances.get(instance_id)
            if resized.status == aura.InstanceStatus.RUNNING and resized.memory == "4GB":
                break
            assert time.monotonic() < deadline, f"resize never finished: {resized}"
            time.sleep(POLL)
        check_running(resized, emulator, "4GB")

        snapshot = client.snapshots.create(instance_id)
        done = client.snapshots.wait_for_completion(
            instance_id, snapshot.snapshot_id, timeout=WAIT, interval=POLL
        )
        assert done.status == aura.SnapshotStatus.COMPLETED
        assert done.snapshot_id == snapshot.snapshot_id

        assert client.instances.delete(instance_id).status == aura.InstanceStatus.DESTROYING
        with pytest.raises(aura.NotFoundError) as gone:
            poll_while_destroying_sync(client, instance_id)
        assert gone.value.status_code == 404

    check_counters(emulator, name)
    assert time.monotonic() - started < 15

"""The default project: with none named or configured, the account's only one.

Against an emulator on loopback, read through its own counters: the projects are listed
once per client and only after every local check passed; with several projects the error
lists them (id and name) and says how to choose; nothing billable is sent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aura_async import InstanceSpec, MemoryStore, ValidationError
from aura_async.emulator import EmulatorServer, ProjectSpec
from aura_async.models import ProjectSummary
from aura_async.resources._project import DefaultProject
from tests.client.conftest import Witness, emulator_config, make_client

pytestmark = pytest.mark.timeout(60)

ONLY = ProjectSpec("6b1f0c2e-4d3a-4f5e-9a8b-7c6d5e4f3a21", "Only Project")
OTHER = ProjectSpec("2d7a4f0e-93b1-4c5e-8f6a-1b2c3d4e5f60", "Other Project")
PRO: dict[str, Any] = {
    "name": "db",
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
LIST = "GET /v1/tenants 200"


@pytest.fixture
async def one() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(emulator_config(projects=(ONLY,))) as server:
        yield server


@pytest.fixture
async def two() -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(emulator_config(projects=(ONLY, OTHER))) as server:
        yield server


async def test_the_only_project_is_used_and_listed_once(
    one: EmulatorServer, caplog: pytest.LogCaptureFixture
) -> None:
    witness = Witness(one)
    caplog.set_level(logging.INFO, logger="aura_async")
    try:
        async with make_client(one, tenant=False) as aura:
            assert aura.tenant_id is None
            created = await aura.instances.create(**PRO)
            again = await aura.instances.create(**{**PRO, "name": "db2"})
            project = await aura.tenants.get()
            key = await aura.customer_managed_keys.create(
                name="key",
                key_id="arn:aws:kms:eu-west-1:123456789012:key/0000",
                region="europe-west1",
                cloud_provider="gcp",
                instance_type="enterprise-db",
            )
        assert created.tenant_id == again.tenant_id == project.id == key.tenant_id == ONLY.id
        requests = await witness.requests()
        assert requests[LIST] == 1, requests  # one listing for the client's life
        assert requests["POST /v1/instances 202"] == 2
    finally:
        await witness.aclose()
    said = [r.getMessage() for r in caplog.records if "only project" in r.getMessage()]
    assert said == [f"using the account's only project {ONLY.id} (Only Project)"]
    assert all(r.levelno == logging.INFO for r in caplog.records if "only project" in r.msg)


async def test_a_fleet_create_uses_the_only_project(one: EmulatorServer) -> None:
    witness = Witness(one)
    try:
        async with make_client(one, tenant=False) as aura:
            spec = InstanceSpec(**PRO)
            report = await aura.fleet.create(
                spec, count=2, pattern="ci-{n}", store=MemoryStore(), adopt=False
            )
            assert report.ok, report.summary()
            listed = await aura.instances.list()
        assert sorted(s.name for s in listed) == ["ci-1", "ci-2"]
        assert {s.tenant_id for s in listed} == {ONLY.id}
        assert (await witness.requests())[LIST] == 1
    finally:
        await witness.aclose()


async def test_a_configured_project_is_not_looked_up(one: EmulatorServer) -> None:
    witness = Witness(one)
    try:
        async with make_client(one, tenant=False) as aura:
            await aura.instances.create(**PRO, tenant_id=ONLY.id)
        assert (await witness.requests())[LIST] == 0
    finally:
        await witness.aclose()


async def test_bad_input_sends_nothing_not_even_the_listing(one: EmulatorServer) -> None:
    witness = Witness(one)
    try:
        async with make_client(one, tenant=False) as aura:
            before = await witness.counters()
            with pytest.raises(ValidationError, match="memory"):
                await aura.instances.create(**{**PRO, "memory": "lots"})
            with pytest.raises(ValidationError, match="ttl"):
                await aura.graph_analytics.create(
                    name="s", memory="4GB", cloud_provider="gcp", region="x", ttl="soon"
                )
            after = await witness.counters()
        assert after["requests_total"] == before["requests_total"]
    finally:
        await witness.aclose()


async def test_several_projects_are_listed_with_how_to_choose(two: EmulatorServer) -> None:
    witness = Witness(two)
    try:
        async with make_client(two, tenant=False) as aura:
            calls = [
                lambda: aura.instances.create(**PRO),
                lambda: aura.instances.validate_create(**PRO),
                lambda: aura.tenants.get(),
                lambda: aura.tenants.metrics_integration(),
                lambda: aura.graph_analytics.create(
                    name="s", memory="4GB", cloud_provider="gcp", region="europe-west1"
                ),
            ]
            for call in calls:
                with pytest.raises(ValidationError) as refused:
                    await call()
                error = refused.value
                assert error.field == "tenant_id"
                assert f"{ONLY.id} (Only Project)" in error.message
                assert f"{OTHER.id} (Other Project)" in error.message
                assert "2 projects" in error.message
                assert error.hint is not None
                assert "AuraClient(tenant_id=ID)" in error.hint
                assert "AURA_TENANT_ID" in error.hint
        requests = await witness.requests()
        assert requests[LIST] == 1, requests  # the listing is kept, not repeated per call
        assert not any(r.startswith(("POST /v1/instances", "POST /v1/graph")) for r in requests)
    finally:
        await witness.aclose()


async def test_no_project_is_a_clear_error() -> None:
    listings = 0

    async def none() -> list[ProjectSummary]:
        nonlocal listings
        listings += 1
        return []

    finder = DefaultProject(none)
    for _ in range(2):
        with pytest.raises(ValidationError, match="these credentials see no project"):
            await finder.resolve()
    assert listings == 1
    assert finder.known is None

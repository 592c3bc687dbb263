"""Behaviour of the emulated tenants, snapshots, customer managed keys and graph-analytics
sessions, over HTTP, with the clock moved by hand."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from aura_async.emulator import Durations, EmulatorConfig, FaultPlan, ProjectSpec
from aura_async.emulator.catalog import REGIONS
from tests.conftest import PROJECT, Api, ApiFactory, instance_body, only_error

D = Durations()
OTHER_PROJECT = "0e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b"
PAID_TYPES = (
    "enterprise-db",
    "enterprise-ds",
    "business-critical",
    "professional-db",
    "professional-ds",
)
CONFIG_KEYS = {"region", "region_name", "type", "memory", "storage", "version", "cloud_provider"}
SNAPSHOT_KEYS = {"instance_id", "snapshot_id", "profile", "status", "timestamp", "exportable"}
KEY_KEYS = {
    "id",
    "name",
    "created",
    "cloud_provider",
    "key_id",
    "region",
    "type",
    "instance_type",
    "tenant_id",
    "status",
}
SESSION_KEYS = {
    "id",
    "name",
    "memory",
    "instance_id",
    "database_uuid",
    "status",
    "created_at",
    "host",
    "expiry_date",
    "ttl",
    "user_id",
    "tenant_id",
    "cloud_provider",
    "region",
}
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


@pytest.fixture
async def two(make_api: ApiFactory) -> Api:
    """An emulator with two projects and exact durations."""
    result: Api = await make_api(
        EmulatorConfig(
            seed=1,
            projects=(ProjectSpec(PROJECT, "First"), ProjectSpec(OTHER_PROJECT, "Second")),
            durations=Durations(jitter=0),
        )
    )
    return result


def iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).date().isoformat()


# ------------------------------------------------------------------ tenants


async def test_list_tenants(two: Api) -> None:
    response = await two.call("GET", "/tenants")
    assert response.status_code == 200
    assert response.json() == {
        "data": [{"id": PROJECT, "name": "First"}, {"id": OTHER_PROJECT, "name": "Second"}]
    }


async def test_get_tenant_with_its_instance_configurations(api: Api) -> None:
    tenant = await api.data("GET", f"/tenants/{PROJECT}")
    assert set(tenant) == {"id", "name", "instance_configurations"}
    assert (tenant["id"], tenant["name"]) == (PROJECT, "Emulator Project")
    configs = tenant["instance_configurations"]
    assert configs
    for config in configs:
        assert set(config) == CONFIG_KEYS
        assert config["region"] in REGIONS[config["cloud_provider"]]
        assert config["region_name"] == REGIONS[config["cloud_provider"]][config["region"]]
        memory = int(config["memory"].removesuffix("GB"))
        assert config["storage"] == f"{memory * 2}GB"
        assert config["version"] == "5"

    def of(type_: str) -> list[dict[str, str]]:
        return [c for c in configs if c["type"] == type_]

    assert {c["cloud_provider"] for c in of("free-db")} == {"gcp"}
    assert {c["memory"] for c in of("free-db")} == {"1GB"}
    for type_ in PAID_TYPES:
        assert {c["cloud_provider"] for c in of(type_)} == {"gcp", "aws", "azure"}, type_
    assert {
        "region": "europe-west1",
        "region_name": "Belgium (europe-west1)",
        "type": "enterprise-db",
        "memory": "4GB",
        "storage": "8GB",
        "version": "5",
        "cloud_provider": "gcp",
    } in configs


async def test_tenant_configurations_follow_the_project_types(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(projects=(ProjectSpec(PROJECT, "Pro", instance_types=("professional-db",)),))
    )
    configs = (await api.data("GET", f"/tenants/{PROJECT}"))["instance_configurations"]
    assert {c["type"] for c in configs} == {"professional-db"}


async def test_unknown_tenant_is_404(api: Api) -> None:
    for path in ("/tenants/no-such-tenant", "/tenants/no-such-tenant/metrics-integration"):
        assert only_error(await api.call("GET", path), 404) == {
            "message": "The tenant you specified could not be found",
            "reason": "tenant-not-found",
        }


async def test_metrics_integration_needs_an_eligible_instance(api: Api) -> None:
    path = f"/tenants/{PROJECT}/metrics-integration"
    incapable = {
        "message": "This tenant has no instances eligible for metrics integration",
        "reason": "tenant-incapable-of-action",
    }
    assert only_error(await api.call("GET", path), 400) == incapable
    await api.running(name="pro")
    assert only_error(await api.call("GET", path), 400) == incapable
    await api.running(name="bc", type="business-critical")
    response = await api.call("GET", path)
    assert response.status_code == 200
    assert response.json() == {
        "data": {"endpoint": f"https://customer-metrics-api.neo4j.io/api/v1/{PROJECT}/metrics"}
    }


async def test_metrics_integration_is_per_project(two: Api) -> None:
    await two.running(type="enterprise-db", memory="4GB", tenant_id=OTHER_PROJECT)
    await two.data("GET", f"/tenants/{OTHER_PROJECT}/metrics-integration")
    response = await two.call("GET", f"/tenants/{PROJECT}/metrics-integration")
    assert only_error(response, 400)["reason"] == "tenant-incapable-of-action"


# ---------------------------------------------------------------- snapshots


async def test_snapshot_goes_pending_in_progress_completed(exact: Api) -> None:
    instance = await exact.running()
    path = f"/instances/{instance['id']}/snapshots"
    started = exact.clock.now()
    response = await exact.call("POST", path)
    assert response.status_code == 202
    assert set(response.json()["data"]) == {"snapshot_id"}
    snapshot_id = response.json()["data"]["snapshot_id"]
    assert re.fullmatch(UUID_RE, snapshot_id)

    snapshot = await exact.data("GET", f"{path}/{snapshot_id}")
    assert snapshot == {
        "instance_id": instance["id"],
        "snapshot_id": snapshot_id,
        "profile": "AdHoc",
        "status": "Pending",
        "timestamp": iso(started),
        "exportable": True,
    }
    seen = []
    for offset in (0.2 * D.snapshot - 1, 0.2 * D.snapshot, D.snapshot - 1, D.snapshot):
        exact.clock.advance(started + offset - exact.clock.now())
        seen.append((await exact.data("GET", f"{path}/{snapshot_id}"))["status"])
    assert seen == ["Pending", "InProgress", "InProgress", "Completed"]
    # A snapshot does not block the instance.
    assert (await exact.data("GET", f"/instances/{instance['id']}"))["status"] == "running"


async def test_snapshot_accepts_an_empty_object_body(api: Api) -> None:
    instance = await api.running()
    data = await api.data("POST", f"/instances/{instance['id']}/snapshots", {}, 202)
    assert set(data) == {"snapshot_id"}


async def test_snapshot_failure_fault_ends_failed(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1, faults=FaultPlan(snapshot_failure=1.0), durations=Durations(jitter=0)
        )
    )
    instance = await api.running()
    path = f"/instances/{instance['id']}/snapshots"
    snapshot_id = (await api.data("POST", path, None, 202))["snapshot_id"]
    api.clock.advance(D.snapshot - 1)
    assert (await api.data("GET", f"{path}/{snapshot_id}"))["status"] == "InProgress"
    api.clock.advance(1)
    assert (await api.data("GET", f"{path}/{snapshot_id}"))["status"] == "Failed"
    assert [s["status"] for s in await api.data("GET", path)] == ["Failed"]


async def test_snapshots_are_listed_by_day(exact: Api) -> None:
    instance = await exact.running()
    other = await exact.running(name="other")
    path = f"/instances/{instance['id']}/snapshots"
    first = (await exact.data("POST", path, None, 202))["snapshot_id"]
    second = (await exact.data("POST", path, None, 202))["snapshot_id"]
    await exact.data("POST", f"/instances/{other['id']}/snapshots", None, 202)
    taken = exact.clock.now()

    listed = await exact.data("GET", path)
    assert [s["snapshot_id"] for s in listed] == [first, second]
    for item in listed:
        assert set(item) == SNAPSHOT_KEYS
        assert item["instance_id"] == instance["id"]
    assert [s["snapshot_id"] for s in await exact.data("GET", f"{path}?date={day(taken)}")] == [
        first,
        second,
    ]
    assert await exact.data("GET", f"{path}?date={day(taken - 86_400)}") == []
    assert await exact.data("GET", f"{path}?date={day(taken + 86_400)}") == []

    # Next day: the default (today) no longer shows them, the date still does.
    exact.clock.advance(86_400)
    await exact.login()
    assert await exact.data("GET", path) == []
    assert len(await exact.data("GET", f"{path}?date={day(taken)}")) == 2


@pytest.mark.parametrize(
    "date",
    ["yesterday", "2023-13-01", "2023-02-30", "2023-1-5", "15/11/2023", "20231115", "2023-W46-3"],
)
async def test_snapshot_list_with_a_malformed_date_is_400(api: Api, date: str) -> None:
    instance = await api.running()
    response = await api.call("GET", f"/instances/{instance['id']}/snapshots?date={date}")
    error = only_error(response, 400)
    assert (error["field"], error["reason"]) == ("date", "invalid-request")


async def test_unknown_snapshot_is_404(api: Api) -> None:
    instance = await api.running()
    other = await api.running(name="other")
    foreign = (await api.data("POST", f"/instances/{other['id']}/snapshots", None, 202))[
        "snapshot_id"
    ]
    for snapshot_id in ("no-such-snapshot", foreign):
        response = await api.call("GET", f"/instances/{instance['id']}/snapshots/{snapshot_id}")
        assert only_error(response, 404) == {
            "message": f"Snapshot not found: {snapshot_id}",
            "reason": "snapshot-not-found",
        }


async def test_snapshot_of_a_paused_instance_is_409(exact: Api) -> None:
    instance = await exact.running()
    await exact.data("POST", f"/instances/{instance['id']}/pause", None, 202)
    exact.clock.advance(D.pause)
    response = await exact.call("POST", f"/instances/{instance['id']}/snapshots")
    assert only_error(response, 409)["reason"] == "invalid-instance-status"


async def test_snapshot_while_creating_is_409(api: Api) -> None:
    created = await api.create()
    response = await api.call("POST", f"/instances/{created['id']}/snapshots")
    assert only_error(response, 409) == {
        "message": "The database is current undergoing an operation: creating",
        "reason": "ongoing-database-operation",
    }


async def test_snapshots_go_with_their_instance(exact: Api) -> None:
    instance = await exact.running()
    path = f"/instances/{instance['id']}/snapshots"
    snapshot_id = (await exact.data("POST", path, None, 202))["snapshot_id"]
    await exact.data("DELETE", f"/instances/{instance['id']}", expect=202)
    # While destroying, the snapshot is still there.
    assert (await exact.data("GET", f"{path}/{snapshot_id}"))["snapshot_id"] == snapshot_id
    exact.clock.advance(D.delete)
    response = await exact.call("GET", f"{path}/{snapshot_id}")
    assert only_error(response, 404)["reason"] == "db-not-found"


# ----------------------------------------------------- customer managed keys


def key_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key_id": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k",
        "region": "europe-west1",
        "name": "my-key",
        "instance_type": "enterprise-db",
        "tenant_id": PROJECT,
        "cloud_provider": "gcp",
    }
    body.update(overrides)
    return body


async def ready_key(api: Api, **overrides: Any) -> dict[str, Any]:
    key: dict[str, Any] = await api.data(
        "POST", "/customer-managed-keys", key_body(**overrides), 202
    )
    api.clock.advance(D.key * (1 + D.jitter))
    key = await api.data("GET", f"/customer-managed-keys/{key['id']}")
    assert key["status"] == "ready"
    return key


async def test_key_goes_from_pending_to_ready(exact: Api) -> None:
    response = await exact.call("POST", "/customer-managed-keys", key_body())
    assert response.status_code == 202
    key = response.json()["data"]
    assert set(key) == KEY_KEYS
    assert re.fullmatch(UUID_RE, key["id"])
    assert key == {
        "id": key["id"],
        "name": "my-key",
        "created": iso(exact.clock.now()),
        "cloud_provider": "gcp",
        "key_id": key_body()["key_id"],
        "region": "europe-west1",
        "type": "enterprise-db",
        "instance_type": "enterprise-db",
        "tenant_id": PROJECT,
        "status": "pending",
    }
    exact.clock.advance(D.key - 1)
    assert (await exact.data("GET", f"/customer-managed-keys/{key['id']}"))["status"] == "pending"
    exact.clock.advance(1)
    assert (await exact.data("GET", f"/customer-managed-keys/{key['id']}"))["status"] == "ready"


async def test_list_keys_with_tenant_filter(two: Api) -> None:
    mine = await two.data("POST", "/customer-managed-keys", key_body(name="mine"), 202)
    theirs = await two.data(
        "POST", "/customer-managed-keys", key_body(name="theirs", tenant_id=OTHER_PROJECT), 202
    )
    assert await two.data("GET", "/customer-managed-keys") == [
        {"id": mine["id"], "name": "mine", "tenant_id": PROJECT},
        {"id": theirs["id"], "name": "theirs", "tenant_id": OTHER_PROJECT},
    ]
    assert [
        k["id"] for k in await two.data("GET", f"/customer-managed-keys?tenantId={PROJECT}")
    ] == [mine["id"]]
    listed = await two.data("GET", f"/customer-managed-keys?tenantId={OTHER_PROJECT}")
    assert [k["id"] for k in listed] == [theirs["id"]]
    response = await two.call("GET", "/customer-managed-keys?tenantId=no-such-tenant")
    assert only_error(response, 404)["reason"] == "tenant-not-found"


async def test_delete_key_answers_204_with_no_body(api: Api) -> None:
    key = await api.data("POST", "/customer-managed-keys", key_body(), 202)
    response = await api.call("DELETE", f"/customer-managed-keys/{key['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert await api.data("GET", "/customer-managed-keys") == []
    not_found = {
        "message": f"Encryption Key not found: {key['id']}",
        "reason": "encryption-key-not-found",
    }
    assert (
        only_error(await api.call("GET", f"/customer-managed-keys/{key['id']}"), 404) == not_found
    )
    assert (
        only_error(await api.call("DELETE", f"/customer-managed-keys/{key['id']}"), 404)
        == not_found
    )


async def test_unknown_key_is_404(api: Api) -> None:
    response = await api.call("GET", "/customer-managed-keys/no-such-key")
    assert only_error(response, 404) == {
        "message": "Encryption Key not found: no-such-key",
        "reason": "encryption-key-not-found",
    }


async def test_key_in_use_cannot_be_deleted(exact: Api) -> None:
    key = await ready_key(exact)
    created = await exact.create(
        type="enterprise-db", memory="4GB", customer_managed_key_id=key["id"]
    )
    instance = await exact.data("GET", f"/instances/{created['id']}")
    assert instance["customer_managed_key_id"] == key["id"]

    response = await exact.call("DELETE", f"/customer-managed-keys/{key['id']}")
    assert only_error(response, 400) == {
        "message": (
            f"Can not delete encryption key {key['id']}. The key is linked to an active instance."
        ),
        "reason": "encryption-key-is-active",
    }
    assert (await exact.data("GET", f"/customer-managed-keys/{key['id']}"))["id"] == key["id"]

    # Once the instance is gone, the key can go too.
    exact.clock.advance(D.create)
    await exact.data("DELETE", f"/instances/{created['id']}", expect=202)
    response = await exact.call("DELETE", f"/customer-managed-keys/{key['id']}")
    assert only_error(response, 400)["reason"] == "encryption-key-is-active"
    exact.clock.advance(D.delete)
    assert (await exact.call("DELETE", f"/customer-managed-keys/{key['id']}")).status_code == 204


async def test_instance_with_an_unusable_key_is_400(exact: Api) -> None:
    pending = await exact.data("POST", "/customer-managed-keys", key_body(name="pending"), 202)
    body = instance_body(type="enterprise-db", memory="4GB", customer_managed_key_id=pending["id"])
    error = only_error(await exact.call("POST", "/instances", body), 400)
    assert error["field"] == "customer_managed_key_id"

    body["customer_managed_key_id"] = "no-such-key"
    error = only_error(await exact.call("POST", "/instances", body), 400)
    assert (error["field"], error["reason"]) == (
        "customer_managed_key_id",
        "encryption-key-not-found",
    )

    ready = await ready_key(exact, name="ready")
    wrong_type = instance_body(customer_managed_key_id=ready["id"])  # professional-db
    error = only_error(await exact.call("POST", "/instances", wrong_type), 400)
    assert error["field"] == "customer_managed_key_id"
    wrong_region = instance_body(
        type="enterprise-db",
        memory="4GB",
        region="europe-west2",
        customer_managed_key_id=ready["id"],
    )
    error = only_error(await exact.call("POST", "/instances", wrong_region), 400)
    assert error["field"] == "customer_managed_key_id"
    assert await exact.data("GET", "/instances") == []


@pytest.mark.parametrize(
    "field", ["key_id", "region", "name", "instance_type", "tenant_id", "cloud_provider"]
)
async def test_key_without_a_required_field_is_400(api: Api, field: str) -> None:
    body = key_body()
    del body[field]
    error = only_error(await api.call("POST", "/customer-managed-keys", body), 400)
    assert (error["field"], error["reason"]) == (field, "invalid-request")
    assert await api.data("GET", "/customer-managed-keys") == []


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"instance_type": "professional-db"}, "instance_type", "invalid-request"),
        ({"instance_type": "free-db"}, "instance_type", "invalid-request"),
        ({"cloud_provider": "ibm"}, "cloud_provider", "invalid-request"),
        ({"region": "mars-1"}, "region", "invalid-request"),
        ({"region": "us-east-1"}, "region", "invalid-request"),
        ({"name": "k" * 31}, "name", "invalid-request"),
        ({"name": " key"}, "name", "invalid-request"),
        ({"tenant_id": "no-such-tenant"}, "tenant_id", "tenant-not-found"),
        ({"key_id": 7}, "key_id", "invalid-request"),
    ],
)
async def test_key_validation(api: Api, overrides: dict[str, Any], field: str, reason: str) -> None:
    error = only_error(await api.call("POST", "/customer-managed-keys", key_body(**overrides)), 400)
    assert (error["field"], error["reason"]) == (field, reason)
    assert await api.data("GET", "/customer-managed-keys") == []


async def test_key_for_aws_enterprise_ds(api: Api) -> None:
    key = await api.data(
        "POST",
        "/customer-managed-keys",
        key_body(cloud_provider="aws", region="us-east-1", instance_type="enterprise-ds"),
        202,
    )
    assert (key["cloud_provider"], key["region"], key["instance_type"], key["type"]) == (
        "aws",
        "us-east-1",
        "enterprise-ds",
        "enterprise-ds",
    )


# ------------------------------------------------- graph-analytics sessions


def session_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "people",
        "memory": "8GB",
        "ttl": "30m",
        "tenant_id": PROJECT,
        "cloud_provider": "gcp",
        "region": "europe-west1",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def session_not_found(session_id: str) -> dict[str, Any]:
    return {
        "data": None,
        "errors": [
            {"id": "", "message": f"session with id `{session_id}` not found", "reason": ""}
        ],
    }


async def test_session_get_or_create(exact: Api) -> None:
    response = await exact.call("POST", "/graph-analytics/sessions", session_body())
    assert response.status_code == 202
    created = response.json()["data"]
    assert set(created) == SESSION_KEYS
    assert created["status"] == ""
    assert re.fullmatch(r"s-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]", created["id"])
    assert (created["name"], created["memory"], created["tenant_id"]) == ("people", "8GB", PROJECT)
    assert (created["cloud_provider"], created["region"]) == ("gcp", "europe-west1")
    assert created["instance_id"] is None
    assert created["expiry_date"] is None
    assert created["created_at"] == iso(exact.clock.now())
    assert created["host"].startswith(created["id"])

    again = await exact.call("POST", "/graph-analytics/sessions", session_body())
    assert again.status_code == 200
    existing = again.json()["data"]
    assert existing["id"] == created["id"]
    assert (existing["status"], existing["ttl"]) == ("Creating", "30m0s")
    assert len(await exact.data("GET", "/graph-analytics/sessions")) == 1


async def test_session_with_the_same_name_and_other_memory_is_409(api: Api) -> None:
    await api.data("POST", "/graph-analytics/sessions", session_body(memory="8GB"), 202)
    response = await api.call("POST", "/graph-analytics/sessions", session_body(memory="4GB"))
    assert response.status_code == 409
    assert response.json() == {
        "errors": [
            {
                "message": (
                    f"session `people` already exists for project `{PROJECT}` with different "
                    "parameters: Memory (is: 8GB, requested: 4GB)"
                ),
                "reason": "",
            }
        ]
    }
    assert len(await api.data("GET", "/graph-analytics/sessions")) == 1


async def test_session_names_are_per_project(two: Api) -> None:
    first = await two.data("POST", "/graph-analytics/sessions", session_body(), 202)
    second = await two.data(
        "POST",
        "/graph-analytics/sessions",
        session_body(tenant_id=OTHER_PROJECT, memory="4GB"),
        202,
    )
    assert first["id"] != second["id"]


async def test_session_lifecycle_creating_ready_expired(exact: Api) -> None:
    created = await exact.data("POST", "/graph-analytics/sessions", session_body(), 202)
    started = exact.clock.now()
    path = f"/graph-analytics/sessions/{created['id']}"

    async def at(offset: float) -> dict[str, Any]:
        exact.clock.advance(started + offset - exact.clock.now())
        session: dict[str, Any] = await exact.data("GET", path)
        return session

    creating = await at(D.session - 1)
    assert (creating["status"], creating["expiry_date"], creating["ttl"]) == (
        "Creating",
        None,
        "30m0s",
    )
    ready = await at(D.session)
    assert ready["status"] == "Ready"
    assert ready["expiry_date"] == iso(started + D.session + 1800)
    assert (await at(D.session + 1799))["status"] == "Ready"
    expired = await at(D.session + 1800)
    assert (expired["status"], expired["expiry_date"]) == ("Expired", ready["expiry_date"])


async def test_an_expired_session_name_can_be_reused(exact: Api) -> None:
    first = await exact.data("POST", "/graph-analytics/sessions", session_body(ttl="1m"), 202)
    exact.clock.advance(D.session + 60)
    assert (await exact.data("GET", f"/graph-analytics/sessions/{first['id']}"))[
        "status"
    ] == "Expired"
    second = await exact.data(
        "POST", "/graph-analytics/sessions", session_body(ttl="1m", memory="4GB"), 202
    )
    assert second["id"] != first["id"]


@pytest.mark.parametrize(
    ("ttl", "rendered"),
    [(None, "1h0m0s"), ("30m", "30m0s"), ("1h30m", "1h30m0s"), ("20m0s", "20m0s"), ("45s", "45s")],
)
async def test_session_ttl_is_rendered_as_a_go_duration(
    api: Api, ttl: str | None, rendered: str
) -> None:
    created = await api.data("POST", "/graph-analytics/sessions", session_body(ttl=ttl), 202)
    session = await api.data("GET", f"/graph-analytics/sessions/{created['id']}")
    assert session["ttl"] == rendered


async def test_session_failure_fault_ends_failed(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(seed=1, faults=FaultPlan(session_failure=1.0), durations=Durations(jitter=0))
    )
    created = await api.data("POST", "/graph-analytics/sessions", session_body(), 202)
    api.clock.advance(D.session)
    session = await api.data("GET", f"/graph-analytics/sessions/{created['id']}")
    assert (session["status"], session["expiry_date"]) == ("Failed", None)


async def test_attached_session_takes_the_instances_place(api: Api) -> None:
    instance = await api.running()
    body = {"name": "attached", "memory": "4GB", "instance_id": instance["id"]}
    created = await api.data("POST", "/graph-analytics/sessions", body, 202)
    assert re.fullmatch(rf"{instance['id']}-[0-9a-f]{{8}}", created["id"])
    assert created["instance_id"] == instance["id"]
    assert (created["tenant_id"], created["cloud_provider"], created["region"]) == (
        PROJECT,
        "gcp",
        "europe-west1",
    )
    assert re.fullmatch(UUID_RE, created["database_uuid"])
    again = await api.call("POST", "/graph-analytics/sessions", body)
    assert (again.status_code, again.json()["data"]["id"]) == (200, created["id"])


async def test_attached_session_to_an_unknown_instance_is_400(api: Api) -> None:
    body = {"name": "attached", "memory": "4GB", "instance_id": "0badc0de"}
    error = only_error(await api.call("POST", "/graph-analytics/sessions", body), 400)
    assert (error["field"], error["reason"]) == ("instance_id", "db-not-found")


async def test_attached_session_in_another_project_is_400(two: Api) -> None:
    instance = await two.running()
    body = {"name": "x", "memory": "4GB", "instance_id": instance["id"], "tenant_id": OTHER_PROJECT}
    error = only_error(await two.call("POST", "/graph-analytics/sessions", body), 400)
    assert error["field"] == "tenant_id"
    assert await two.data("GET", "/graph-analytics/sessions") == []


async def test_list_sessions_with_filters(two: Api) -> None:
    instance = await two.running()
    attached = await two.data(
        "POST",
        "/graph-analytics/sessions",
        {"name": "attached", "memory": "4GB", "instance_id": instance["id"]},
        202,
    )
    mine = await two.data("POST", "/graph-analytics/sessions", session_body(name="mine"), 202)
    theirs = await two.data(
        "POST",
        "/graph-analytics/sessions",
        session_body(
            name="theirs", tenant_id=OTHER_PROJECT, cloud_provider="aws", region="us-east-1"
        ),
        202,
    )
    organization = two.state.backend.organization_id

    async def ids(query: str) -> list[str]:
        listed = await two.data("GET", f"/graph-analytics/sessions{query}")
        for item in listed:
            assert set(item) == SESSION_KEYS
        return [s["id"] for s in listed]

    everything = [attached["id"], mine["id"], theirs["id"]]
    assert await ids("") == everything
    assert await ids(f"?instanceId={instance['id']}") == [attached["id"]]
    assert await ids(f"?tenantId={PROJECT}") == [attached["id"], mine["id"]]
    assert await ids(f"?tenantId={OTHER_PROJECT}") == [theirs["id"]]
    assert await ids(f"?organizationId={organization}") == everything
    assert await ids("?organizationId=another-organization") == []
    assert await ids(f"?tenantId={OTHER_PROJECT}&instanceId={instance['id']}") == []

    response = await two.call("GET", "/graph-analytics/sessions?instanceId=0badc0de")
    assert only_error(response, 404)["reason"] == "db-not-found"
    response = await two.call("GET", "/graph-analytics/sessions?tenantId=no-such-tenant")
    assert only_error(response, 404)["reason"] == "tenant-not-found"


async def test_get_session(api: Api) -> None:
    created = await api.data("POST", "/graph-analytics/sessions", session_body(), 202)
    session = await api.data("GET", f"/graph-analytics/sessions/{created['id']}")
    assert set(session) == SESSION_KEYS
    assert {k: v for k, v in session.items() if k not in ("status", "ttl")} == {
        k: v for k, v in created.items() if k not in ("status", "ttl")
    }


async def test_unknown_session_is_404_with_the_sessions_error_shape(api: Api) -> None:
    for method in ("GET", "DELETE"):
        response = await api.call(method, "/graph-analytics/sessions/s-f5138f3b-7956-4")
        assert response.status_code == 404
        assert response.json() == session_not_found("s-f5138f3b-7956-4")


async def test_delete_session(api: Api) -> None:
    created = await api.data("POST", "/graph-analytics/sessions", session_body(), 202)
    response = await api.call("DELETE", f"/graph-analytics/sessions/{created['id']}")
    assert response.status_code == 202
    assert response.json() == {"data": {"id": created["id"]}}
    response = await api.call("GET", f"/graph-analytics/sessions/{created['id']}")
    assert (response.status_code, response.json()) == (404, session_not_found(created["id"]))
    response = await api.call("DELETE", f"/graph-analytics/sessions/{created['id']}")
    assert (response.status_code, response.json()) == (404, session_not_found(created["id"]))
    assert await api.data("GET", "/graph-analytics/sessions") == []
    # The name is free again.
    await api.data("POST", "/graph-analytics/sessions", session_body(memory="4GB"), 202)


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"name": None}, "name", "invalid-request"),
        ({"name": ""}, "name", "invalid-request"),
        ({"memory": None}, "memory", "invalid-request"),
        ({"memory": "3GB"}, "memory", "invalid-request"),
        ({"ttl": "soon"}, "ttl", "invalid-request"),
        ({"ttl": "0s"}, "ttl", "invalid-request"),
        ({"ttl": 30}, "ttl", "invalid-request"),
        ({"tenant_id": None}, "tenant_id", "invalid-request"),
        ({"cloud_provider": None}, "cloud_provider", "invalid-request"),
        ({"region": None}, "region", "invalid-request"),
        ({"cloud_provider": "ibm"}, "cloud_provider", "invalid-request"),
        ({"region": "mars-1"}, "region", "invalid-request"),
        ({"region": "us-east-1"}, "region", "invalid-request"),
        ({"tenant_id": "no-such-tenant"}, "tenant_id", "tenant-not-found"),
    ],
)
async def test_session_validation(
    api: Api, overrides: dict[str, Any], field: str, reason: str
) -> None:
    body = session_body()
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    error = only_error(await api.call("POST", "/graph-analytics/sessions", body), 400)
    assert (error["field"], error["reason"]) == (field, reason)
    assert await api.data("GET", "/graph-analytics/sessions") == []


@pytest.mark.parametrize("body", [[], "text", 5])
async def test_session_with_a_non_object_body_is_400(api: Api, body: Any) -> None:
    error = only_error(await api.call("POST", "/graph-analytics/sessions", body), 400)
    assert error["reason"] == "invalid-request"


async def test_session_sizing(api: Api) -> None:
    response = await api.call(
        "POST",
        "/graph-analytics/sessions/sizing",
        {"node_count": 1_000_000, "relationship_count": 10_000_000},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"estimated_memory": "1GB", "recommended_size": "2GB"}}

    big = await api.data(
        "POST",
        "/graph-analytics/sessions/sizing",
        {
            "node_count": 10**9,
            "relationship_count": 10**9,
            "node_property_count": 2,
            "node_label_count": 1,
            "relationship_property_count": 1,
            "algorithm_categories": ["centrality"],
        },
    )
    # (1e9 * (40 + 16 + 4) + 1e9 * (30 + 8)) * 2 bytes = 196 GB, times 1.5 for one algorithm
    # category = 294 GB: more than the largest session, which is what is recommended.
    assert big == {"estimated_memory": "294GB", "recommended_size": "256GB"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"relationship_count": 1}, "node_count"),
        ({"node_count": 1}, "relationship_count"),
        ({"node_count": -5, "relationship_count": 1}, "node_count"),
        ({"node_count": 1.5, "relationship_count": 1}, "node_count"),
        (
            {"node_count": 1, "relationship_count": 1, "node_property_count": "2"},
            "node_property_count",
        ),
    ],
)
async def test_session_sizing_validation(api: Api, body: dict[str, Any], field: str) -> None:
    error = only_error(await api.call("POST", "/graph-analytics/sessions/sizing", body), 400)
    assert (error["field"], error["reason"]) == (field, "invalid-request")


async def test_sessions_go_with_their_deleted_instance(exact: Api) -> None:
    instance = await exact.running()
    body = {"name": "attached", "memory": "4GB", "instance_id": instance["id"]}
    session = await exact.data("POST", "/graph-analytics/sessions", body, 202)
    await exact.data("DELETE", f"/instances/{instance['id']}", None, 202)
    exact.clock.advance(Durations().delete)
    assert (
        await exact.call("GET", f"/graph-analytics/sessions/{session['id']}")
    ).status_code == 404

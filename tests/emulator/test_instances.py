"""Behaviour of the emulated instance endpoints, over HTTP, with the clock moved by hand.

Most lifecycle tests use an emulator without jitter, so each operation ends exactly after its
configured duration: one second before it the instance still shows the transient status, at
it the final one.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from aura_async.emulator import Durations, EmulatorConfig, FaultPlan, ProjectSpec
from tests.conftest import PROJECT, Api, ApiFactory, instance_body, only_error

D = Durations()
OTHER_PROJECT = "0e1d2c3b-4a59-4687-9a1b-2c3d4e5f6a7b"
UNKNOWN = "0badc0de"
REQUIRED = ("version", "region", "memory", "name", "type", "tenant_id", "cloud_provider")
CREATED_KEYS = {
    "id",
    "connection_url",
    "username",
    "password",
    "tenant_id",
    "cloud_provider",
    "region",
    "type",
    "name",
    "created_at",
    "vector_optimized",
    "graph_analytics_plugin",
}
SUMMARY_KEYS = {"id", "name", "tenant_id", "cloud_provider", "created_at"}


def ongoing(status: str) -> dict[str, str]:
    return {
        "message": f"The database is current undergoing an operation: {status}",
        "reason": "ongoing-database-operation",
    }


def not_found(instance_id: str) -> dict[str, str]:
    return {"message": f"DB not found: {instance_id}", "reason": "db-not-found"}


async def status_of(api: Api, instance_id: str) -> str:
    instance = await api.data("GET", f"/instances/{instance_id}")
    status: str = instance["status"]
    return status


async def step(api: Api, instance_id: str, duration: float, during: str, after: str) -> None:
    """Check the instance shows ``during`` until ``duration`` has passed, then ``after``."""
    api.clock.advance(duration - 1)
    assert await status_of(api, instance_id) == during
    api.clock.advance(1)
    assert await status_of(api, instance_id) == after


async def completed_snapshot(api: Api, instance_id: str) -> str:
    snapshot_id: str = (await api.data("POST", f"/instances/{instance_id}/snapshots", {}, 202))[
        "snapshot_id"
    ]
    api.clock.advance(D.snapshot * 2)
    snapshot = await api.data("GET", f"/instances/{instance_id}/snapshots/{snapshot_id}")
    assert snapshot["status"] == "Completed"
    return snapshot_id


async def instance_ids(api: Api) -> list[str]:
    return [i["id"] for i in await api.data("GET", "/instances")]


# ------------------------------------------------------------------ create


async def test_create_answers_202_with_one_time_credentials(api: Api) -> None:
    response = await api.call("POST", "/instances", instance_body(name="creds"))
    assert response.status_code == 202
    created = response.json()["data"]
    assert set(created) == CREATED_KEYS
    assert re.fullmatch(r"[0-9a-f]{8}", created["id"])
    assert created["connection_url"] == f"neo4j+s://{created['id']}.databases.neo4j.io"
    assert created["username"] == "neo4j"
    assert isinstance(created["password"], str)
    assert len(created["password"]) >= 16
    assert created["tenant_id"] == PROJECT
    assert (created["name"], created["type"]) == ("creds", "professional-db")
    assert (created["cloud_provider"], created["region"]) == ("gcp", "europe-west1")
    expected_at = dt.datetime.fromtimestamp(api.clock.now(), tz=dt.UTC)
    assert created["created_at"] == expected_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    fetched = await api.data("GET", f"/instances/{created['id']}")
    assert "password" not in fetched
    assert "username" not in fetched
    assert fetched["status"] == "creating"
    assert created["password"] not in (await api.call("GET", "/instances")).text
    api.clock.advance(D.create * 2)
    assert "password" not in await api.data("GET", f"/instances/{created['id']}")


async def test_every_create_gets_its_own_id_and_password(api: Api) -> None:
    first, second = await api.create(), await api.create()
    assert first["id"] != second["id"]
    assert first["password"] != second["password"]


async def test_create_goes_from_creating_to_running(exact: Api) -> None:
    created = await exact.create()
    assert await status_of(exact, created["id"]) == "creating"
    await step(exact, created["id"], D.create, "creating", "running")
    instance = await exact.data("GET", f"/instances/{created['id']}")
    assert (instance["memory"], instance["storage"]) == ("2GB", "4GB")


async def test_create_duration_is_jittered_within_its_bounds(api: Api) -> None:
    # The default fixture spreads durations by 20% either way.
    created = await api.create()
    api.clock.advance(D.create * (1 - D.jitter) - 0.01)
    assert await status_of(api, created["id"]) == "creating"
    api.clock.advance(D.create * 2 * D.jitter + 0.02)
    assert await status_of(api, created["id"]) == "running"


async def test_get_instance_renders_the_paid_tier_shape(api: Api) -> None:
    instance = await api.running(name="shape")
    assert {
        "id",
        "name",
        "status",
        "tenant_id",
        "cloud_provider",
        "connection_url",
        "region",
        "type",
        "memory",
        "storage",
        "created_at",
    } <= set(instance)
    assert instance["storage"] == "4GB"
    assert "graph_nodes" not in instance
    assert "graph_relationships" not in instance
    assert "password" not in instance


# --------------------------------------------------------------- lifecycle


async def test_pause_goes_from_pausing_to_paused(exact: Api) -> None:
    instance = await exact.running()
    response = await exact.call("POST", f"/instances/{instance['id']}/pause", {})
    assert response.status_code == 202
    body = response.json()["data"]
    assert (body["id"], body["status"], body["memory"]) == (instance["id"], "pausing", "2GB")
    await step(exact, instance["id"], D.pause, "pausing", "paused")


async def test_resume_goes_from_resuming_to_running(exact: Api) -> None:
    instance = await exact.running()
    await exact.data("POST", f"/instances/{instance['id']}/pause", {}, 202)
    exact.clock.advance(D.pause)
    assert await status_of(exact, instance["id"]) == "paused"
    response = await exact.call("POST", f"/instances/{instance['id']}/resume", {})
    assert response.status_code == 202
    assert response.json()["data"]["status"] == "resuming"
    await step(exact, instance["id"], D.resume, "resuming", "running")


async def test_pause_with_no_body_and_no_content_type_works(api: Api) -> None:
    instance = await api.running()
    response = await api.http.post(
        f"/v1/instances/{instance['id']}/pause",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert "content-type" not in response.request.headers
    assert response.request.content == b""
    assert response.status_code == 202, response.text
    assert response.json()["data"]["status"] == "pausing"


async def test_pause_needs_a_running_instance(exact: Api) -> None:
    instance = await exact.running()
    await exact.data("POST", f"/instances/{instance['id']}/pause", {}, 202)
    exact.clock.advance(D.pause)
    error = only_error(await exact.call("POST", f"/instances/{instance['id']}/pause"), 400)
    assert error["reason"] == "invalid-instance-status"
    assert "paused" in error["message"]
    assert await status_of(exact, instance["id"]) == "paused"


async def test_resume_needs_a_paused_instance(api: Api) -> None:
    instance = await api.running()
    error = only_error(await api.call("POST", f"/instances/{instance['id']}/resume"), 409)
    assert error["reason"] == "invalid-instance-status"
    assert "running" in error["message"]
    assert await status_of(api, instance["id"]) == "running"


async def test_delete_answers_202_once_then_the_instance_disappears(exact: Api) -> None:
    instance = await exact.running()
    iid = instance["id"]
    response = await exact.call("DELETE", f"/instances/{iid}")
    assert response.status_code == 202
    body = response.json()["data"]
    assert (body["id"], body["status"], body["name"]) == (iid, "destroying", instance["name"])

    assert only_error(await exact.call("DELETE", f"/instances/{iid}"), 404) == not_found(iid)
    exact.clock.advance(D.delete - 1)
    assert await status_of(exact, iid) == "destroying"
    exact.clock.advance(1)
    assert only_error(await exact.call("GET", f"/instances/{iid}"), 404) == not_found(iid)
    assert only_error(await exact.call("DELETE", f"/instances/{iid}"), 404) == not_found(iid)
    assert iid not in await instance_ids(exact)


async def test_a_paused_instance_can_be_deleted(exact: Api) -> None:
    instance = await exact.running()
    await exact.data("POST", f"/instances/{instance['id']}/pause", {}, 202)
    exact.clock.advance(D.pause)
    deleted = await exact.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert deleted["status"] == "destroying"


async def test_deleting_status_fault_shows_deleting(make_api: ApiFactory) -> None:
    api = await make_api(EmulatorConfig(seed=1, faults=FaultPlan(deleting_status=1.0)))
    instance = await api.running()
    deleted = await api.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert deleted["status"] == "deleting"
    error = only_error(await api.call("POST", f"/instances/{instance['id']}/pause"), 409)
    assert error == ongoing("deleting")


async def test_memory_missing_while_deleting_fault(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(seed=1, faults=FaultPlan(memory_missing_while_deleting=1.0))
    )
    instance = await api.running()
    assert instance["memory"] == "2GB"
    deleted = await api.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert deleted["status"] == "destroying"
    assert "memory" not in deleted
    assert "memory" not in await api.data("GET", f"/instances/{instance['id']}")


async def test_resize_reports_old_memory_until_done(exact: Api) -> None:
    instance = await exact.running()
    iid = instance["id"]
    response = await exact.call("PATCH", f"/instances/{iid}", {"memory": "4GB"})
    assert response.status_code == 202
    body = response.json()["data"]
    assert body["id"] == iid
    assert (body["status"], body["memory"], body["storage"]) == ("resizing", "2GB", "4GB")
    assert {"name", "tenant_id", "cloud_provider", "region", "type", "created_at"} <= set(body)

    exact.clock.advance(D.resize - 1)
    during = await exact.data("GET", f"/instances/{iid}")
    assert (during["status"], during["memory"], during["storage"]) == ("resizing", "2GB", "4GB")
    exact.clock.advance(1)
    after = await exact.data("GET", f"/instances/{iid}")
    assert (after["status"], after["memory"], after["storage"]) == ("running", "4GB", "8GB")


async def test_resize_storage_alone_keeps_memory(exact: Api) -> None:
    instance = await exact.running()
    body = await exact.data("PATCH", f"/instances/{instance['id']}", {"storage": "8GB"}, 202)
    assert body["status"] == "resizing"
    exact.clock.advance(D.resize)
    after = await exact.data("GET", f"/instances/{instance['id']}")
    assert (after["status"], after["memory"], after["storage"]) == ("running", "2GB", "8GB")


async def test_resize_status_can_be_updating(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(seed=1, resize_status="updating", durations=Durations(jitter=0))
    )
    instance = await api.running()
    body = await api.data("PATCH", f"/instances/{instance['id']}", {"memory": "8GB"}, 202)
    assert (body["status"], body["memory"]) == ("updating", "2GB")
    await step(api, instance["id"], D.resize, "updating", "running")
    after = await api.data("GET", f"/instances/{instance['id']}")
    assert (after["memory"], after["storage"]) == ("8GB", "16GB")


async def test_rename_alone_is_immediate_and_answers_200(api: Api) -> None:
    instance = await api.running(name="before")
    response = await api.call("PATCH", f"/instances/{instance['id']}", {"name": "after"})
    assert response.status_code == 200
    body = response.json()["data"]
    assert (body["name"], body["status"], body["memory"]) == ("after", "running", "2GB")
    assert (await api.data("GET", f"/instances/{instance['id']}"))["name"] == "after"
    # Nothing is in flight: another operation starts at once.
    await api.data("POST", f"/instances/{instance['id']}/pause", {}, 202)


async def test_rename_with_resize_renames_at_once_and_resizes_later(exact: Api) -> None:
    instance = await exact.running(name="before")
    body = await exact.data(
        "PATCH", f"/instances/{instance['id']}", {"name": "after", "memory": "4GB"}, 202
    )
    assert (body["name"], body["status"], body["memory"]) == ("after", "resizing", "2GB")
    exact.clock.advance(D.resize)
    after = await exact.data("GET", f"/instances/{instance['id']}")
    assert (after["name"], after["status"], after["memory"]) == ("after", "running", "4GB")


async def test_other_patch_goes_from_updating_to_running(exact: Api) -> None:
    instance = await exact.running()
    assert instance["vector_optimized"] is False
    body = await exact.data(
        "PATCH", f"/instances/{instance['id']}", {"vector_optimized": True}, 202
    )
    assert (body["status"], body["vector_optimized"]) == ("updating", False)
    await step(exact, instance["id"], D.update, "updating", "running")
    assert (await exact.data("GET", f"/instances/{instance['id']}"))["vector_optimized"] is True


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"memory": "3GB"}, "memory", "invalid-request"),
        ({"memory": "128GB"}, "memory", "invalid-request"),
        ({"storage": "5GB"}, "storage", "invalid-request"),
        ({"name": "x" * 31}, "name", "invalid-request"),
        ({"name": " padded"}, "name", "invalid-request"),
        ({"memory": 4}, "memory", "invalid-request"),
        ({"secondaries_count": 1}, "secondaries_count", "invalid-request"),
        ({"cdc_enrichment_mode": "DIFF"}, "cdc_enrichment_mode", "invalid-request"),
        ({"vector_optimized": "yes"}, "vector_optimized", "invalid-request"),
    ],
)
async def test_patch_validation(api: Api, body: dict[str, Any], field: str, reason: str) -> None:
    instance = await api.running()
    error = only_error(await api.call("PATCH", f"/instances/{instance['id']}", body), 400)
    assert (error["field"], error["reason"]) == (field, reason)
    after = await api.data("GET", f"/instances/{instance['id']}")
    assert (after["status"], after["memory"], after["name"]) == ("running", "2GB", instance["name"])


async def test_patch_without_changes_is_rejected(api: Api) -> None:
    instance = await api.running()
    error = only_error(await api.call("PATCH", f"/instances/{instance['id']}", {}), 400)
    assert error["reason"] == "invalid-request"


async def test_resize_of_a_paused_instance_is_rejected(exact: Api) -> None:
    instance = await exact.running()
    await exact.data("POST", f"/instances/{instance['id']}/pause", {}, 202)
    exact.clock.advance(D.pause)
    response = await exact.call("PATCH", f"/instances/{instance['id']}", {"memory": "4GB"})
    assert only_error(response, 400)["reason"] == "invalid-instance-status"


# --------------------------------------------------------------- overwrite


async def test_overwrite_goes_from_overwriting_to_running(exact: Api) -> None:
    source = await exact.running(name="source", memory="1GB")
    target = await exact.running(name="target")
    response = await exact.call(
        "POST", f"/instances/{target['id']}/overwrite", {"source_instance_id": source["id"]}
    )
    assert response.status_code == 202
    body = response.json()["data"]
    assert (body["id"], body["status"]) == (target["id"], "overwriting")
    await step(exact, target["id"], D.overwrite, "overwriting", "running")
    assert await status_of(exact, source["id"]) == "running"


async def test_overwrite_from_a_same_size_source(exact: Api) -> None:
    source = await exact.running(name="source", memory="2GB")
    target = await exact.running(name="target", memory="2GB")
    body = await exact.data(
        "POST",
        f"/instances/{target['id']}/overwrite",
        {"source_instance_id": source["id"]},
        202,
    )
    assert body["status"] == "overwriting"


async def test_overwrite_from_a_snapshot(exact: Api) -> None:
    source = await exact.running(name="source")
    snapshot_id = await completed_snapshot(exact, source["id"])
    target = await exact.running(name="target", memory="4GB")
    body = await exact.data(
        "POST",
        f"/instances/{target['id']}/overwrite",
        {"source_instance_id": source["id"], "source_snapshot_id": snapshot_id},
        202,
    )
    assert body["status"] == "overwriting"
    await step(exact, target["id"], D.overwrite, "overwriting", "running")


async def test_overwrite_from_its_own_snapshot(exact: Api) -> None:
    # The CLI passes the target itself as source when only a snapshot is given.
    target = await exact.running()
    snapshot_id = await completed_snapshot(exact, target["id"])
    body = await exact.data(
        "POST",
        f"/instances/{target['id']}/overwrite",
        {"source_instance_id": target["id"], "source_snapshot_id": snapshot_id},
        202,
    )
    assert body["status"] == "overwriting"
    await step(exact, target["id"], D.overwrite, "overwriting", "running")


async def test_overwrite_from_an_unknown_source_is_404(api: Api) -> None:
    target = await api.running()
    response = await api.call(
        "POST", f"/instances/{target['id']}/overwrite", {"source_instance_id": UNKNOWN}
    )
    assert only_error(response, 404) == not_found(UNKNOWN)
    assert await status_of(api, target["id"]) == "running"


async def test_overwrite_from_an_unknown_snapshot_is_404(api: Api) -> None:
    source = await api.running(name="source")
    target = await api.running(name="target")
    other_snapshot = await completed_snapshot(api, target["id"])
    for snapshot_id in ("no-such-snapshot", other_snapshot):
        response = await api.call(
            "POST",
            f"/instances/{target['id']}/overwrite",
            {"source_instance_id": source["id"], "source_snapshot_id": snapshot_id},
        )
        assert only_error(response, 404) == {
            "message": f"Snapshot not found: {snapshot_id}",
            "reason": "snapshot-not-found",
        }
    assert await status_of(api, target["id"]) == "running"


async def test_overwrite_needs_a_source_instance(api: Api) -> None:
    target = await api.running()
    for body in ({}, None, {"source_snapshot_id": "x"}):
        error = only_error(
            await api.call("POST", f"/instances/{target['id']}/overwrite", body), 400
        )
        assert error["field"] == "source_instance_id"


async def test_overwrite_from_a_larger_source_is_500(api: Api) -> None:
    source = await api.running(name="big", memory="4GB")
    target = await api.running(name="small", memory="2GB")
    response = await api.call(
        "POST", f"/instances/{target['id']}/overwrite", {"source_instance_id": source["id"]}
    )
    error = only_error(response, 500)
    assert error["message"] == (
        f"Cannot clone database {source['id']} into smaller database {target['id']}."
    )
    assert await status_of(api, target["id"]) == "running"


async def test_overwrite_of_a_free_instance_is_420(api: Api) -> None:
    source = await api.running(name="source", memory="1GB")
    target = await api.running(name="free", type="free-db", memory="1GB")
    response = await api.call(
        "POST", f"/instances/{target['id']}/overwrite", {"source_instance_id": source["id"]}
    )
    error = only_error(response, 420)
    assert error["message"] == "Action unsupported for this tier of instance"
    assert await status_of(api, target["id"]) == "running"


async def test_overwrite_of_a_paused_instance_is_409(exact: Api) -> None:
    source = await exact.running(name="source")
    target = await exact.running(name="target")
    await exact.data("POST", f"/instances/{target['id']}/pause", {}, 202)
    exact.clock.advance(D.pause)
    response = await exact.call(
        "POST", f"/instances/{target['id']}/overwrite", {"source_instance_id": source["id"]}
    )
    assert only_error(response, 409)["reason"] == "invalid-instance-status"


async def test_overwrite_from_a_source_that_is_not_running_is_409(exact: Api) -> None:
    # Without a snapshot, Aura snapshots the source first, which needs it running.
    source = await exact.running(name="source")
    target = await exact.running(name="target")
    await exact.data("POST", f"/instances/{source['id']}/pause", {}, 202)
    response = await exact.call(
        "POST", f"/instances/{target['id']}/overwrite", {"source_instance_id": source["id"]}
    )
    error = only_error(response, 409)
    assert error["reason"] == "invalid-instance-status"
    assert error["message"] == f"Source instance {source['id']} is pausing; it must be running"
    assert await status_of(exact, target["id"]) == "running"


async def test_clone_from_a_source_that_is_not_running_is_400(api: Api) -> None:
    source = await api.create(name="source")
    response = await api.call(
        "POST", "/instances", instance_body(name="clone", source_instance_id=source["id"])
    )
    error = only_error(response, 400)
    assert (error["field"], error["reason"]) == ("source_instance_id", "invalid-instance-status")
    assert len(await instance_ids(api)) == 1


# ----------------------------------------------------------------- restore


async def test_restore_goes_from_restoring_to_running(exact: Api) -> None:
    instance = await exact.running()
    snapshot_id = await completed_snapshot(exact, instance["id"])
    response = await exact.call(
        "POST", f"/instances/{instance['id']}/snapshots/{snapshot_id}/restore"
    )
    assert response.status_code == 202
    body = response.json()["data"]
    assert (body["id"], body["status"]) == (instance["id"], "restoring")
    await step(exact, instance["id"], D.restore, "restoring", "running")


async def test_restore_of_an_unfinished_snapshot_is_409(exact: Api) -> None:
    instance = await exact.running()
    path = f"/instances/{instance['id']}/snapshots"
    snapshot_id = (await exact.data("POST", path, {}, 202))["snapshot_id"]
    error = only_error(await exact.call("POST", f"{path}/{snapshot_id}/restore"), 409)
    assert error["reason"] == "snapshot-not-ready"
    assert await status_of(exact, instance["id"]) == "running"


async def test_restore_of_an_unknown_snapshot_is_404(api: Api) -> None:
    instance = await api.running()
    response = await api.call("POST", f"/instances/{instance['id']}/snapshots/nope/restore")
    assert only_error(response, 404) == {
        "message": "Snapshot not found: nope",
        "reason": "snapshot-not-found",
    }


# ----------------------------------------------------------------- upgrade


async def test_upgrade_professional_to_business_critical(api: Api) -> None:
    instance = await api.running()
    response = await api.call("POST", f"/instances/{instance['id']}/upgrade")
    assert response.status_code == 200
    body = response.json()["data"]
    assert (body["id"], body["type"], body["status"]) == (
        instance["id"],
        "business-critical",
        "running",
    )
    assert (body["memory"], body["storage"]) == ("2GB", "4GB")
    fetched = await api.data("GET", f"/instances/{instance['id']}")
    assert fetched["type"] == "business-critical"
    assert fetched["cdc_enrichment_mode"] == "OFF"
    assert fetched["metrics_integration_url"].endswith(f"/{instance['id']}/metrics")


async def test_upgrade_with_memory_and_storage_resizes(api: Api) -> None:
    instance = await api.running()
    body = await api.data(
        "POST", f"/instances/{instance['id']}/upgrade", {"memory": "8GB", "storage": "16GB"}
    )
    assert (body["type"], body["status"]) == ("business-critical", "running")
    assert (body["memory"], body["storage"]) == ("8GB", "16GB")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"memory": "8GB"}, "storage"),
        ({"storage": "16GB"}, "memory"),
        ({"memory": "3GB", "storage": "6GB"}, "memory"),
        ({"memory": "8GB", "storage": "7GB"}, "storage"),
    ],
)
async def test_upgrade_sizes_must_come_together_and_be_offered(
    api: Api, body: dict[str, str], field: str
) -> None:
    instance = await api.running()
    error = only_error(await api.call("POST", f"/instances/{instance['id']}/upgrade", body), 400)
    assert error["field"] == field
    assert (await api.data("GET", f"/instances/{instance['id']}"))["type"] == "professional-db"


@pytest.mark.parametrize(
    "overrides",
    [
        {"type": "enterprise-db", "memory": "4GB"},
        {"type": "business-critical", "memory": "2GB"},
        {"type": "professional-ds", "memory": "8GB"},
        {"type": "free-db", "memory": "1GB"},
    ],
)
async def test_upgrade_of_other_types_is_409(api: Api, overrides: dict[str, str]) -> None:
    instance = await api.running(**overrides)
    error = only_error(await api.call("POST", f"/instances/{instance['id']}/upgrade"), 409)
    assert error["reason"] == "upgrade-not-supported"
    assert (await api.data("GET", f"/instances/{instance['id']}"))["type"] == overrides["type"]


async def test_upgrade_twice_is_409(api: Api) -> None:
    instance = await api.running()
    await api.data("POST", f"/instances/{instance['id']}/upgrade")
    error = only_error(await api.call("POST", f"/instances/{instance['id']}/upgrade"), 409)
    assert error["reason"] == "upgrade-not-supported"


# ------------------------------------------------- ongoing operations (409)

Op = Callable[[Api, str, str, str], Awaitable[httpx.Response]]


def _op(method: str, suffix: str, body: Any = None) -> Op:
    async def run(api: Api, target: str, source: str, snapshot: str) -> httpx.Response:
        payload = body(source) if callable(body) else body
        path = f"/instances/{target}{suffix}".replace("{snapshot}", snapshot)
        return await api.call(method, path, payload)

    return run


OPS: dict[str, Op] = {
    "pause": _op("POST", "/pause", {}),
    "resume": _op("POST", "/resume", {}),
    "delete": _op("DELETE", ""),
    "resize": _op("PATCH", "", {"memory": "8GB"}),
    "update": _op("PATCH", "", {"vector_optimized": True}),
    "overwrite": _op("POST", "/overwrite", lambda source: {"source_instance_id": source}),
    "restore": _op("POST", "/snapshots/{snapshot}/restore"),
    "snapshot": _op("POST", "/snapshots"),
    "upgrade": _op("POST", "/upgrade"),
}
BUSY = (
    "creating",
    "pausing",
    "resuming",
    "resizing",
    "updating",
    "overwriting",
    "restoring",
    "destroying",
)


async def _start_busy(api: Api, kind: str) -> tuple[str, str, str]:
    """Return (target, source, snapshot) with the target showing ``kind``."""
    source = (await api.running(name="source", memory="1GB"))["id"]
    if kind == "creating":
        return (await api.create(name="target"))["id"], source, "no-snapshot"
    target = (await api.running(name="target"))["id"]
    snapshot = await completed_snapshot(api, target)
    path = f"/instances/{target}"
    if kind == "pausing":
        await api.data("POST", f"{path}/pause", {}, 202)
    elif kind == "resuming":
        await api.data("POST", f"{path}/pause", {}, 202)
        api.clock.advance(D.pause * 2)
        await api.data("POST", f"{path}/resume", {}, 202)
    elif kind == "resizing":
        await api.data("PATCH", path, {"memory": "4GB"}, 202)
    elif kind == "updating":
        await api.data("PATCH", path, {"graph_analytics_plugin": True}, 202)
    elif kind == "overwriting":
        await api.data("POST", f"{path}/overwrite", {"source_instance_id": source}, 202)
    elif kind == "restoring":
        await api.data("POST", f"{path}/snapshots/{snapshot}/restore", None, 202)
    elif kind == "destroying":
        await api.data("DELETE", path, None, 202)
    return target, source, snapshot


@pytest.mark.parametrize(
    ("kind", "op"),
    [
        (kind, op)
        for kind in BUSY
        for op in OPS
        if (kind, op) not in {("creating", "restore"), ("destroying", "delete")}
    ],
)
async def test_operation_while_another_runs_is_409(api: Api, kind: str, op: str) -> None:
    target, source, snapshot = await _start_busy(api, kind)
    assert await status_of(api, target) == kind
    response = await OPS[op](api, target, source, snapshot)
    assert only_error(response, 409) == ongoing(kind)
    # The rejected request changed nothing.
    after = await api.data("GET", f"/instances/{target}")
    assert after["status"] == kind
    assert after["type"] == "professional-db"
    assert after["vector_optimized"] is False


@pytest.mark.parametrize("kind", ["creating", "pausing", "resizing"])
async def test_rename_while_an_operation_runs_is_409_by_default(api: Api, kind: str) -> None:
    # No evidence either way about the live service: a rename is refused like every change.
    target, _, _ = await _start_busy(api, kind)
    response = await api.call("PATCH", f"/instances/{target}", {"name": "renamed"})
    assert only_error(response, 409) == ongoing(kind)
    assert (await api.data("GET", f"/instances/{target}"))["name"] == "target"


@pytest.mark.parametrize("kind", ["creating", "pausing", "resizing"])
async def test_rename_while_an_operation_runs_behind_a_switch(
    make_api: ApiFactory, kind: str
) -> None:
    api = await make_api(EmulatorConfig(seed=1, rename_while_busy="allow"))
    target, _, _ = await _start_busy(api, kind)
    body = await api.data("PATCH", f"/instances/{target}", {"name": "renamed"})
    assert (body["name"], body["status"]) == ("renamed", kind)


async def test_rename_while_destroying_is_409(api: Api) -> None:
    target, _, _ = await _start_busy(api, "destroying")
    response = await api.call("PATCH", f"/instances/{target}", {"name": "renamed"})
    assert only_error(response, 409) == ongoing("destroying")


# -------------------------------------------------------------- unknown ids


UNKNOWN_CALLS: list[tuple[str, str, Any]] = [
    ("GET", "", None),
    ("PATCH", "", {"name": "renamed"}),
    ("PATCH", "", {"memory": "4GB"}),
    ("DELETE", "", None),
    ("POST", "/pause", {}),
    ("POST", "/resume", {}),
    ("POST", "/overwrite", {"source_instance_id": UNKNOWN}),
    ("POST", "/upgrade", None),
    ("GET", "/snapshots", None),
    ("POST", "/snapshots", None),
    ("GET", "/snapshots/some-snapshot", None),
    ("POST", "/snapshots/some-snapshot/restore", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), UNKNOWN_CALLS)
async def test_operations_on_an_unknown_instance_are_404(
    api: Api, method: str, suffix: str, body: Any
) -> None:
    response = await api.call(method, f"/instances/{UNKNOWN}{suffix}", body)
    assert only_error(response, 404) == not_found(UNKNOWN)


@pytest.mark.parametrize(("method", "suffix", "body"), UNKNOWN_CALLS)
async def test_operations_on_a_deleted_instance_are_404(
    exact: Api, method: str, suffix: str, body: Any
) -> None:
    iid = (await exact.running())["id"]
    await exact.data("DELETE", f"/instances/{iid}", expect=202)
    exact.clock.advance(D.delete)
    response = await exact.call(method, f"/instances/{iid}{suffix}", body)
    assert only_error(response, 404) == not_found(iid)


# -------------------------------------------------------- create validation


async def _assert_nothing_created(api: Api) -> None:
    assert await instance_ids(api) == []


@pytest.mark.parametrize("field", REQUIRED)
async def test_create_without_a_required_field_is_400(api: Api, field: str) -> None:
    body = instance_body()
    del body[field]
    error = only_error(await api.call("POST", "/instances", body), 400)
    assert (error["field"], error["reason"]) == (field, "invalid-request")
    await _assert_nothing_created(api)


@pytest.mark.parametrize("value", [None, 5, True, ["x"]])
@pytest.mark.parametrize("field", REQUIRED)
async def test_create_with_a_required_field_of_bad_type_is_400(
    api: Api, field: str, value: Any
) -> None:
    error = only_error(await api.call("POST", "/instances", instance_body(**{field: value})), 400)
    assert (error["field"], error["reason"]) == (field, "invalid-request")
    await _assert_nothing_created(api)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": "enterprise-xyz"}, "type"),
        ({"type": "PROFESSIONAL-DB"}, "type"),
        ({"cloud_provider": "ibm"}, "cloud_provider"),
        ({"cloud_provider": "GCP"}, "cloud_provider"),
        ({"region": "mars-central1"}, "region"),
        ({"region": "us-east-1"}, "region"),  # an AWS region asked of GCP
        ({"memory": "3GB"}, "memory"),
        ({"memory": "128GB"}, "memory"),  # offered for other tiers, not Professional
        ({"memory": "2gb"}, "memory"),
        ({"type": "enterprise-db", "memory": "2GB"}, "memory"),
        ({"version": "4"}, "version"),
        ({"version": "6"}, "version"),
        ({"name": "x" * 31}, "name"),
        ({"name": " leading"}, "name"),
        ({"name": "trailing "}, "name"),
        ({"name": ""}, "name"),
        ({"storage": "3GB"}, "storage"),
        ({"vector_optimized": "yes"}, "vector_optimized"),
        ({"graph_analytics_plugin": 1}, "graph_analytics_plugin"),
    ],
)
async def test_create_with_an_invalid_value_is_400(
    api: Api, overrides: dict[str, Any], field: str
) -> None:
    error = only_error(await api.call("POST", "/instances", instance_body(**overrides)), 400)
    assert (error["field"], error["reason"]) == (field, "invalid-request")
    assert error["message"]
    await _assert_nothing_created(api)


async def test_create_in_an_unknown_project_is_400(api: Api) -> None:
    body = instance_body(tenant_id="no-such-project")
    error = only_error(await api.call("POST", "/instances", body), 400)
    assert (error["field"], error["reason"]) == ("tenant_id", "tenant-not-found")
    await _assert_nothing_created(api)


async def test_create_name_of_30_characters_is_accepted(api: Api) -> None:
    created = await api.create(name="n" * 30)
    assert created["name"] == "n" * 30


@pytest.mark.parametrize("body", [[], ["x"], "text", 5, True])
async def test_create_with_a_non_object_body_is_400(api: Api, body: Any) -> None:
    error = only_error(await api.call("POST", "/instances", body), 400)
    assert error["reason"] == "invalid-request"
    assert "field" not in error
    await _assert_nothing_created(api)


@pytest.mark.parametrize("raw", [b"{not json", b'{"name": ', b"\xff\xfe"])
async def test_create_with_invalid_json_is_400(api: Api, raw: bytes) -> None:
    response = await api.call(
        "POST", "/instances", content=raw, headers={"Content-Type": "application/json"}
    )
    error = only_error(response, 400)
    assert error == {"message": "The request body is not valid JSON", "reason": "invalid-request"}
    await _assert_nothing_created(api)


async def test_create_of_a_type_the_project_does_not_offer_is_400(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1,
            projects=(ProjectSpec(PROJECT, "Pro only", instance_types=("professional-db",)),),
        )
    )
    error = only_error(
        await api.call("POST", "/instances", instance_body(type="enterprise-db", memory="4GB")),
        400,
    )
    assert error["field"] == "type"
    await api.create()


# ------------------------------------------------------------ content type


async def test_post_with_a_text_plain_body_is_415(api: Api) -> None:
    response = await api.call(
        "POST",
        "/instances",
        content=json.dumps(instance_body()).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert set(response.json()) == {"error"}
    await _assert_nothing_created(api)


async def test_post_with_a_body_and_no_content_type_is_415(api: Api) -> None:
    response = await api.http.post(
        "/v1/instances",
        content=json.dumps(instance_body()).encode(),
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert "content-type" not in response.request.headers
    assert response.status_code == 415
    await _assert_nothing_created(api)


async def test_patch_with_a_text_plain_body_is_415(api: Api) -> None:
    instance = await api.running(name="kept")
    response = await api.call(
        "PATCH",
        f"/instances/{instance['id']}",
        content=b'{"name": "changed"}',
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert (await api.data("GET", f"/instances/{instance['id']}"))["name"] == "kept"


async def test_json_with_a_charset_is_accepted(api: Api) -> None:
    response = await api.call(
        "POST",
        "/instances",
        content=json.dumps(instance_body()).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202


# ---------------------------------------------------------------- free tier


async def test_free_instance_shape(api: Api) -> None:
    instance = await api.running(type="free-db", memory="1GB")
    assert instance["type"] == "free-db"
    assert "storage" not in instance
    assert instance["graph_nodes"] == "0"
    assert instance["graph_relationships"] == "0"
    assert instance["memory"] == "1GB"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cloud_provider": "aws", "region": "us-east-1"}, "cloud_provider"),
        ({"cloud_provider": "azure", "region": "westeurope"}, "cloud_provider"),
        ({"memory": "2GB"}, "memory"),
        ({"region": "europe-west2"}, "region"),
    ],
)
async def test_free_instance_is_gcp_1gb_only(
    api: Api, overrides: dict[str, str], field: str
) -> None:
    body = instance_body(**{"type": "free-db", "memory": "1GB", **overrides})
    error = only_error(await api.call("POST", "/instances", body), 400)
    assert error["field"] == field
    await _assert_nothing_created(api)


async def test_free_instance_cannot_be_resized(api: Api) -> None:
    instance = await api.running(type="free-db", memory="1GB")
    for body, field in (({"memory": "2GB"}, "memory"), ({"storage": "2GB"}, "storage")):
        error = only_error(await api.call("PATCH", f"/instances/{instance['id']}", body), 400)
        assert (error["field"], error["reason"]) == (field, "unsupported-for-tier")
    assert await status_of(api, instance["id"]) == "running"
    # A rename is still fine.
    assert (await api.data("PATCH", f"/instances/{instance['id']}", {"name": "free2"}))[
        "name"
    ] == "free2"


async def test_free_instance_has_no_on_demand_snapshots(api: Api) -> None:
    instance = await api.running(type="free-db", memory="1GB")
    response = await api.call("POST", f"/instances/{instance['id']}/snapshots")
    assert response.status_code == 402
    assert await api.data("GET", f"/instances/{instance['id']}/snapshots") == []


async def test_second_free_instance_is_405(api: Api) -> None:
    await api.create(type="free-db", memory="1GB", name="free-1")
    response = await api.call(
        "POST", "/instances", instance_body(type="free-db", memory="1GB", name="free-2")
    )
    assert only_error(response, 405)["reason"] == "free-instance-limit-reached"
    assert len(await instance_ids(api)) == 1
    # Paid instances are not affected.
    await api.create(name="paid")


async def test_free_instance_pauses_itself_when_idle(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(seed=1, durations=Durations(jitter=0), free_auto_pause_after=600)
    )
    free = (await api.create(type="free-db", memory="1GB", name="free"))["id"]
    paid = (await api.create(name="paid"))["id"]
    await step(api, free, D.create + 600, "running", "paused")
    assert await status_of(api, paid) == "running"
    await api.data("POST", f"/instances/{free}/resume", None, 202)
    await step(api, free, D.resume, "resuming", "running")
    await step(api, free, 600, "running", "paused")


async def test_free_instance_auto_pause_defaults_to_72_hours(api: Api) -> None:
    # It counts from the end of the create (jittered), not from the request.
    free = await api.running(type="free-db", memory="1GB")
    since_create = D.create * (1 + D.jitter)
    api.clock.advance(72 * 3600 - since_create)
    await api.login()
    assert await status_of(api, free["id"]) == "running"
    api.clock.advance(D.create * (1 + D.jitter))
    assert await status_of(api, free["id"]) == "paused"


# -------------------------------------------------------- quotas and billing


async def test_project_instance_quota_is_405(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1,
            projects=(ProjectSpec(PROJECT, "Small", max_instances=2),),
            durations=Durations(jitter=0),
        )
    )
    first = await api.create(name="one")
    await api.create(name="two")
    error = only_error(await api.call("POST", "/instances", instance_body(name="three")), 405)
    assert error["reason"] == "instance-limit-reached"
    assert "2" in error["message"]
    assert len(await instance_ids(api)) == 2
    # A free instance counts against the same quota.
    response = await api.call("POST", "/instances", instance_body(type="free-db", memory="1GB"))
    assert response.status_code == 405
    # Once an instance is gone, there is room again.
    api.clock.advance(D.create)
    await api.data("DELETE", f"/instances/{first['id']}", expect=202)
    api.clock.advance(D.delete)
    await api.create(name="three")


async def test_quota_is_per_project(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1,
            projects=(
                ProjectSpec(PROJECT, "Small", max_instances=1),
                ProjectSpec(OTHER_PROJECT, "Other", max_instances=1),
            ),
        )
    )
    await api.create()
    assert (await api.call("POST", "/instances", instance_body())).status_code == 405
    await api.create(tenant_id=OTHER_PROJECT)


async def test_missing_billing_details_is_400(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(seed=1, projects=(ProjectSpec(PROJECT, "Trial", billing_details=False),))
    )
    error = only_error(await api.call("POST", "/instances", instance_body()), 400)
    assert error == {
        "message": (
            "You must provide billing details in the Aura Console before creating an instance"
        ),
        "reason": "missing-billing-details",
    }
    await _assert_nothing_created(api)
    # AuraDB Free needs no billing details.
    await api.create(type="free-db", memory="1GB")


# --------------------------------------------------------------- duplicates


async def test_duplicate_names_are_allowed_by_default(api: Api) -> None:
    first = await api.create(name="same")
    second = await api.create(name="same")
    assert first["id"] != second["id"]
    names = [i["name"] for i in await api.data("GET", "/instances")]
    assert names == ["same", "same"]


async def test_duplicate_names_can_be_rejected(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1,
            duplicate_names="reject",
            projects=(ProjectSpec(PROJECT, "One"), ProjectSpec(OTHER_PROJECT, "Two")),
        )
    )
    await api.create(name="same")
    error = only_error(await api.call("POST", "/instances", instance_body(name="same")), 409)
    assert error["reason"] == "duplicate-name"
    assert len(await instance_ids(api)) == 1
    await api.create(name="different")
    # Names are unique per project only.
    await api.create(name="same", tenant_id=OTHER_PROJECT)


# ----------------------------------------------------------------- cloning


async def test_clone_from_a_source_instance(api: Api) -> None:
    source = await api.running(name="source")
    clone = await api.create(name="clone", source_instance_id=source["id"])
    assert clone["id"] != source["id"]
    assert await status_of(api, clone["id"]) == "creating"
    api.clock.advance(D.create * 2)
    assert await status_of(api, clone["id"]) == "running"


async def test_clone_from_a_completed_snapshot(api: Api) -> None:
    source = await api.running(name="source")
    snapshot_id = await completed_snapshot(api, source["id"])
    clone = await api.create(
        name="clone", source_instance_id=source["id"], source_snapshot_id=snapshot_id
    )
    assert await status_of(api, clone["id"]) == "creating"


async def test_clone_from_an_unknown_source_is_400(api: Api) -> None:
    error = only_error(
        await api.call("POST", "/instances", instance_body(source_instance_id=UNKNOWN)), 400
    )
    assert error == {
        "message": f"DB not found: {UNKNOWN}",
        "reason": "db-not-found",
        "field": "source_instance_id",
    }
    await _assert_nothing_created(api)


async def test_clone_from_another_projects_instance_is_400(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1, projects=(ProjectSpec(PROJECT, "A"), ProjectSpec(OTHER_PROJECT, "B"))
        )
    )
    source = await api.running(tenant_id=OTHER_PROJECT)
    error = only_error(
        await api.call("POST", "/instances", instance_body(source_instance_id=source["id"])), 400
    )
    assert (error["field"], error["reason"]) == ("source_instance_id", "db-not-found")


async def test_clone_snapshot_needs_a_source_instance(api: Api) -> None:
    source = await api.running(name="source")
    snapshot_id = await completed_snapshot(api, source["id"])
    body = instance_body(source_snapshot_id=snapshot_id)
    error = only_error(await api.call("POST", "/instances", body), 400)
    assert error["field"] == "source_instance_id"
    assert await instance_ids(api) == [source["id"]]


async def test_clone_from_an_unknown_or_foreign_snapshot_is_400(api: Api) -> None:
    source = await api.running(name="source")
    other = await api.running(name="other")
    foreign = await completed_snapshot(api, other["id"])
    for snapshot_id in ("no-such-snapshot", foreign):
        body = instance_body(source_instance_id=source["id"], source_snapshot_id=snapshot_id)
        error = only_error(await api.call("POST", "/instances", body), 400)
        assert (error["field"], error["reason"]) == ("source_snapshot_id", "snapshot-not-found")
    assert len(await instance_ids(api)) == 2


async def test_clone_from_an_unfinished_snapshot_is_400(api: Api) -> None:
    source = await api.running(name="source")
    path = f"/instances/{source['id']}/snapshots"
    snapshot_id = (await api.data("POST", path, {}, 202))["snapshot_id"]
    body = instance_body(source_instance_id=source["id"], source_snapshot_id=snapshot_id)
    error = only_error(await api.call("POST", "/instances", body), 400)
    assert (error["field"], error["reason"]) == ("source_snapshot_id", "invalid-request")
    assert len(await instance_ids(api)) == 1


# ------------------------------------------------------------------- listing


async def test_list_is_empty_at_first(api: Api) -> None:
    response = await api.call("GET", "/instances")
    assert response.status_code == 200
    assert response.json() == {"data": []}


async def test_list_shows_summaries_without_status(api: Api) -> None:
    first = await api.create(name="first")
    second = await api.running(name="second")
    listed = await api.data("GET", "/instances")
    assert [i["id"] for i in listed] == [first["id"], second["id"]]
    for item in listed:
        assert set(item) == SUMMARY_KEYS
    assert listed[0] == {
        "id": first["id"],
        "name": "first",
        "tenant_id": PROJECT,
        "cloud_provider": "gcp",
        "created_at": first["created_at"],
    }


async def test_list_filters_by_tenant(make_api: ApiFactory) -> None:
    api = await make_api(
        EmulatorConfig(
            seed=1, projects=(ProjectSpec(PROJECT, "A"), ProjectSpec(OTHER_PROJECT, "B"))
        )
    )
    mine = await api.create(name="mine")
    theirs = await api.create(name="theirs", tenant_id=OTHER_PROJECT)

    async def ids(query: str) -> list[str]:
        return [i["id"] for i in await api.data("GET", f"/instances{query}")]

    assert await ids("") == [mine["id"], theirs["id"]]
    assert await ids(f"?tenantId={PROJECT}") == [mine["id"]]
    assert await ids(f"?tenantId={OTHER_PROJECT}") == [theirs["id"]]
    error = only_error(await api.call("GET", "/instances?tenantId=no-such-project"), 404)
    assert error["reason"] == "tenant-not-found"


# -------------------------------------------------------------------- sizing


async def test_instance_sizing_shape_and_values(api: Api) -> None:
    body = {
        "node_count": 1_000_000,
        "relationship_count": 5_000_000,
        "instance_type": "professional-ds",
    }
    response = await api.call("POST", "/instances/sizing", body)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "did_exceed_maximum": False,
        "min_required_memory": "2GB",
        "recommended_size": "8GB",
    }


async def test_instance_sizing_grows_with_the_graph_and_algorithms(api: Api) -> None:
    def gb(text: str) -> int:
        return int(text.removesuffix("GB"))

    small = await api.data(
        "POST", "/instances/sizing", {"node_count": 10**8, "relationship_count": 10**8}
    )
    heavier = await api.data(
        "POST",
        "/instances/sizing",
        {
            "node_count": 10**8,
            "relationship_count": 10**8,
            "algorithm_categories": ["pathfinding", "community-detection"],
        },
    )
    assert gb(heavier["min_required_memory"]) > gb(small["min_required_memory"])
    assert gb(small["recommended_size"]) >= gb(small["min_required_memory"])


async def test_instance_sizing_beyond_the_largest_size(api: Api) -> None:
    body = {"node_count": 10**10, "relationship_count": 10**10, "instance_type": "professional-ds"}
    sized = await api.data("POST", "/instances/sizing", body)
    assert sized["did_exceed_maximum"] is True
    assert sized["recommended_size"] == "64GB"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"relationship_count": 1}, "node_count"),
        ({"node_count": 1}, "relationship_count"),
        ({"node_count": -1, "relationship_count": 1}, "node_count"),
        ({"node_count": "1", "relationship_count": 1}, "node_count"),
        ({"node_count": 1, "relationship_count": 1, "instance_type": "x"}, "instance_type"),
        (
            {"node_count": 1, "relationship_count": 1, "algorithm_categories": "x"},
            "algorithm_categories",
        ),
    ],
)
async def test_instance_sizing_validation(api: Api, body: dict[str, Any], field: str) -> None:
    error = only_error(await api.call("POST", "/instances/sizing", body), 400)
    assert (error["field"], error["reason"]) == (field, "invalid-request")


async def test_upgrade_refuses_a_size_business_critical_does_not_offer(api: Api) -> None:
    instance = await api.running(memory="1GB")
    response = await api.call("POST", f"/instances/{instance['id']}/upgrade")
    error = only_error(response, 400)
    assert error["field"] == "memory"
    assert (await api.data("GET", f"/instances/{instance['id']}"))["type"] == "professional-db"

"""Faults injected by the emulator: gateway faults (5xx, latency, dropped connections), instance
faults (404 after create, null connection URL, ``deleting``, 200 on pause/resume, failed
creates, snapshots and sessions), their seeded determinism, the control endpoints that change
them at run time, and the command-line syntax (``parse_fault``)."""

from __future__ import annotations

import random
import time
from typing import Any

import attrs
import httpx
import pytest

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    ConnectionDropped,
    DropFault,
    EmulatorConfig,
    EmulatorServer,
    ErrorFault,
    FaultPlan,
    LatencyFault,
    RateLimitSettings,
    RequestFilter,
)
from aura_async.emulator.faults import parse_fault
from tests.conftest import PROJECT, Api, ApiFactory, instance_body

ALWAYS_503 = ErrorFault(503, 1.0)


def _config(**faults: Any) -> EmulatorConfig:
    return EmulatorConfig(seed=1, faults=FaultPlan(**faults))


async def _counters(api: Api) -> dict[str, Any]:
    response = await api.http.get("/_emulator/counters")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


# Long enough for any operation to finish (the longest, a resume, takes 90 s +- 20 %), and
# well inside the token's lifetime of an emulated hour.
SETTLE = 1000.0


def _session_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "name": "analytics",
        "memory": "4GB",
        "tenant_id": PROJECT,
        "cloud_provider": "gcp",
        "region": "europe-west1",
    }
    body.update(overrides)
    return body


# ------------------------------------------------------------------ error faults


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_error_fault_with_retry_after(make_api: ApiFactory, status: int) -> None:
    api: Api = await make_api(_config(errors=(ErrorFault(status, 1.0, retry_after=30),)))
    response = await api.call("POST", "/instances", instance_body(name="never"))
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}  # the gateway's MiddlewareError shape
    assert isinstance(body["error"], str)
    assert response.headers["Retry-After"] == "30"
    assert "X-Request-Id" in response.headers
    # No work was done.
    assert api.state.backend.instances == {}
    counters = await _counters(api)
    assert counters["creates_per_name"] == {}
    assert counters["faults_injected"] == {f"error_{status}": 1}
    assert counters["requests"]["POST /v1/instances"] == {str(status): 1}


async def test_error_fault_without_retry_after(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(errors=(ALWAYS_503,)))
    response = await api.call("POST", "/instances", instance_body())
    assert response.status_code == 503
    assert set(response.json()) == {"error"}
    assert "Retry-After" not in response.headers
    assert api.state.backend.instances == {}


async def test_error_fault_stops_mutations_of_existing_instances(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    instance = await api.running()
    api.state.backend.faults = FaultPlan(errors=(ALWAYS_503,))
    for method, path, body in [
        ("POST", f"/instances/{instance['id']}/pause", None),
        ("PATCH", f"/instances/{instance['id']}", {"name": "renamed"}),
        ("DELETE", f"/instances/{instance['id']}", None),
    ]:
        assert (await api.call(method, path, body)).status_code == 503
    record = api.state.backend.instances[instance["id"]]
    assert (record.status, record.name, record.operation) == ("running", "test-instance", None)


@pytest.mark.parametrize(("style", "header"), [("integer", "1"), ("seconds", "0.500")])
async def test_error_fault_retry_after_in_real_seconds(
    make_api: ApiFactory, style: str, header: str
) -> None:
    # retry_after is emulated seconds; the client is told real seconds (30 / 60 = 0.5), in
    # whole seconds rounded up unless the run asked for milliseconds.
    config = attrs.evolve(
        _config(errors=(ErrorFault(503, 1.0, retry_after=30),)),
        rate_limit=RateLimitSettings(retry_after=style),  # type: ignore[arg-type]
    )
    api = await make_api(config, 60.0)
    response = await api.call("GET", "/instances")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == header


async def test_error_fault_probability_zero_never_fires(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(errors=(ErrorFault(503, 0.0),)))
    for _ in range(20):
        assert (await api.call("GET", "/instances")).status_code == 200
    assert (await _counters(api))["faults_injected"] == {}


async def test_error_fault_probability_is_honoured(make_api: ApiFactory) -> None:
    config = EmulatorConfig(
        seed=1,
        faults=FaultPlan(errors=(ErrorFault(503, 0.3),)),
        rate_limit=RateLimitSettings(enabled=False),
    )
    api: Api = await make_api(config)
    statuses = [(await api.call("GET", "/instances")).status_code for _ in range(300)]
    failures = statuses.count(503)
    assert statuses.count(200) + failures == 300
    assert 50 <= failures <= 130  # 90 expected; the seed makes this deterministic


async def test_first_matching_error_fault_wins(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        _config(
            errors=(
                ErrorFault(502, 1.0, only=RequestFilter(methods=("POST",))),
                ErrorFault(504, 1.0),
            )
        )
    )
    assert (await api.call("POST", "/instances", instance_body())).status_code == 502
    assert (await api.call("GET", "/instances")).status_code == 504


async def test_gateway_order_auth_then_rate_limit_then_faults(make_api: ApiFactory) -> None:
    config = EmulatorConfig(
        seed=1,
        rate_limit=RateLimitSettings(limit=1),
        faults=FaultPlan(errors=(ALWAYS_503,)),
    )
    api: Api = await make_api(config)
    assert (await api.http.get("/v1/instances")).status_code == 401  # before faults
    first = await api.call("GET", "/instances")
    assert first.status_code == 503  # a fault still spends the budget
    assert (await api.call("GET", "/instances")).status_code == 429  # before faults
    assert (await _counters(api))["faults_injected"] == {"error_503": 1}


async def test_error_fault_comes_before_body_checks(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(errors=(ALWAYS_503,)))
    bad_json = await api.call(
        "POST", "/instances", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 503
    bad_type = await api.call(
        "POST", "/instances", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert bad_type.status_code == 503


def test_error_fault_validation() -> None:
    with pytest.raises(ValueError, match="5xx"):
        ErrorFault(404, 1.0)
    with pytest.raises(ValueError, match="probability"):
        ErrorFault(503, 1.5)
    with pytest.raises(ValueError, match="probability"):
        LatencyFault(-0.1)
    with pytest.raises(ValueError, match="probability"):
        DropFault(2.0)
    with pytest.raises(ValueError, match="probability"):
        FaultPlan(create_failure=1.01)


# -------------------------------------------------------------------- latency


async def test_latency_fault_delays_in_real_seconds(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(latency=(LatencyFault(1.0, 0.05),)))
    start = time.monotonic()
    response = await api.call("GET", "/instances")
    elapsed = time.monotonic() - start
    assert response.status_code == 200
    assert elapsed >= 0.05
    assert (await _counters(api))["faults_injected"] == {"latency": 1}


async def test_latency_is_not_compressed_by_time_scale(make_api: ApiFactory) -> None:
    api = await make_api(_config(latency=(LatencyFault(1.0, 0.05),)), 600.0)
    start = time.monotonic()
    assert (await api.call("GET", "/instances")).status_code == 200
    assert time.monotonic() - start >= 0.05  # not 0.05 / 600


async def test_latency_faults_add_up_and_respect_filters(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        _config(
            latency=(
                LatencyFault(1.0, 0.02),
                LatencyFault(1.0, 0.03, only=RequestFilter(methods=("GET",))),
                LatencyFault(1.0, 5.0, only=RequestFilter(route="/pause")),
            )
        )
    )
    start = time.monotonic()
    assert (await api.call("GET", "/instances")).status_code == 200
    assert time.monotonic() - start >= 0.05  # 0.02 + 0.03, and not the 5 s of /pause
    assert (await _counters(api))["faults_injected"] == {"latency": 1}


async def test_latency_then_error(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        _config(latency=(LatencyFault(1.0, 0.02),), errors=(ErrorFault(502, 1.0),))
    )
    start = time.monotonic()
    assert (await api.call("GET", "/instances")).status_code == 502
    assert time.monotonic() - start >= 0.02
    assert (await _counters(api))["faults_injected"] == {"error_502": 1, "latency": 1}


# ---------------------------------------------------------------------- drops


async def test_drop_over_real_http() -> None:
    config = _config(drop=DropFault(1.0))
    async with EmulatorServer(config) as server:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
            token = await http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(server.client_id, server.client_secret),
            )
            assert token.status_code == 200
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            with pytest.raises(httpx.TransportError) as caught:
                await http.post(
                    "/v1/instances", json=instance_body(name="dropped"), headers=headers
                )
            assert isinstance(caught.value, httpx.RemoteProtocolError | httpx.ReadError)
            # The work was done: the instance exists, and GETs are not dropped.
            listed = await http.get("/v1/instances", headers=headers)
            assert listed.status_code == 200
            (summary,) = listed.json()["data"]
            assert summary["name"] == "dropped"
            one = await http.get(f"/v1/instances/{summary['id']}", headers=headers)
            assert one.status_code == 200
            assert one.json()["data"]["status"] == "creating"
        assert list(server.backend.instances) == [summary["id"]]
        assert server.backend.counters.faults["drop"] == 1


async def test_drop_in_process_raises_connection_dropped(make_api: ApiFactory) -> None:
    assert issubclass(ConnectionDropped, httpx.RemoteProtocolError)
    api: Api = await make_api(_config(drop=DropFault(1.0)))
    with pytest.raises(ConnectionDropped):
        await api.call("POST", "/instances", instance_body(name="dropped"))
    # The create happened although the client never saw its answer.
    (summary,) = await api.data("GET", "/instances")
    assert summary["name"] == "dropped"
    assert (await api.data("GET", f"/instances/{summary['id']}"))["status"] == "creating"
    counters = await _counters(api)
    assert counters["faults_injected"] == {"drop": 1}
    assert counters["creates_per_name"] == {"dropped": 1}
    assert counters["requests"]["POST /v1/instances"] == {"202": 1}


async def test_drop_by_default_spares_reads(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    instance = await api.running()
    api.state.backend.faults = FaultPlan(drop=DropFault(1.0))
    for path in ("/instances", f"/instances/{instance['id']}", "/tenants"):
        assert (await api.call("GET", path)).status_code == 200
    with pytest.raises(ConnectionDropped):
        await api.call("PATCH", f"/instances/{instance['id']}", {"name": "renamed"})
    assert api.state.backend.instances[instance["id"]].name == "renamed"
    with pytest.raises(ConnectionDropped):
        await api.call("DELETE", f"/instances/{instance['id']}")
    assert api.state.backend.instances[instance["id"]].status == "destroying"


async def test_drop_only_affects_configured_methods(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(drop=DropFault(1.0, only=RequestFilter(methods=("DELETE",)))))
    created = await api.create()  # POST is not dropped
    api.clock.advance(SETTLE)
    assert (await api.call("POST", f"/instances/{created['id']}/pause")).status_code == 202
    api.clock.advance(SETTLE)
    with pytest.raises(ConnectionDropped):
        await api.call("DELETE", f"/instances/{created['id']}")
    assert (await api.data("GET", f"/instances/{created['id']}"))["status"] == "destroying"
    assert (await _counters(api))["faults_injected"] == {"drop": 1}


async def test_drop_never_applies_to_error_answers(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(drop=DropFault(1.0)))
    response = await api.call("POST", "/instances", instance_body(memory="3GB"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "memory"
    assert (await _counters(api))["faults_injected"] == {}


# ---------------------------------------------------------------- request filter


def test_request_filter_matches() -> None:
    route = "POST /v1/instances/{instanceId}/pause"
    assert RequestFilter().matches("GET", "GET /v1/instances")
    assert RequestFilter(methods=("POST",)).matches("POST", route)
    assert not RequestFilter(methods=("GET",)).matches("POST", route)
    assert RequestFilter(route="/pause").matches("POST", route)
    assert not RequestFilter(route="/resume").matches("POST", route)
    assert RequestFilter(methods=("POST", "PATCH"), route="/instances/{instanceId}").matches(
        "POST", route
    )
    assert not RequestFilter(methods=("POST",), route="/pause").matches(
        "POST", "POST /v1/instances"
    )


async def test_error_fault_narrowed_by_route(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    instance = await api.running()
    api.state.backend.faults = FaultPlan(
        errors=(ErrorFault(503, 1.0, only=RequestFilter(route="/pause")),)
    )
    assert (await api.call("GET", f"/instances/{instance['id']}")).status_code == 200
    assert (await api.call("POST", f"/instances/{instance['id']}/pause")).status_code == 503
    assert api.state.backend.instances[instance["id"]].status == "running"
    assert (await api.call("POST", "/instances", instance_body(name="other"))).status_code == 202


async def test_error_fault_narrowed_by_method(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        _config(errors=(ErrorFault(503, 1.0, only=RequestFilter(methods=("GET",))),))
    )
    created = await api.create()  # POST passes
    assert (await api.call("GET", f"/instances/{created['id']}")).status_code == 503
    assert (await api.call("GET", "/instances")).status_code == 503


async def test_error_fault_narrowed_by_method_and_route(make_api: ApiFactory) -> None:
    only = RequestFilter(methods=("POST",), route="/instances/{instanceId}")
    api: Api = await make_api()
    instance = await api.running()
    api.state.backend.faults = FaultPlan(errors=(ErrorFault(503, 1.0, only=only),))
    assert (await api.call("POST", f"/instances/{instance['id']}/pause")).status_code == 503
    assert (await api.call("GET", f"/instances/{instance['id']}")).status_code == 200
    assert (await api.call("POST", "/instances", instance_body(name="new"))).status_code == 202


# ------------------------------------------------------------- instance faults


async def test_not_found_after_create(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(not_found_after_create=30.0))
    created = await api.create()
    path = f"/instances/{created['id']}"
    missing = await api.call("GET", path)
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["reason"] == "db-not-found"
    api.clock.advance(29.0)
    assert (await api.call("GET", path)).status_code == 404
    api.clock.advance(1.0)
    assert (await api.call("GET", path)).status_code == 200
    assert (await _counters(api))["faults_injected"] == {"not_found_after_create": 2}


async def test_not_found_after_create_covers_delete_and_every_route_by_id(
    make_api: ApiFactory,
) -> None:
    """Live Aura looks an instance up the same way on every route: a DELETE in the window
    answers 404 and deletes nothing, while the listing still shows the instance."""
    api: Api = await make_api(_config(not_found_after_create=30.0))
    created = await api.create()
    path = f"/instances/{created['id']}"
    for method, suffix in (("DELETE", ""), ("POST", "/pause"), ("POST", "/resume")):
        missing = await api.call(method, path + suffix)
        assert missing.status_code == 404, (method, suffix)
        assert missing.json()["errors"][0]["reason"] == "db-not-found"
    listed = await api.data("GET", "/instances")
    assert [i["id"] for i in listed] == [created["id"]]
    api.clock.advance(SETTLE + 30.0)
    assert (await api.call("GET", path)).json()["data"]["status"] == "running"
    assert (await api.call("DELETE", path)).status_code == 202
    assert (await _counters(api))["faults_injected"] == {"not_found_after_create": 3}


async def test_not_found_after_create_unlisted_hides_it_from_listings(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(
        _config(not_found_after_create=30.0, not_found_after_create_unlisted=True)
    )
    created = await api.create()
    assert await api.data("GET", "/instances") == []
    api.clock.advance(30.0)
    assert [i["id"] for i in await api.data("GET", "/instances")] == [created["id"]]


async def test_not_found_after_create_probability_zero(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        _config(not_found_after_create=30.0, not_found_after_create_probability=0.0)
    )
    created = await api.create()
    assert (await api.call("GET", f"/instances/{created['id']}")).status_code == 200


async def test_null_connection_url(make_api: ApiFactory) -> None:
    api: Api = await make_api(_config(null_connection_url=1.0))
    created = await api.create()
    assert created["connection_url"] is None
    assert (await api.data("GET", f"/instances/{created['id']}"))["connection_url"] is None

    plain: Api = await make_api()
    created = await plain.create()
    url = f"neo4j+s://{created['id']}.databases.neo4j.io"
    assert created["connection_url"] == url
    assert (await plain.data("GET", f"/instances/{created['id']}"))["connection_url"] == url


async def test_null_connection_url_until_running(make_api: ApiFactory) -> None:
    # Null in the create's answer and while creating; the address once the instance runs.
    api: Api = await make_api(
        _config(null_connection_url=1.0, null_connection_url_until_running=True)
    )
    created = await api.create()
    assert created["connection_url"] is None
    path = f"/instances/{created['id']}"
    assert (await api.data("GET", path))["connection_url"] is None
    api.clock.advance(SETTLE)
    running = await api.data("GET", path)
    assert running["status"] == "running"
    assert running["connection_url"] == f"neo4j+s://{created['id']}.databases.neo4j.io"


def test_null_connection_url_until_running_from_the_command_line() -> None:
    plan = parse_fault("null-connection-url=0.4,until_running=1", FaultPlan())
    assert (plan.null_connection_url, plan.null_connection_url_until_running) == (0.4, True)
    with pytest.raises(ValueError, match="until_running must be 0 or 1"):
        parse_fault("null-connection-url=0.4,until_running=yes", FaultPlan())


@pytest.mark.parametrize(("probability", "word"), [(1.0, "deleting"), (0.0, "destroying")])
async def test_deleting_status(make_api: ApiFactory, probability: float, word: str) -> None:
    api: Api = await make_api(_config(deleting_status=probability))
    instance = await api.running()
    deleted = await api.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert deleted["status"] == word
    assert (await api.data("GET", f"/instances/{instance['id']}"))["status"] == word
    api.clock.advance(SETTLE)
    assert (await api.call("GET", f"/instances/{instance['id']}")).status_code == 404


@pytest.mark.parametrize(("probability", "has_memory"), [(1.0, False), (0.0, True)])
async def test_memory_missing_while_deleting(
    make_api: ApiFactory, probability: float, has_memory: bool
) -> None:
    api: Api = await make_api(_config(memory_missing_while_deleting=probability))
    instance = await api.running()
    assert instance["memory"] == "2GB"  # present while not deleting
    deleted = await api.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert ("memory" in deleted) is has_memory
    assert ("memory" in await api.data("GET", f"/instances/{instance['id']}")) is has_memory


@pytest.mark.parametrize(("probability", "status"), [(1.0, 200), (0.0, 202)])
async def test_pause_resume_200(make_api: ApiFactory, probability: float, status: int) -> None:
    api: Api = await make_api(_config(pause_resume_200=probability))
    instance = await api.running()
    paused = await api.call("POST", f"/instances/{instance['id']}/pause")
    assert paused.status_code == status
    assert paused.json()["data"]["status"] == "pausing"
    api.clock.advance(SETTLE)
    resumed = await api.call("POST", f"/instances/{instance['id']}/resume")
    assert resumed.status_code == status
    assert resumed.json()["data"]["status"] == "resuming"


@pytest.mark.parametrize(("probability", "final"), [(1.0, "loading failed"), (0.0, "running")])
async def test_create_failure(make_api: ApiFactory, probability: float, final: str) -> None:
    api: Api = await make_api(_config(create_failure=probability))
    created = await api.create()
    path = f"/instances/{created['id']}"
    assert (await api.data("GET", path))["status"] == "creating"
    api.clock.advance(SETTLE)
    assert (await api.data("GET", path))["status"] == final


@pytest.mark.parametrize(("probability", "final"), [(1.0, "Failed"), (0.0, "Completed")])
async def test_snapshot_failure(make_api: ApiFactory, probability: float, final: str) -> None:
    api: Api = await make_api(_config(snapshot_failure=probability))
    instance = await api.running()
    taken = await api.data("POST", f"/instances/{instance['id']}/snapshots", expect=202)
    path = f"/instances/{instance['id']}/snapshots/{taken['snapshot_id']}"
    assert (await api.data("GET", path))["status"] in ("Pending", "InProgress")
    api.clock.advance(SETTLE)
    assert (await api.data("GET", path))["status"] == final


@pytest.mark.parametrize(("probability", "final"), [(1.0, "Failed"), (0.0, "Ready")])
async def test_session_failure(make_api: ApiFactory, probability: float, final: str) -> None:
    api: Api = await make_api(_config(session_failure=probability))
    session = await api.data("POST", "/graph-analytics/sessions", _session_body(), expect=202)
    path = f"/graph-analytics/sessions/{session['id']}"
    assert (await api.data("GET", path))["status"] == "Creating"
    api.clock.advance(600)  # ready after ~60 s, expires an hour later
    assert (await api.data("GET", path))["status"] == final


# ----------------------------------------------------------- seeded determinism

MIXED = FaultPlan(
    errors=(ErrorFault(503, 0.3, only=RequestFilter(methods=("POST",))),),
    null_connection_url=0.5,
    create_failure=0.5,
    deleting_status=0.5,
    pause_resume_200=0.5,
)


async def _trace(api: Api) -> list[Any]:
    """Everything the faults decide over a fixed script, plus the ids handed out."""
    trace: list[Any] = []
    ids = []
    for i in range(16):
        response = await api.call("POST", "/instances", instance_body(name=f"db-{i}"))
        if response.status_code == 202:
            data = response.json()["data"]
            ids.append(data["id"])
            trace.append((202, data["id"], data["connection_url"]))
        else:
            trace.append((response.status_code,))
    api.clock.advance(SETTLE)
    for instance_id in ids:
        record = await api.data("GET", f"/instances/{instance_id}")
        trace.append(record["status"])
        if record["status"] == "running":
            pause = await api.call("POST", f"/instances/{instance_id}/pause")
            trace.append(pause.status_code)
    api.clock.advance(SETTLE)
    deleted = [await api.data("DELETE", f"/instances/{i}", expect=202) for i in ids]
    trace.extend(record["status"] for record in deleted)
    return trace


async def test_same_seed_same_decisions(make_api: ApiFactory) -> None:
    first = await _trace(await make_api(EmulatorConfig(seed=42, faults=MIXED)))
    second = await _trace(await make_api(EmulatorConfig(seed=42, faults=MIXED)))
    assert first == second
    # The script is not trivial: every fault fired and did not fire at least once.
    flat = [str(x) for x in first]
    for outcome in ("(503,)", "None", "loading failed", "running", "deleting", "destroying"):
        assert any(outcome in x for x in flat), outcome
    other = await _trace(await make_api(EmulatorConfig(seed=43, faults=MIXED)))
    assert other != first


async def test_random_seed_is_reported_and_reproducible(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=None, faults=MIXED))
    seed = (await api.http.get("/_emulator/info")).json()["seed"]
    assert isinstance(seed, int)
    replay: Api = await make_api(EmulatorConfig(seed=seed, faults=MIXED))
    assert await _trace(api) == await _trace(replay)


async def test_same_seed_same_instance_ids(make_api: ApiFactory) -> None:
    async def ids(api: Api) -> list[str]:
        return [(await api.create(name=f"db-{i}"))["id"] for i in range(5)]

    first = await ids(await make_api(EmulatorConfig(seed=7)))
    assert first == await ids(await make_api(EmulatorConfig(seed=7)))
    assert first != await ids(await make_api(EmulatorConfig(seed=8)))
    assert all(len(i) == 8 and int(i, 16) >= 0 for i in first)


# ---------------------------------------------------------------- counters


async def test_counters_faults_injected(make_api: ApiFactory) -> None:
    tenants = RequestFilter(route="/tenants")
    api: Api = await make_api(
        _config(
            errors=(ErrorFault(502, 1.0, only=tenants),),
            latency=(LatencyFault(1.0, 0.01, only=tenants),),
            drop=DropFault(1.0, only=RequestFilter(methods=("DELETE",))),
            not_found_after_create=10.0,
        )
    )
    assert (await api.call("GET", "/tenants")).status_code == 502
    created = await api.create()
    assert (await api.call("GET", f"/instances/{created['id']}")).status_code == 404
    api.clock.advance(SETTLE)
    with pytest.raises(ConnectionDropped):
        await api.call("DELETE", f"/instances/{created['id']}")
    assert (await _counters(api))["faults_injected"] == {
        "drop": 1,
        "error_502": 1,
        "latency": 1,
        "not_found_after_create": 1,
    }


async def test_counters_creates_per_name_and_instances_by_status(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    first = await api.running(name="a")
    await api.create(name="a")
    await api.create(name="b")
    rejected = await api.call("POST", "/instances", instance_body(name="c", memory="3GB"))
    assert rejected.status_code == 400
    await api.data("DELETE", f"/instances/{first['id']}", expect=202)
    counters = await _counters(api)
    assert counters["creates_per_name"] == {"a": 2, "b": 1}
    assert counters["instances_by_status"] == {"creating": 2, "destroying": 1}
    api.clock.advance(SETTLE)
    counters = await _counters(api)
    assert counters["instances_by_status"] == {"running": 2}
    assert counters["creates_per_name"] == {"a": 2, "b": 1}  # creates, not live instances


# ------------------------------------------------------------------- reset


async def test_reset_counters_only(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=RateLimitSettings(limit=3)))
    created = await api.create(name="kept")
    assert [(await api.call("GET", "/instances")).status_code for _ in range(3)] == [200, 200, 429]
    response = await api.http.post("/_emulator/reset")
    assert response.status_code == 200
    assert response.json() == {"reset": True, "state": False}
    counters = await _counters(api)
    assert counters["requests_total"] == 0
    assert counters["requests"] == {}
    assert counters["rate_limited"] == 0
    assert counters["creates_per_name"] == {}
    assert counters["faults_injected"] == {}
    assert counters["max_accepted_in_window"] == {}
    assert counters["tokens_issued"] == 0
    assert counters["instances_by_status"] == {"creating": 1}
    # The limiter's window starts afresh; instances and tokens survive.
    assert (await api.call("GET", f"/instances/{created['id']}")).status_code == 200
    assert (await _counters(api))["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 1}


async def test_reset_state_removes_instances(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    created = await api.create(name="gone")
    session = await api.data("POST", "/graph-analytics/sessions", _session_body(), expect=202)
    response = await api.http.post("/_emulator/reset", json={"state": True})
    assert response.status_code == 200
    assert response.json() == {"reset": True, "state": True}
    assert (await api.call("GET", f"/instances/{created['id']}")).status_code == 404
    assert (await api.call("GET", f"/graph-analytics/sessions/{session['id']}")).status_code == 404
    assert await api.data("GET", "/instances") == []
    counters = await _counters(api)
    assert counters["instances_by_status"] == {}
    assert counters["creates_per_name"] == {}
    # Projects stay; the account works as new.
    assert [p["id"] for p in await api.data("GET", "/tenants")] == [PROJECT]
    await api.create(name="fresh")


async def test_reset_state_false_keeps_instances(make_api: ApiFactory) -> None:
    api: Api = await make_api()
    created = await api.create()
    response = await api.http.post("/_emulator/reset", json={"state": False})
    assert response.json() == {"reset": True, "state": False}
    assert (await api.call("GET", f"/instances/{created['id']}")).status_code == 200


@pytest.mark.parametrize("content", [b"{oops", b"[true]", b'"state"'])
async def test_reset_rejects_a_malformed_body(api: Api, content: bytes) -> None:
    created = await api.create()
    response = await api.http.post(
        "/_emulator/reset", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "invalid-request"
    assert created["id"] in api.state.backend.instances


# ------------------------------------------------------------- faults at run time


async def test_get_faults_shows_the_plan(make_api: ApiFactory) -> None:
    plan = FaultPlan(errors=(ErrorFault(502, 0.5, retry_after=2),), null_connection_url=0.25)
    api: Api = await make_api(EmulatorConfig(seed=1, faults=plan))
    response = await api.http.get("/_emulator/faults")
    assert response.status_code == 200
    assert response.json() == plan.to_json()
    assert FaultPlan.from_json(response.json()) == plan


async def test_put_faults_at_run_time(api: Api) -> None:
    assert (await api.call("POST", "/instances", instance_body(name="before"))).status_code == 202
    response = await api.http.put(
        "/_emulator/faults",
        json={
            "errors": [
                {"status": 502, "probability": 1, "retry_after": 3, "only": {"methods": ["post"]}}
            ],
            "null_connection_url": 1,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["errors"][0]["only"] == {"methods": ["POST"], "route": ""}
    assert body == (await api.http.get("/_emulator/faults")).json()
    failed = await api.call("POST", "/instances", instance_body(name="during"))
    assert failed.status_code == 502
    assert failed.headers["Retry-After"] == "3"
    assert (await api.call("GET", "/instances")).status_code == 200
    # An empty plan switches everything off again.
    assert (await api.http.put("/_emulator/faults", json={})).json() == FaultPlan().to_json()
    created = await api.create(name="after")
    assert created["connection_url"] is not None
    assert sorted(i.name for i in api.state.backend.instances.values()) == ["after", "before"]


async def test_put_faults_round_trips(api: Api) -> None:
    plan = FaultPlan(
        errors=(ErrorFault(504, 0.1, retry_after=1.5, only=RequestFilter(("GET",), "/x")),),
        latency=(LatencyFault(0.2, 0.5),),
        drop=DropFault(0.3, only=RequestFilter(("DELETE",))),
        not_found_after_create=12.0,
        session_failure=0.4,
    )
    response = await api.http.put("/_emulator/faults", json=plan.to_json())
    assert response.status_code == 200
    assert api.state.backend.faults == plan
    assert response.json() == plan.to_json()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"typo": 1}', id="unknown-key"),
        pytest.param(b'{"errors": [{"bogus": 1}]}', id="unknown-error-key"),
        pytest.param(b'{"errors": [{"status": 404, "probability": 1}]}', id="not-5xx"),
        pytest.param(b'{"errors": [{"probability": "often"}]}', id="string-probability"),
        pytest.param(b'{"errors": 5}', id="errors-not-a-list"),
        pytest.param(b'{"null_connection_url": 2}', id="probability-above-1"),
        pytest.param(b'{"drop": {"probability": -1}}', id="negative-probability"),
        pytest.param(b'{"drop": {"probability": 1, "only": {"verbs": []}}}', id="unknown-filter"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b"{oops", id="not-json"),
        pytest.param(b'{"not_found_after_create": "30"}', id="string-seconds"),
        pytest.param(b'{"errors": [{"probability": 1, "retry_after": "soon"}]}', id="bad-retry"),
    ],
)
async def test_put_faults_rejects_invalid_plans(api: Api, content: bytes) -> None:
    before = api.state.backend.faults
    response = await api.http.put(
        "/_emulator/faults", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["reason"] == "invalid-request"
    assert api.state.backend.faults is before
    await api.create()  # the emulator still works


# ------------------------------------------------------------- parse_fault


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("error=0.05", FaultPlan(errors=(ErrorFault(503, 0.05),))),
        (
            "error=0.05,status=503,retry_after=2",
            FaultPlan(errors=(ErrorFault(503, 0.05, retry_after=2.0),)),
        ),
        ("error=1,status=502", FaultPlan(errors=(ErrorFault(502, 1.0),))),
        (
            "error=0.5,status=504,methods=post+patch,route=/pause",
            FaultPlan(
                errors=(ErrorFault(504, 0.5, only=RequestFilter(("POST", "PATCH"), "/pause")),)
            ),
        ),
        ("latency=0.5", FaultPlan(latency=(LatencyFault(0.5, 1.0),))),
        ("latency=1,seconds=0.25", FaultPlan(latency=(LatencyFault(1.0, 0.25),))),
        (
            "latency=1,seconds=2,methods=GET",
            FaultPlan(latency=(LatencyFault(1.0, 2.0, only=RequestFilter(("GET",))),)),
        ),
        ("drop=0.1", FaultPlan(drop=DropFault(0.1))),
        ("drop=1,methods=DELETE", FaultPlan(drop=DropFault(1.0, only=RequestFilter(("DELETE",))))),
        ("not-found-after-create=30", FaultPlan(not_found_after_create=30.0)),
        ("null-connection-url=0.5", FaultPlan(null_connection_url=0.5)),
        ("deleting-status=1", FaultPlan(deleting_status=1.0)),
        ("pause-resume-200=0.25", FaultPlan(pause_resume_200=0.25)),
        ("memory-missing-while-deleting=1", FaultPlan(memory_missing_while_deleting=1.0)),
        ("create-failure=0.1", FaultPlan(create_failure=0.1)),
        ("snapshot-failure=0.2", FaultPlan(snapshot_failure=0.2)),
        ("session-failure=0.3", FaultPlan(session_failure=0.3)),
        (" error=1 , status=500 ", FaultPlan(errors=(ErrorFault(500, 1.0),))),
        ("error=1,,status=500", FaultPlan(errors=(ErrorFault(500, 1.0),))),
    ],
)
def test_parse_fault_forms(text: str, expected: FaultPlan) -> None:
    assert parse_fault(text, FaultPlan()) == expected


def test_parse_fault_accumulates() -> None:
    plan = parse_fault("create-failure=0.5", FaultPlan())
    plan = parse_fault("error=0.1", plan)
    plan = parse_fault("error=0.2,status=502", plan)
    plan = parse_fault("latency=0.3,seconds=0.5", plan)
    plan = parse_fault("latency=0.4", plan)
    assert plan.errors == (ErrorFault(503, 0.1), ErrorFault(502, 0.2))
    assert plan.latency == (LatencyFault(0.3, 0.5), LatencyFault(0.4, 1.0))
    assert plan.create_failure == 0.5
    # A later drop or scalar replaces the earlier one.
    plan = parse_fault("drop=0.1", parse_fault("drop=0.9", plan))
    assert plan.drop == DropFault(0.1)


def test_parse_drop_route_narrows_the_default_methods() -> None:
    """``route=`` narrows a fault: on a drop, whose default is mutations only, it must not
    widen the drop to reads of that route."""
    plan = parse_fault("drop=1,route=/instances", FaultPlan())
    rng = random.Random(0)
    assert plan.choose_drop(rng, "POST", "POST /v1/instances")
    assert not plan.choose_drop(rng, "POST", "POST /v1/tenants")
    assert not plan.choose_drop(rng, "GET", "GET /v1/instances")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "KIND=VALUE"),
        ("error", "KIND=VALUE"),
        ("bogus=1", "unknown fault"),
        ("error=abc", "invalid fault"),
        ("error=1.5", "invalid fault"),
        ("error=-0.1", "invalid fault"),
        ("error=1,status=404", "invalid fault"),
        ("error=1,status=abc", "invalid fault"),
        ("error=1,retry_after=soon", "invalid fault"),
        ("latency=1,seconds=x", "invalid fault"),
        ("null-connection-url=2", "invalid fault"),
        ("not-found-after-create=abc", "invalid fault"),
        ("error=1,status", "key=value"),
        ("error=1,foo=bar", "unknown option"),
        ("latency=0.5,status=503", "unknown option"),
        ("drop=1,retry_after=2", "unknown option"),
        ("create-failure=0.5,seconds=3", "unknown option"),
    ],
)
def test_parse_fault_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_fault(text, FaultPlan())


@pytest.mark.parametrize(
    "text",
    [
        "create-failure=0.5,methods=POST",
        "null-connection-url=1,route=/instances",
        "not-found-after-create=30,methods=GET",
    ],
)
def test_parse_fault_rejects_filters_on_instance_faults(text: str) -> None:
    # Instance faults are decided per instance at create time; a request filter on them
    # would be silently ignored, so it must be refused like any other unknown option.
    with pytest.raises(ValueError, match="option"):
        parse_fault(text, FaultPlan())


async def test_drop_never_applies_to_an_answered_404(make_api: ApiFactory) -> None:
    # The sessions service answers its 404 itself; nothing was done, so nothing is dropped.
    api = await make_api(_config(drop=DropFault(1.0)))
    response = await api.call("DELETE", "/graph-analytics/sessions/s-00000000-0000-0")
    assert response.status_code == 404
    assert "drop" not in (await _counters(api))["faults_injected"]


async def test_put_faults_rejects_methods_given_as_a_string(api: Api) -> None:
    plan = {"drop": {"probability": 1.0, "only": {"methods": "POST"}}}
    response = await api.http.put("/_emulator/faults", json=plan)
    assert response.status_code == 400
    assert "methods" in response.json()["errors"][0]["message"]
    assert api.state.backend.faults == FaultPlan()


def test_parse_not_found_after_create_takes_unlisted() -> None:
    plan = parse_fault("not-found-after-create=5,unlisted=1", FaultPlan())
    assert plan.not_found_after_create_unlisted is True
    assert not parse_fault("not-found-after-create=5", FaultPlan()).not_found_after_create_unlisted
    with pytest.raises(ValueError, match="unlisted must be 0 or 1"):
        parse_fault("not-found-after-create=5,unlisted=yes", FaultPlan())


def test_parse_not_found_after_create_takes_a_probability() -> None:
    plan = parse_fault("not-found-after-create=5,probability=0.25", FaultPlan())
    assert (plan.not_found_after_create, plan.not_found_after_create_probability) == (5.0, 0.25)
    assert (
        parse_fault("not-found-after-create=5", FaultPlan()).not_found_after_create_probability == 1
    )


async def test_reset_refuses_a_state_that_is_not_a_boolean(api: Api) -> None:
    await api.create()
    response = await api.http.post("/_emulator/reset", json={"state": "false"})
    assert response.status_code == 400
    assert len(api.state.backend.instances) == 1

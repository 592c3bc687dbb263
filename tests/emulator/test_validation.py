"""Request validation: the emulator refuses, with a 400 and no work done, what the spec refuses.

Every case goes through the in-process app (``httpx.ASGITransport``, manual clock): the
answer is a 400 ``invalid-request`` in the API's error shape, one item per bad field named by
its JSON path, and nothing in the emulator changed. Valid requests, the SDK's own among them,
still pass; the backend's more specific messages (a region not offered, a padded name) are
still its own; ``EmulatorConfig(validate_requests=False)`` brings the lenient emulator back.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS30WriteValidator

from aura_async import AuraClient
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorConfig,
    ManualClock,
    create_app,
)
from aura_async.emulator.app import API_ROUTES
from aura_async.emulator.validation import (
    RequestInvalid,
    RequestValidator,
    load_spec,
    request_validator,
)
from tests.conftest import PROJECT, Api, ApiFactory, instance_body

SETTLE = 1_000.0  # emulated seconds that finish any operation
TESTS_SPEC = Path(__file__).with_name("aura_api_spec_v1.yaml")


def config(**overrides: Any) -> EmulatorConfig:
    """A deterministic emulator whose tokens outlive any clock jump."""
    return EmulatorConfig(**{"seed": 1, "token_lifetime": 1e9, **overrides})


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    result: Api = await make_api(config())
    return result


def state_of(api: Api) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    backend = api.state.backend
    return {
        "instances": {
            i.id: (i.name, i.status, i.memory, i.storage, i.type, i.secondaries_count)
            for i in backend.instances.values()
        },
        "snapshots": set(backend.snapshots),
        "keys": set(backend.keys),
        "sessions": set(backend.sessions),
    }


def refusal(response: httpx.Response) -> list[dict[str, Any]]:
    """Assert a 400 in the API's error shape; return its items."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["errors"], body
    items: list[dict[str, Any]] = body["errors"]
    assert items
    for item in items:
        assert item["reason"] == "invalid-request", item
        assert set(item) <= {"message", "reason", "field"}, item
    return items


async def running(api: Api, **overrides: Any) -> dict[str, Any]:
    created: dict[str, Any] = await api.create(**overrides)
    api.clock.advance(SETTLE)
    instance: dict[str, Any] = await api.data("GET", f"/instances/{created['id']}")
    assert instance["status"] == "running"
    return instance


# ---------------------------------------------------------------- the packaged spec


def test_the_packaged_spec_is_the_official_file() -> None:
    packaged = importlib.resources.files("aura_async.emulator").joinpath(
        "spec", "aura_api_spec_v1.yaml"
    )
    assert packaged.read_bytes() == TESTS_SPEC.read_bytes()


def test_the_spec_is_read_as_json_values() -> None:
    spec = load_spec()
    # YAML 1.1 would read OFF as False and the examples' dates as datetimes.
    cdc = spec["components"]["schemas"]["Instance"]["properties"]["data"]["properties"]
    assert cdc["cdc_enrichment_mode"]["enum"] == ["OFF", "DIFF", "FULL"]
    example = spec["paths"]["/graph-analytics/sessions"]["get"]["responses"]["200"]["content"]
    first = example["application/json"]["examples"]["List of GDS Sessions"]["value"]["data"][0]
    assert isinstance(first["created_at"], str)


def test_every_operation_is_compiled_once_per_process() -> None:
    validator = request_validator()
    assert set(validator.operations) == {f"{m} /v1{p}" for m, p, _h in API_ROUTES}
    one = create_app(EmulatorConfig(seed=1)).state.emulator.validator
    other = create_app(EmulatorConfig(seed=2)).state.emulator.validator
    assert one is other is validator


def test_compiled_body_schemas_are_valid_openapi_schemas() -> None:
    for route, operation in request_validator().operations.items():
        if operation.body is not None:
            OAS30WriteValidator.check_schema(operation.body.schema)
            assert "$ref" not in repr(operation.body.schema), route  # inlined once


# ------------------------------------------------------------------------ refusals

# (method, path, body, field, message): path "{id}" is a running instance's id.
REFUSED: list[tuple[str, str, Any, str | None, str]] = [
    # wrong types and nulls on create
    ("POST", "/instances", instance_body(memory=4), "memory", "memory must be a string"),
    (
        "POST",
        "/instances",
        instance_body(name=None),
        "name",
        "name must be a string, not null",
    ),
    (
        "POST",
        "/instances",
        instance_body(tenant_id=None),
        "tenant_id",
        "tenant_id must be a string, not null",
    ),
    (
        "POST",
        "/instances",
        instance_body(vector_optimized=None),
        "vector_optimized",
        "vector_optimized must be a boolean, not null",
    ),
    (
        "POST",
        "/instances",
        instance_body(source_instance_id=None),
        "source_instance_id",
        "source_instance_id must be a string, not null",
    ),
    (
        "POST",
        "/instances",
        instance_body(type=None),
        "type",
        "type must be a string, not null",
    ),
    (
        "POST",
        "/instances",
        instance_body(storage=4),
        "storage",
        "storage must be a string",
    ),
    # missing required fields
    (
        "POST",
        "/instances",
        {k: v for k, v in instance_body().items() if k != "tenant_id"},
        "tenant_id",
        "tenant_id is required",
    ),
    # sizing: counts, lists, nulls
    (
        "POST",
        "/instances/sizing",
        {"node_count": "10", "relationship_count": 1},
        "node_count",
        "node_count must be an integer",
    ),
    (
        "POST",
        "/instances/sizing",
        {"node_count": 1, "relationship_count": 1, "algorithm_categories": None},
        "algorithm_categories",
        "algorithm_categories must be a list of strings, not null",
    ),
    (
        "POST",
        "/instances/sizing",
        {"node_count": 1, "relationship_count": 1, "algorithm_categories": ["pathfinding", 3]},
        "algorithm_categories[1]",
        "algorithm_categories[1] must be a string",
    ),
    (
        "POST",
        "/instances/sizing",
        {"node_count": 1, "relationship_count": 1, "instance_type": None},
        "instance_type",
        "instance_type must be a string, not null",
    ),
    (
        "POST",
        "/graph-analytics/sessions/sizing",
        {"node_count": 1, "relationship_count": 1, "node_label_count": None},
        "node_label_count",
        "node_label_count must be an integer, not null",
    ),
    (
        "POST",
        "/graph-analytics/sessions/sizing",
        {"node_count": 1},
        "relationship_count",
        "relationship_count is required",
    ),
    # sessions: the cloud is an enum even when the instance decides it
    (
        "POST",
        "/graph-analytics/sessions",
        {"name": "s", "memory": "8GB", "instance_id": "{id}", "cloud_provider": "ibm"},
        "cloud_provider",
        "cloud_provider must be one of gcp, aws, azure",
    ),
    (
        "POST",
        "/graph-analytics/sessions",
        {"name": "s", "memory": "8GB", "instance_id": "{id}", "ttl": 1800},
        "ttl",
        "ttl must be a string",
    ),
    # customer managed keys
    (
        "POST",
        "/customer-managed-keys",
        {
            "key_id": None,
            "region": "europe-west1",
            "name": "k",
            "instance_type": "enterprise-db",
            "tenant_id": PROJECT,
            "cloud_provider": "gcp",
        },
        "key_id",
        "key_id must be a string, not null",
    ),
    # PATCH: a null is no longer "absent" (the resize must not start)
    (
        "PATCH",
        "/instances/{id}",
        {"name": None, "memory": "4GB"},
        "name",
        "name must be a string, not null",
    ),
    (
        "PATCH",
        "/instances/{id}",
        {"vector_optimized": "yes"},
        "vector_optimized",
        "vector_optimized must be a boolean",
    ),
    (
        "PATCH",
        "/instances/{id}",
        {"secondaries_count": "1"},
        "secondaries_count",
        "secondaries_count must be an integer",
    ),
    (
        "PATCH",
        "/instances/{id}",
        {"cdc_enrichment_mode": "off"},
        "cdc_enrichment_mode",
        "cdc_enrichment_mode must be one of OFF, DIFF, FULL",
    ),
    # the other bodies
    (
        "POST",
        "/instances/{id}/overwrite",
        {"source_instance_id": 5},
        "source_instance_id",
        "source_instance_id must be a string",
    ),
    (
        "POST",
        "/instances/{id}/upgrade",
        {"memory": 16, "storage": "32GB"},
        "memory",
        "memory must be a string",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field", "message"),
    REFUSED,
    ids=[f"{m} {p} {f}" for m, p, _b, f, _msg in REFUSED],
)
async def test_invalid_field_is_refused_and_nothing_changes(
    make_api: ApiFactory, method: str, path: str, body: Any, field: str | None, message: str
) -> None:
    api: Api = await make_api(config())
    instance = await running(api, name="target")
    path = path.replace("{id}", instance["id"])
    if isinstance(body, dict):
        body = {k: instance["id"] if v == "{id}" else v for k, v in body.items()}
    before = state_of(api)
    (item,) = refusal(await api.call(method, path, body))
    assert item == {"message": message, "reason": "invalid-request", "field": field}
    assert state_of(api) == before


BODY_ROUTES = [
    ("POST", "/instances"),
    ("POST", "/instances/sizing"),
    ("PATCH", "/instances/{id}"),
    ("POST", "/instances/{id}/pause"),
    ("POST", "/instances/{id}/resume"),
    ("POST", "/instances/{id}/snapshots"),
    ("POST", "/instances/{id}/overwrite"),
    ("POST", "/instances/{id}/upgrade"),
    ("POST", "/customer-managed-keys"),
    ("POST", "/graph-analytics/sessions"),
    ("POST", "/graph-analytics/sessions/sizing"),
]


@pytest.mark.parametrize("raw", [b"[]", b'["x"]', b'"text"', b"5", b"true", b"null"])
@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_a_body_that_is_not_an_object_is_refused(
    make_api: ApiFactory, method: str, path: str, raw: bytes
) -> None:
    api: Api = await make_api(config())
    instance = await running(api)
    before = state_of(api)
    response = await api.call(
        method,
        path.replace("{id}", instance["id"]),
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert refusal(response) == [
        {"message": "The request body must be a JSON object", "reason": "invalid-request"}
    ]
    assert state_of(api) == before


async def test_every_bad_field_gets_one_item(api: Api) -> None:
    body = instance_body(memory=4, type="PROFESSIONAL", cloud_provider=None)
    del body["region"]
    items = refusal(await api.call("POST", "/instances", body))
    by_field = {item["field"]: item["message"] for item in items}
    assert len(by_field) == len(items) == 4
    assert by_field == {
        "memory": "memory must be a string",
        "type": (
            "type must be one of enterprise-db, enterprise-ds, business-critical, "
            "professional-db, professional-ds, free-db"
        ),
        # A null that also fails the enum says what it is once: the type.
        "cloud_provider": "cloud_provider must be a string, not null",
        "region": "region is required",
    }
    assert api.state.backend.instances == {}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=", "date must be an ISO date (YYYY-MM-DD); got ''"),
        ("date=2024-02-30", "date must be an ISO date (YYYY-MM-DD); got '2024-02-30'"),
        ("date=20240201", "date must be an ISO date (YYYY-MM-DD); got '20240201'"),
        ("date=yesterday", "date must be an ISO date (YYYY-MM-DD); got 'yesterday'"),
    ],
)
async def test_a_bad_snapshot_date_is_refused(api: Api, query: str, message: str) -> None:
    instance = await running(api)
    response = await api.call("GET", f"/instances/{instance['id']}/snapshots?{query}")
    assert refusal(response) == [{"message": message, "reason": "invalid-request", "field": "date"}]


async def test_a_refusal_comes_after_the_gateway(api: Api) -> None:
    """No token is still 401 and a wrong media type 415: the gateway answers first."""
    assert (await api.http.post("/v1/instances", json=[])).status_code == 401
    response = await api.call(
        "POST", "/instances", content=b"[]", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    response = await api.call(
        "POST", "/instances", content=b"[", headers={"Content-Type": "application/json"}
    )
    assert refusal(response) == [
        {"message": "The request body is not valid JSON", "reason": "invalid-request"}
    ]


# --------------------------------------------------------------- what still passes


async def test_valid_requests_pass(api: Api) -> None:
    """Bodies the spec allows, and the fields the live service takes beyond its schemas."""
    await api.data(
        "POST",
        "/instances/sizing",
        {"node_count": 10, "relationship_count": 20, "algorithm_categories": []},
    )
    created = await api.create(name="with-storage", storage="4GB")  # storage: live only
    vdc = await running(api, name="vdc", type="enterprise-db", memory="4GB")
    api.clock.advance(SETTLE)
    body = {"secondaries_count": 1, "cdc_enrichment_mode": "DIFF"}  # live only
    await api.data("PATCH", f"/instances/{vdc['id']}", body, expect=202)
    api.clock.advance(SETTLE)
    # Empty bodies: none at all, {}, and a Content-Type with nothing after it.
    await api.data("POST", f"/instances/{created['id']}/pause", expect=202)
    await api.data("POST", f"/instances/{vdc['id']}/pause", {}, expect=202)
    api.clock.advance(SETTLE)
    response = await api.call(
        "POST", f"/instances/{vdc['id']}/resume", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    today = dt.datetime.fromtimestamp(api.clock.now(), tz=dt.UTC).date().isoformat()
    await api.data("GET", f"/instances/{vdc['id']}/snapshots?date={today}")
    # An empty filter whose schema constrains nothing reads as no filter.
    assert await api.data("GET", "/instances?tenantId=") != []
    await api.data("GET", "/graph-analytics/sessions?instanceId=&tenantId=")


async def test_the_sdk_requests_pass() -> None:
    """The SDK's own bodies (nulls dropped, counts as integers) pass validation."""
    clock = ManualClock()
    app = create_app(config(), clock=clock)
    async with AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=PROJECT,
        base_url="http://emulator.test",
        rate_limit=None,
        transport=httpx.ASGITransport(app=app),
    ) as aura:
        await aura.instances.sizing(
            node_count=1000,
            relationship_count=5000,
            instance_type="professional-ds",
            algorithm_categories=["pathfinding"],
        )
        await aura.graph_analytics.sizing(
            node_count=1000, relationship_count=5000, node_label_count=2
        )
        created = await aura.instances.create(
            name="sdk",
            type="enterprise-db",
            region="europe-west1",
            memory="4GB",
            cloud_provider="gcp",
            storage="8GB",
        )
        clock.advance(SETTLE)
        await aura.instances.update(created.id, secondaries_count=1, cdc_enrichment_mode="DIFF")
        clock.advance(SETTLE)
        await aura.instances.update(created.id, name="sdk-renamed", memory="8GB")
        clock.advance(SETTLE)
        await aura.snapshots.list(created.id, date=dt.date.today())
        await aura.graph_analytics.create(
            name="sdk-session", memory="8GB", instance_id=created.id, ttl="30m"
        )
        await aura.instances.pause(created.id)
        clock.advance(SETTLE)
        await aura.instances.resume(created.id)
    requests = app.state.emulator.backend.counters.requests
    refused = {route: statuses for route, statuses in requests.items() if 400 in statuses}
    assert refused == {}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"region": "mars-north1"}, "region", "Region mars-north1 is not available"),
        ({"memory": "3GB"}, "memory", "Memory 3GB is not available for professional-db"),
        ({"name": "x" * 31}, "name", "name must be between 1 and 30 characters"),
        ({"name": " padded"}, "name", "name must not start or end with white space"),
        ({"type": "PROFESSIONAL-DB"}, "type", "type must be one of"),
    ],
)
async def test_the_backend_messages_stay(
    api: Api, overrides: dict[str, Any], field: str, message: str
) -> None:
    """What no schema can say is the backend's; where both check, the words are the same."""
    (item,) = refusal(await api.call("POST", "/instances", instance_body(**overrides)))
    assert item["field"] == field
    assert item["message"].startswith(message), item


async def test_validation_can_be_switched_off(make_api: ApiFactory) -> None:
    api: Api = await make_api(config(validate_requests=False))
    assert api.state.validator is None
    body = {"node_count": 1, "relationship_count": 1, "instance_type": None}
    await api.data("POST", "/instances/sizing", body)  # the backend reads null as absent
    response = await api.call("GET", "/instances?tenantId=")
    assert response.status_code == 200


# ------------------------------------------------------- the validator on its own


def _spec(paths: dict[str, Any], components: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.example.test/v1"}],
        "paths": paths,
        "components": components or {},
    }


def _problems(validator: RequestValidator, route: str, **request: Any) -> list[dict[str, str]]:
    request = {"path_params": {}, "query_params": {}, "body": None, "body_sent": False, **request}
    try:
        validator.validate(route, **request)
    except RequestInvalid as exc:
        return exc.to_json()["errors"]
    return []


def test_parameters_are_read_as_their_schema_types() -> None:
    validator = RequestValidator(
        _spec(
            {
                "/things/{n}": {
                    "parameters": [
                        {"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "get": {
                        "parameters": [
                            {
                                "name": "limit",
                                "in": "query",
                                "required": True,
                                "schema": {"type": "integer", "minimum": 1},
                            },
                            {"name": "all", "in": "query", "schema": {"type": "boolean"}},
                        ],
                        "responses": {"200": {"description": "ok"}},
                    },
                }
            }
        )
    )
    route = "GET /v1/things/{n}"
    ok = _problems(
        validator, route, path_params={"n": "3"}, query_params={"limit": "2", "all": "true"}
    )
    assert ok == []
    assert _problems(validator, route, path_params={"n": "x"}, query_params={"limit": "0"}) == [
        {"message": "n must be an integer", "reason": "invalid-request", "field": "n"},
        {"message": "limit must be at least 1", "reason": "invalid-request", "field": "limit"},
    ]
    missing = _problems(validator, route, path_params={"n": "1"}, query_params={"all": "yes"})
    assert [item["field"] for item in missing] == ["limit", "all"]
    # A route the spec does not have (the emulator's own endpoints) passes unchecked.
    assert _problems(validator, "GET /_emulator/info") == []


def test_request_bodies_by_reference_recursive_schemas_and_required_bodies() -> None:
    node = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        },
        "required": ["name"],
    }
    validator = RequestValidator(
        _spec(
            {
                "/trees": {
                    "post": {
                        "requestBody": {"$ref": "#/components/requestBodies/Tree"},
                        "responses": {"200": {"description": "ok"}},
                    }
                }
            },
            {
                "schemas": {"Node": node},
                "requestBodies": {
                    "Tree": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        },
                    }
                },
            },
        )
    )
    route = "POST /v1/trees"
    assert _problems(validator, route) == [
        {"message": "The request body is required", "reason": "invalid-request"}
    ]
    tree = {"name": "a", "children": [{"name": "b", "children": [{"children": []}]}]}
    assert _problems(validator, route, body=tree, body_sent=True) == [
        {
            "message": "children[0].children[0].name is required",
            "reason": "invalid-request",
            "field": "children[0].children[0].name",
        }
    ]
    tree["children"][0]["children"][0]["name"] = "c"
    assert _problems(validator, route, body=tree, body_sent=True) == []

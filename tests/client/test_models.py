"""The models and the converter, checked against the official spec and the API's quirks.

The spec examples are parsed with the STRICT converter (unknown fields and unknown enum
values are errors), so a field or a value the spec has and our models lack fails here: that
is how drift between the spec and the SDK is caught.

Spec examples needing care, and why:

- The spec is loaded as YAML 1.2 / JSON would read it (see ``_WireLoader``): PyYAML's YAML 1.1
  rules would turn the unquoted session timestamps (``created_at: 2025-04-04T09:32:35Z``)
  into datetime objects and the CDC enum value ``OFF`` into ``False``, neither of which the
  API can send. Nothing is substituted or dropped: every example is parsed as written, its
  placeholders (``YOUR_PROJECT_ID``, ``<ORCHESTRA>``) being plain strings.
- ``POST /graph-analytics/sessions`` 202: the example's ``status:`` is empty, i.e. ``null``,
  where the live service sends ``""``. The converter reads both as ``SessionStatus.ACCEPTED``
  (asserted below), so the example is parsed unchanged.
- ``PATCH /instances/{instanceId}`` 202 (schema ``{}``, no example; the live service answers
  with a full instance) and ``POST /instances/{instanceId}/snapshots`` 202 (schema only) have
  no example to parse; ``test_spec_schema_fits_model`` still checks their schemas.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import types
from pathlib import Path
from typing import Any, Union, cast, get_args, get_origin

import attrs
import pytest
import yaml

from aura_async import models
from aura_async._serde import (
    ResponseShapeError,
    converter,
    strict_converter,
    structure,
    unstructure,
)
from aura_async.models import (
    CdcEnrichmentMode,
    CloudProvider,
    CreatedInstance,
    CreatedSnapshot,
    CustomerManagedKey,
    CustomerManagedKeySummary,
    DeletedSession,
    GraphAnalyticsSession,
    Instance,
    InstanceSizing,
    InstanceStatus,
    InstanceSummary,
    InstanceType,
    KeyStatus,
    MetricsIntegration,
    OpenEnum,
    Project,
    ProjectSummary,
    SessionSizing,
    SessionStatus,
    SnapshotProfile,
    SnapshotStatus,
)
from tests.conftest import PROJECT, Api, instance_body

SPEC_PATH = Path(__file__).parents[1] / "emulator" / "aura_api_spec_v1.yaml"
UTC = dt.UTC

# --------------------------------------------------------------------------- the spec

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BOOL = "tag:yaml.org,2002:bool"


class _WireLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2's scalars: no implicit timestamps, booleans only true/false.

    JSON (what the API sends) has neither timestamps nor ``yes``/``off`` booleans.
    """


_WireLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_TIMESTAMP, _BOOL)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WireLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

SPEC: dict[str, Any] = yaml.load(SPEC_PATH.read_text(encoding="utf-8"), Loader=_WireLoader)  # noqa: S506 - a SafeLoader subclass

ResponseKey = tuple[str, str, int]

# Every success answer with a JSON body, and the model its ``data`` is parsed into.
RESPONSE_MODELS: dict[ResponseKey, Any] = {
    ("/instances", "get", 200): tuple[InstanceSummary, ...],
    ("/instances", "post", 202): CreatedInstance,
    ("/instances/sizing", "post", 200): InstanceSizing,
    ("/instances/{instanceId}", "get", 200): Instance,
    ("/instances/{instanceId}", "delete", 202): Instance,
    ("/instances/{instanceId}", "patch", 200): Instance,
    # The spec's schema is {}; the live service answers with a full instance (BEHAVIOUR.md).
    ("/instances/{instanceId}", "patch", 202): Instance,
    ("/instances/{instanceId}/overwrite", "post", 202): Instance,
    ("/instances/{instanceId}/pause", "post", 202): Instance,
    ("/instances/{instanceId}/resume", "post", 202): Instance,
    ("/instances/{instanceId}/upgrade", "post", 200): Instance,
    ("/instances/{instanceId}/snapshots", "get", 200): tuple[models.Snapshot, ...],
    ("/instances/{instanceId}/snapshots", "post", 202): CreatedSnapshot,
    ("/instances/{instanceId}/snapshots/{snapshotId}", "get", 200): models.Snapshot,
    ("/instances/{instanceId}/snapshots/{snapshotId}/restore", "post", 202): Instance,
    ("/tenants", "get", 200): tuple[ProjectSummary, ...],
    ("/tenants/{tenantId}", "get", 200): Project,
    ("/tenants/{tenantId}/metrics-integration", "get", 200): MetricsIntegration,
    ("/customer-managed-keys", "get", 200): tuple[CustomerManagedKeySummary, ...],
    ("/customer-managed-keys", "post", 202): CustomerManagedKey,
    ("/customer-managed-keys/{customerManagedKeyId}", "get", 200): CustomerManagedKey,
    ("/graph-analytics/sessions", "get", 200): tuple[GraphAnalyticsSession, ...],
    ("/graph-analytics/sessions", "post", 200): GraphAnalyticsSession,
    ("/graph-analytics/sessions", "post", 202): GraphAnalyticsSession,
    ("/graph-analytics/sessions/sizing", "post", 200): SessionSizing,
    ("/graph-analytics/sessions/{sessionId}", "get", 200): GraphAnalyticsSession,
    ("/graph-analytics/sessions/{sessionId}", "delete", 202): DeletedSession,
}

# JSON answers the spec gives a schema but no example for (see the module docstring).
WITHOUT_EXAMPLE: set[ResponseKey] = {
    ("/instances/{instanceId}", "patch", 202),
    ("/instances/{instanceId}/snapshots", "post", 202),
}

_METHODS = ("get", "post", "put", "patch", "delete")


def _json_success_responses() -> dict[ResponseKey, dict[str, Any]]:
    """Every 2xx answer of the spec that has a JSON body: key -> its media-type object."""
    found: dict[ResponseKey, dict[str, Any]] = {}
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            if method not in _METHODS:
                continue
            for status, response in operation.get("responses", {}).items():
                content = resolve(response).get("content", {})
                if 200 <= int(status) < 300 and "application/json" in content:
                    found[(path, method, int(status))] = content["application/json"]
    return found


def resolve(node: Any) -> Any:
    """Inline every local ``$ref`` (the spec has no recursive schemas)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def _examples() -> list[Any]:
    """One pytest param per success example: (key, example name, body)."""
    params = []
    for key, media in _json_success_responses().items():
        named: dict[str, Any] = {}
        if "example" in media:
            named["example"] = media["example"]
        for name, example in (media.get("examples") or {}).items():
            named[name] = resolve(example)["value"]
        for name, body in named.items():
            path, method, status = key
            params.append(
                pytest.param(key, name, body, id=f"{method.upper()} {path} {status} [{name}]")
            )
    return params


EXAMPLES = _examples()


def element_model(target: Any) -> type[Any]:
    """The model behind ``tuple[Model, ...]`` (or the model itself)."""
    if get_origin(target) is tuple:
        inner: type[Any] = get_args(target)[0]
        return inner
    model: type[Any] = target
    return model


def data_schema(schema: Any) -> dict[str, Any]:
    """The object schema of one item of ``data``, through the spec's various wrappings."""
    node = resolve(schema)
    while True:
        properties = node.get("properties", {})
        if "data" in properties:
            node = properties["data"]
        elif "items" in node:
            # Lists, and the session answers' odd {"type": "object", "items": ...} wrapper.
            node = node["items"]
        else:
            result: dict[str, Any] = node
            return result


def enum_of(model: type[Any], field: str) -> type[OpenEnum] | None:
    """The OpenEnum type of a model field (through ``| None``), if it has one."""
    field_type = attrs.fields_dict(model)[field].type
    if get_origin(field_type) in (Union, types.UnionType):
        (field_type,) = (arg for arg in get_args(field_type) if arg is not type(None))
    if isinstance(field_type, type) and issubclass(field_type, OpenEnum):
        return field_type
    return None


# --------------------------------------------------------------------------- (1) spec examples


def test_every_json_success_answer_is_mapped_to_a_model() -> None:
    # A new endpoint in the spec (or a renamed one) must be given a model here.
    assert set(_json_success_responses()) == set(RESPONSE_MODELS)


def test_every_mapped_answer_has_an_example_unless_listed() -> None:
    with_example = {param.values[0] for param in EXAMPLES}
    assert set(RESPONSE_MODELS) - with_example == WITHOUT_EXAMPLE
    assert len(EXAMPLES) >= len(RESPONSE_MODELS)


@pytest.mark.parametrize(("key", "name", "body"), EXAMPLES)
def test_spec_example_fits_model_strictly(key: ResponseKey, name: str, body: Any) -> None:
    target = RESPONSE_MODELS[key]
    assert isinstance(body, dict), f"{name}: not an object"
    assert list(body) == ["data"], f"{name}: not wrapped in data"

    parsed = structure(body["data"], target, strict=True)

    # Unstructuring gives data the strict converter reads back to the same models.
    assert strict_converter.structure(unstructure(parsed), target) == parsed
    # The default converter agrees on everything the spec sends.
    assert converter.structure(body["data"], target) == parsed


@pytest.mark.parametrize(
    ("key", "target"),
    [pytest.param(k, m, id=f"{k[1].upper()} {k[0]} {k[2]}") for k, m in RESPONSE_MODELS.items()],
)
def test_spec_schema_fits_model(key: ResponseKey, target: Any) -> None:
    model = element_model(target)
    schema = data_schema(_json_success_responses()[key]["schema"])
    properties: dict[str, Any] = schema.get("properties", {})
    fields = attrs.fields_dict(model)

    # Every property the spec documents is a field of the model.
    assert set(properties) <= set(fields), sorted(set(properties) - set(fields))
    if properties:
        # Every field the model requires is one the spec documents.
        required = {name for name, field in fields.items() if field.default is attrs.NOTHING}
        assert required <= set(properties), sorted(required - set(properties))
    # Every value of every enum the spec lists is a known member of the field's enum.
    for name, prop in properties.items():
        enum_type = enum_of(model, name)
        for value in prop.get("enum", ()):
            assert enum_type is not None, f"{name} lists values but is no OpenEnum field"
            assert enum_type(value).known, f"{model.__name__}.{name}: {value!r} unknown"


def test_spec_examples_parse_to_the_expected_values() -> None:
    by_name = {(param.values[0], param.values[1]): param.values[2] for param in EXAMPLES}

    created = structure(
        by_name[("/instances", "post", 202), "Instance being created"]["data"], CreatedInstance
    )
    assert created.password == "letMeIn123!"
    assert created.created_at == dt.datetime(2023, 1, 20, 13, 44, 42, tzinfo=UTC)
    assert created.type is InstanceType.ENTERPRISE_DB

    upgraded = structure(
        by_name[("/instances/{instanceId}/upgrade", "post", 200), "Instance details"]["data"],
        Instance,
    )
    assert upgraded.storage is None  # the example leaves storage out
    assert upgraded.type is InstanceType.BUSINESS_CRITICAL

    sessions = structure(
        by_name[("/graph-analytics/sessions", "get", 200), "List of GDS Sessions"]["data"],
        tuple[GraphAnalyticsSession, ...],
    )
    assert sessions[0].ttl == dt.timedelta(minutes=20)
    assert sessions[0].instance_id is None
    assert sessions[0].created_at == dt.datetime(2025, 4, 4, 9, 32, 35, tzinfo=UTC)
    assert sessions[1].ttl is None
    assert sessions[1].expiry_date is None

    just_created = by_name[("/graph-analytics/sessions", "post", 202), "Existing session"]["data"]
    assert just_created["status"] is None  # the special case described in the docstring
    assert structure(just_created, GraphAnalyticsSession).status is SessionStatus.ACCEPTED

    snapshots = structure(
        by_name[("/instances/{instanceId}/snapshots", "get", 200), "Example 1"]["data"],
        tuple[models.Snapshot, ...],
    )
    assert [s.profile for s in snapshots] == [SnapshotProfile.SCHEDULED, SnapshotProfile.AD_HOC]
    assert snapshots[1].exportable is True

    key = structure(
        by_name[("/customer-managed-keys", "post", 202), "Key is being created"]["data"],
        CustomerManagedKey,
    )
    assert key.status is KeyStatus.PENDING
    assert key.type is InstanceType.ENTERPRISE_DB


# --------------------------------------------------------------------------- (2) open enums

OPEN_ENUMS = [
    InstanceStatus,
    InstanceType,
    CloudProvider,
    SnapshotStatus,
    SnapshotProfile,
    KeyStatus,
    SessionStatus,
    CdcEnrichmentMode,
]


@pytest.mark.parametrize("enum_type", OPEN_ENUMS)
def test_unknown_value_becomes_a_pseudo_member(enum_type: type[OpenEnum]) -> None:
    members_before = list(enum_type)

    value = enum_type("paused_new_state")

    assert isinstance(value, enum_type)
    assert isinstance(value, str)
    assert value.value == "paused_new_state"
    assert value.known is False
    assert value == "paused_new_state"
    assert value == enum_type("paused_new_state")
    assert value is enum_type("paused_new_state")
    assert hash(value) == hash("paused_new_state")
    by_str: dict[str, int] = {value: 1}
    assert by_str["paused_new_state"] == 1
    assert str(value) == "paused_new_state"
    assert f"{value}" == "paused_new_state"
    assert "unknown" in repr(value)
    # Not added to the enum: iteration, length and the member tables are unchanged.
    assert list(enum_type) == members_before
    assert value not in list(enum_type)
    assert "paused_new_state" not in enum_type.__members__
    assert "paused_new_state" not in enum_type._value2member_map_
    assert all(member.known for member in enum_type)


def test_pseudo_members_of_different_enums_are_distinct() -> None:
    assert type(InstanceStatus("zzz")) is InstanceStatus
    assert type(SnapshotStatus("zzz")) is SnapshotStatus


@pytest.mark.parametrize("bad", [None, 5, 1.5, True, ["running"]])
def test_enum_still_rejects_non_strings(bad: object) -> None:
    with pytest.raises(ValueError, match="is not a valid InstanceStatus"):
        InstanceStatus(cast(Any, bad))


def test_instance_status_lists_spec_and_live_values() -> None:
    assert {s.value for s in InstanceStatus} == {
        "creating", "destroying", "running", "pausing", "paused", "suspending", "suspended",
        "resuming", "loading", "loading failed", "restoring", "updating", "overwriting",
        "resizing", "deleting",
    }  # fmt: skip
    assert InstanceStatus("loading failed") is InstanceStatus.LOADING_FAILED
    assert InstanceStatus("resizing").known
    assert InstanceStatus("deleting").known


def test_just_created_session_status() -> None:
    assert SessionStatus("") is SessionStatus.ACCEPTED
    assert SessionStatus.ACCEPTED.known


def instance_data(**overrides: Any) -> dict[str, Any]:
    """A live-like instance answer (the PATCH memory answer seen live, plus created_at)."""
    data: dict[str, Any] = {
        "cdc_enrichment_mode": "OFF",
        "cloud_provider": "gcp",
        "connection_url": "neo4j+s://74fdfdba.databases.neo4j.io",
        "created_at": "2023-01-20T13:44:42Z",
        "id": "74fdfdba",
        "memory": "8GB",
        "metrics_integration_url": "https://customer-metrics-api.neo4j.io/api/v1/t/74fdfdba/metrics",
        "name": "orders",
        "region": "europe-west1",
        "secondaries_count": 0,
        "status": "resizing",
        "storage": "16GB",
        "tenant_id": "ad69ee24-0000-0000-0000-000000000000",
        "type": "enterprise-db",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not ...}


def test_unknown_status_in_an_answer_is_kept() -> None:
    instance = structure(
        instance_data(status="migrating", type="enterprise-xl", cloud_provider="oracle"),
        Instance,
    )
    assert instance.status == "migrating"
    assert isinstance(instance.status, InstanceStatus)
    assert not instance.status.known
    assert instance.type.value == "enterprise-xl"
    assert instance.cloud_provider.value == "oracle"
    # The raw values survive a round trip.
    assert unstructure(instance)["status"] == "migrating"
    assert structure(unstructure(instance), Instance) == instance


def test_live_only_status_parses_strictly() -> None:
    assert structure(instance_data(), Instance, strict=True).status is InstanceStatus.RESIZING


def test_strict_converter_rejects_unknown_enum_values() -> None:
    with pytest.raises(
        ResponseShapeError, match=r"unknown InstanceStatus value 'migrating' @ \$\.status"
    ):
        structure(instance_data(status="migrating"), Instance, strict=True)


# --------------------------------------------------------------------------- (3) the password

PASSWORD = "s3cr3t-Pa55word-xyz"


def created_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "db1d1234",
        "connection_url": "neo4j+s://db1d1234.databases.neo4j.io",
        "username": "neo4j",
        "password": PASSWORD,
        "tenant_id": "p",
        "cloud_provider": "gcp",
        "region": "europe-west1",
        "type": "professional-db",
        "name": "Instance01",
        "created_at": "2023-01-20T13:44:42Z",
    }
    data.update(overrides)
    return data


def test_password_is_never_in_repr_or_str() -> None:
    created = structure(created_data(), CreatedInstance)
    assert created.password == PASSWORD
    for text in (repr(created), str(created), f"{created}", f"{created!r}", repr([created])):
        assert PASSWORD not in text
        assert "password" not in text
    assert created.masked_password == "********"
    assert PASSWORD not in created.masked_password


def test_password_stays_out_of_shape_errors() -> None:
    with pytest.raises(ResponseShapeError) as info:
        structure(created_data(name=None), CreatedInstance)
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value)

    # A password of the wrong type is named by its type, not quoted.
    with pytest.raises(ResponseShapeError, match=r"expected a string, got an array @ \$\.password"):
        structure(created_data(password=[PASSWORD]), CreatedInstance)
    with pytest.raises(ResponseShapeError) as info:
        structure(created_data(password=[PASSWORD]), CreatedInstance)
    assert PASSWORD not in str(info.value)


def test_unstructure_keeps_the_password_for_the_credential_store() -> None:
    created = structure(created_data(), CreatedInstance)
    assert unstructure(created)["password"] == PASSWORD


# --------------------------------------------------------------------------- (4) conversions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-20T13:44:42Z", dt.datetime(2023, 1, 20, 13, 44, 42, tzinfo=UTC)),
        ("2023-01-20t13:44:42z", dt.datetime(2023, 1, 20, 13, 44, 42, tzinfo=UTC)),
        ("2025-04-04 09:32:35+00:00", dt.datetime(2025, 4, 4, 9, 32, 35, tzinfo=UTC)),
        ("2023-01-20T15:44:42+02:00", dt.datetime(2023, 1, 20, 13, 44, 42, tzinfo=UTC)),
        (
            "2023-01-20T13:44:42.123456789Z",
            dt.datetime(2023, 1, 20, 13, 44, 42, 123456, tzinfo=UTC),
        ),
        # No offset: the API speaks only UTC.
        ("2023-01-20T13:44:42", dt.datetime(2023, 1, 20, 13, 44, 42, tzinfo=UTC)),
    ],
)
def test_timestamps_are_aware_utc(text: str, expected: dt.datetime) -> None:
    instance = structure(instance_data(created_at=text), Instance)
    assert instance.created_at == expected
    assert instance.created_at is not None
    assert instance.created_at.tzinfo is UTC


@pytest.mark.parametrize("empty", [None, ""])
def test_empty_timestamp_is_none(empty: str | None) -> None:
    assert structure(instance_data(created_at=empty), Instance).created_at is None


def test_missing_timestamp_is_none() -> None:
    # Live answers (and the CLI's list mocks) sometimes leave created_at out.
    assert structure(instance_data(created_at=...), Instance).created_at is None
    assert (
        structure(
            {"id": "a", "name": "b", "tenant_id": "c", "cloud_provider": "gcp"}, InstanceSummary
        ).created_at
        is None
    )


def test_timestamps_unstructure_as_rfc3339() -> None:
    instance = structure(instance_data(created_at="2023-01-20T15:44:42+02:00"), Instance)
    assert unstructure(instance)["created_at"] == "2023-01-20T13:44:42Z"


@pytest.mark.parametrize("bad", ["yesterday", "2023-13-45T00:00:00Z", 1674222282, True])
def test_bad_timestamp_is_a_shape_error(bad: object) -> None:
    with pytest.raises(
        ResponseShapeError, match=r"expected an RFC 3339 timestamp, got .* @ \$\.created_at"
    ):
        structure(instance_data(created_at=bad), Instance)


def session_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "s-04de43fe-67ab-4",
        "name": "people",
        "memory": "8GB",
        "status": "Ready",
        "host": "s-04de43fe-67ab-4-gds.example.neo4j.io",
        "tenant_id": "p",
        "user_id": "u",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ("20m0s", dt.timedelta(minutes=20)),
        ("8m", dt.timedelta(minutes=8)),
        ("1h0m0s", dt.timedelta(hours=1)),
        ("1h30m", dt.timedelta(hours=1, minutes=30)),
        ("1.5s", dt.timedelta(seconds=1.5)),
        ("500ms", dt.timedelta(milliseconds=500)),
        ("0", dt.timedelta(0)),
        (1200, dt.timedelta(minutes=20)),
        ("1200", dt.timedelta(minutes=20)),
        (None, None),
        ("", None),
    ],
)
def test_session_ttl(ttl: object, expected: dt.timedelta | None) -> None:
    session = structure(session_data(ttl=ttl), GraphAnalyticsSession)
    assert session.ttl == expected
    # Unstructured as the spec's integer seconds, and read back the same.
    assert structure(unstructure(session), GraphAnalyticsSession) == session


@pytest.mark.parametrize("bad", ["soon", "20 minutes", "1h30", True, [1]])
def test_bad_ttl_is_a_shape_error(bad: object) -> None:
    with pytest.raises(ResponseShapeError, match=r"expected a duration.* @ \$\.ttl"):
        structure(session_data(ttl=bad), GraphAnalyticsSession)


def test_session_status_null_and_empty_mean_just_created() -> None:
    for raw in (None, ""):
        assert (
            structure(session_data(status=raw), GraphAnalyticsSession).status
            is SessionStatus.ACCEPTED
        )


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("12345", 12345), (7, 7), (3.0, 3)])
def test_counts_sent_as_strings_become_ints(raw: object, expected: int) -> None:
    free = structure(
        instance_data(type="free-db", graph_nodes=raw, graph_relationships=raw, storage=...),
        Instance,
    )
    assert free.graph_nodes == expected
    assert free.graph_relationships == expected
    assert type(free.graph_nodes) is int


@pytest.mark.parametrize("bad", ["abc", "1.5", 1.5, True, {}])
def test_bad_count_is_a_shape_error(bad: object) -> None:
    with pytest.raises(ResponseShapeError, match=r"expected an integer, got .* @ \$\.graph_nodes"):
        structure(instance_data(graph_nodes=bad), Instance)


def test_booleans_are_not_coerced() -> None:
    # cattrs' default would read "false" as True.
    with pytest.raises(
        ResponseShapeError, match=r"expected a boolean, got a string @ \$\.vector_optimized"
    ):
        structure(instance_data(vector_optimized="false"), Instance)


def test_lists_become_tuples_and_models_are_hashable() -> None:
    project = structure(
        {
            "id": "p",
            "name": "Production",
            "instance_configurations": [
                {
                    "region": "europe-west1",
                    "region_name": "Belgium (europe-west1)",
                    "type": "enterprise-db",
                    "memory": "4GB",
                    "storage": "8GB",
                    "version": "5",
                    "cloud_provider": "gcp",
                }
            ],
        },
        Project,
        strict=True,
    )
    assert isinstance(project.instance_configurations, tuple)
    assert hash(project) == hash(structure(unstructure(project), Project))
    assert unstructure(project)["instance_configurations"][0]["type"] == "enterprise-db"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        project.name = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- (5) unknown fields


def test_unknown_fields_are_ignored_by_default() -> None:
    data = instance_data(brand_new_field={"nested": [1, 2]}, another="x")
    instance = structure(data, Instance)
    assert instance.id == "74fdfdba"
    assert not hasattr(instance, "brand_new_field")


def test_unknown_fields_are_rejected_by_the_strict_converter() -> None:
    with pytest.raises(
        ResponseShapeError, match=r"extra fields found \(another, brand_new_field\) @ \$"
    ):
        structure(instance_data(brand_new_field=1, another="x"), Instance, strict=True)


def test_unknown_nested_field_is_reported_with_its_path() -> None:
    data = {
        "id": "p",
        "name": "n",
        "instance_configurations": [
            {
                "region": "r",
                "region_name": "R",
                "type": "free-db",
                "memory": "1GB",
                "storage": "2GB",
                "version": "5",
                "cloud_provider": "gcp",
                "price": "0",
            }
        ],
    }
    assert structure(data, Project).instance_configurations[0].memory == "1GB"
    with pytest.raises(
        ResponseShapeError, match=r"extra fields found \(price\) @ \$\.instance_configurations\[0\]"
    ):
        structure(data, Project, strict=True)


# --------------------------------------------------------------------------- (6) malformed data


def test_missing_required_field() -> None:
    data = instance_data()
    del data["id"]
    with pytest.raises(ResponseShapeError) as info:
        structure(data, Instance)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.target == "Instance"
    assert error.errors == ("required field missing @ $.id",)
    assert str(error) == "Instance: 1 problem: required field missing @ $.id"
    assert error.__cause__ is not None


def test_several_problems_are_all_listed() -> None:
    with pytest.raises(ResponseShapeError) as info:
        structure(instance_data(name=5, status=None, created_at="nope", memory=["8GB"]), Instance)
    assert set(info.value.errors) == {
        "expected a string, got a number @ $.name",
        "expected a string (InstanceStatus), got null @ $.status",
        "expected an RFC 3339 timestamp, got 'nope' @ $.created_at",
        "expected a string, got an array @ $.memory",
    }
    assert str(info.value).startswith("Instance: 4 problems: ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected an object, got an array @ $"),
        ("text", "expected an object, got a string @ $"),
        (None, "expected an object, got null @ $"),
        (42, "expected an object, got a number @ $"),
    ],
)
def test_non_object_is_a_shape_error(data: object, message: str) -> None:
    with pytest.raises(ResponseShapeError) as info:
        structure(data, Instance)
    assert info.value.errors == (message,)


def test_list_answer_must_be_an_array_of_objects() -> None:
    target = tuple[ProjectSummary, ...]
    with pytest.raises(ResponseShapeError) as info:
        structure({"id": "p", "name": "n"}, target)
    assert info.value.errors == ("expected an array, got an object @ $",)
    assert info.value.target == "tuple[ProjectSummary, ...]"

    with pytest.raises(ResponseShapeError) as info:
        structure([{"id": "p", "name": "n"}, "q", {"id": "r"}], target)
    assert info.value.errors == (
        "expected an object, got a string @ $[1]",
        "required field missing @ $[2].name",
    )

    assert structure([], target) == ()


def test_nested_array_must_be_an_array() -> None:
    with pytest.raises(
        ResponseShapeError, match=r"expected an array, got a string @ \$\.instance_configurations"
    ):
        structure({"id": "p", "name": "n", "instance_configurations": "none"}, Project)


# --------------------------------------------------------------------------- the emulator


async def test_emulator_answers_fit_the_models_strictly(api: Api) -> None:
    # The emulator follows the live service where it differs from the spec (ttl strings,
    # the empty session status, counts as strings), so its answers exercise those paths.
    created = structure(
        await api.data("POST", "/instances", instance_body(), 202), CreatedInstance, strict=True
    )
    free = structure(
        await api.data(
            "POST", "/instances", instance_body(type="free-db", memory="1GB", name="free"), 202
        ),
        CreatedInstance,
        strict=True,
    )
    assert PASSWORD not in repr(created)
    instance = structure(await api.data("GET", f"/instances/{created.id}"), Instance, strict=True)
    assert instance.status is InstanceStatus.CREATING
    free_instance = structure(await api.data("GET", f"/instances/{free.id}"), Instance, strict=True)
    assert free_instance.graph_nodes == 0
    assert free_instance.storage is None
    listed = structure(
        await api.data("GET", "/instances"), tuple[InstanceSummary, ...], strict=True
    )
    assert {item.id for item in listed} == {created.id, free.id}
    projects = structure(await api.data("GET", "/tenants"), tuple[ProjectSummary, ...], strict=True)
    assert PROJECT in {item.id for item in projects}
    project = structure(await api.data("GET", f"/tenants/{PROJECT}"), Project, strict=True)
    assert project.instance_configurations
    session = structure(
        await api.data(
            "POST",
            "/graph-analytics/sessions",
            {
                "name": "people",
                "memory": "8GB",
                "ttl": "30m",
                "tenant_id": PROJECT,
                "cloud_provider": "gcp",
                "region": "europe-west1",
            },
            202,
        ),
        GraphAnalyticsSession,
        strict=True,
    )
    assert session.status is SessionStatus.ACCEPTED
    again = structure(
        await api.data("GET", f"/graph-analytics/sessions/{session.id}"),
        GraphAnalyticsSession,
        strict=True,
    )
    assert again.ttl == dt.timedelta(minutes=30)


def test_every_model_is_frozen_slotted_and_documented() -> None:
    classes = [
        value
        for value in vars(models).values()
        if isinstance(value, type) and value.__module__ == models.__name__
    ]
    for cls in classes:
        assert cls.__doc__, cls
        if issubclass(cls, enum.Enum):
            continue
        assert attrs.has(cls), cls
        assert "__slots__" in vars(cls), cls
        assert cls.__setattr__ is not object.__setattr__, cls
    assert set(models.__all__) == {cls.__name__ for cls in classes}

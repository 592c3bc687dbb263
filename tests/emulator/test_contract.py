"""Contract suite: the emulator against the official Aura API v1 spec, driven by schemathesis.

The spec file is the contract (``aura_api_spec_v1.yaml``, servers url ``.../v1``). Four layers:

1. ``test_spec_and_emulator_serve_the_same_operations``: the spec's 26 operations are exactly
   the emulator's ``API_ROUTES``, so the fuzz test below reaches every one of them.
2. ``test_fuzz_every_operation``: schemathesis generates requests for every operation (spec
   examples, coverage cases, random fuzzing; positive and negative), sends them to the
   emulator in process (its live preset, rate limit off) and runs every check, with a
   token from ``POST /oauth/token``. Random ids mostly meet 404s; that is what this layer
   is for (errors, input handling, auth). The emulator validates each request against this
   spec (``emulator/validation.py``), so ``negative_data_rejection`` holds for every
   operation with no exemption
   (``test_fuzz_sends_negative_data_and_judges_it``), and
   ``test_negative_bodies_are_refused_before_any_work`` sends schemathesis's negative bodies,
   confirmed invalid by a second validator, and requires a 400 that changed nothing.
3. ``test_real_success_conforms``: a scripted scenario creates real resources (instances, a
   snapshot, a customer managed key, a graph-analytics session), moves a ``ManualClock`` until
   they are running / Completed / ready / Ready, and validates every 2xx answer of each of the
   26 operations against the spec's schema for that operation and status. This is the layer
   that proves the success shapes conform; a broken shape fails it.
4. ``test_deviation_is_still_real``: every EXPECTED DEVIATION below is demonstrated against a
   fresh emulator (and, for spec defects, against the spec text), so the table cannot rot.

EXPECTED DEVIATIONS (``DEVIATIONS``): where the spec contradicts itself or the live service
(``BEHAVIOUR.md`` beside the spec), the emulator follows the live service and the spec is
relaxed for exactly one check of exactly the listed operations and statuses, in one of
three ways, never by a silent skip:

- *normalise*: the schema check still runs, on the body with the one deviating field
  rewritten to the spec's form (e.g. ``ttl: "20m0s"`` -> ``1200``); everything else in the
  body is still validated;
- *intended schema*: where the spec's schema is broken (validates nothing, or cannot pass),
  the body is validated against the schema the spec evidently means instead;
- *exempt*: a check other than the schema check is skipped for that (operation, status),
  optionally only for requests matching a stated condition (``when``).

Checked and NOT a deviation: the gateway's 401/403/415/429 answers use the spec's
``MiddlewareError`` shape ``{"error": ...}``, which the spec allows (``oneOf``) and which
validates (``test_gateway_errors_conform``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import CHECKS, CheckFunction, load_all_checks
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorConfig,
    FaultPlan,
    ManualClock,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.app import API_ROUTES
from tests.conftest import PROJECT, Api, ApiFactory, instance_body

# The official spec (the file behind Neo4j's published Swagger page), copied unchanged.
SPEC_PATH = Path(__file__).with_name("aura_api_spec_v1.yaml")

# Emulated seconds that finish any operation (the longest, a resize, takes 180 s +- 20 %),
# yet leave a 30-minute session Ready.
SETTLE = 1_000.0


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """A deterministic emulator without rate limit whose tokens outlive any clock jump."""
    settings: dict[str, Any] = {
        "seed": 20240601,
        "rate_limit": RateLimitSettings(enabled=False),
        "token_lifetime": 1e9,
    }
    settings.update(overrides)
    return EmulatorConfig(**settings)


# --------------------------------------------------------------------------- the spec

SCHEMA = schemathesis.openapi.from_path(
    SPEC_PATH,
    config=schemathesis.Config.from_dict(
        {
            "seed": 42,
            # Negative data too: the emulator validates every request against this spec
            # (emulator/validation.py), so what the spec refuses must be refused.
            "generation": {"deterministic": True, "max-examples": 5, "mode": "all"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
            },
            # Schemathesis's defaults, spelt out because the suite relies on them: invalid
            # requests are refused, and every answer, refusals too, has the spec's shape.
            "checks": {
                "negative_data_rejection": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
            },
        }
    ),
)
RAW: dict[str, Any] = SCHEMA.raw_schema
OPERATIONS = {
    result.ok().definition.raw["operationId"]: result.ok() for result in SCHEMA.get_all_operations()
}
load_all_checks()


def operation_id(operation: schemathesis.APIOperation) -> str:
    return str(operation.definition.raw["operationId"])


def documented_statuses(op_id: str) -> set[int]:
    return {int(code) for code in OPERATIONS[op_id].definition.raw["responses"]}


def resolve(node: Any) -> Any:
    """Inline every local ``$ref`` (the spec has no recursive schemas)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = RAW
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def component(name: str) -> dict[str, Any]:
    result: dict[str, Any] = resolve(RAW["components"]["schemas"][name])
    return result


def request_schema(op_id: str) -> dict[str, Any]:
    body = OPERATIONS[op_id].definition.raw["requestBody"]
    result: dict[str, Any] = resolve(body["content"]["application/json"]["schema"])
    return result


def response_schema(op_id: str, status: int) -> dict[str, Any]:
    response = resolve(OPERATIONS[op_id].definition.raw["responses"][str(status)])
    result: dict[str, Any] = response["content"]["application/json"]["schema"]
    return result


def schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    # OpenAPI 3.0 schema objects are a JSON Schema draft 4 dialect.
    validator = jsonschema_rs.Draft4Validator(schema)
    return [
        f"at /{'/'.join(map(str, error.instance_path))}: {error.message}"
        for error in validator.iter_errors(instance)
    ]


_SESSION_DATA = component("GdsSessionDetails")["properties"]["data"]

# The schemas the spec evidently means where its own schema is broken (see DEVIATIONS).
INTENDED_SCHEMAS: dict[str, dict[str, Any]] = {
    "Instance": component("Instance"),
    "Error": component("Error"),
    # GdsSessionDetails with its `data` required, as every other success body has it.
    "GdsSessionDetails": {**component("GdsSessionDetails"), "required": ["data"]},
    "GdsSessionList": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "array", "items": _SESSION_DATA}},
    },
}


# ------------------------------------------------------------ EXPECTED DEVIATIONS

_GO_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _ttl_as_seconds(data: dict[str, Any]) -> None:
    ttl = data.get("ttl")
    match = _GO_DURATION.fullmatch(ttl) if isinstance(ttl, str) and ttl else None
    if match is not None:
        hours, minutes, seconds = (int(group or 0) for group in match.groups())
        data["ttl"] = hours * 3600 + minutes * 60 + seconds


def _drop_null_session_fields(data: dict[str, Any]) -> None:
    for field in ("instance_id", "database_uuid", "expiry_date", "ttl"):
        if field in data and data[field] is None:
            del data[field]


def _rename_status(seen: str, spec_word: str) -> Callable[[dict[str, Any]], None]:
    def normalise(data: dict[str, Any]) -> None:
        if data.get("status") == seen:
            data["status"] = spec_word

    return normalise


def _null_connection_url(data: dict[str, Any]) -> None:
    if "connection_url" in data and data["connection_url"] is None:
        data["connection_url"] = "(null in the response)"


def _memory_missing_while_deleting(data: dict[str, Any]) -> None:
    if "memory" not in data and data.get("status") in ("destroying", "deleting"):
        data["memory"] = "(absent while deleting)"


def _free_db_without_storage(data: dict[str, Any]) -> None:
    if data.get("type") == "free-db" and "storage" not in data:
        data["storage"] = "(not returned for AuraDB Free)"


def _body_not_sent(case: schemathesis.Case) -> bool:
    return case.body is NOT_SET


def _has_negative_count(case: schemathesis.Case) -> bool:
    body = case.body
    return isinstance(body, dict) and any(
        key.endswith("_count") and type(value) is int and value < 0 for key, value in body.items()
    )


@dataclass(frozen=True)
class Deviation:
    """One known disagreement, scoped to one check of some (operation, status) pairs."""

    key: str
    source: str  # one of SOURCES
    operations: tuple[str, ...]
    statuses: tuple[int, ...]
    check: str
    reason: str
    normalise: Callable[[dict[str, Any]], None] | None = None
    schema: str | None = None
    when: Callable[[schemathesis.Case], bool] | None = None

    def applies(self, op_id: str, status: int, case: schemathesis.Case | None = None) -> bool:
        if op_id not in self.operations or status not in self.statuses:
            return False
        if self.when is None:
            return True
        return case is not None and self.when(case)

    @property
    def disables_check(self) -> bool:
        """Whether ``check`` is switched off (a normalising deviation keeps it running)."""
        return self.normalise is None


# Where a deviation comes from: a live behaviour listed in BEHAVIOUR.md, a defect of the spec
# file itself, or an emulator behaviour the spec does not document and BEHAVIOUR.md does not
# confirm (kept visible so it gets checked against the live service).
SOURCES = ("BEHAVIOUR.md", "spec", "unconfirmed")

_INSTANCE_OPS = (
    "get-instance-id",
    "patch-instance-id",
    "delete-instance-id",
    "post-pause-instance",
    "post-resume-instance",
    "post-overwrite-instance",
    "post-restore-snapshot",
    "post-upgrade-instance",
)
_SESSION_OPS = ("post-session", "get-session", "get-sessions")
_SCHEMA = "response_schema_conformance"
_STATUS = "status_code_conformance"

DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        "session-ttl-is-a-duration-string",
        "BEHAVIOUR.md",
        _SESSION_OPS,
        (200, 202),
        _SCHEMA,
        "BEHAVIOUR.md (Other resources): session `ttl` arrives as a Go duration string such as "
        "`20m0s` although GdsSessionDetails types it integer (the spec's own examples use "
        "`8m` and `20m0s`). Normalised: a duration string is read as its seconds.",
        normalise=_ttl_as_seconds,
    ),
    Deviation(
        "session-status-empty-after-create",
        "BEHAVIOUR.md",
        ("post-session",),
        (202,),
        _SCHEMA,
        "BEHAVIOUR.md (Other resources): a session's status is an empty string right after "
        "creation; the spec's enum is Creating/Ready/Expired/Failed. Normalised: '' -> "
        "'Creating'.",
        normalise=_rename_status("", "Creating"),
    ),
    Deviation(
        "session-optional-fields-are-null",
        "spec",
        _SESSION_OPS,
        (200, 202),
        _SCHEMA,
        "The spec's own list example shows `instance_id`, `expiry_date` and `ttl` as null (a "
        "standalone session, one still Creating), and the CLI team's fixtures do too, while "
        "GdsSessionDetails types them string/integer without `nullable`. Normalised: a null "
        "optional field is read as absent.",
        normalise=_drop_null_session_fields,
    ),
    Deviation(
        "session-body-schema-uses-items-on-an-object",
        "spec",
        ("post-session", "get-session"),
        (200, 202),
        _SCHEMA,
        "Spec inconsistency: the 200/202 body schema declares `data: {type: object, items: "
        "GdsSessionDetails}`; `items` does not apply to an object, so the literal schema "
        "accepts any `data`. Validated against GdsSessionDetails instead (stricter).",
        schema="GdsSessionDetails",
    ),
    Deviation(
        "session-list-items-are-the-wrapper",
        "spec",
        ("get-sessions",),
        (200,),
        _SCHEMA,
        "Spec inconsistency: list items are `$ref GdsSessionDetails`, the `{data: {...}}` "
        "wrapper of a single session, whose properties then never apply to a list item. "
        "Validated against an array of GdsSessionDetails.data instead (stricter).",
        schema="GdsSessionList",
    ),
    Deviation(
        "patch-202-body-schema-is-empty",
        "spec",
        ("patch-instance-id",),
        (202,),
        _SCHEMA,
        "Spec inconsistency listed in BEHAVIOUR.md: the PATCH 202 body schema is `{}` while "
        "the service answers a memory change with a full instance (BEHAVIOUR.md, Instances). "
        "Validated against Instance instead (stricter).",
        schema="Instance",
    ),
    Deviation(
        "instance-status-resizing",
        "BEHAVIOUR.md",
        ("get-instance-id", "patch-instance-id"),
        (200, 202),
        _SCHEMA,
        "BEHAVIOUR.md (Instances): `resizing` is seen live after a memory change but missing "
        "from the spec's status enum. Normalised: 'resizing' -> 'updating' (the spec's word).",
        normalise=_rename_status("resizing", "updating"),
    ),
    Deviation(
        "instance-status-deleting",
        "BEHAVIOUR.md",
        ("get-instance-id", "delete-instance-id"),
        (200, 202),
        _SCHEMA,
        "BEHAVIOUR.md (Instances): `deleting` is seen live (fault `deleting_status`) but "
        "missing from the spec's status enum. Normalised: 'deleting' -> 'destroying'.",
        normalise=_rename_status("deleting", "destroying"),
    ),
    Deviation(
        "instance-connection-url-null",
        "BEHAVIOUR.md",
        ("post-instances", *_INSTANCE_OPS),
        (200, 202),
        _SCHEMA,
        "BEHAVIOUR.md (Instances): `connection_url` may be null (fault `null_connection_url`); "
        "the spec types it a (required) string. Normalised: null -> a placeholder string.",
        normalise=_null_connection_url,
    ),
    Deviation(
        "instance-memory-missing-while-deleting",
        "BEHAVIOUR.md",
        ("get-instance-id", "delete-instance-id"),
        (200, 202),
        _SCHEMA,
        "BEHAVIOUR.md (Instances): `memory` may be missing while deleting (fault "
        "`memory_missing_while_deleting`); Instance requires it. Normalised: only while "
        "destroying/deleting, a missing memory is filled with a placeholder.",
        normalise=_memory_missing_while_deleting,
    ),
    Deviation(
        "free-db-instance-has-no-storage",
        "spec",
        _INSTANCE_OPS,
        (200, 202),
        _SCHEMA,
        "Spec inconsistency: Instance lists `storage` as required, while InstanceStorage says "
        "'This field is NOT returned for Aura DB Free instances' (and BEHAVIOUR.md: storage "
        "only on some tiers). Normalised: only for type free-db, a missing storage is filled.",
        normalise=_free_db_without_storage,
    ),
    Deviation(
        "pause-and-resume-answer-200",
        "BEHAVIOUR.md",
        ("post-pause-instance", "post-resume-instance"),
        (200,),
        _STATUS,
        "BEHAVIOUR.md (Instances): pause and resume have been seen answering 200 as well as "
        "202 (fault `pause_resume_200`); the spec lists only 202. Exempt from "
        "status_code_conformance; the body is validated against Instance.",
        schema="Instance",
    ),
    Deviation(
        "metrics-integration-400-tenant-incapable",
        "BEHAVIOUR.md",
        ("get-project-metrics-integration-details",),
        (400,),
        _STATUS,
        "BEHAVIOUR.md (Other resources): GET /tenants/{id}/metrics-integration answers 400 "
        "`tenant-incapable-of-action` when the project has no eligible instance; the spec "
        "says 404 and lists no 400. Exempt from status_code_conformance.",
    ),
    Deviation(
        "undocumented-400-invalid-input",
        "spec",
        (
            "post-instances-sizing",
            "post-overwrite-instance",
            "post-upgrade-instance",
            "get-snapshots",
        ),
        (400,),
        _STATUS,
        "Spec inconsistency: these operations constrain their input (required node_count and "
        "relationship_count; required source_instance_id; 'If you provide memory you must "
        "also provide storage'; date 'ISO formatted (YYYY-MM-DD)') but list no 400; the "
        "service rejects invalid input with 400 `invalid-request` as every other operation "
        "does. Exempt from status_code_conformance.",
    ),
    Deviation(
        "undocumented-400-body-not-json",
        "spec",
        ("post-snapshots", "post-resume-instance", "post-restore-snapshot"),
        (400,),
        _STATUS,
        "Spec inconsistency: these operations take an (empty) JSON object body but list no 400; "
        "a body that is not JSON, or JSON that is not the object the schema asks for (an "
        "array, a string, null), is refused with 400 before any work, as on the operations "
        "that do list 400 (POST .../pause). Exempt from status_code_conformance.",
    ),
    Deviation(
        "tenant-filter-unknown-project-404",
        "unconfirmed",
        ("get-instances", "get-customer-managed-keys"),
        (404,),
        _STATUS,
        "Spec inconsistency: the same optional `tenantId` filter documents 404 "
        "`tenant-not-found` on GET /graph-analytics/sessions but not on these two listings; "
        "the emulator answers an unknown project with that 404 here too. NOT covered by "
        "BEHAVIOUR.md: to be confirmed against the live service. Exempt from "
        "status_code_conformance.",
    ),
    Deviation(
        "oneof-error-or-middleware-error-is-ambiguous",
        "spec",
        ("post-overwrite-instance",),
        (420, 500),
        _SCHEMA,
        "Spec inconsistency: these answers are `oneOf: [Error, MiddlewareError]`, and "
        "MiddlewareError requires nothing, so every `{errors: [...]}` body matches both "
        "branches and fails `oneOf`. The spec describes both (420 overwrite of a free "
        "instance; 500 'Cannot clone database ... into smaller database') as Error bodies. "
        "Validated against Error instead.",
        schema="Error",
    ),
    Deviation(
        "create-rejects-values-outside-project-configurations",
        "spec",
        ("post-instances", "post-customer-managed-keys", "post-session"),
        (400,),
        "positive_data_acceptance",
        "Spec: values of tenant_id, region, memory, version, type must come from the "
        "project's instance configurations ('Supported instance configurations for your "
        "project can be obtained by calling the GET /tenants/{tenantId} endpoint'), which no "
        "schema can express; and the session request schema marks nothing required, although "
        "a session is got or created 'by name' and needs a memory size (plus tenant, cloud "
        "and region when standalone). Schema-valid bodies naming an unknown project, an "
        "unoffered region/size, or no session name are refused with the documented 400. "
        "Exempt from positive_data_acceptance.",
    ),
    Deviation(
        "request-body-not-marked-required",
        "spec",
        (
            "post-instances",
            "post-instances-sizing",
            "post-customer-managed-keys",
            "post-sessions-sizing",
        ),
        (400,),
        "positive_data_acceptance",
        "Spec inconsistency: requestBody lacks `required: true` (OpenAPI 3.0 defaults to "
        "false) although its schema has required properties, so a request without a body "
        "counts as schema-valid; the service refuses it with 400. Exempt from "
        "positive_data_acceptance only when no body was sent.",
        when=_body_not_sent,
    ),
    Deviation(
        "negative-counts-are-refused",
        "spec",
        ("post-instances-sizing", "post-sessions-sizing"),
        (400,),
        "positive_data_acceptance",
        "Spec inconsistency: the sizing counts (node_count, relationship_count, ...) are typed "
        "`integer` without `minimum: 0`, so a negative count is schema-valid; a graph cannot "
        "have a negative size and the service refuses it with 400 `invalid-request`. Exempt "
        "from positive_data_acceptance only when some *_count in the body is negative.",
        when=_has_negative_count,
    ),
)
DEVIATIONS_BY_KEY = {deviation.key: deviation for deviation in DEVIATIONS}


def deviations_for(
    op_id: str, status: int, case: schemathesis.Case | None = None
) -> list[Deviation]:
    return [d for d in DEVIATIONS if d.applies(op_id, status, case)]


def normalised_body(body: Any, deviations: list[Deviation]) -> Any:
    """Return a copy of ``body`` with each normalising deviation applied to its ``data``."""
    normalisers = [d.normalise for d in deviations if d.normalise is not None]
    if not normalisers or not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    data = body.get("data")
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, dict):
            for normalise in normalisers:
                normalise(item)
    return body


def intended_schema_problems(body: Any, deviations: list[Deviation]) -> list[str]:
    return [
        f"{deviation.schema} {error} [{deviation.key}]"
        for deviation in deviations
        if deviation.schema is not None
        for error in schema_errors(INTENDED_SCHEMAS[deviation.schema], body)
    ]


def replaces_literal_schema(deviations: list[Deviation]) -> bool:
    return any(d.check == _SCHEMA and d.disables_check for d in deviations)


# ---------------------------------------------------- 1. operations: spec == emulator


def test_spec_and_emulator_serve_the_same_operations() -> None:
    in_spec = {(op.method.upper(), op.path) for op in OPERATIONS.values()}
    in_emulator = {(method, path) for method, path, _handler in API_ROUTES}
    assert len(OPERATIONS) == 26
    assert len(API_ROUTES) == 26
    assert in_spec == in_emulator
    # Requests go to the spec's server path, /v1, as the emulator serves them.
    assert RAW["servers"][0]["url"].endswith("/v1")


def test_deviation_table_is_well_formed() -> None:
    checks = set(CHECKS.get_all_names())
    assert len(DEVIATIONS_BY_KEY) == len(DEVIATIONS), "deviation keys must be unique"
    for deviation in DEVIATIONS:
        assert set(deviation.operations) <= set(OPERATIONS), deviation.key
        assert deviation.check in checks, deviation.key
        assert deviation.statuses, deviation.key
        # Narrow scope only: no deviation may switch a check off for every operation.
        assert len(deviation.operations) < len(OPERATIONS) // 2, deviation.key
        assert deviation.source in SOURCES, deviation.key
        assert len(deviation.reason) > 80, deviation.key
        assert deviation.schema is None or deviation.schema in INTENDED_SCHEMAS, deviation.key
        assert deviation.normalise is None or deviation.schema is None, deviation.key
        assert deviation.normalise is None or deviation.check == _SCHEMA, deviation.key
        # A schema check is only ever replaced by a stricter one, never just dropped.
        if deviation.check == _SCHEMA and deviation.normalise is None:
            assert deviation.schema is not None, deviation.key
    assert set(DEMONSTRATIONS) == set(DEVIATIONS_BY_KEY)


# ------------------------------------------------------------ 2. the fuzz test

FUZZ_APP = create_app(emulator_config(preset="live"), clock=ManualClock())
SCHEMA.app = FUZZ_APP


async def _fetch_token(app: Any) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


@SCHEMA.auth()
class BearerToken:
    """A real token from the emulator's ``POST /oauth/token`` (client credentials, Basic)."""

    def get(self, case: schemathesis.Case, ctx: schemathesis.AuthContext) -> str:
        return anyio.run(_fetch_token, FUZZ_APP)

    def set(self, case: schemathesis.Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _with_body(response: schemathesis.Response, body: Any) -> schemathesis.Response:
    return schemathesis.Response(
        status_code=response.status_code,
        headers=response.headers,
        content=json.dumps(body).encode(),
        request=response.request,
        elapsed=response.elapsed,
        verify=response.verify,
        message=response.message,
        http_version=response.http_version,
        encoding=response.encoding,
    )


def _intended_schema_check(deviations: list[Deviation]) -> CheckFunction:
    def intended_schema_conformance(
        ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
    ) -> bool | None:
        problems = intended_schema_problems(response.json(), deviations)
        if problems:
            raise AssertionError("Response violates the intended schema:\n" + "\n".join(problems))
        return None

    return intended_schema_conformance


@SCHEMA.parametrize()
def test_fuzz_every_operation(case: schemathesis.Case) -> None:
    """Every check schemathesis has (ignored_auth included), minus the matching deviations."""
    response = case.call()
    op_id = operation_id(case.operation)
    deviations = deviations_for(op_id, response.status_code, case)
    excluded = CHECKS.get_by_names(sorted({d.check for d in deviations if d.disables_check}))
    additional: list[CheckFunction] = []
    if any(d.schema is not None for d in deviations):
        additional.append(_intended_schema_check(deviations))
    if any(d.normalise is not None for d in deviations) and response.content:
        response = _with_body(response, normalised_body(response.json(), deviations))
    case.validate_response(response, excluded_checks=excluded, additional_checks=additional)


def test_fuzz_sends_negative_data_and_judges_it() -> None:
    """The fuzz test runs negative data, and the two checks that judge it, on every operation.

    Only DEVIATIONS may switch either check off, each for its own operations and statuses.
    """
    for op_id, operation in OPERATIONS.items():
        modes = SCHEMA.config.generation_for(operation=operation).modes
        assert GenerationMode.NEGATIVE in modes, op_id
        assert GenerationMode.POSITIVE in modes, op_id
        for phase in ("examples", "coverage", "fuzzing"):
            checks = SCHEMA.config.checks_config_for(operation=operation, phase=phase)
            assert checks.negative_data_rejection.enabled, (op_id, phase)
            assert checks.response_schema_conformance.enabled, (op_id, phase)
    switched_off = {
        d.key for d in DEVIATIONS if d.check == "negative_data_rejection" and d.disables_check
    }
    assert switched_off == set(), "refusing invalid data is not relaxed anywhere"


BODY_OPERATIONS = sorted(op for op, o in OPERATIONS.items() if "requestBody" in o.definition.raw)
NEGATIVE_BODIES = settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _state_size(app: Any) -> tuple[int, ...]:
    backend = app.state.emulator.backend
    return tuple(len(store) for store in (backend.instances, backend.snapshots, backend.keys))


@pytest.mark.parametrize("op_id", BODY_OPERATIONS)
def test_negative_bodies_are_refused_before_any_work(op_id: str) -> None:
    """Bodies that schemathesis makes invalid for the spec get 400 and change nothing.

    Independent of the fuzz test's checks: each body is confirmed invalid with another
    validator (jsonschema-rs) against the spec's schema before its refusal is required.
    """
    operation = OPERATIONS[op_id]
    app = create_app(emulator_config(), clock=ManualClock())
    headers = {"Authorization": f"Bearer {anyio.run(_fetch_token, app)}"}
    refused: list[Any] = []

    async def send(case: schemathesis.Case) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator.test") as http:
            return await http.request(
                case.method,
                "/v1" + case.formatted_path,
                params=case.query or None,
                # Serialised here: httpx sends no body at all for json=None.
                content=json.dumps(case.body).encode(),
                headers={**headers, "Content-Type": "application/json"},
            )

    @NEGATIVE_BODIES
    @given(case=operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    def refuse(case: schemathesis.Case) -> None:
        if case.body is NOT_SET or isinstance(case.body, bytes):
            return  # the negative part is elsewhere (query, path), or the body is not JSON
        if not schema_errors(request_schema(op_id), case.body):
            return  # a mutation that happens to be valid after all
        before = _state_size(app)
        response = anyio.run(send, case)
        assert response.status_code == 400, (case.body, response.text)
        items = response.json()["errors"]
        assert items, response.text
        assert all(item["reason"] == "invalid-request" for item in items), response.text
        assert not schema_errors(component("Error"), response.json()), response.text
        assert _state_size(app) == before, case.body
        refused.append(case.body)

    refuse()
    assert refused, f"schemathesis made no invalid body for {op_id}"


# ---------------------------------------------- 3. real resources, real success shapes


@dataclass(frozen=True)
class Exchange:
    scenario: str
    operation_id: str
    response: httpx.Response


def _path_pattern(template: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)))


class Recorder:
    """Sends requests for named operations and keeps every answer for validation."""

    def __init__(self, api: Api, scenario: str, exchanges: list[Exchange]) -> None:
        self.api = api
        self.scenario = scenario
        self.exchanges = exchanges

    async def send(
        self, op_id: str, method: str, path: str, body: Any = None, *, expect: int = 200
    ) -> Any:
        operation = OPERATIONS[op_id]
        assert method.lower() == operation.method.lower(), op_id
        assert _path_pattern(operation.path).fullmatch(path.split("?")[0]), (op_id, path)
        response = await self.api.call(method, path, body)
        assert response.status_code == expect, f"{op_id} {path}: {response.text}"
        self.exchanges.append(Exchange(self.scenario, op_id, response))
        return response.json()["data"] if response.content else None


async def _new_api(config: EmulatorConfig, http_clients: list[httpx.AsyncClient]) -> Api:
    clock = ManualClock()
    app = create_app(config, clock=clock)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator.test"
    )
    http_clients.append(http)
    api = Api(http, app.state.emulator, clock)
    await api.login()
    return api


async def _standard_scenario(rec: Recorder) -> None:
    """Every operation on its success path, default behaviour switches."""
    clock = rec.api.clock
    await rec.send("get-projects", "GET", "/tenants")
    await rec.send("get-project-id", "GET", f"/tenants/{PROJECT}")
    sizing = {"node_count": 1_000_000, "relationship_count": 5_000_000}
    await rec.send(
        "post-instances-sizing",
        "POST",
        "/instances/sizing",
        {**sizing, "instance_type": "professional-ds", "algorithm_categories": ["pathfinding"]},
    )
    await rec.send(
        "post-sessions-sizing",
        "POST",
        "/graph-analytics/sessions/sizing",
        {**sizing, "node_property_count": 4, "node_label_count": 2, "algorithm_categories": []},
    )

    key = await rec.send(
        "post-customer-managed-keys",
        "POST",
        "/customer-managed-keys",
        {
            "key_id": "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k",
            "region": "europe-west1",
            "name": "contract-key",
            "instance_type": "enterprise-db",
            "tenant_id": PROJECT,
            "cloud_provider": "gcp",
        },
        expect=202,
    )
    await rec.send("get-customer-managed-key-id", "GET", f"/customer-managed-keys/{key['id']}")
    clock.advance(SETTLE)
    await rec.send("get-customer-managed-key-id", "GET", f"/customer-managed-keys/{key['id']}")
    await rec.send("get-customer-managed-keys", "GET", "/customer-managed-keys")
    await rec.send("get-customer-managed-keys", "GET", f"/customer-managed-keys?tenantId={PROJECT}")

    a = (await rec.send("post-instances", "POST", "/instances", instance_body(), expect=202))["id"]
    vdc = instance_body(
        name="contract-vdc", type="enterprise-db", memory="4GB", customer_managed_key_id=key["id"]
    )
    b = (await rec.send("post-instances", "POST", "/instances", vdc, expect=202))["id"]
    await rec.send("get-instance-id", "GET", f"/instances/{a}")  # creating
    clock.advance(SETTLE)
    await rec.send("get-instances", "GET", "/instances")
    await rec.send("get-instances", "GET", f"/instances?tenantId={PROJECT}")
    await rec.send("get-instance-id", "GET", f"/instances/{a}")  # running
    await rec.send("get-instance-id", "GET", f"/instances/{b}")  # VDC: CMK, CDC, secondaries
    await rec.send(
        "get-project-metrics-integration-details", "GET", f"/tenants/{PROJECT}/metrics-integration"
    )

    snap = (await rec.send("post-snapshots", "POST", f"/instances/{a}/snapshots", expect=202))[
        "snapshot_id"
    ]
    today = dt.datetime.fromtimestamp(clock.now(), tz=dt.UTC).date().isoformat()
    await rec.send("get-snapshot-snapshotid", "GET", f"/instances/{a}/snapshots/{snap}")
    clock.advance(SETTLE)
    await rec.send("get-snapshots", "GET", f"/instances/{a}/snapshots")
    await rec.send("get-snapshots", "GET", f"/instances/{a}/snapshots?date={today}")
    await rec.send("get-snapshot-snapshotid", "GET", f"/instances/{a}/snapshots/{snap}")
    await rec.send(
        "post-restore-snapshot", "POST", f"/instances/{a}/snapshots/{snap}/restore", expect=202
    )
    await rec.send("get-instance-id", "GET", f"/instances/{a}")  # restoring
    clock.advance(SETTLE)
    await rec.send(
        "post-overwrite-instance",
        "POST",
        f"/instances/{b}/overwrite",
        {"source_instance_id": a, "source_snapshot_id": snap},
        expect=202,
    )
    clock.advance(SETTLE)

    await rec.send("patch-instance-id", "PATCH", f"/instances/{a}", {"name": "contract-renamed"})
    await rec.send("patch-instance-id", "PATCH", f"/instances/{a}", {"memory": "4GB"}, expect=202)
    await rec.send("get-instance-id", "GET", f"/instances/{a}")  # resizing
    clock.advance(SETTLE)
    await rec.send(
        "patch-instance-id", "PATCH", f"/instances/{a}", {"vector_optimized": True}, expect=202
    )
    clock.advance(SETTLE)
    await rec.send("post-pause-instance", "POST", f"/instances/{a}/pause", expect=202)
    clock.advance(SETTLE)
    await rec.send("get-instance-id", "GET", f"/instances/{a}")  # paused
    await rec.send("post-resume-instance", "POST", f"/instances/{a}/resume", expect=202)
    clock.advance(SETTLE)

    session_body = {"name": "contract-session", "memory": "8GB", "instance_id": a, "ttl": "30m"}
    session = await rec.send(
        "post-session", "POST", "/graph-analytics/sessions", session_body, expect=202
    )
    await rec.send("get-session", "GET", f"/graph-analytics/sessions/{session['id']}")  # Creating
    clock.advance(SETTLE)
    await rec.send("get-session", "GET", f"/graph-analytics/sessions/{session['id']}")  # Ready
    await rec.send("post-session", "POST", "/graph-analytics/sessions", session_body)  # existing
    await rec.send("get-sessions", "GET", "/graph-analytics/sessions")
    await rec.send("get-sessions", "GET", f"/graph-analytics/sessions?instanceId={a}")
    await rec.send("get-sessions", "GET", f"/graph-analytics/sessions?tenantId={PROJECT}")
    await rec.send(
        "delete-session", "DELETE", f"/graph-analytics/sessions/{session['id']}", expect=202
    )

    await rec.send("post-upgrade-instance", "POST", f"/instances/{a}/upgrade", {})
    await rec.send("delete-instance-id", "DELETE", f"/instances/{b}", expect=202)
    await rec.send("get-instance-id", "GET", f"/instances/{b}")  # destroying
    clock.advance(SETTLE)
    await rec.send(
        "delete-customer-managed-key-id",
        "DELETE",
        f"/customer-managed-keys/{key['id']}",
        expect=204,
    )
    await rec.send("delete-instance-id", "DELETE", f"/instances/{a}", expect=202)


QUIRKS = FaultPlan(
    null_connection_url=1.0,
    deleting_status=1.0,
    memory_missing_while_deleting=1.0,
    pause_resume_200=1.0,
)


async def _quirks_scenario(rec: Recorder) -> None:
    """The live quirks the emulator models behind switches, all on, on an AuraDB Free."""
    clock = rec.api.clock
    free = instance_body(name="contract-free", type="free-db", memory="1GB")
    a = (await rec.send("post-instances", "POST", "/instances", free, expect=202))["id"]
    clock.advance(SETTLE)
    await rec.send("get-instance-id", "GET", f"/instances/{a}")
    await rec.send("post-pause-instance", "POST", f"/instances/{a}/pause")
    clock.advance(SETTLE)
    await rec.send("post-resume-instance", "POST", f"/instances/{a}/resume")
    clock.advance(SETTLE)
    await rec.send("delete-instance-id", "DELETE", f"/instances/{a}", expect=202)
    await rec.send("get-instance-id", "GET", f"/instances/{a}")


async def _run_scenarios() -> list[Exchange]:
    exchanges: list[Exchange] = []
    http_clients: list[httpx.AsyncClient] = []
    try:
        standard = await _new_api(emulator_config(), http_clients)
        await _standard_scenario(Recorder(standard, "standard", exchanges))
        quirky = await _new_api(emulator_config(faults=QUIRKS), http_clients)
        await _quirks_scenario(Recorder(quirky, "quirks", exchanges))
    finally:
        for http in http_clients:
            await http.aclose()
    return exchanges


@pytest.fixture(scope="module")
def real_exchanges() -> list[Exchange]:
    """The answers of both scenarios (run once per module, outside any event loop)."""
    return anyio.run(_run_scenarios)


def conformance_problems(op_id: str, response: httpx.Response) -> list[str]:
    """Validate one real answer against the spec, applying only the matching deviations."""
    status = response.status_code
    deviations = deviations_for(op_id, status)
    problems = []
    if status not in documented_statuses(op_id) and not any(d.check == _STATUS for d in deviations):
        problems.append(f"status {status} is not documented for {op_id}")
    body = response.json() if response.content else None
    body = normalised_body(body, deviations)
    problems += intended_schema_problems(body, deviations)
    if not replaces_literal_schema(deviations):
        content_type = response.headers.get("content-type")
        rebuilt = httpx.Response(
            status,
            headers={"content-type": content_type} if content_type else None,
            content=response.content if body is None else json.dumps(body).encode(),
            request=response.request,
        )
        rebuilt.elapsed = dt.timedelta(0)
        try:
            OPERATIONS[op_id].validate_response(rebuilt)
        except (AssertionError, FailureGroup) as exc:
            problems.append(str(exc))
    return problems


@pytest.mark.parametrize("op_id", sorted(OPERATIONS))
def test_real_success_conforms(real_exchanges: list[Exchange], op_id: str) -> None:
    mine = [e for e in real_exchanges if e.operation_id == op_id]
    assert mine, f"the scenarios never called {op_id}"
    assert any(200 <= e.response.status_code < 300 for e in mine)
    report = []
    for exchange in mine:
        response = exchange.response
        problems = conformance_problems(op_id, response)
        if problems:
            request = f"{response.request.method} {response.request.url.path}"
            report.append(
                f"[{exchange.scenario}] {request} -> {response.status_code}\n"
                f"body: {response.text}\n" + "\n".join(problems)
            )
    assert not report, "\n\n".join(report)


def test_every_shape_deviation_meets_real_answers(real_exchanges: list[Exchange]) -> None:
    """Each normalising or intended-schema deviation for a 2xx acts on some real answer."""
    unused = []
    for deviation in DEVIATIONS:
        if deviation.when is not None or not any(200 <= s < 300 for s in deviation.statuses):
            continue
        if deviation.normalise is None and deviation.schema is None:
            continue
        hits = [
            e
            for e in real_exchanges
            if deviation.applies(e.operation_id, e.response.status_code)
            and (
                deviation.schema is not None
                or normalised_body(e.response.json(), [deviation]) != e.response.json()
            )
        ]
        if not hits:
            unused.append(deviation.key)
    assert not unused, f"no real answer exhibits: {unused}"


# ------------------------------------------------- 4. each deviation is still real

Demonstration = Callable[[ApiFactory], Awaitable[None]]
DEMONSTRATIONS: dict[str, Demonstration] = {}


def demonstrates(key: str) -> Callable[[Demonstration], Demonstration]:
    def register(function: Demonstration) -> Demonstration:
        assert key in DEVIATIONS_BY_KEY, key
        DEMONSTRATIONS[key] = function
        return function

    return register


def literal_problems(op_id: str, status: int, body: Any) -> list[str]:
    """Validate ``body`` against the literal spec schema of (operation, status)."""
    response = httpx.Response(
        status, json=body, request=httpx.Request("GET", "http://emulator.test/v1/")
    )
    response.elapsed = dt.timedelta(0)
    try:
        OPERATIONS[op_id].validate_response(response)
    except (AssertionError, FailureGroup) as exc:
        return [str(exc)]
    return []


async def _running(api: Api, **overrides: Any) -> dict[str, Any]:
    created: dict[str, Any] = await api.create(**overrides)
    api.clock.advance(SETTLE)
    instance: dict[str, Any] = await api.data("GET", f"/instances/{created['id']}")
    assert instance["status"] == "running"
    return instance


async def _session(api: Api) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a session on a running instance; return (the 202 body's data, the instance)."""
    instance = await _running(api)
    body = {"name": "s", "memory": "8GB", "instance_id": instance["id"]}
    created: dict[str, Any] = await api.data("POST", "/graph-analytics/sessions", body, 202)
    return created, instance


def _status_enum() -> list[str]:
    enum: list[str] = component("Instance")["properties"]["data"]["properties"]["status"]["enum"]
    return enum


@demonstrates("session-ttl-is-a-duration-string")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    created, _instance = await _session(api)
    api.clock.advance(SETTLE)
    session = await api.data("GET", f"/graph-analytics/sessions/{created['id']}")
    assert isinstance(session["ttl"], str)
    assert _GO_DURATION.fullmatch(session["ttl"])
    assert _SESSION_DATA["properties"]["ttl"]["type"] == "integer"


@demonstrates("session-status-empty-after-create")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    created, _instance = await _session(api)
    assert created["status"] == ""
    assert "" not in _SESSION_DATA["properties"]["status"]["enum"]


@demonstrates("session-optional-fields-are-null")
async def _(make_api: ApiFactory) -> None:
    listed = RAW["paths"]["/graph-analytics/sessions"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["examples"]["List of GDS Sessions"]["value"]["data"]
    assert any(item["ttl"] is None and item["expiry_date"] is None for item in listed)
    assert any(item["instance_id"] is None for item in listed)
    for field in ("instance_id", "expiry_date", "ttl"):
        assert not _SESSION_DATA["properties"][field].get("nullable", False)
    api: Api = await make_api(emulator_config())
    created, _instance = await _session(api)
    assert created["ttl"] is None
    assert created["expiry_date"] is None


@demonstrates("session-body-schema-uses-items-on-an-object")
async def _(make_api: ApiFactory) -> None:
    for op_id, status in (("post-session", 200), ("post-session", 202), ("get-session", 200)):
        data = response_schema(op_id, status)["properties"]["data"]
        assert data["type"] == "object"
        assert "items" in data
        assert "properties" not in data
        # So the literal schema accepts a body that is no session at all.
        assert not literal_problems(op_id, status, {"data": {"ttl": [], "status": 7}})
    api: Api = await make_api(emulator_config())
    created, _instance = await _session(api)
    assert {"id", "name", "memory", "host", "tenant_id", "user_id"} <= set(created)


@demonstrates("session-list-items-are-the-wrapper")
async def _(make_api: ApiFactory) -> None:
    item = response_schema("get-sessions", 200)["properties"]["data"]["items"]
    assert item == component("GdsSessionDetails")
    assert "data" in item["properties"]
    assert "required" not in item
    assert not literal_problems("get-sessions", 200, {"data": [{"ttl": [], "status": 7}]})
    api: Api = await make_api(emulator_config())
    await _session(api)
    sessions = await api.data("GET", "/graph-analytics/sessions")
    assert sessions
    assert all("data" not in s and "id" in s for s in sessions)


@demonstrates("patch-202-body-schema-is-empty")
async def _(make_api: ApiFactory) -> None:
    assert response_schema("patch-instance-id", 202) == {"type": "object", "properties": {}}
    api: Api = await make_api(emulator_config())
    instance = await _running(api)
    answer = await api.data("PATCH", f"/instances/{instance['id']}", {"memory": "4GB"}, expect=202)
    assert set(component("Instance")["properties"]["data"]["required"]) <= set(answer)


@demonstrates("instance-status-resizing")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    instance = await _running(api)
    answer = await api.data("PATCH", f"/instances/{instance['id']}", {"memory": "4GB"}, expect=202)
    assert answer["status"] == "resizing"
    assert (await api.data("GET", f"/instances/{instance['id']}"))["status"] == "resizing"
    assert "resizing" not in _status_enum()


@demonstrates("instance-status-deleting")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config(faults=FaultPlan(deleting_status=1.0)))
    instance = await _running(api)
    answer = await api.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert answer["status"] == "deleting"
    assert (await api.data("GET", f"/instances/{instance['id']}"))["status"] == "deleting"
    assert "deleting" not in _status_enum()


@demonstrates("instance-connection-url-null")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config(faults=FaultPlan(null_connection_url=1.0)))
    created = await api.create()
    assert created["connection_url"] is None
    instance = await _running(api)
    assert instance["connection_url"] is None
    spec = component("Instance")["properties"]["data"]
    assert "connection_url" in spec["required"]
    assert spec["properties"]["connection_url"]["type"] == "string"
    assert "nullable" not in spec["properties"]["connection_url"]


@demonstrates("instance-memory-missing-while-deleting")
async def _(make_api: ApiFactory) -> None:
    config = emulator_config(faults=FaultPlan(memory_missing_while_deleting=1.0))
    api: Api = await make_api(config)
    instance = await _running(api)
    assert "memory" in instance
    answer = await api.data("DELETE", f"/instances/{instance['id']}", expect=202)
    assert "memory" not in answer
    assert "memory" in component("Instance")["properties"]["data"]["required"]


@demonstrates("free-db-instance-has-no-storage")
async def _(make_api: ApiFactory) -> None:
    spec = component("Instance")["properties"]["data"]
    assert "storage" in spec["required"]
    assert "NOT returned for Aura DB Free" in spec["properties"]["storage"]["description"]
    api: Api = await make_api(emulator_config())
    instance = await _running(api, type="free-db", memory="1GB")
    assert "storage" not in instance


@demonstrates("pause-and-resume-answer-200")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config(faults=FaultPlan(pause_resume_200=1.0)))
    instance = await _running(api)
    paused = await api.call("POST", f"/instances/{instance['id']}/pause")
    assert paused.status_code == 200
    api.clock.advance(SETTLE)
    resumed = await api.call("POST", f"/instances/{instance['id']}/resume")
    assert resumed.status_code == 200
    for op_id in ("post-pause-instance", "post-resume-instance"):
        assert 200 not in documented_statuses(op_id)


@demonstrates("metrics-integration-400-tenant-incapable")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    await _running(api)  # professional-db: not eligible
    response = await api.call("GET", f"/tenants/{PROJECT}/metrics-integration")
    assert response.status_code == 400
    assert response.json()["errors"][0]["reason"] == "tenant-incapable-of-action"
    assert 400 not in documented_statuses("get-project-metrics-integration-details")


@demonstrates("undocumented-400-invalid-input")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    source = await _running(api, name="source")
    target = await _running(api, name="target")
    probes = {
        "post-instances-sizing": ("POST", "/instances/sizing", {"node_count": 1}),
        "post-overwrite-instance": ("POST", f"/instances/{target['id']}/overwrite", {}),
        "post-upgrade-instance": ("POST", f"/instances/{source['id']}/upgrade", {"memory": "4GB"}),
        "get-snapshots": ("GET", f"/instances/{source['id']}/snapshots?date=yesterday", None),
    }
    assert set(probes) == set(DEVIATIONS_BY_KEY["undocumented-400-invalid-input"].operations)
    for op_id, (method, path, body) in probes.items():
        response = await api.call(method, path, body)
        assert response.status_code == 400, (op_id, response.text)
        assert 400 not in documented_statuses(op_id), op_id


@demonstrates("undocumented-400-body-not-json")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    instance = await _running(api)
    paths = {
        "post-snapshots": f"/instances/{instance['id']}/snapshots",
        "post-resume-instance": f"/instances/{instance['id']}/resume",
        "post-restore-snapshot": f"/instances/{instance['id']}/snapshots/nope/restore",
    }
    assert set(paths) == set(DEVIATIONS_BY_KEY["undocumented-400-body-not-json"].operations)
    for op_id, path in paths.items():
        assert request_schema(op_id) == {"type": "object"}, op_id
        for raw in (b"{not json", b"[]", b"null"):
            response = await api.call(
                "POST", path, content=raw, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 400, (op_id, raw, response.text)
        assert 400 not in documented_statuses(op_id), op_id


@demonstrates("tenant-filter-unknown-project-404")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    for op_id, path in (
        ("get-instances", "/instances?tenantId=no-such-project"),
        ("get-customer-managed-keys", "/customer-managed-keys?tenantId=no-such-project"),
    ):
        response = await api.call("GET", path)
        assert response.status_code == 404, response.text
        assert response.json()["errors"][0]["reason"] == "tenant-not-found"
        assert 404 not in documented_statuses(op_id)
    assert 404 in documented_statuses("get-sessions")


@demonstrates("oneof-error-or-middleware-error-is-ambiguous")
async def _(make_api: ApiFactory) -> None:
    assert "required" not in component("MiddlewareError")
    api: Api = await make_api(emulator_config())
    free = await _running(api, name="free", type="free-db", memory="1GB")
    small = await _running(api, name="small", memory="1GB")
    large = await _running(api, name="large", memory="4GB")
    for target, source, status in ((free, small, 420), (small, large, 500)):
        body = {"source_instance_id": source["id"]}
        response = await api.call("POST", f"/instances/{target['id']}/overwrite", body)
        assert response.status_code == status, response.text
        problems = literal_problems("post-overwrite-instance", status, response.json())
        assert any("more than one" in problem for problem in problems), problems
        assert not schema_errors(INTENDED_SCHEMAS["Error"], response.json())


@demonstrates("create-rejects-values-outside-project-configurations")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    bodies = {
        "post-instances": ("/instances", instance_body(region="mars-north1")),
        "post-customer-managed-keys": (
            "/customer-managed-keys",
            {
                "key_id": "k",
                "region": "europe-west1",
                "name": "k",
                "instance_type": "enterprise-db",
                "tenant_id": "YOUR_PROJECT_ID",
                "cloud_provider": "gcp",
            },
        ),
        "post-session": (
            "/graph-analytics/sessions",
            {"name": "s", "memory": "8GB", "tenant_id": PROJECT, "cloud_provider": "gcp"},
        ),
    }
    assert "required" not in request_schema("post-session")
    bodies["post-session (empty)"] = ("/graph-analytics/sessions", {})
    for label, (path, body) in bodies.items():
        op_id = label.split()[0]
        assert not schema_errors(request_schema(op_id), body), label
        response = await api.call("POST", path, body)
        assert response.status_code == 400, (label, response.text)


@demonstrates("request-body-not-marked-required")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    deviation = DEVIATIONS_BY_KEY["request-body-not-marked-required"]
    for op_id in deviation.operations:
        operation = OPERATIONS[op_id]
        assert operation.definition.raw["requestBody"].get("required", False) is False
        assert request_schema(op_id)["required"], op_id
        response = await api.call("POST", operation.path)
        assert response.status_code == 400, (op_id, response.text)


@demonstrates("negative-counts-are-refused")
async def _(make_api: ApiFactory) -> None:
    api: Api = await make_api(emulator_config())
    for op_id in DEVIATIONS_BY_KEY["negative-counts-are-refused"].operations:
        body = {"node_count": -1, "relationship_count": 1}
        assert not schema_errors(request_schema(op_id), body), op_id
        response = await api.call("POST", OPERATIONS[op_id].path, body)
        assert response.status_code == 400, (op_id, response.text)


@pytest.mark.parametrize("key", [d.key for d in DEVIATIONS])
async def test_deviation_is_still_real(make_api: ApiFactory, key: str) -> None:
    await DEMONSTRATIONS[key](make_api)


# -------------------------------------------- gateway errors: the MiddlewareError branch


async def test_gateway_errors_conform(make_api: ApiFactory) -> None:
    """401 (no token), 403 (unknown token), 415 and 429 answer the spec's MiddlewareError."""
    api: Api = await make_api(emulator_config(rate_limit=RateLimitSettings(limit=1)))
    answers: list[tuple[str, httpx.Response]] = [
        ("get-instances", await api.http.get("/v1/instances")),
        (
            "get-instances",
            await api.http.get("/v1/instances", headers={"Authorization": "Bearer nope"}),
        ),
        (
            "post-instances",
            await api.call("POST", "/instances", content=b"x", headers={"Content-Type": "text/x"}),
        ),
        ("get-projects", await api.call("GET", "/tenants")),
    ]
    assert [response.status_code for _op, response in answers] == [401, 403, 415, 429]
    for op_id, response in answers:
        assert response.json().keys() == {"error"}, response.text
        assert not conformance_problems(op_id, response), response.text

"""Malformed answers: whatever comes back, a typed error or a tolerated value; no crash, no hang.

A proxy transport sits between the client and an in-process emulator (``httpx.ASGITransport``)
and replaces chosen answers with what a broken server or a proxy in front of it may send:
text that is not JSON, an HTML page (200 from a captive portal, 502 from a gateway), JSON
without ``data``, data missing a required field or holding a value of the wrong type or shape,
a status value the SDK does not know, an empty body, a truncated body, a huge body.

For every method family (get, list, create, the other actions, the waits, the fleet) each
answer must end in an :class:`~aura_async.AuraError` subclass that says what happened
(:class:`~aura_async.ResponseValidationError` for an unreadable success,
:class:`~aura_async.ServerError` for a 5xx, :class:`~aura_async.CreateOutcomeUnknownError`
for a create whose answer was lost, since the instance may exist), or be tolerated the
documented way (an unknown status is an open-enum value and waiting goes on), every call
inside ``anyio.fail_after(5)``. The command line, given such answers, exits 1 with one error
line and no traceback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aura_async import (
    APIError,
    AuraClient,
    AuraError,
    BadRequestError,
    CreateOutcomeUnknownError,
    NotFoundError,
    PollPolicy,
    RateLimitedError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    WaitTimeoutError,
)
from aura_async.cli import cli
from aura_async.cli import runtime as cli_runtime
from aura_async.cli.commands import register
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    create_app,
)
from aura_async.fleet import InstanceSpec, MemoryStore, Outcome
from aura_async.lifecycle.events import UnknownStatusSeen
from aura_async.models import (
    CloudProvider,
    InstanceStatus,
    InstanceType,
    KeyStatus,
    SessionStatus,
    SnapshotStatus,
)

pytestmark = pytest.mark.timeout(60)

SCALE = 3600.0  # an emulated hour per real second
BASE_URL = "http://emulator.test"
PRO: dict[str, Any] = {
    "name": "db",
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
KEY: dict[str, Any] = {
    "name": "key",
    "key_id": "arn:aws:kms:eu-west-1:123456789012:key/0000",
    "region": "us-east-1",
    "cloud_provider": "aws",
    "instance_type": "enterprise-db",
}
SESSION: dict[str, Any] = {
    "name": "session",
    "memory": "4GB",
    "cloud_provider": "gcp",
    "region": "europe-west1",
}
# Retries as the client makes them, only faster: a resent 502 fails in milliseconds.
FAST_RETRIES = RetryPolicy(
    max_retries=2, base_delay=0.001, max_delay=0.004, max_rate_limited_retries=2
)
HUGE = 4 * 1024 * 1024

# --------------------------------------------------------------------------- the proxy

Rule = Callable[[int, httpx.Headers, bytes], httpx.Response]


def _api(request: httpx.Request) -> bool:
    return request.url.path.startswith("/v1/")


class Mangler(httpx.AsyncBaseTransport):
    """Passes requests to ``inner``; replaces the answers that ``when`` picks with ``rule``'s.

    ``limit`` answers at the most (None: all of them); ``mangled`` counts those replaced.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.rule: Rule | None = None
        self.when: Callable[[httpx.Request], bool] = _api
        self.limit: int | None = None
        self.mangled = 0

    def set(
        self,
        rule: Rule | None,
        when: Callable[[httpx.Request], bool] = _api,
        limit: int | None = None,
    ) -> None:
        self.rule, self.when, self.limit, self.mangled = rule, when, limit, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        rule = self.rule
        if rule is None or not self.when(request):
            return response
        if self.limit is not None and self.mangled >= self.limit:
            return response
        body = await response.aread()
        await response.aclose()
        self.mangled += 1
        return rule(response.status_code, response.headers, body)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _answer(
    status: int, content: bytes, content_type: str, headers: httpx.Headers
) -> httpx.Response:
    kept = {k: v for k, v in headers.items() if k.lower() == "x-request-id"}
    return httpx.Response(status, headers={**kept, "content-type": content_type}, content=content)


PROXY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>"
)
PORTAL_PAGE = b"<!DOCTYPE html><html><body><form>Please log in to the Wi-Fi</form></body></html>"


def text(status: int | None = None, content: bytes = b"OK") -> Rule:
    """Plain text (the same status unless given)."""
    return lambda s, h, b: _answer(status or s, content, "text/plain", h)


def html(status: int | None = None) -> Rule:
    """An HTML page: a gateway's error page, or a captive portal's 200."""
    page = PORTAL_PAGE if status in (None, 200) else PROXY_PAGE
    return lambda s, h, b: _answer(status or s, page, "text/html", h)


def raw(content: bytes, content_type: str = "application/json") -> Rule:
    """The same status, this body."""
    return lambda s, h, b: _answer(s, content, content_type, h)


def truncated(s: int, h: httpx.Headers, b: bytes) -> httpx.Response:
    return _answer(s, b[: max(1, len(b) // 2)], "application/json", h)


def document(change: Callable[[Any], Any]) -> Rule:
    """The real JSON answer, changed (``change`` gets and returns the whole document)."""

    def rule(s: int, h: httpx.Headers, b: bytes) -> httpx.Response:
        return _answer(s, json.dumps(change(json.loads(b))).encode(), "application/json", h)

    return rule


@attrs.define
class ItemChange:
    """The real answer with ``change`` applied to its data (to each item of a list).

    ``changed`` counts the items changed (``change`` returns False for one it left alone): 0
    means the answer held nothing to change (an empty list) and came through intact.
    """

    change: Callable[[dict[str, Any]], bool | None]
    changed: int = 0

    def __call__(self, s: int, h: httpx.Headers, b: bytes) -> httpx.Response:
        doc = json.loads(b)
        data = doc.get("data") if isinstance(doc, dict) else None
        for item in data if isinstance(data, list) else [data]:
            if isinstance(item, dict) and self.change(item) is not False:
                self.changed += 1
        return _answer(s, json.dumps(doc).encode(), "application/json", h)


def each_item(change: Callable[[dict[str, Any]], bool | None]) -> ItemChange:
    return ItemChange(change)


_ABSENT = object()


def without(field: str) -> ItemChange:
    return each_item(lambda item: item.pop(field, _ABSENT) is not _ABSENT)


def setting(field: str, value: object) -> ItemChange:
    return each_item(lambda item: item.__setitem__(field, value))


def data_as(value: object) -> Rule:
    return document(lambda doc: {**doc, "data": value})


def no_envelope(doc: Any) -> Any:
    return {"result": doc.get("data") if isinstance(doc, dict) else doc}


# Every malformed SUCCESS answer: the request may have done its work, the answer is unreadable.
UNREADABLE: dict[str, Rule] = {
    "text": text(),
    "html-200": html(200),
    "no-data": document(no_envelope),
    "json-null": raw(b"null"),
    "json-array": raw(b"[1, 2, 3]"),
    "data-string": data_as("instance"),
    "data-number": data_as(42),
    "data-null": data_as(None),
    "empty": raw(b"", "application/json"),
    "truncated": truncated,
    "huge-garbage": raw(b"x" * HUGE, "text/plain"),
    "huge-truncated-json": raw(b'{"data": {"id": "' + b"7" * HUGE, "application/json"),
    "binary": raw(bytes(range(256)) * 64, "application/octet-stream"),
}
# Gateways and servers failing with a page instead of JSON.
FAILING: dict[str, tuple[Rule, type[APIError]]] = {
    "html-502": (html(502), ServerError),
    "html-503": (html(503), ServerError),
    "html-504": (html(504), ServerError),
    "html-500": (html(500), ServerError),
    "text-500": (text(500, b"Internal Server Error"), ServerError),
    "html-404": (html(404), NotFoundError),
    "html-400": (html(400), BadRequestError),
    "html-429": (html(429), RateLimitedError),
    "empty-502": (lambda s, h, b: _answer(502, b"", "text/plain", h), ServerError),
}


def _check_message(error: BaseException) -> None:
    """One line, short, and none of the body it could not read."""
    message = str(error)
    assert "\n" not in message, message
    assert len(message) < 1000, message[:300]
    assert "<html" not in message.lower()
    assert "xxxxxxxxxx" not in message


# --------------------------------------------------------------------------- the rig


@attrs.define
class Rig:
    """An in-process emulator behind a :class:`Mangler`, a client, and resources to read."""

    proxy: Mangler
    control: httpx.AsyncClient
    aura: AuraClient
    events: list[object]
    instance_id: str = ""
    snapshot_id: str = ""
    # The UTC day of the emulated clock on which the snapshot was taken: the listing is per
    # day (today by default), and an emulated day passes in 24 real seconds at SCALE.
    snapshot_day: dt.date | None = None
    key_id: str = ""
    session_id: str = ""

    async def counters(self) -> dict[str, Any]:
        response = await self.control.get("/_emulator/counters")
        data: dict[str, Any] = response.json()
        return data

    async def call(self, call: Callable[[AuraClient], Awaitable[Any]]) -> Any:
        """Make the call in 5 seconds at the most."""
        with anyio.fail_after(5):
            return await call(self.aura)


@asynccontextmanager
async def _rig(*, resources: bool) -> AsyncIterator[Rig]:
    app = create_app(EmulatorConfig(time_scale=SCALE, seed=5, token_lifetime=24 * 3600 * SCALE))
    inner = httpx.ASGITransport(app=app)
    proxy = Mangler(inner)
    events: list[object] = []
    async with (
        httpx.AsyncClient(transport=inner, base_url=BASE_URL) as control,
        AuraClient(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            tenant_id=DEFAULT_PROJECT_ID,
            base_url=BASE_URL,
            transport=proxy,
            rate_limit=None,
            retry=FAST_RETRIES,
            poll=PollPolicy().scaled(1 / SCALE),
            on_event=events.append,
        ) as aura,
    ):
        rig = Rig(proxy, control, aura, events)
        if resources:
            with anyio.fail_after(10):
                created = await aura.instances.create(**PRO, wait=True)
                rig.instance_id = created.id
                snapshot = await aura.snapshots.create(created.id, wait=True)
                rig.snapshot_id = snapshot.snapshot_id
                taken = await aura.snapshots.get(created.id, snapshot.snapshot_id)
                assert taken.timestamp is not None
                rig.snapshot_day = taken.timestamp.astimezone(dt.UTC).date()
                rig.key_id = (await aura.customer_managed_keys.create(**KEY)).id
                rig.session_id = (await aura.graph_analytics.create(**SESSION)).id
        yield rig


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def module_rig() -> AsyncIterator[Rig]:
    async with _rig(resources=True) as rig:
        yield rig


@pytest.fixture
async def shared(module_rig: Rig) -> AsyncIterator[Rig]:
    """One rig for calls that change nothing (reads, renames, get-or-create, sizing), its
    proxy passing everything through before and after each test."""
    module_rig.proxy.set(None)
    yield module_rig
    module_rig.proxy.set(None)


@pytest.fixture
async def fresh() -> AsyncIterator[Rig]:
    """A rig of its own, for calls that change what they act on."""
    async with _rig(resources=True) as rig:
        yield rig


# --------------------------------------------------------------------------- method families

Call = Callable[[Rig], Callable[[AuraClient], Awaitable[Any]]]

READS: dict[str, Call] = {
    "instances.get": lambda r: lambda a: a.instances.get(r.instance_id),
    "instances.list": lambda r: lambda a: a.instances.list(),
    "snapshots.get": lambda r: lambda a: a.snapshots.get(r.instance_id, r.snapshot_id),
    # The day the rig's snapshot was taken, not "today": the emulated clock runs an hour a
    # real second, so "today" may be a day with no snapshot in it by the time a test runs.
    "snapshots.list": lambda r: lambda a: a.snapshots.list(r.instance_id, date=r.snapshot_day),
    "tenants.get": lambda r: lambda a: a.tenants.get(),
    "tenants.list": lambda r: lambda a: a.tenants.list(),
    "customer_managed_keys.get": lambda r: lambda a: a.customer_managed_keys.get(r.key_id),
    "customer_managed_keys.list": lambda r: lambda a: a.customer_managed_keys.list(),
    "graph_analytics.get": lambda r: lambda a: a.graph_analytics.get(r.session_id),
    "graph_analytics.list": lambda r: lambda a: a.graph_analytics.list(),
}
# Actions that are safe to repeat on one rig: a rename, get-or-create by name, estimates, a
# snapshot (each one is another snapshot).
ACTIONS: dict[str, Call] = {
    "instances.update": lambda r: lambda a: a.instances.update(r.instance_id, name="renamed"),
    "instances.sizing": lambda r: lambda a: a.instances.sizing(node_count=1, relationship_count=1),
    "snapshots.create": lambda r: lambda a: a.snapshots.create(r.instance_id),
    "graph_analytics.create": lambda r: lambda a: a.graph_analytics.create(**SESSION),
    "graph_analytics.sizing": lambda r: (
        lambda a: a.graph_analytics.sizing(node_count=1, relationship_count=1)
    ),
}
# Creates: never resent; an unreadable answer means the thing may exist.
CREATES: dict[str, Call] = {
    "instances.create": lambda r: lambda a: a.instances.create(**(PRO | {"name": "new"})),
    "customer_managed_keys.create": lambda r: (
        lambda a: a.customer_managed_keys.create(**(KEY | {"name": "new-key"}))
    ),
}
# What each read's data must hold: a field whose absence or wrong type fails the answer.
REQUIRED = {
    "instances.get": "status",
    "instances.list": "name",
    "snapshots.get": "snapshot_id",
    "snapshots.list": "status",
    "tenants.get": "instance_configurations",
    "tenants.list": "id",
    "customer_managed_keys.get": "key_id",
    "customer_managed_keys.list": "tenant_id",
    "graph_analytics.get": "host",
    "graph_analytics.list": "memory",
    "instances.update": "type",
    "instances.sizing": "recommended_size",
    "snapshots.create": "snapshot_id",
    "graph_analytics.create": "id",
    "graph_analytics.sizing": "estimated_memory",
    "instances.create": "password",
    "customer_managed_keys.create": "status",
}


def _cases(calls: dict[str, Call]) -> list[Any]:
    return [
        pytest.param(method, answer, id=f"{method}-{answer}")
        for method in calls
        for answer in [*UNREADABLE, "missing-field", "wrong-type"]
    ]


def _unreadable(answer: str, method: str) -> Rule:
    if answer == "missing-field":
        return without(REQUIRED[method])
    if answer == "wrong-type":
        return setting(REQUIRED[method], {"secret-marker": ["zz-value-7q"]})
    return UNREADABLE[answer]


# --------------------------------------------------------------------------- reads, actions


async def _changed_call(
    rig: Rig, call: Callable[[AuraClient], Awaitable[Any]], rule: Rule, nothing: str
) -> Any:
    """Make the call with ``rule`` set; whatever it ends in, the answer must have held an item
    for an :class:`ItemChange` to change (an empty list comes through intact, proving nothing).
    """
    try:
        return await rig.call(call)
    finally:
        if isinstance(rule, ItemChange):
            assert rule.changed >= 1, nothing


@pytest.mark.parametrize(("method", "answer"), _cases(READS | ACTIONS))
async def test_an_unreadable_success_is_a_response_validation_error(
    shared: Rig, method: str, answer: str
) -> None:
    call = (READS | ACTIONS)[method](shared)
    rule = _unreadable(answer, method)
    shared.proxy.set(rule)
    with pytest.raises(ResponseValidationError) as caught:
        await _changed_call(shared, call, rule, f"{method} answered nothing to take {answer} from")
    assert shared.proxy.mangled == 1, "a read whose answer was unreadable is not resent"
    _check_message(caught.value)
    assert caught.value.method in ("GET", "POST", "PATCH")
    assert caught.value.path.startswith("/v1/")
    if answer in ("missing-field", "wrong-type"):
        # The message names what is wrong, never the values.
        assert REQUIRED[method] in str(caught.value)
        assert "zz-value-7q" not in str(caught.value)


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        pytest.param(m, a, id=f"{m}-{a}")
        for m in (
            "instances.get",
            "instances.list",
            "tenants.get",
            "instances.update",
            "snapshots.create",
        )
        for a in FAILING
    ],
)
async def test_an_error_page_is_the_error_of_its_status(
    shared: Rig, method: str, answer: str
) -> None:
    rule, expected = FAILING[answer]
    call = (READS | ACTIONS)[method](shared)
    shared.proxy.set(rule)
    with pytest.raises(expected) as caught:
        await shared.call(call)
    _check_message(caught.value)
    assert caught.value.details == ()  # nothing could be read from the page
    # 429, 502-504 and a 500 that names no reason (a page names none) are resent (the
    # policy: two resends); the others are final.
    resent = answer in (
        "html-500",
        "text-500",
        "html-502",
        "html-503",
        "html-504",
        "html-429",
        "empty-502",
    )
    assert shared.proxy.mangled == (1 + FAST_RETRIES.max_retries if resent else 1)


async def test_a_transient_gateway_page_is_retried_through(shared: Rig) -> None:
    shared.proxy.set(html(502), limit=2)
    instance = await shared.call(lambda a: a.instances.get(shared.instance_id))
    assert instance.id == shared.instance_id
    assert shared.proxy.mangled == 2


# --------------------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    ("method", "field", "value", "enum"),
    [
        ("instances.get", "status", "hibernating", InstanceStatus),
        ("instances.get", "type", "enterprise-xl", InstanceType),
        ("instances.get", "cloud_provider", "oracle", CloudProvider),
        ("snapshots.get", "status", "Archived", SnapshotStatus),
        ("snapshots.list", "status", "Archived", SnapshotStatus),
        ("customer_managed_keys.get", "status", "rotating", KeyStatus),
        ("graph_analytics.get", "status", "Paused", SessionStatus),
        ("graph_analytics.list", "status", "Paused", SessionStatus),
        ("instances.update", "status", "hibernating", InstanceStatus),
    ],
)
async def test_unknown_enum_values_are_kept_as_open_enum_values(
    shared: Rig, method: str, field: str, value: str, enum: type[Any]
) -> None:
    shared.proxy.set(setting(field, value))
    result = await shared.call((READS | ACTIONS)[method](shared))
    if isinstance(result, list):
        assert result, f"{method} answered an empty list: nothing to hold {value!r}"
        result = result[0]
    seen = getattr(result, field)
    assert isinstance(seen, enum)
    assert seen == value
    assert not seen.known


async def test_unknown_fields_and_a_huge_padding_are_tolerated(shared: Rig) -> None:
    def pad(item: dict[str, Any]) -> None:
        item["padding"] = "p" * HUGE
        item["new_feature"] = {"nested": [1, 2, 3]}

    shared.proxy.set(each_item(pad))
    instance = await shared.call(lambda a: a.instances.get(shared.instance_id))
    assert instance.id == shared.instance_id
    assert instance.status is InstanceStatus.RUNNING


@pytest.mark.parametrize(
    "value", [None, 7, True, ["running"], {"value": "running"}], ids=lambda v: repr(v)
)
async def test_a_status_of_another_type_is_refused_not_guessed(shared: Rig, value: object) -> None:
    shared.proxy.set(setting("status", value))
    with pytest.raises(ResponseValidationError, match="status"):
        await shared.call(lambda a: a.instances.get(shared.instance_id))


# --------------------------------------------------------------------------- creates


# customer_managed_keys.create parses its answer's data outside the pipeline's create commit:
# an envelope it can read with data it cannot is a plain ResponseValidationError (see below).
_KEY_DATA_BUG = {"data-string", "data-number", "data-null", "empty", "missing-field", "wrong-type"}


@pytest.mark.parametrize(
    ("method", "answer"),
    [
        case
        for case in _cases(CREATES)
        if not (
            case.values[0] == "customer_managed_keys.create" and case.values[1] in _KEY_DATA_BUG
        )
    ],
)
async def test_an_unreadable_create_answer_is_an_unknown_outcome(
    shared: Rig, method: str, answer: str
) -> None:
    before = (await shared.counters())["requests"]
    shared.proxy.set(_unreadable(answer, method))
    with pytest.raises(CreateOutcomeUnknownError) as caught:
        await shared.call(CREATES[method](shared))
    after = (await shared.counters())["requests"]
    route = (
        "POST /v1/instances" if method == "instances.create" else "POST /v1/customer-managed-keys"
    )
    sent = sum(after[route].values()) - sum(before.get(route, {}).values())
    assert sent == 1, "a create is never resent"
    error = caught.value
    assert isinstance(error.cause, ResponseValidationError)
    assert error.name.startswith("new")
    _check_message(error)
    if method == "instances.create" and answer in ("missing-field", "wrong-type"):
        # The instance exists: what could be read of the answer is handed back.
        assert error.instance_id
        assert error.username
        assert error.password is None  # the field at fault was the password


@pytest.mark.parametrize("answer", sorted(_KEY_DATA_BUG))
async def test_an_unreadable_key_create_answer_is_an_unknown_outcome(
    shared: Rig, answer: str
) -> None:
    shared.proxy.set(_unreadable(answer, "customer_managed_keys.create"))
    with pytest.raises(CreateOutcomeUnknownError):
        await shared.call(CREATES["customer_managed_keys.create"](shared))


@pytest.mark.parametrize("method", list(CREATES))
@pytest.mark.parametrize("answer", ["html-502", "html-500", "text-500", "empty-502"])
async def test_a_failed_create_is_an_unknown_outcome_and_not_resent(
    shared: Rig, method: str, answer: str
) -> None:
    rule, _ = FAILING[answer]
    shared.proxy.set(rule)
    with pytest.raises(CreateOutcomeUnknownError) as caught:
        await shared.call(CREATES[method](shared))
    assert shared.proxy.mangled == 1
    assert isinstance(caught.value.cause, ServerError)
    _check_message(caught.value)


async def test_a_create_that_lost_its_password_in_the_answer_keeps_what_it_could_read(
    shared: Rig,
) -> None:
    shared.proxy.set(setting("connection_url", 12345))
    with pytest.raises(CreateOutcomeUnknownError) as caught:
        await shared.call(CREATES["instances.create"](shared))
    error = caught.value
    assert error.instance_id
    assert error.username
    assert error.password
    assert error.password not in str(error)
    assert error.password not in repr(error)


async def test_a_fleet_create_with_unreadable_answers_reconciles_and_never_duplicates(
    fresh: Rig,
) -> None:
    fresh.proxy.set(html(200), when=lambda r: r.method == "POST" and r.url.path == "/v1/instances")
    store = MemoryStore()
    specs = [InstanceSpec(**(PRO | {"name": f"fleet-{n}"})) for n in range(3)]
    with anyio.fail_after(10):
        report = await fresh.aura.fleet.create(specs, wait=False, store=store, on_error="continue")
    assert not report.ok
    for item in report.items:
        assert item.outcome is Outcome.FAILED, item
        assert item.instance_id is not None  # found again by listing
        assert item.credentials_known is False
        assert isinstance(item.error, AuraError)
    creates = (await fresh.counters())["creates_per_name"]
    assert {name: n for name, n in creates.items() if name.startswith("fleet-")} == {
        "fleet-0": 1,
        "fleet-1": 1,
        "fleet-2": 1,
    }


# --------------------------------------------------------------------------- changes


@pytest.mark.parametrize("answer", ["text", "html-200", "no-data", "truncated", "missing-field"])
@pytest.mark.parametrize("verb", ["pause", "delete"])
async def test_a_state_change_with_an_unreadable_answer_is_typed(
    fresh: Rig, verb: str, answer: str
) -> None:
    rule = without("status") if answer == "missing-field" else UNREADABLE[answer]
    fresh.proxy.set(rule, when=lambda r: r.method in ("POST", "DELETE") and _api(r))
    with pytest.raises(ResponseValidationError) as caught:
        await fresh.call(lambda a: getattr(a.instances, verb)(fresh.instance_id))
    _check_message(caught.value)
    assert fresh.proxy.mangled == 1


async def test_an_empty_answer_to_a_delete_is_taken_for_gone(fresh: Rig) -> None:
    """No body to read: the SDK says what it says after a resend found it gone (None)."""
    fresh.proxy.set(raw(b""), when=lambda r: r.method == "DELETE")
    assert await fresh.call(lambda a: a.instances.delete(fresh.instance_id)) is None


# --------------------------------------------------------------------------- waits


def _polls(resource_path: str) -> Callable[[httpx.Request], bool]:
    return lambda r: r.method == "GET" and r.url.path == resource_path


async def test_unknown_statuses_while_creating_are_waited_through(fresh: Rig) -> None:
    created = await fresh.call(lambda a: a.instances.create(**(PRO | {"name": "waited"})))
    fresh.proxy.set(
        setting("status", "hibernating"), when=_polls(f"/v1/instances/{created.id}"), limit=3
    )
    instance = await fresh.call(lambda a: a.instances.wait(created.id, "create", timeout=4))
    assert instance is not None
    assert instance.status is InstanceStatus.RUNNING
    assert fresh.proxy.mangled == 3
    unknown = [e for e in fresh.events if isinstance(e, UnknownStatusSeen)]
    assert unknown
    assert {e.status for e in unknown} == {"hibernating"}


WAITS: dict[str, tuple[Callable[[Rig], str], Callable[[Rig], Callable[[AuraClient], Any]]]] = {
    "instance": (
        lambda r: f"/v1/instances/{r.instance_id}",
        lambda r: lambda a: a.instances.wait(r.instance_id, "resume", timeout=0.3),
    ),
    "snapshot": (
        lambda r: f"/v1/instances/{r.instance_id}/snapshots/{r.snapshot_id}",
        lambda r: lambda a: a.snapshots.wait(r.instance_id, r.snapshot_id, timeout=0.3),
    ),
    "key": (
        lambda r: f"/v1/customer-managed-keys/{r.key_id}",
        lambda r: lambda a: a.customer_managed_keys.wait(r.key_id, timeout=0.3),
    ),
    "session": (
        lambda r: f"/v1/graph-analytics/sessions/{r.session_id}",
        lambda r: lambda a: a.graph_analytics.wait(r.session_id, timeout=0.3),
    ),
}


@pytest.mark.parametrize("what", list(WAITS))
async def test_a_status_never_known_times_the_wait_out(shared: Rig, what: str) -> None:
    path, wait = WAITS[what]
    shared.proxy.set(setting("status", "mystery"), when=_polls(path(shared)))
    with pytest.raises(WaitTimeoutError) as caught:
        await shared.call(wait(shared))
    assert caught.value.last_status == "mystery"
    assert shared.proxy.mangled >= 1
    _check_message(caught.value)


@pytest.mark.parametrize("what", list(WAITS))
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("text", ResponseValidationError),
        ("truncated", ResponseValidationError),
        ("missing-field", ResponseValidationError),
        ("html-502", ServerError),
        ("html-500", ServerError),
    ],
)
async def test_a_poll_answered_badly_ends_the_wait_with_its_error(
    shared: Rig, what: str, answer: str, expected: type[AuraError]
) -> None:
    path, wait = WAITS[what]
    if answer == "missing-field":
        rule = without("status")
    elif answer in UNREADABLE:
        rule = UNREADABLE[answer]
    else:
        rule = FAILING[answer][0]
    shared.proxy.set(rule, when=_polls(path(shared)))
    with pytest.raises(expected) as caught:
        await shared.call(wait(shared))
    _check_message(caught.value)


async def test_a_gateway_hiccup_while_waiting_is_ridden_out(fresh: Rig) -> None:
    created = await fresh.call(lambda a: a.instances.create(**(PRO | {"name": "hiccup"})))
    fresh.proxy.set(html(503), when=_polls(f"/v1/instances/{created.id}"), limit=2)
    instance = await fresh.call(lambda a: a.instances.wait(created.id, timeout=4))
    assert instance is not None
    assert instance.status is InstanceStatus.RUNNING


# --------------------------------------------------------------------------- the token


def _token(request: httpx.Request) -> bool:
    return request.url.path == "/oauth/token"


TOKEN_ANSWERS: dict[str, tuple[Rule, type[AuraError]]] = {
    "html-200": (html(200), ResponseValidationError),
    "text": (text(), ResponseValidationError),
    "empty": (raw(b""), ResponseValidationError),
    "truncated": (truncated, ResponseValidationError),
    "no-token": (document(lambda doc: {"token_type": "bearer"}), ResponseValidationError),
    "token-a-number": (document(lambda doc: {**doc, "access_token": 5}), ResponseValidationError),
    "html-502": (html(502), ServerError),
    "html-500": (html(500), ServerError),
}


@pytest.mark.parametrize("answer", list(TOKEN_ANSWERS))
async def test_a_malformed_token_answer_is_typed(answer: str) -> None:
    rule, expected = TOKEN_ANSWERS[answer]
    async with _rig(resources=False) as rig:
        rig.proxy.set(rule, when=_token)
        with pytest.raises(expected) as caught:
            await rig.call(lambda a: a.instances.list())
        _check_message(caught.value)
        counters = await rig.counters()
        assert "GET /v1/instances" not in counters["requests"]  # never sent without a token


@pytest.mark.parametrize("answer", ["html-200", "no-token"])
async def test_a_malformed_token_answer_does_not_make_a_create_ambiguous(answer: str) -> None:
    rule, expected = TOKEN_ANSWERS[answer]
    async with _rig(resources=False) as rig:
        rig.proxy.set(rule, when=_token)
        with pytest.raises(expected):
            await rig.call(lambda a: a.instances.create(**PRO))
        assert "POST /v1/instances" not in (await rig.counters())["requests"]


# --------------------------------------------------------------------------- anything at all

_JUNK_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_BODIES = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    _JUNK_JSON.map(lambda v: json.dumps(v).encode()),
    _JUNK_JSON.map(lambda v: json.dumps({"data": v}).encode()),
    _JUNK_JSON.map(lambda v: json.dumps({"errors": v}).encode()),
)


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    status=st.sampled_from([200, 201, 202, 204, 301, 400, 401, 403, 404, 409, 418, 429, 500, 502]),
    body=_BODIES,
    content_type=st.sampled_from(["application/json", "text/html", "text/plain", ""]),
)
async def test_any_answer_is_a_value_or_an_aura_error(
    shared: Rig, status: int, body: bytes, content_type: str
) -> None:
    shared.proxy.set(lambda s, h, b: _answer(status, body, content_type, h))
    try:
        await shared.call(lambda a: a.instances.get(shared.instance_id))
    except AuraError as error:
        _check_message(error)
    finally:
        shared.proxy.set(None)


# --------------------------------------------------------------------------- the command line


@attrs.define
class Command:
    """``aura-async --emulator ...`` with the embedded emulator behind a :class:`Mangler`."""

    proxy: Mangler | None = None
    rule: Rule | None = None
    when: Callable[[httpx.Request], bool] = _api
    runner: CliRunner = attrs.Factory(CliRunner)

    def run(self, *args: str) -> Result:
        return self.runner.invoke(cli, ["--emulator", *args], catch_exceptions=True)


@pytest.fixture
def command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Command:
    register(cli)
    monkeypatch.chdir(tmp_path)
    for name in ("AURA_RATE_LIMIT", "AURA_CONFIG", "CI", "AURA_TIME_SCALE", "AURA_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    state = Command()
    embedded = cli_runtime._embedded

    def behind_a_proxy(*args: Any, **kwargs: Any) -> Any:
        settings, transport, bolt = embedded(*args, **kwargs)
        proxy = Mangler(transport)
        proxy.set(state.rule, when=state.when)
        state.proxy = proxy
        settings = attrs.evolve(settings, retry=FAST_RETRIES)
        return settings, proxy, bolt

    monkeypatch.setattr(cli_runtime, "_embedded", behind_a_proxy)
    return state


def _fails_cleanly(result: Result) -> str:
    shown = f"exit {result.exit_code}\n{result.output}"
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed: {result.exception!r}\n{shown}") from result.exception
    assert result.exit_code == 1, shown
    assert "Traceback" not in result.output, shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, shown
    # The error is the last thing said, on one line.
    assert result.stderr[result.stderr.index("error:") :].rstrip("\n").count("\n") == 0, shown
    assert len(errors[0]) < 1000, shown
    assert "<html" not in result.output.lower(), shown
    return errors[0]


CLI_COMMANDS = {
    "instance list": ("instance", "list"),
    "instance get": ("instance", "get", "0123abcd"),
    "tenant list": ("tenant", "list"),
    "tenant get": ("tenant", "get"),
    "snapshot list": ("instance", "snapshot", "list", "--instance-id", "0123abcd"),
    "cmk list": ("cmk", "list"),
    "session list": ("graph-analytics", "session", "list"),
    "instance sizing": ("instance", "sizing", "--node-count", "1", "--relationship-count", "1"),
}
CLI_ANSWERS: dict[str, Rule] = {
    "html-200": html(200),
    "html-502": html(502),
    "text": text(200, b"Service temporarily unavailable"),
    "truncated": raw(b'{"data": [{"id": "0123abcd", "na'),
    "empty": raw(b""),
    "no-data": raw(b'{"items": []}'),
    "huge": raw(b"x" * HUGE, "text/plain"),
}


@pytest.mark.parametrize("answer", list(CLI_ANSWERS))
@pytest.mark.parametrize("name", list(CLI_COMMANDS))
def test_cli_exits_1_with_one_line_on_a_malformed_answer(
    command: Command, name: str, answer: str
) -> None:
    command.rule = CLI_ANSWERS[answer]
    line = _fails_cleanly(command.run(*CLI_COMMANDS[name]))
    assert command.proxy is not None
    assert command.proxy.mangled >= 1
    assert any(word in line for word in ("answered", "failed with", "unexpected shape")), line


@pytest.mark.parametrize("answer", ["html-200", "html-502", "truncated"])
def test_cli_create_with_a_malformed_answer_says_it_may_exist(
    command: Command, answer: str
) -> None:
    command.rule = CLI_ANSWERS[answer]
    command.when = lambda r: r.method == "POST" and r.url.path == "/v1/instances"
    result = command.run("instance", "create", "--name", "x", "--type", "free-db")
    line = _fails_cleanly(result)
    assert "x" in line
    assert "may" in line or "exist" in line or "password" in line, line


def test_cli_shows_an_unknown_status_as_it_came(command: Command) -> None:
    instance = {
        "id": "0123abcd",
        "name": "odd",
        "status": "hibernating",
        "tenant_id": DEFAULT_PROJECT_ID,
        "cloud_provider": "gcp",
        "region": "europe-west1",
        "type": "professional-db",
        "memory": "2GB",
    }
    command.rule = lambda s, h, b: _answer(
        200, json.dumps({"data": instance}).encode(), "application/json", h
    )
    shown = command.run("-o", "json", "instance", "get", "0123abcd")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["status"] == "hibernating"


@pytest.mark.parametrize(
    "message", ["first line\nsecond line", "x" * 100_000], ids=["newline", "huge"]
)
def test_cli_error_line_flattens_and_bounds_server_text(command: Command, message: str) -> None:
    body = {"errors": [{"message": message, "reason": "db-not-found"}]}
    command.rule = lambda s, h, b: _answer(404, json.dumps(body).encode(), "application/json", h)
    _fails_cleanly(command.run("instance", "get", "0123abcd"))

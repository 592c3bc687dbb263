"""Retries, events and errors, against the emulator's own faults and answers.

What may be resent is decided by what the request does: reads and actions are resent on 429,
502-504 and broken connections; a create only when the server surely did no work. The
emulator's counters witness what reached the server. Drops and timeouts cross a real loopback
socket; the rest runs in process on a manual clock, and a client event hook switches a fault
off once the client has scheduled its retry, so "fails once, then works" is deterministic.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import attrs
import httpx
import pytest
from starlette.applications import Starlette

from aura_async import (
    AuraClient,
    AuraError,
    BadRequestError,
    CreateOutcomeUnknownError,
    NotAllowedError,
    NotFoundError,
    OngoingOperationError,
    PaymentRequiredError,
    RateLimited,
    RequestSent,
    ResponseReceived,
    ResponseValidationError,
    RetryPolicy,
    RetryScheduled,
    ServerError,
    TimeoutError,
    TokenRefreshed,
    TransportError,
    UnsupportedForTierError,
)
from aura_async._http.retry import parse_retry_after
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    DropFault,
    Durations,
    EmulatorConfig,
    EmulatorServer,
    ErrorFault,
    FaultPlan,
    LatencyFault,
    ManualClock,
    ProjectSpec,
    RateLimitSettings,
    RequestFilter,
    create_app,
)
from aura_async.emulator.app import EmulatorState
from aura_async.errors import APIError, ErrorDetail
from aura_async.events import ClientEvent
from aura_async.models import Instance, Project
from aura_async.resources.catalogue import Catalogue

IN_PROCESS_URL = "http://emulator.test"
INSTANCE = "/v1/instances/{instanceId}"
CREATE = "/v1/instances"
GET_ROUTE = "GET /v1/instances/{instanceId}"
CREATE_ROUTE = "POST /v1/instances"
TENANT_ROUTE = "GET /v1/tenants/{tenantId}"


def fast(max_retries: int = 5) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, base_delay=0.01, max_delay=0.05)


def only(method: str, route: str) -> RequestFilter:
    return RequestFilter(methods=(method,), route=route)


def of_type(events: list[ClientEvent], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


def reads_as_one_sentence(error: AuraError) -> bool:
    """One line that ends with the error's hint (first letter in either case) and a full stop."""
    text, hint = str(error), error.hint.strip().rstrip(".")
    return (
        bool(hint)
        and "\n" not in text
        and text.endswith(".")
        and text[:-1].lower().endswith(hint.lower())
    )


def unreadable_catalogue() -> Catalogue:
    """A catalogue that cannot be read (nothing is sent for it): creates are checked by the
    offline rules only, so one the project does not offer reaches the server, which refuses
    it with its own 400."""

    async def fetch(tenant_id: str) -> Project:
        raise TransportError("the test hides the catalogue", method="GET", path="/tenants")

    return Catalogue(fetch)


def successes(statuses: dict[str, int]) -> int:
    return sum(n for status, n in statuses.items() if status.startswith("2"))


class Recorder(httpx.AsyncBaseTransport):
    """Sees every request the client sends and every answer's headers; can refuse one
    connection before anything is sent (``refuse`` picks the request)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        refuse: Callable[[httpx.Request], bool] | None = None,
    ) -> None:
        self.inner = inner
        self.refuse = refuse
        self.requests: list[httpx.Request] = []
        self.answers: list[httpx.Response] = []

    @property
    def sent(self) -> list[tuple[str, str]]:
        return [(request.method, request.url.path) for request in self.requests]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.refuse is not None and self.refuse(request):
            self.refuse = None
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.inner.handle_async_request(request)
        self.answers.append(response)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.define
class Emulator:
    """An emulator (in process, or served on loopback) with a manual clock, and clients."""

    app: Starlette
    clock: ManualClock
    base_url: str
    in_process: bool
    events: list[ClientEvent] = attrs.Factory(list)
    # Switch every fault off after this many RetryScheduled events (None: never).
    heal_after: int | None = None

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    def set_faults(self, plan: FaultPlan) -> None:
        with self.state.lock:
            self.state.backend.faults = plan

    def transport(self) -> httpx.AsyncBaseTransport:
        if self.in_process:
            return httpx.ASGITransport(app=self.app)
        return httpx.AsyncHTTPTransport()

    def hook(self, event: ClientEvent) -> None:
        self.events.append(event)
        if (
            isinstance(event, RetryScheduled)
            and self.heal_after is not None
            and len(of_type(self.events, RetryScheduled)) >= self.heal_after
        ):
            self.set_faults(FaultPlan())

    def client(self, **kwargs: Any) -> AuraClient:
        kwargs.setdefault("retry", fast())
        kwargs.setdefault("transport", self.transport())
        kwargs.setdefault("on_event", self.hook)
        return AuraClient(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            tenant_id=DEFAULT_PROJECT_ID,
            base_url=self.base_url,
            **kwargs,
        )

    async def counters(self) -> dict[str, Any]:
        async with httpx.AsyncClient(transport=self.transport(), base_url=self.base_url) as h:
            response = await h.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def route(self, name: str) -> dict[str, int]:
        found: dict[str, int] = (await self.counters())["requests"].get(name, {})
        return found

    async def running(self, aura: AuraClient, name: str = "db", **kwargs: Any) -> Instance:
        """Create an instance through the client and move the clock until it runs."""
        if kwargs.get("type") != "free-db":
            kwargs = {
                "type": "professional-db",
                "region": "europe-west1",
                "memory": "2GB",
                "cloud_provider": "gcp",
                **kwargs,
            }
        created = await aura.instances.create(name=name, **kwargs)
        self.clock.advance(1000)
        instance = await aura.instances.get(created.id)
        assert instance.status == "running"
        return instance


def _config(**overrides: Any) -> EmulatorConfig:
    overrides.setdefault("durations", Durations(jitter=0))
    # Retry-After with milliseconds: the tests check the client waits exactly what it is told.
    overrides.setdefault("rate_limit", RateLimitSettings(retry_after="seconds"))
    return EmulatorConfig(seed=7, **overrides)


EmulatorFactory = Callable[..., Awaitable[Emulator]]


@pytest.fixture
def inproc() -> EmulatorFactory:
    """Build an in-process emulator (ASGI transport, manual clock)."""

    async def build(config: EmulatorConfig | None = None, time_scale: float = 1.0) -> Emulator:
        clock = ManualClock(time_scale=time_scale)
        app = create_app(config or _config(), clock=clock)
        return Emulator(app, clock, IN_PROCESS_URL, in_process=True)

    return build


@pytest.fixture
async def served() -> AsyncIterator[EmulatorFactory]:
    """Build emulators served over real loopback HTTP (manual clock), stopped afterwards."""
    async with contextlib.AsyncExitStack() as stack:

        async def build(config: EmulatorConfig | None = None, time_scale: float = 1.0) -> Emulator:
            clock = ManualClock(time_scale=time_scale)
            server = EmulatorServer(config or _config(), clock=clock)
            await stack.enter_async_context(server)
            return Emulator(server.app, clock, server.base_url, in_process=False)

        yield build


# ------------------------------------------------------------ safe requests are resent

Operation = Callable[[AuraClient, str], Awaitable[Any]]


async def _pause_then_resume(emu: Emulator, aura: AuraClient, instance_id: str) -> None:
    await aura.instances.pause(instance_id)
    emu.clock.advance(1000)


OPERATIONS: dict[str, tuple[str, str, Operation]] = {
    "get": ("GET", INSTANCE, lambda aura, i: aura.instances.get(i)),
    "delete": ("DELETE", INSTANCE, lambda aura, i: aura.instances.delete(i)),
    "patch": ("PATCH", INSTANCE, lambda aura, i: aura.instances.update(i, name="renamed")),
    "pause": ("POST", INSTANCE + "/pause", lambda aura, i: aura.instances.pause(i)),
    "resume": ("POST", INSTANCE + "/resume", lambda aura, i: aura.instances.resume(i)),
    "snapshot": ("POST", INSTANCE + "/snapshots", lambda aura, i: aura.snapshots.create(i)),
}


@pytest.mark.parametrize("retry_after", [None, 5.0], ids=["backoff", "retry-after"])
@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_safe_operations_are_resent_after_503(
    inproc: EmulatorFactory, name: str, retry_after: float | None
) -> None:
    # 100x compressed: a Retry-After of 5 emulated seconds is 0.05 real ones.
    emu = await inproc(time_scale=100)
    method, route, operation = OPERATIONS[name]
    async with emu.client() as aura:
        instance = await emu.running(aura)
        if name == "resume":
            await _pause_then_resume(emu, aura, instance.id)
        before = successes(await emu.route(f"{method} {route}"))  # running() read it once
        emu.heal_after = 1
        emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, retry_after, only(method, route)),)))
        result = await operation(aura, instance.id)
    assert result is not None
    statuses = await emu.route(f"{method} {route}")
    assert statuses.get("503") == 1
    assert successes(statuses) == before + 1
    (retry,) = of_type(emu.events, RetryScheduled)
    assert (retry.method, retry.attempt, retry.reason) == (method, 1, "503")
    if retry_after is None:
        assert retry.delay <= 0.05
    else:
        assert retry.delay == pytest.approx(0.05)


@pytest.mark.parametrize("status", [502, 504])
async def test_502_and_504_are_resent(inproc: EmulatorFactory, status: int) -> None:
    emu = await inproc()
    async with emu.client() as aura:
        instance = await emu.running(aura)
        emu.heal_after = 1
        emu.set_faults(FaultPlan(errors=(ErrorFault(status, 1.0, only=only("GET", INSTANCE)),)))
        assert (await aura.instances.get(instance.id)).id == instance.id
    statuses = await emu.route(GET_ROUTE)
    assert statuses[str(status)] == 1
    assert [e.reason for e in of_type(emu.events, RetryScheduled)] == [str(status)]


async def test_retry_after_is_honoured(inproc: EmulatorFactory) -> None:
    # 100x compressed: 30 emulated seconds are 0.3 s of the client's time, far above the
    # policy's own backoff (at most 0.05 s).
    emu = await inproc(time_scale=100)
    async with emu.client() as aura:
        instance = await emu.running(aura)
        emu.heal_after = 1
        emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, 30, only("GET", INSTANCE)),)))
        started = anyio.current_time()
        await aura.instances.get(instance.id)
        waited = anyio.current_time() - started
    (retry,) = of_type(emu.events, RetryScheduled)
    assert retry.delay == pytest.approx(0.3)
    assert 0.3 <= waited < 1.0


async def test_retry_after_is_capped_by_the_policy(inproc: EmulatorFactory) -> None:
    emu = await inproc()  # a Retry-After of a whole hour
    retry = RetryPolicy(base_delay=0.01, max_delay=0.05, max_retry_after=0.05)
    async with emu.client(retry=retry) as aura:
        instance = await emu.running(aura)
        emu.heal_after = 1
        emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, 3600, only("GET", INSTANCE)),)))
        with anyio.fail_after(2):
            await aura.instances.get(instance.id)
    assert of_type(emu.events, RetryScheduled)[0].delay == pytest.approx(0.05)


async def test_retries_stop_after_max_retries(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    async with emu.client(retry=fast(max_retries=3)) as aura:
        instance = await emu.running(aura)
        emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, only=only("GET", INSTANCE)),)))
        with pytest.raises(ServerError) as caught:
            await aura.instances.get(instance.id)
    assert caught.value.status == 503
    assert [e.attempt for e in of_type(emu.events, RetryScheduled)] == [1, 2, 3]
    assert (await emu.route(GET_ROUTE)) == {"200": 1, "503": 4}


async def test_429s_do_not_spend_the_budget_for_broken_connections(
    inproc: EmulatorFactory,
) -> None:
    # One resend allowed for failures; two 429s (which did no work) come first, then a
    # connection is refused. The refused attempt still has its one resend.
    rate = RateLimitSettings(limit=1, window=60)
    emu = await inproc(_config(rate_limit=rate), time_scale=600)
    recorder = Recorder(emu.transport())

    def hook(event: ClientEvent) -> None:
        emu.hook(event)
        if isinstance(event, RetryScheduled) and event.attempt == 2:
            emu.clock.advance(60)  # the window passes, but the next connection is refused
            recorder.refuse = lambda request: True

    async with emu.client(
        on_event=hook, transport=recorder, rate_limit=None, retry=fast(max_retries=1)
    ) as aura:
        await aura.tenants.list()  # spends the window
        projects = await aura.tenants.list()
    assert [p.id for p in projects] == [DEFAULT_PROJECT_ID]
    reasons = [e.reason for e in of_type(emu.events, RetryScheduled)]
    assert reasons == ["429", "429", "ConnectError"]


async def test_a_bare_500_is_resent_like_a_503(inproc: EmulatorFactory) -> None:
    # The gateway's 500 names no reason: as passing as a 503 (the chaos preset sends them).
    emu = await inproc()
    async with emu.client() as aura:
        instance = await emu.running(aura)
        emu.heal_after = 1
        emu.set_faults(FaultPlan(errors=(ErrorFault(500, 1.0, only=only("GET", INSTANCE)),)))
        fetched = await aura.instances.get(instance.id)
    assert fetched.id == instance.id
    (retry,) = of_type(emu.events, RetryScheduled)
    assert retry.reason == "500"
    assert (await emu.route(GET_ROUTE)) == {"200": 2, "500": 1}


async def test_a_500_that_names_its_reason_is_not_retried(inproc: EmulatorFactory) -> None:
    # Overwriting a smaller instance from a bigger one: the API's own 500, the same each time.
    emu = await inproc()
    async with emu.client() as aura:
        source = await emu.running(aura, "big", memory="4GB")
        target = await emu.running(aura, "small", memory="2GB")
        with pytest.raises(ServerError) as caught:
            await aura.instances.overwrite(target.id, source_instance_id=source.id)
    assert caught.value.status == 500
    assert caught.value.reasons == ("db-overwrite-size-disparity",)
    assert of_type(emu.events, RetryScheduled) == []
    assert (await emu.route("POST /v1/instances/{instanceId}/overwrite")) == {"500": 1}


async def test_404_409_and_400_are_never_retried(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    async with emu.client() as aura:
        with pytest.raises(NotFoundError):
            await aura.instances.get("0badc0de")
        creating = await aura.instances.create(name="busy", type="free-db")
        with pytest.raises(OngoingOperationError):
            await aura.instances.pause(creating.id)
        # With the project's offer unknown, the region goes to the server, which refuses it.
        aura.instances.catalogue = unreadable_catalogue()
        with pytest.raises(BadRequestError):
            await aura.instances.create(
                name="nowhere",
                type="professional-db",
                region="mars-north1",
                memory="2GB",
                cloud_provider="gcp",
            )
    counters = await emu.counters()
    assert counters["requests"][GET_ROUTE] == {"404": 1}
    assert counters["requests"]["POST /v1/instances/{instanceId}/pause"] == {"409": 1}
    assert counters["requests"][CREATE_ROUTE] == {"202": 1, "400": 1}
    assert counters["requests"][TENANT_ROUTE] == {"200": 1}  # the first create's catalogue
    assert of_type(emu.events, RetryScheduled) == []


# ------------------------------------------------------------ dropped connections (HTTP)


@pytest.mark.parametrize("name", ["get", "patch"])
async def test_a_dropped_connection_is_resent(served: EmulatorFactory, name: str) -> None:
    emu = await served()
    method, route, operation = OPERATIONS[name]
    async with emu.client() as aura:
        instance = await emu.running(aura)
        emu.heal_after = 1
        emu.set_faults(FaultPlan(drop=DropFault(1.0, only(method, route))))
        result = await operation(aura, instance.id)
    assert result is not None
    counters = await emu.counters()
    assert counters["faults_injected"]["drop"] == 1
    (retry,) = of_type(emu.events, RetryScheduled)
    assert retry.reason == "RemoteProtocolError"
    # The dropped attempt did its work (and was counted), then the resend did it again.
    statuses = counters["requests"][f"{method} {route}"]
    assert statuses == {"200": 2 + (name == "get")}  # running() read the instance once


async def test_delete_dropped_after_the_work_is_done_when_the_resend_finds_404(
    served: EmulatorFactory,
) -> None:
    emu = await served()
    async with emu.client() as aura:
        instance = await emu.running(aura)
        emu.set_faults(FaultPlan(drop=DropFault(1.0, only("DELETE", INSTANCE))))
        assert await aura.instances.delete(instance.id) is None
        emu.set_faults(FaultPlan())
        emu.clock.advance(1000)
        with pytest.raises(NotFoundError):
            await aura.instances.get(instance.id)
        assert await aura.instances.list() == []
    counters = await emu.counters()
    assert counters["requests"]["DELETE " + INSTANCE] == {"202": 1, "404": 1}
    assert [e.reason for e in of_type(emu.events, RetryScheduled)] == ["RemoteProtocolError"]


@pytest.mark.parametrize(("action", "underway"), [("pause", "pausing"), ("resume", "resuming")])
async def test_pause_or_resume_dropped_after_the_work_succeeds_on_the_resend(
    served: EmulatorFactory, action: str, underway: str
) -> None:
    emu = await served()
    async with emu.client() as aura:
        instance = await emu.running(aura)
        if action == "resume":
            await aura.instances.pause(instance.id)
            emu.clock.advance(1000)
        route = f"{INSTANCE}/{action}"
        emu.set_faults(FaultPlan(drop=DropFault(1.0, only("POST", route))))
        result = await getattr(aura.instances, action)(instance.id)
        emu.set_faults(FaultPlan())
    # The resend met the operation its own first attempt had started: that is success.
    assert result.status == underway
    counters = await emu.counters()
    assert counters["requests"][f"POST {route}"] == {"202": 1, "409": 1}
    assert counters["faults_injected"]["drop"] == 1


async def test_delete_of_an_unknown_instance_still_raises_not_found(
    inproc: EmulatorFactory,
) -> None:
    emu = await inproc()
    async with emu.client() as aura:
        with pytest.raises(NotFoundError):
            await aura.instances.delete("0badc0de")


# ------------------------------------------------------------ creates


async def test_create_answered_503_is_not_resent(inproc: EmulatorFactory) -> None:
    emu = await inproc(time_scale=100)
    emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, 1.0, only("POST", CREATE)),)))
    before = dt.datetime.now(dt.UTC)
    async with emu.client() as aura:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await aura.instances.create(name="maybe", type="free-db")
    error = caught.value
    assert error.name == "maybe"
    assert before <= error.started_at <= dt.datetime.now(dt.UTC)
    assert isinstance(error.cause, ServerError)
    assert error.cause.status == 503
    assert "'maybe'" in str(error)
    assert reads_as_one_sentence(error)
    counters = await emu.counters()
    assert counters["requests"][CREATE_ROUTE] == {"503": 1}
    assert counters["creates_per_name"] == {}
    assert of_type(emu.events, RetryScheduled) == []


async def test_create_whose_connection_dropped_leaves_exactly_one_instance(
    served: EmulatorFactory,
) -> None:
    emu = await served()
    emu.set_faults(FaultPlan(drop=DropFault(1.0, only("POST", CREATE))))
    async with emu.client() as aura:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await aura.instances.create(name="dropped", type="free-db")
        assert isinstance(caught.value.cause, TransportError)
        emu.set_faults(FaultPlan())
        found = [i for i in await aura.instances.list() if i.name == "dropped"]
    assert len(found) == 1
    counters = await emu.counters()
    assert counters["creates_per_name"] == {"dropped": 1}
    assert counters["requests"][CREATE_ROUTE] == {"202": 1}
    assert of_type(emu.events, RetryScheduled) == []


KEYS = "/v1/customer-managed-keys"
_KEY = {
    "name": "key",
    "key_id": "arn:aws:kms:eu-west-1:123456789012:key/0000",
    "region": "europe-west1",
    "cloud_provider": "gcp",
    "instance_type": "enterprise-db",
}


@pytest.mark.parametrize("fault", ["503", "unreadable"])
async def test_an_ambiguous_key_create_names_the_key_not_an_instance(
    inproc: EmulatorFactory, fault: str
) -> None:
    # The pipeline knows nothing of what a create makes: the resource names it, once.
    emu = await inproc(time_scale=100)
    transport: httpx.AsyncBaseTransport = emu.transport()
    if fault == "503":
        emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, 1.0, only("POST", KEYS)),)))
    else:
        transport = _Garbled(transport, KEYS, "status", ["not", "a", "status"])
    async with emu.client(transport=transport) as aura:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await aura.customer_managed_keys.create(**_KEY)
    error = caught.value
    assert (error.name, error.resource) == ("key", "customer managed key")
    assert "Creating customer managed key 'key' failed ambiguously" in str(error)
    expected = ServerError if fault == "503" else ResponseValidationError
    assert isinstance(error.cause, expected)
    assert (error.instance_id, error.password) == (None, None)
    counters = await emu.counters()
    assert sum(counters["requests"]["POST " + KEYS].values()) == 1  # never resent


async def test_a_dropped_create_keeps_the_network_failure_as_its_cause(
    served: EmulatorFactory,
) -> None:
    emu = await served()
    emu.set_faults(FaultPlan(drop=DropFault(1.0, only("POST", CREATE))))
    async with emu.client() as aura:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await aura.instances.create(name="dropped", type="free-db")
    assert caught.value.resource == "instance"
    assert isinstance(caught.value.__cause__, httpx.TransportError)


async def test_create_answered_429_is_resent_and_succeeds_once(
    inproc: EmulatorFactory,
) -> None:
    # The server allows one request per emulated minute (600x compressed); a read spends it
    # (the project's offer, which the create would read first otherwise), so the create is
    # refused with 429 before any work, and resent when the window passes.
    rate = RateLimitSettings(limit=1, window=60)
    emu = await inproc(_config(rate_limit=rate), time_scale=600)

    def hook(event: ClientEvent) -> None:
        emu.events.append(event)
        if isinstance(event, RateLimited):
            emu.clock.advance(60)

    async with emu.client(on_event=hook) as aura:
        assert await aura.instances.catalogue.configurations(DEFAULT_PROJECT_ID)
        started = anyio.current_time()
        created = await aura.instances.create(name="limited", type="free-db")
        waited = anyio.current_time() - started
    assert created.name == "limited"
    counters = await emu.counters()
    assert counters["requests"][CREATE_ROUTE] == {"202": 1, "429": 1}
    assert counters["requests"][TENANT_ROUTE] == {"200": 1}
    assert counters["creates_per_name"] == {"limited": 1}
    assert [e.reason for e in of_type(emu.events, RetryScheduled)] == ["429"]
    (limited,) = of_type(emu.events, RateLimited)
    assert limited.retry_after > 0
    assert waited >= limited.retry_after  # the resend waited out the server's Retry-After


async def test_create_whose_connection_failed_before_sending_is_resent(
    inproc: EmulatorFactory,
) -> None:
    emu = await inproc()
    recorder = Recorder(
        emu.transport(),
        refuse=lambda r: (r.method, r.url.path) == ("POST", CREATE),
    )
    async with emu.client(transport=recorder) as aura:
        created = await aura.instances.create(name="refused-once", type="free-db")
    assert created.name == "refused-once"
    assert recorder.sent.count(("POST", CREATE)) == 2
    counters = await emu.counters()
    assert counters["creates_per_name"] == {"refused-once": 1}
    assert counters["requests"][CREATE_ROUTE] == {"202": 1}
    assert [e.reason for e in of_type(emu.events, RetryScheduled)] == ["ConnectError"]


# ------------------------------------------------------------ timeouts (HTTP)


async def test_a_read_that_times_out_raises_timeout_error_after_retries(
    served: EmulatorFactory,
) -> None:
    emu = await served()
    async with emu.client(timeout=httpx.Timeout(0.1), retry=fast(max_retries=2)) as aura:
        instance = await emu.running(aura)
        emu.set_faults(FaultPlan(latency=(LatencyFault(1.0, 0.3, only("GET", INSTANCE)),)))
        with pytest.raises(TimeoutError) as caught:
            await aura.instances.get(instance.id)
    assert (caught.value.method, caught.value.path) == ("GET", f"/v1/instances/{instance.id}")
    assert [e.reason for e in of_type(emu.events, RetryScheduled)] == ["ReadTimeout"] * 2


async def test_a_create_that_times_out_is_not_resent(served: EmulatorFactory) -> None:
    emu = await served()
    emu.set_faults(FaultPlan(latency=(LatencyFault(1.0, 0.3, only("POST", CREATE)),)))
    recorder = Recorder(emu.transport())
    async with emu.client(timeout=httpx.Timeout(0.1), transport=recorder) as aura:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await aura.instances.create(name="slow", type="free-db")
    assert isinstance(caught.value.cause, TimeoutError)
    assert recorder.sent.count(("POST", CREATE)) == 1
    assert of_type(emu.events, RetryScheduled) == []


# ------------------------------------------------------------ events


async def test_event_hook_sees_the_whole_story(inproc: EmulatorFactory) -> None:
    # 600x compressed: the server's one-request-per-minute window passes in 0.1 s.
    rate = RateLimitSettings(limit=2, window=60, retry_after="seconds")
    emu = await inproc(_config(rate_limit=rate), time_scale=600)
    recorder = Recorder(emu.transport())

    def hook(event: ClientEvent) -> None:
        if isinstance(event, RateLimited):
            emu.clock.advance(60)
            emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, only=only("GET", "")),)))
            emu.heal_after = 2  # the 429's retry, then the 503's
        emu.hook(event)

    async with emu.client(on_event=hook, transport=recorder) as aura:
        await aura.tenants.list()  # token, then 1 of 2
        await aura.tenants.list()  # 2 of 2
        await aura.tenants.list()  # 429, then 503, then 200
    events = emu.events
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "RequestSent",  # token
        "ResponseReceived",
        "TokenRefreshed",
        *["RequestSent", "ResponseReceived"] * 3,  # two reads, then the 429
        "RateLimited",
        "RetryScheduled",
        "RequestSent",
        "ResponseReceived",  # 503
        "RetryScheduled",
        "RequestSent",
        "ResponseReceived",  # 200
    ]
    sent = of_type(events, RequestSent)
    assert (sent[0].method, sent[0].path, sent[0].attempt) == ("POST", "/oauth/token", 1)
    assert [(s.method, s.path) for s in sent[1:]] == [("GET", "/v1/tenants")] * 5
    assert [s.attempt for s in sent[1:]] == [1, 1, 1, 2, 3]
    received = of_type(events, ResponseReceived)
    assert [r.status for r in received] == [200, 200, 200, 429, 503, 200]
    assert all(r.elapsed >= 0 for r in received)
    # Request ids are the answers' own X-Request-Id (the token endpoint sends none).
    assert [r.request_id for r in received] == [
        a.headers.get("X-Request-Id") for a in recorder.answers
    ]
    assert received[0].request_id is None
    assert all(r.request_id for r in received[1:])
    (limited,) = of_type(events, RateLimited)
    assert (limited.method, limited.path) == ("GET", "/v1/tenants")
    assert 0 < limited.retry_after <= 0.1
    retries = of_type(events, RetryScheduled)
    assert [(r.method, r.path, r.attempt, r.reason) for r in retries] == [
        ("GET", "/v1/tenants", 1, "429"),
        ("GET", "/v1/tenants", 2, "503"),
    ]
    assert 0 < retries[1].delay <= 0.05
    (refreshed,) = of_type(events, TokenRefreshed)
    assert refreshed.expires_in == 3600.0  # an hour of real time: tokens are not compressed
    # No event carries a secret: neither the client secret nor the access token.
    token = recorder.requests[1].headers["Authorization"].removeprefix("Bearer ")
    assert token
    text = " ".join(repr(e) for e in events)
    assert DEFAULT_CLIENT_SECRET not in text
    assert token not in text


async def test_a_hook_that_raises_is_logged_and_the_call_goes_on(
    inproc: EmulatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    emu = await inproc()
    seen: list[ClientEvent] = []

    def broken(event: ClientEvent) -> None:
        seen.append(event)
        raise RuntimeError("hook bug")

    with caplog.at_level(logging.ERROR, logger="aura_async"):
        async with emu.client(on_event=broken) as aura:
            projects = await aura.tenants.list()
    assert [p.id for p in projects] == [DEFAULT_PROJECT_ID]
    assert len(seen) == 5  # token sent, received, refreshed; request sent, received
    logged = [r for r in caplog.records if "on_event hook raised" in r.getMessage()]
    assert len(logged) == 5
    assert all(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in logged)


# ------------------------------------------------------------ errors from real answers


def _check_error(error: APIError, status: int, method: str, path: str, recorder: Recorder) -> None:
    assert error.status == status
    assert (error.method, error.path) == (method, path)
    assert error.request_id is not None
    assert error.request_id == recorder.answers[-1].headers["X-Request-Id"]
    assert str(error).startswith(f"{method} {path} failed with {status}")
    assert reads_as_one_sentence(error)


async def test_not_found_reads_as_one_actionable_sentence(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    recorder = Recorder(emu.transport())
    async with emu.client(transport=recorder) as aura:
        with pytest.raises(NotFoundError) as caught:
            await aura.instances.get("0badc0de")
    error = caught.value
    _check_error(error, 404, "GET", "/v1/instances/0badc0de", recorder)
    assert error.reasons == ("db-not-found",)
    assert error.fields == ()
    assert "DB not found: 0badc0de" in str(error)
    assert ". " not in str(error)  # one sentence: what happened; what to do.
    assert error.hint == "Check the instance id; a deleted instance is gone for good"


async def test_bad_request_carries_reason_and_field(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    recorder = Recorder(emu.transport())
    async with emu.client(transport=recorder) as aura:
        # The project's offer unknown, the region is left to the server (its 400 is tested).
        aura.instances.catalogue = unreadable_catalogue()
        with pytest.raises(BadRequestError) as caught:
            await aura.instances.create(
                name="x",
                type="professional-db",
                region="mars-north1",
                memory="2GB",
                cloud_provider="gcp",
            )
    error = caught.value
    _check_error(error, 400, "POST", "/v1/instances", recorder)
    assert error.reasons == ("invalid-request",)
    assert error.fields == ("region",)
    assert error.details[0].field == "region"
    assert "region: Region mars-north1 is not available" in str(error)


async def test_gateway_error_shape_is_parsed(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    emu.set_faults(FaultPlan(errors=(ErrorFault(503, 1.0, only=only("GET", "/tenants")),)))
    recorder = Recorder(emu.transport())
    async with emu.client(transport=recorder, retry=fast(max_retries=0)) as aura:
        with pytest.raises(ServerError) as caught:
            await aura.tenants.list()
    error = caught.value
    _check_error(error, 503, "GET", "/v1/tenants", recorder)
    assert error.details == (
        ErrorDetail("The service is temporarily unable to handle the request (injected fault)"),
    )
    assert error.reasons == ()


async def test_ongoing_operation_is_its_own_error(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    recorder = Recorder(emu.transport())
    async with emu.client(transport=recorder) as aura:
        created = await aura.instances.create(name="busy", type="free-db")
        with pytest.raises(OngoingOperationError) as caught:
            await aura.instances.pause(created.id)
    error = caught.value
    _check_error(error, 409, "POST", f"/v1/instances/{created.id}/pause", recorder)
    assert error.reasons == ("ongoing-database-operation",)
    assert "Wait for the operation in flight" in error.hint


async def test_free_tier_answers_420_and_402(inproc: EmulatorFactory) -> None:
    emu = await inproc()
    recorder = Recorder(emu.transport())
    async with emu.client(transport=recorder) as aura:
        free = await emu.running(aura, type="free-db")
        with pytest.raises(UnsupportedForTierError) as unsupported:
            await aura.instances.overwrite(free.id, source_instance_id=free.id)
        _check_error(unsupported.value, 420, "POST", f"/v1/instances/{free.id}/overwrite", recorder)
        assert unsupported.value.reasons == ("unsupported-for-tier",)
        with pytest.raises(PaymentRequiredError) as payment:
            await aura.snapshots.create(free.id)
        _check_error(payment.value, 402, "POST", f"/v1/instances/{free.id}/snapshots", recorder)
        assert payment.value.reasons == ("payment-required",)


async def test_quota_reached_is_not_allowed(inproc: EmulatorFactory) -> None:
    project = ProjectSpec(DEFAULT_PROJECT_ID, "Small", max_instances=1)
    emu = await inproc(_config(projects=(project,)))
    recorder = Recorder(emu.transport())
    async with emu.client(transport=recorder) as aura:
        await aura.instances.create(name="first", type="free-db")
        with pytest.raises(NotAllowedError) as caught:
            await aura.instances.create(name="second", type="free-db")
    error = caught.value
    _check_error(error, 405, "POST", "/v1/instances", recorder)
    assert error.reasons == ("instance-limit-reached",)
    assert error.hint == "Delete instances you no longer need, or raise the quota"
    assert (await emu.counters())["creates_per_name"] == {"first": 1}


# ------------------------------------------------------- lost answers and odd answers


async def test_a_resize_resent_after_a_lost_answer_is_taken_as_started(
    served: EmulatorFactory,
) -> None:
    emu = await served()
    async with emu.client() as aura:
        instance = await emu.running(aura)
        emu.set_faults(FaultPlan(drop=DropFault(1.0, only("PATCH", INSTANCE))))
        result = await aura.instances.update(instance.id, memory="4GB")
        emu.set_faults(FaultPlan())
    assert result.status == "resizing"
    counters = await emu.counters()
    assert counters["requests"]["PATCH " + INSTANCE] == {"202": 1, "409": 1}


async def test_a_session_delete_resent_after_a_lost_answer_is_done(
    served: EmulatorFactory,
) -> None:
    emu = await served()
    async with emu.client() as aura:
        instance = await emu.running(aura)
        session = await aura.graph_analytics.create(name="s", memory="4GB", instance_id=instance.id)
        route = "/v1/graph-analytics/sessions/{sessionId}"
        emu.set_faults(FaultPlan(drop=DropFault(1.0, only("DELETE", route))))
        deleted = await aura.graph_analytics.delete(session.id)
        emu.set_faults(FaultPlan())
    assert deleted.id == session.id
    counters = await emu.counters()
    assert counters["requests"]["DELETE " + route] == {"202": 1, "404": 1}


class _Garbled(httpx.AsyncBaseTransport):
    """Passes everything through, but garbles one field of a create's answer on ``path``."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str, field: str, value: Any) -> None:
        self.inner = inner
        self.path, self.field, self.value = path, field, value

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST" or request.url.path != self.path:
            return response
        await response.aread()
        body = response.json()
        body["data"][self.field] = self.value
        return httpx.Response(response.status_code, json=body, headers=response.headers)


async def test_a_create_whose_answer_cannot_be_read_keeps_its_password(
    inproc: EmulatorFactory,
) -> None:
    emu = await inproc()
    garbled = _Garbled(emu.transport(), CREATE, "created_at", "not a timestamp")
    async with emu.client(transport=garbled) as aura:
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await aura.instances.create(name="garbled", type="free-db")
    error = caught.value
    (record,) = emu.state.backend.instances.values()
    assert (error.name, error.instance_id, error.username) == ("garbled", record.id, "neo4j")
    assert error.password is not None
    assert len(error.password) >= 20
    assert error.password not in str(error)
    assert error.password not in repr(error)
    assert isinstance(error.cause, ResponseValidationError)
    assert "recovered" in str(error)


@pytest.mark.parametrize(
    "header",
    ["Thu, 31 Feb 2030 00:00:00 GMT", "garbage value", "Mon, 99 Xyz 2030", "nan"],
)
def test_an_unreadable_retry_after_is_ignored(header: str) -> None:
    assert parse_retry_after(header) is None


def test_a_retry_after_date_without_a_zone_is_utc() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC).timestamp()
    assert parse_retry_after("Tue, 01 Jan 2030 00:00:30 -0000", now=now) == 30.0


def test_infinite_retry_delays_are_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        RetryPolicy(max_retry_after=float("inf"))


async def test_a_region_refused_by_the_project_hints_where_to_look(
    inproc: EmulatorFactory,
) -> None:
    emu = await inproc()
    async with emu.client() as aura:
        # The server's refusal is tested: the project's offer unknown, a region shaped like a
        # GCP region (so the offline rules let it through) reaches it.
        aura.instances.catalogue = unreadable_catalogue()
        with pytest.raises(BadRequestError) as caught:
            await aura.instances.create(
                name="x",
                type="professional-db",
                region="mars-north1",
                memory="2GB",
                cloud_provider="gcp",
            )
    assert caught.value.fields == ("region",)
    assert "aura.tenants.get()" in str(caught.value)


async def test_a_pause_resent_after_a_lost_answer_finds_it_done(served: EmulatorFactory) -> None:
    # The pause is over before the resend arrives: the resend meets 400 "not running",
    # which after a lost answer means the first attempt did the work.
    emu = await served()

    def finish_the_pause(event: object) -> None:
        if isinstance(event, RetryScheduled):  # between the lost answer and the resend
            emu.set_faults(FaultPlan())
            emu.clock.advance(1000)

    async with emu.client() as aura:
        instance = await emu.running(aura)
    async with emu.client(on_event=finish_the_pause) as aura:
        emu.set_faults(FaultPlan(drop=DropFault(1.0, only("POST", INSTANCE + "/pause"))))
        result = await aura.instances.pause(instance.id)
    assert result.status in ("pausing", "paused")
    counters = await emu.counters()
    assert counters["requests"]["POST " + INSTANCE + "/pause"] == {"202": 1, "400": 1}

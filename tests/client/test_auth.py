"""The client-credentials token, against the emulator: cached, fetched once for a crowd,
refreshed ahead of expiry and after a 403, refused with the server's own words, and paced by
the rate limiter like every other request.

Most tests run the emulator in process on a manual clock, so "the token expired" is a clock
step, not a wait; the emulator's counters are the witness of what reached the server.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import attrs
import httpx
import pytest
from starlette.applications import Starlette

from aura_async import (
    AuraClient,
    AuraError,
    AuthenticationError,
    PermissionDeniedError,
    RateLimit,
    RequestSent,
    RetryPolicy,
    RetryScheduled,
    TimeoutError,
    TokenError,
    TokenRefreshed,
)
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    ManualClock,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.app import EmulatorState
from aura_async.events import ClientEvent
from aura_async.models import Project
from aura_async.resources.catalogue import Catalogue

BASE_URL = "http://emulator.test"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)
NO_SERVER_LIMIT = RateLimitSettings(enabled=False)
TOKEN_ROUTE = "POST /oauth/token"
TENANTS_ROUTE = "GET /v1/tenants"


@attrs.define
class Emulator:
    """An in-process emulator: the app, its manual clock, and clients pointed at it."""

    app: Starlette
    clock: ManualClock
    events: list[ClientEvent] = attrs.Factory(list)

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    def client(
        self,
        *,
        secret: str = DEFAULT_CLIENT_SECRET,
        on_event: Callable[[ClientEvent], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        **kwargs: Any,
    ) -> AuraClient:
        kwargs.setdefault("retry", FAST)
        return AuraClient(
            DEFAULT_CLIENT_ID,
            secret,
            tenant_id=DEFAULT_PROJECT_ID,
            base_url=BASE_URL,
            transport=transport or httpx.ASGITransport(app=self.app),
            on_event=on_event or self.events.append,
            **kwargs,
        )

    async def counters(self) -> dict[str, Any]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL
        ) as http:
            response = await http.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def route(self, name: str) -> dict[str, int]:
        """The answers the emulator gave on one route, by status."""
        found: dict[str, int] = (await self.counters())["requests"].get(name, {})
        return found


EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def inproc() -> EmulatorFactory:
    def build(config: EmulatorConfig | None = None, *, time_scale: float = 1.0) -> Emulator:
        config = config or EmulatorConfig(seed=1)
        clock = ManualClock(time_scale=time_scale)
        return Emulator(create_app(config, clock=clock), clock)

    return build


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


# ------------------------------------------------------------------ caching


async def test_token_is_fetched_once_and_reused(inproc: EmulatorFactory) -> None:
    emu = inproc()
    async with emu.client() as aura:
        for _ in range(5):
            await aura.tenants.list()
    counters = await emu.counters()
    assert counters["tokens_issued"] == 1
    assert counters["requests"][TOKEN_ROUTE] == {"200": 1}
    assert counters["requests"][TENANTS_ROUTE] == {"200": 5}
    (refreshed,) = of_type(emu.events, TokenRefreshed)
    assert refreshed.expires_in == 3600.0


async def test_500_calls_at_once_fetch_exactly_one_token(inproc: EmulatorFactory) -> None:
    emu = inproc(EmulatorConfig(seed=1, rate_limit=NO_SERVER_LIMIT))
    results: list[int] = []
    async with emu.client(rate_limit=None) as aura:

        async def call() -> None:
            results.append(len(await aura.tenants.list()))

        async with anyio.create_task_group() as tg:
            for _ in range(500):
                tg.start_soon(call)
    assert results == [1] * 500
    counters = await emu.counters()
    assert counters["tokens_issued"] == 1
    assert counters["requests"][TOKEN_ROUTE] == {"200": 1}
    assert counters["requests"][TENANTS_ROUTE] == {"200": 500}


async def test_short_lived_token_is_refreshed_ahead_of_expiry(inproc: EmulatorFactory) -> None:
    # The shortest token the emulator can state truthfully lives one real second; the client
    # must swap it shortly before then, while the server would still accept it.
    emu = inproc(EmulatorConfig(seed=1, token_lifetime=1.0))
    async with emu.client() as aura:
        await aura.tenants.list()
        fetched_at = anyio.current_time()
        await anyio.sleep(0.5)
        await aura.tenants.list()
        assert (await emu.counters())["tokens_issued"] == 1  # not refreshed on every call
        await anyio.sleep(fetched_at + 0.93 - anyio.current_time())
        emu.clock.advance(0.95)  # the server's clock keeps pace: the old token is still valid
        await aura.tenants.list()
    counters = await emu.counters()
    assert counters["tokens_issued"] == 2
    assert counters["requests"][TENANTS_ROUTE] == {"200": 3}  # no 403: refreshed before it
    assert [e.expires_in for e in of_type(emu.events, TokenRefreshed)] == [1.0, 1.0]


# ------------------------------------------------------------------ expiry and 403


async def test_token_expired_mid_run_is_refreshed_once_and_the_call_resent(
    inproc: EmulatorFactory,
) -> None:
    emu = inproc()
    async with emu.client() as aura:
        await aura.tenants.list()
        emu.clock.advance(3601)  # the server expires the token; the client cannot know
        projects = await aura.tenants.list()
    assert [p.id for p in projects] == [DEFAULT_PROJECT_ID]
    counters = await emu.counters()
    assert counters["tokens_issued"] == 2
    assert counters["requests"][TENANTS_ROUTE] == {"200": 2, "403": 1}
    assert of_type(emu.events, RetryScheduled) == []  # a refresh, not a retry
    assert len(of_type(emu.events, TokenRefreshed)) == 2


async def test_many_calls_hitting_an_expired_token_share_one_refresh(
    inproc: EmulatorFactory,
) -> None:
    emu = inproc(EmulatorConfig(seed=1, rate_limit=NO_SERVER_LIMIT))
    async with emu.client(rate_limit=None) as aura:
        await aura.tenants.list()
        emu.clock.advance(3601)
        async with anyio.create_task_group() as tg:
            for _ in range(50):
                tg.start_soon(aura.tenants.list)
    counters = await emu.counters()
    assert counters["tokens_issued"] == 2
    assert counters["requests"][TENANTS_ROUTE] == {"200": 51, "403": 50}


async def test_a_second_403_after_the_refresh_raises_permission_denied(
    inproc: EmulatorFactory,
) -> None:
    emu = inproc()
    revoke = False

    def hook(event: ClientEvent) -> None:
        emu.events.append(event)
        if revoke and isinstance(event, TokenRefreshed):
            emu.state.tokens.revoke_all()  # the fresh token is refused too

    async with emu.client(on_event=hook) as aura:
        await aura.tenants.list()
        emu.clock.advance(3601)
        revoke = True
        with pytest.raises(PermissionDeniedError) as caught:
            await aura.tenants.list()
    error = caught.value
    assert error.status == 403
    assert error.method == "GET"
    assert error.path == "/v1/tenants"
    assert error.request_id
    # The gateway's {"error": ...} shape, message and all.
    assert [d.message for d in error.details] == [
        "Forbidden: the access token is invalid or has expired"
    ]
    assert reads_as_one_sentence(error)
    counters = await emu.counters()
    assert counters["tokens_issued"] == 2  # one refresh, no more
    assert counters["requests"][TENANTS_ROUTE] == {"200": 1, "403": 2}
    assert of_type(emu.events, RetryScheduled) == []


# ------------------------------------------------------------------ refused credentials


async def test_wrong_secret_raises_token_error_with_the_servers_message(
    inproc: EmulatorFactory,
) -> None:
    emu = inproc()
    wrong = "not-the-secret-0123456789"
    async with emu.client(secret=wrong) as aura:
        with pytest.raises(TokenError) as caught:
            await aura.tenants.list()
    error = caught.value
    assert isinstance(error, AuthenticationError)
    assert error.status == 401
    assert error.method == "POST"
    assert error.path == "/oauth/token"
    assert error.reasons == ("invalid_client",)
    assert "The provided credentials are invalid, expired, or revoked" in str(error)
    assert reads_as_one_sentence(error)
    assert "\n" not in str(error)
    assert wrong not in str(error) + repr(error)
    counters = await emu.counters()
    assert counters["requests"] == {TOKEN_ROUTE: {"401": 1}}  # no API request, no retry
    assert counters["tokens_issued"] == 0
    assert of_type(emu.events, RetryScheduled) == []


async def test_concurrent_calls_with_a_wrong_secret_ask_the_token_endpoint_once(
    inproc: EmulatorFactory,
) -> None:
    emu = inproc()
    failures: list[BaseException] = []
    async with emu.client(secret="wrong") as aura:

        async def call() -> None:
            try:
                await aura.tenants.list()
            except TokenError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(call)
        assert len(failures) == 20
        assert len({id(f) for f in failures}) == 20  # each task raises its own error
        assert (await emu.counters())["requests"] == {TOKEN_ROUTE: {"401": 1}}
        # A later call asks again (the secret may have been fixed meanwhile).
        with pytest.raises(TokenError):
            await aura.tenants.list()
    assert (await emu.counters())["requests"] == {TOKEN_ROUTE: {"401": 2}}


# ------------------------------------------------------------------ the rate limit


async def test_token_requests_pass_the_rate_limiter() -> None:
    # The server counts token requests against the limit (count_token_requests) and keeps a
    # sliding record on the real clock; the client allows itself the same 3 per 0.3 s. A
    # token request that skipped the limiter would make the fourth request in the first
    # window, and the server would refuse it.
    rate = RateLimitSettings(limit=3, window=0.3, model="sliding", count_token_requests=True)
    app = create_app(EmulatorConfig(seed=1, rate_limit=rate))
    events: list[ClientEvent] = []
    async with AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url=BASE_URL,
        rate_limit=RateLimit(3, 0.3),
        retry=FAST,
        transport=httpx.ASGITransport(app=app),
        on_event=events.append,
    ) as aura:
        for _ in range(4):
            await aura.tenants.list()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as h:
        counters = (await h.get("/_emulator/counters")).json()
    assert counters["rate_limited"] == 0
    assert counters["tokens_issued"] == 1
    assert counters["requests_total"] == 5
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 3}
    sent = of_type(events, RequestSent)
    assert (sent[0].method, sent[0].path) == ("POST", "/oauth/token")


async def test_a_token_request_refused_with_429_is_retried(inproc: EmulatorFactory) -> None:
    # Token requests count against a limit of 2 per emulated minute (600x compressed, so a
    # Retry-After of a minute is 0.1 s); a first client spends both, so a second client's
    # token request is refused. No work was done: its call waits and succeeds.
    rate = RateLimitSettings(limit=2, window=60, count_token_requests=True, retry_after="seconds")
    emu = inproc(EmulatorConfig(seed=1, rate_limit=rate), time_scale=600)
    async with emu.client() as first:
        await first.tenants.list()

    def hook(event: ClientEvent) -> None:
        emu.events.append(event)
        if isinstance(event, RetryScheduled):
            emu.clock.advance(60)  # the window passes while the client waits

    async with emu.client(on_event=hook) as second:
        projects = await second.tenants.list()
    assert [p.id for p in projects] == [DEFAULT_PROJECT_ID]
    counters = await emu.counters()
    assert counters["requests"][TOKEN_ROUTE] == {"200": 2, "429": 1}
    assert counters["requests"][TENANTS_ROUTE] == {"200": 2}
    (retry,) = of_type(emu.events, RetryScheduled)
    assert retry.reason == "token 429"


class _BreakFirstTokenRequest(httpx.AsyncBaseTransport):
    """Breaks off the first token request after it was sent; passes everything else on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, str]] = []
        self.broken = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        if request.url.path == "/oauth/token" and not self.broken:
            self.broken = True
            raise httpx.RemoteProtocolError("peer closed connection", request=request)
        return await self.inner.handle_async_request(request)


async def test_a_create_whose_token_request_broke_off_is_sent_normally(
    inproc: EmulatorFactory,
) -> None:
    # The token request failed after sending, but the create itself never left: it is not
    # an ambiguous create, and is sent once the token arrives.
    emu = inproc()
    # The project's offer is read beforehand (by another client), so that the first request
    # of this client needing a token is the create itself, not the catalogue's GET.
    async with emu.client() as reader:
        project = await reader.tenants.get(DEFAULT_PROJECT_ID)

    async def offered(tenant_id: str) -> Project:
        assert tenant_id == DEFAULT_PROJECT_ID
        return project

    transport = _BreakFirstTokenRequest(httpx.ASGITransport(app=emu.app))
    async with emu.client(transport=transport) as aura:
        aura.instances.catalogue = Catalogue(offered)
        created = await aura.instances.create(name="after-token", type="free-db")
        assert aura.instances.catalogue.cached(DEFAULT_PROJECT_ID) is not None
    assert created.name == "after-token"
    assert transport.sent == [
        ("POST", "/oauth/token"),
        ("POST", "/oauth/token"),
        ("POST", "/v1/instances"),
    ]
    counters = await emu.counters()
    assert counters["creates_per_name"] == {"after-token": 1}
    assert [e.reason for e in of_type(emu.events, RetryScheduled)] == ["RemoteProtocolError"]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


async def test_token_requests_honour_the_clients_timeout(silent_port: int) -> None:
    events: list[ClientEvent] = []
    async with AuraClient(
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url=BASE_URL,
        auth_url=f"http://127.0.0.1:{silent_port}/oauth/token",
        timeout=httpx.Timeout(0.1),
        retry=RetryPolicy(max_retries=1, base_delay=0.01, max_delay=0.05),
        on_event=events.append,
    ) as aura:
        # A token request without a timeout would wait here for ever.
        with anyio.fail_after(5), pytest.raises(TimeoutError):
            await aura.tenants.list()
    assert [e.reason for e in of_type(events, RetryScheduled)] == ["ReadTimeout"]

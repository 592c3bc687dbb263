"""Shared fixtures: an emulator in process (ASGI, manual clock) and over real loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import httpx
import pytest

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    Durations,
    EmulatorConfig,
    ManualClock,
    create_app,
)
from aura_async.emulator.app import EmulatorState

pytest_plugins = ["pytester"]

PROJECT = DEFAULT_PROJECT_ID


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def instance_body(**overrides: Any) -> dict[str, Any]:
    """A valid create-instance body (AuraDB Professional, 2GB, GCP Belgium)."""
    body: dict[str, Any] = {
        "version": "5",
        "region": "europe-west1",
        "memory": "2GB",
        "name": "test-instance",
        "type": "professional-db",
        "tenant_id": PROJECT,
        "cloud_provider": "gcp",
    }
    body.update(overrides)
    return body


@attrs.define
class Api:
    """A thin test helper over an httpx client talking to the emulator with a valid token."""

    http: httpx.AsyncClient
    state: EmulatorState
    clock: ManualClock
    token: str = ""

    async def login(
        self, client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET
    ) -> str:
        response = await self.http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self.token

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        if body is not None:
            kw["json"] = body
        return await self.http.request(method, f"/v1{path}", headers=headers, **kw)

    async def data(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = await self.call(method, path, body)
        assert response.status_code == expect, response.text
        return response.json()["data"]

    async def create(self, **overrides: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.data(
            "POST", "/instances", instance_body(**overrides), 202
        )
        return result

    async def running(self, **overrides: Any) -> dict[str, Any]:
        """Create an instance and move the clock until it runs."""
        created = await self.create(**overrides)
        durations = self.state.config.durations
        self.clock.advance(durations.create * (1 + durations.jitter))
        instance: dict[str, Any] = await self.data("GET", f"/instances/{created['id']}")
        assert instance["status"] == "running"
        return instance


ApiFactory = Callable[..., Any]


@pytest.fixture
async def make_api() -> AsyncIterator[ApiFactory]:
    """Build in-process emulators (ASGI transport, manual clock), each with a logged-in client."""
    clients: list[httpx.AsyncClient] = []

    async def factory(
        config: EmulatorConfig | None = None, time_scale: float | None = None, *, login: bool = True
    ) -> Api:
        config = config or EmulatorConfig(seed=1)
        # The scale matters even to a manual clock: it turns waits into the client's seconds.
        clock = ManualClock(time_scale=time_scale or config.time_scale)
        app = create_app(config, clock=clock)
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://emulator.test"
        )
        clients.append(http)
        api = Api(http, app.state.emulator, clock)
        if login:
            await api.login(config.credentials[0].client_id, config.credentials[0].client_secret)
        return api

    yield factory
    for client in clients:
        await client.aclose()


def only_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an ``{"errors": [one item]}`` answer with ``status``; return the item."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["errors"], body
    (item,) = body["errors"]
    assert isinstance(item, dict)
    return item


@pytest.fixture
async def exact(make_api: ApiFactory) -> Api:
    """An emulator whose operations take exactly their configured durations (no jitter)."""
    result: Api = await make_api(EmulatorConfig(seed=1, durations=Durations(jitter=0)))
    return result


@pytest.fixture
async def api(make_api: ApiFactory) -> Api:
    """An in-process emulator with default settings and a logged-in client."""
    result: Api = await make_api()
    return result

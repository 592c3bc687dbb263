"""Shared fixtures: an emulator in process (ASGI, manual clock) and over real loopback HTTP.

Also the suite-wide secrets check (see "No secret shows, in any test" below): every test
fails that lets a password, access token or client secret the emulator issued reach a log
record, its captured stdout/stderr or a CLI run's output, or leaves a file holding an issued
password that is not 0600 in a 0700 directory under its ``tmp_path``.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator, Callable, Generator
from pathlib import Path
from typing import Any

import _pytest.capture
import attrs
import click.testing
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
from aura_async.emulator import secrets as emulator_secrets
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


# ------------------------------------------------ No secret shows, in any test
#
# The emulator records every secret it hands out (aura_async.emulator.secrets). The registry
# is cleared before each test; after each phase (setup, call, teardown) the phase's captured
# log records (the aura_async logger and the root logger at DEBUG), stdout and stderr, and
# everything read through capsys/capfd or produced by click's CliRunner, are searched for
# every secret issued so far in the test. A test that prints one on purpose
# (--show-password) is marked ``shows_secrets``. After the test, every file under its
# tmp_path that holds an issued PASSWORD (only the package writes those: ledgers, .env
# files) must be 0600 in a 0700 directory; the marker does not lift that rule.
# Subprocesses' output (the Ctrl-C tests) is not seen here; event streams and reports are
# searched by tests/reliability/test_secrets_everywhere.py.

SHOWS_SECRETS = "shows_secrets"
_TMP_KEY = pytest.StashKey[Path]()
# What tests read through capsys/capfd and CliRunner results, for the current test.
_seen: list[tuple[str, str]] = []


def _wrap_readouterr() -> None:
    original = _pytest.capture.CaptureFixture.readouterr

    def readouterr(self: Any) -> Any:
        result = original(self)
        for where, text in (
            ("capsys/capfd stdout", result.out),
            ("capsys/capfd stderr", result.err),
        ):
            if isinstance(text, bytes):
                text = text.decode(errors="replace")
            if text:
                _seen.append((where, text))
        return result

    _pytest.capture.CaptureFixture.readouterr = readouterr  # type: ignore[method-assign]


def _wrap_cli_runner() -> None:
    original = click.testing.CliRunner.invoke

    def invoke(self: Any, *args: Any, **kwargs: Any) -> click.testing.Result:
        result = original(self, *args, **kwargs)
        _seen.append(("CliRunner output", result.output))
        _seen.append(("CliRunner stderr", result.stderr))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            _seen.append(("CliRunner exception", f"{result.exception!r} {result.exception}"))
        return result

    click.testing.CliRunner.invoke = invoke  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{SHOWS_SECRETS}: the test prints an emulator-issued secret on purpose "
        "(--show-password); the suite-wide secrets check skips its output, not its files",
    )
    _wrap_readouterr()
    _wrap_cli_runner()
    # DEBUG records are made (and captured by pytest) for the package and everything else.
    logging.getLogger("aura_async").setLevel(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    emulator_secrets.clear()
    _seen.clear()


def _masked(text: str, secret: str, at: int) -> str:
    before = text[max(0, at - 60) : at].replace("\n", " ")
    after = text[at + len(secret) : at + len(secret) + 60].replace("\n", " ")
    return f"...{before}<{len(secret)}-character secret>{after}..."


def _output_leaks(item: pytest.Item, report: pytest.TestReport) -> list[str]:
    issued = emulator_secrets.issued()
    if not issued:
        return []
    texts = [
        (title, content)
        for title, content in report.sections
        if title.startswith("Captured ") and title.endswith(f" {report.when}")
    ]
    texts += _seen
    _seen.clear()
    kinds = {kind: emulator_secrets.issued(kind) for kind in emulator_secrets.KINDS}
    leaks = []
    for where, text in texts:
        if not text:
            continue
        for secret in issued:
            at = text.find(secret)
            if at >= 0:
                kind = next(k for k, values in kinds.items() if secret in values)
                leaks.append(f"{where}: an issued {kind}: {_masked(text, secret, at)}")
    return leaks


def _file_leaks(root: Path) -> list[str]:
    passwords = [p.encode() for p in emulator_secrets.issued("password")]
    if not passwords or not root.is_dir():
        return []
    leaks = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode) or info.st_size > 4_000_000:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            if not any(p in data for p in passwords):
                continue
            mode = stat.S_IMODE(info.st_mode)
            parent = stat.S_IMODE(path.parent.stat().st_mode)
            if mode != 0o600 or parent != 0o700:
                leaks.append(
                    f"{path.relative_to(root)} holds an issued password with mode "
                    f"{mode:04o} in a directory of mode {parent:04o} (want 0600 in 0700)"
                )
    return leaks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    problems: list[str] = []
    if item.get_closest_marker(SHOWS_SECRETS) is None:
        problems += _output_leaks(item, report)
    funcargs = getattr(item, "funcargs", None) or {}
    if report.when == "call" and isinstance(funcargs.get("tmp_path"), Path):
        item.stash[_TMP_KEY] = funcargs["tmp_path"]
    if report.when == "teardown" and _TMP_KEY in item.stash:
        problems += _file_leaks(item.stash[_TMP_KEY])
    if problems:
        message = "the suite-wide secrets check failed:\n  " + "\n  ".join(problems)
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message
        else:
            report.sections.append(("secrets check", message))
    return report

"""Settings: explicit arguments > environment (AURA_*) > a ``.env`` file > documented defaults."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from aura_async import AuraClient, ClientSettings, ConfigurationError, RateLimit, RetryPolicy
from aura_async.config import DEFAULT_BASE_URL, DEFAULT_LIMITS, DEFAULT_TIMEOUT
from aura_async.emulator import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig, create_app

VARIABLES = (
    "AURA_CLIENT_ID",
    "AURA_CLIENT_SECRET",
    "AURA_TENANT_ID",
    "AURA_BASE_URL",
    "AURA_AUTH_URL",
    "AURA_RATE_LIMIT",
)
SECRET = "s3cret-value-never-shown"


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AURA_* variable set and a working directory with no ``.env`` in it."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def credentials(monkeypatch: pytest.MonkeyPatch, **more: str) -> None:
    monkeypatch.setenv("AURA_CLIENT_ID", "env-id")
    monkeypatch.setenv("AURA_CLIENT_SECRET", SECRET)
    for name, value in more.items():
        monkeypatch.setenv(name, value)


class Recording(httpx.AsyncBaseTransport):
    """Sends to the emulator in process and remembers every URL asked for."""

    def __init__(self) -> None:
        self.inner = httpx.ASGITransport(app=create_app(EmulatorConfig(seed=1)))
        self.urls: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def recording() -> AsyncIterator[Recording]:
    transport = Recording()
    yield transport
    await transport.inner.aclose()


# --------------------------------------------------------------------------- arguments


async def test_arguments_with_documented_defaults() -> None:
    async with AuraClient("my-id", SECRET, tenant_id="my-project") as aura:
        settings = aura.settings
        assert (settings.client_id, settings.client_secret) == ("my-id", SECRET)
        assert aura.tenant_id == settings.tenant_id == "my-project"
        assert settings.base_url == DEFAULT_BASE_URL == "https://api.neo4j.io"
        assert settings.api_url == "https://api.neo4j.io/v1"
        assert settings.token_url == "https://api.neo4j.io/oauth/token"
        assert settings.rate_limit == RateLimit.paid() == RateLimit(125, 60)
        assert aura.limiter is not None
        assert aura.limiter.rate == RateLimit(125, 60)
        assert str(aura._pipeline.http.base_url) == "https://api.neo4j.io/v1/"


async def test_timeouts_limits_and_retries_have_documented_defaults() -> None:
    # The values AuraClient's docstring promises, and that they reach httpx.
    doc = AuraClient.__doc__ or ""
    assert "default 30 s, connect 10 s, pool 120 s" in doc
    assert "default 64 connections" in doc
    assert "default: 5 resends, backoff 0.5 s to 8 s" in doc
    assert httpx.Timeout(30.0, connect=10.0, pool=120.0) == DEFAULT_TIMEOUT
    assert DEFAULT_LIMITS.max_connections == 64
    assert RetryPolicy() == RetryPolicy(max_retries=5, base_delay=0.5, max_delay=8.0)
    async with AuraClient("id", SECRET) as aura:
        assert aura.settings.timeout == DEFAULT_TIMEOUT
        assert aura.settings.limits == DEFAULT_LIMITS
        assert aura.settings.retry == RetryPolicy()
        assert aura._pipeline.http.timeout == DEFAULT_TIMEOUT
        pool = aura._pipeline.http._transport.inner._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 64


async def test_explicit_timeout_and_limits_reach_httpx() -> None:
    timeout = httpx.Timeout(5.0, connect=1.0)
    limits = httpx.Limits(max_connections=7)
    async with AuraClient("id", SECRET, timeout=timeout, limits=limits) as aura:
        assert aura._pipeline.http.timeout == timeout
        pool = aura._pipeline.http._transport.inner._pool  # type: ignore[attr-defined]
        assert pool._max_connections == 7


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (RateLimit(10, 1.5), RateLimit(10, 1.5)),
        ("25/60", RateLimit(25, 60)),
        ("free", RateLimit.free()),
        (None, None),
    ],
)
async def test_rate_limit_argument(given: RateLimit | str | None, expected: RateLimit) -> None:
    async with AuraClient("id", SECRET, rate_limit=given) as aura:
        assert aura.settings.rate_limit == expected
        assert (aura.limiter.rate if aura.limiter else None) == expected


@pytest.mark.parametrize("given", [5, "lots", "0/60"])
def test_bad_rate_limit_argument(given: object) -> None:
    with pytest.raises(ConfigurationError, match="rate_limit"):
        ClientSettings("id", SECRET, rate_limit=given)


# --------------------------------------------------------------------------- environment


async def test_from_env_reads_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials(
        monkeypatch,
        AURA_TENANT_ID="env-project",
        AURA_BASE_URL="http://localhost:8080",
        AURA_AUTH_URL="http://auth.localhost:9090/token",
        AURA_RATE_LIMIT="25/60",
    )
    async with AuraClient.from_env() as aura:
        settings = aura.settings
        assert (settings.client_id, settings.client_secret) == ("env-id", SECRET)
        assert settings.tenant_id == "env-project"
        assert settings.api_url == "http://localhost:8080/v1"
        assert settings.token_url == "http://auth.localhost:9090/token"
        assert settings.rate_limit == RateLimit(25, 60)


def test_auth_url_defaults_to_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials(monkeypatch, AURA_BASE_URL="http://localhost:8080/v1/")
    settings = ClientSettings.from_env()
    assert settings.auth_url is None
    assert settings.token_url == "http://localhost:8080/oauth/token"


@pytest.mark.parametrize(
    "url",
    [
        "https://api.neo4j.io",
        "https://api.neo4j.io/",
        "https://api.neo4j.io/v1",
        "https://api.neo4j.io/v1/",
        "  https://api.neo4j.io/v1  ",
    ],
)
def test_base_url_with_or_without_v1(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    credentials(monkeypatch, AURA_BASE_URL=url)
    for settings in (ClientSettings.from_env(), ClientSettings("id", SECRET, base_url=url)):
        assert settings.base_url == "https://api.neo4j.io"
        assert settings.api_url == "https://api.neo4j.io/v1"
        assert settings.token_url == "https://api.neo4j.io/oauth/token"


async def test_requests_go_under_v1_and_tokens_to_the_auth_url(
    monkeypatch: pytest.MonkeyPatch, recording: Recording
) -> None:
    monkeypatch.setenv("AURA_CLIENT_ID", DEFAULT_CLIENT_ID)
    monkeypatch.setenv("AURA_CLIENT_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("AURA_BASE_URL", "http://emulator.test/v1/")
    async with AuraClient.from_env(transport=recording) as aura:
        await aura.tenants.list()
    assert recording.urls == ["http://emulator.test/oauth/token", "http://emulator.test/v1/tenants"]

    recording.urls.clear()
    monkeypatch.setenv("AURA_AUTH_URL", "http://login.test/oauth/token")
    async with AuraClient.from_env(transport=recording) as aura:
        await aura.tenants.list()
    assert recording.urls == ["http://login.test/oauth/token", "http://emulator.test/v1/tenants"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("125/60", RateLimit(125, 60)),
        ("25/60", RateLimit(25, 60)),
        ("free", RateLimit(25, 60)),
        ("paid", RateLimit(125, 60)),
        ("20/1s", RateLimit(20, 1)),
    ],
)
async def test_rate_limit_variable(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: RateLimit
) -> None:
    credentials(monkeypatch, AURA_RATE_LIMIT=text)
    async with AuraClient.from_env() as aura:
        assert aura.settings.rate_limit == expected
        assert aura.limiter is not None
        assert aura.limiter.rate == expected


@pytest.mark.parametrize("text", ["lots", "0/60", "25/0", "25/", "-5", "25/60/60", "1.5/60"])
def test_bad_rate_limit_variable(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    credentials(monkeypatch, AURA_RATE_LIMIT=text)
    with pytest.raises(ConfigurationError, match="AURA_RATE_LIMIT"):
        AuraClient.from_env()


def test_unknown_override_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials(monkeypatch)
    with pytest.raises(ConfigurationError, match="colour"):
        AuraClient.from_env(colour="blue")


# --------------------------------------------------------------------------- .env


def write_dotenv(directory: Path, **values: str) -> None:
    lines = [f"{name}={value}" for name, value in values.items()]
    (directory / ".env").write_text("# test settings\n" + "\n".join(lines) + "\n")


async def test_dotenv_is_read_when_present(clean: Path) -> None:
    write_dotenv(
        clean,
        AURA_CLIENT_ID="dotenv-id",
        AURA_CLIENT_SECRET=SECRET,
        AURA_TENANT_ID="dotenv-project",
        AURA_BASE_URL="http://localhost:7070/v1",
        AURA_RATE_LIMIT="free",
    )
    async with AuraClient.from_env() as aura:
        settings = aura.settings
        assert (settings.client_id, settings.client_secret) == ("dotenv-id", SECRET)
        assert settings.tenant_id == "dotenv-project"
        assert settings.api_url == "http://localhost:7070/v1"
        assert settings.rate_limit == RateLimit.free()
    # ... and only read: the process environment is left as it was.
    assert not [name for name in VARIABLES if name in os.environ]


def test_dotenv_elsewhere_is_not_read(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dotenv(clean, AURA_CLIENT_ID="dotenv-id", AURA_CLIENT_SECRET=SECRET)
    assert ClientSettings.from_env().client_id == "dotenv-id"
    elsewhere = clean / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(ConfigurationError, match="AURA_CLIENT_ID"):
        ClientSettings.from_env()


def test_environment_wins_over_dotenv_and_arguments_over_both(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_dotenv(
        clean,
        AURA_CLIENT_ID="dotenv-id",
        AURA_CLIENT_SECRET="dotenv-secret",
        AURA_TENANT_ID="dotenv-project",
        AURA_RATE_LIMIT="free",
    )
    monkeypatch.setenv("AURA_CLIENT_ID", "env-id")
    monkeypatch.setenv("AURA_RATE_LIMIT", "paid")
    settings = ClientSettings.from_env()
    assert settings.client_id == "env-id"  # environment over .env
    assert settings.client_secret == "dotenv-secret"  # .env where the environment is silent
    assert settings.tenant_id == "dotenv-project"
    assert settings.rate_limit == RateLimit.paid()

    settings = ClientSettings.from_env(
        client_id="arg-id", tenant_id="arg-project", rate_limit=RateLimit(3, 1)
    )
    assert (settings.client_id, settings.tenant_id) == ("arg-id", "arg-project")
    assert settings.client_secret == "dotenv-secret"
    assert settings.rate_limit == RateLimit(3, 1)


async def test_client_from_env_arguments_win(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dotenv(clean, AURA_CLIENT_SECRET="dotenv-secret", AURA_TENANT_ID="dotenv-project")
    monkeypatch.setenv("AURA_CLIENT_ID", "env-id")
    async with AuraClient.from_env(tenant_id="arg-project", rate_limit="10/1s") as aura:
        assert aura.settings.client_id == "env-id"
        assert aura.settings.client_secret == "dotenv-secret"
        assert aura.tenant_id == "arg-project"
        assert aura.limiter is not None
        assert aura.limiter.rate == RateLimit(10, 1)


# --------------------------------------------------------------------------- errors


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as both:
        AuraClient()
    assert "AURA_CLIENT_ID" in str(both.value)
    assert "AURA_CLIENT_SECRET" in str(both.value)

    with pytest.raises(ConfigurationError) as secret_only:
        AuraClient("id")
    assert "AURA_CLIENT_SECRET" in str(secret_only.value)
    assert "AURA_CLIENT_ID" not in str(secret_only.value)

    monkeypatch.setenv("AURA_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("AURA_CLIENT_ID", "")  # set but empty is missing too
    with pytest.raises(ConfigurationError) as id_only:
        AuraClient.from_env()
    assert "AURA_CLIENT_ID" in str(id_only.value)
    assert "AURA_CLIENT_SECRET" not in str(id_only.value)
    assert SECRET not in str(id_only.value)


BAD_URLS = [
    "ftp://api.neo4j.io",
    "api.neo4j.io",
    "",
    "https://",
    "http://[::1",
    "https://api.neo4j.io?debug=1",
    "https://api.neo4j.io/#top",
    "http://api neo4j.io",
    "https://api.neo4j.io:99999",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_base_url_is_rejected(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"base_url \(AURA_BASE_URL\)") as caught:
        AuraClient("id", SECRET, base_url=url)
    assert SECRET not in str(caught.value)
    credentials(monkeypatch, AURA_BASE_URL=url)
    if url:  # an empty variable is as good as unset
        with pytest.raises(ConfigurationError, match="AURA_BASE_URL"):
            AuraClient.from_env()


@pytest.mark.parametrize("url", [u for u in BAD_URLS if u])
def test_bad_auth_url_is_rejected(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"auth_url \(AURA_AUTH_URL\)"):
        AuraClient("id", SECRET, auth_url=url)
    credentials(monkeypatch, AURA_AUTH_URL=url)
    with pytest.raises(ConfigurationError, match="AURA_AUTH_URL"):
        AuraClient.from_env()


def test_url_with_credentials_is_rejected_without_echoing_them() -> None:
    url = "https://me:hunter2@api.neo4j.io"
    builds: list[tuple[str, Callable[[], ClientSettings]]] = [
        ("base_url", lambda: ClientSettings("id", SECRET, base_url=url)),
        ("auth_url", lambda: ClientSettings("id", SECRET, auth_url=url)),
    ]
    for name, build in builds:
        with pytest.raises(ConfigurationError, match=name) as caught:
            build()
        assert "hunter2" not in str(caught.value)
        assert "hunter2" not in repr(caught.value)


async def test_repr_never_shows_the_secret(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_dotenv(clean, AURA_CLIENT_SECRET=SECRET)
    monkeypatch.setenv("AURA_CLIENT_ID", "env-id")
    async with (
        AuraClient("id", SECRET, tenant_id="p") as by_argument,
        AuraClient.from_env() as by_environment,
    ):
        for aura in (by_argument, by_environment):
            assert aura.settings.client_secret == SECRET
            for shown in (aura, aura.settings, aura._pipeline.auth, aura._pipeline):
                assert SECRET not in repr(shown)
                assert SECRET not in str(shown)
            assert "base_url='https://api.neo4j.io'" in repr(aura)
            assert "client_id=" in repr(aura.settings)

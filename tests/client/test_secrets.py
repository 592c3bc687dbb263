"""No secret ever shows: a whole scenario at DEBUG, then a search of everything it produced.

The scenario runs over real loopback HTTP: a token, a create (the password), gets, a pause, a
revoked token (403, refreshed and resent), a token request with a wrong secret, 429s, local
and server validation errors and a 404. Everything that came out of it (log records, their
arguments and formatted text, httpx's and httpcore's own debug logs, reprs and strs of the
client, its settings, auth and models, every exception with its cause and context chain and
traceback, every event) is then searched for the client secret (and its Basic header), every
access token the emulator issued, and the instance password.
"""

from __future__ import annotations

import base64
import logging
import secrets
import traceback
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest

from aura_async import (
    AuraClient,
    AuraError,
    BadRequestError,
    ClientEvent,
    InstanceStatus,
    NotFoundError,
    RateLimit,
    RateLimited,
    RateLimitedError,
    RetryPolicy,
    TokenError,
    TokenRefreshed,
    TransportError,
    ValidationError,
)
from aura_async.emulator import Credential, EmulatorConfig, EmulatorServer, RateLimitSettings
from aura_async.emulator.tokens import IssuedToken, TokenStore
from aura_async.models import Project
from aura_async.resources.catalogue import Catalogue
from tests.client.conftest import HoldableClock

CLIENT_ID = "secrets-test-client"


async def unreadable(tenant_id: str) -> Project:
    """Reads no project: creates are then checked by the offline rules, the server decides."""
    raise TransportError("the test hides the catalogue", method="GET", path="/tenants")


LOGGERS = ("", "aura_async", "httpx", "httpcore")


class Capture(logging.Handler):
    """Keeps every record and its fully formatted text (exception tracebacks included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(
            logging.Formatter("%(asctime)s %(name)s %(levelname)s %(pathname)s %(message)s")
        )
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def capture(caplog: pytest.LogCaptureFixture) -> Iterator[Capture]:
    handler = Capture()
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name or None)
        logging.getLogger(name or None).addHandler(handler)
    try:
        yield handler
    finally:
        for name in LOGGERS:
            logging.getLogger(name or None).removeHandler(handler)


def exception_texts(error: BaseException) -> Iterator[str]:
    """Everything an exception shows, down its __cause__ and __context__ chain."""
    yield "".join(traceback.format_exception(error))
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield repr(current)
        yield str(current)
        yield from (repr(arg) for arg in current.args)
        yield from (repr(value) for value in vars(current).values())
        yield from getattr(current, "__notes__", [])
        pending += [current.__cause__, current.__context__]


def record_texts(record: logging.LogRecord) -> Iterator[str]:
    yield record.getMessage()
    yield str(record.msg)
    yield repr(record.args)
    if isinstance(record.args, tuple):
        yield from (str(arg) for arg in record.args)
    yield from (repr(value) for value in vars(record).values())
    if record.exc_info and record.exc_info[1] is not None:
        yield from exception_texts(record.exc_info[1])


async def test_no_secret_in_anything_a_full_scenario_produces(
    capture: Capture, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = secrets.token_urlsafe(32)
    wrong_secret = secrets.token_urlsafe(32)
    config = EmulatorConfig(
        credentials=(Credential(CLIENT_ID, secret),),
        seed=11,
        time_scale=600.0,  # a create takes 0.2 s, a pause 0.1 s
        rate_limit=RateLimitSettings(limit=100, window=60.0, model="sliding"),
    )
    events: list[ClientEvent] = []
    errors: list[BaseException] = []
    shown: list[Any] = []  # objects whose repr and str are searched
    issued: list[str] = []

    async def expect(error: type[AuraError], call: Any) -> None:
        with pytest.raises(error) as caught:
            await call
        errors.append(caught.value)

    clock = HoldableClock(config.time_scale)
    async with EmulatorServer(config, clock=clock) as server:
        store: TokenStore = server.state.tokens
        original_issue = store.issue

        def issue(client_id: str, now: float) -> IssuedToken:
            token = original_issue(client_id, now)
            issued.append(token.value)
            return token

        store.issue = issue  # type: ignore[method-assign]

        aura = AuraClient(
            CLIENT_ID,
            secret,
            tenant_id=server.project_id,
            base_url=server.base_url,
            rate_limit=RateLimit(100, 0.1),
            retry=RetryPolicy(max_rate_limited_retries=0, base_delay=0.01),
            on_event=events.append,
        )
        async with aura:
            shown += [aura, aura.settings, aura._pipeline.auth, aura._pipeline.http, aura.limiter]
            shown.append(await aura.tenants.list())
            created = await aura.instances.create(
                name="secret-keeper",
                type="professional-db",
                region="europe-west1",
                memory="2GB",
                cloud_provider="gcp",
            )
            password = created.password
            shown.append(created)
            with anyio.fail_after(5):
                while (instance := await aura.instances.get(created.id)).status is not (
                    InstanceStatus.RUNNING
                ):
                    shown.append(instance)
                    await anyio.sleep(0.05)
            shown.append(instance)
            shown.append(await aura.instances.pause(created.id))

            # The token is revoked: a 403, one refresh, and the request resent.
            with server.state.lock:
                store.revoke_all()
            shown.append(await aura.instances.get(created.id))

            # Validation: locally (nothing sent), against the project's offer (read by the
            # first create), and by the server (the offer hidden, so the region is sent).
            nowhere: dict[str, Any] = {
                "name": "nowhere",
                "type": "professional-db",
                "region": "mars-north1",
                "memory": "2GB",
                "cloud_provider": "gcp",
            }
            await expect(ValidationError, aura.instances.get("not-an-id"))
            await expect(ValidationError, aura.instances.create(name=" padded", type="free-db"))
            await expect(ValidationError, aura.instances.create(**nowhere))
            refused = errors[-1]
            assert isinstance(refused, ValidationError)
            assert refused.field == "region"
            aura.instances.catalogue = Catalogue(unreadable)
            await expect(BadRequestError, aura.instances.create(**nowhere))
            await expect(NotFoundError, aura.instances.get("0000abcd"))

            # 429s: the server now allows 2 per window, the client still believes 100.
            async with httpx.AsyncClient(base_url=server.base_url) as control:
                response = await control.patch("/_emulator/rate-limit", json={"limit": 2})
                response.raise_for_status()

                async def limited() -> None:
                    try:
                        shown.append(await aura.instances.list())
                    except RateLimitedError as exc:
                        errors.append(exc)

                # Held, the emulated clock keeps the six in one 60 s window (0.1 s real): on a
                # slow host they could otherwise spread over three windows and all pass.
                with clock.held():
                    async with anyio.create_task_group() as tg:
                        for _ in range(6):
                            tg.start_soon(limited)
                response = await control.patch("/_emulator/rate-limit", json={"limit": 100})
                response.raise_for_status()

        # A wrong secret: the token endpoint refuses.
        async with AuraClient(
            CLIENT_ID, wrong_secret, base_url=server.base_url, on_event=events.append
        ) as wrong:
            shown += [wrong, wrong.settings]
            await expect(TokenError, wrong.tenants.list())

        issued += list(store._tokens)

    # The scenario did what it says.
    assert len([e for e in events if isinstance(e, TokenRefreshed)]) == 2
    assert len(set(issued)) == 2
    assert [e for e in events if isinstance(e, RateLimited)]
    assert sum(isinstance(e, RateLimitedError) for e in errors) >= 1
    assert password
    assert {type(e) for e in errors} >= {
        ValidationError,
        BadRequestError,
        NotFoundError,
        RateLimitedError,
        TokenError,
    }
    by_logger = {r.name.split(".")[0] for r in capture.records}
    assert {"aura_async", "httpx", "httpcore"} <= by_logger, by_logger

    # Everything that came out of it.
    haystack: list[str] = [*capture.lines, caplog.text]
    for record in [*capture.records, *caplog.records]:
        haystack += record_texts(record)
    for error in errors:
        haystack += exception_texts(error)
    for obj in shown:
        haystack += [repr(obj), str(obj)]
    haystack += [repr(event) for event in events]
    out, err = capsys.readouterr()
    haystack += [out, err]
    text = "\n".join(haystack)
    assert created.id in text
    assert CLIENT_ID in text

    random_values = {
        "the client secret": secret,
        "the wrong secret": wrong_secret,
        "the instance password": password,
    }
    random_values.update({f"access token {n}": token for n, token in enumerate(set(issued))})
    basic = {
        "the Basic credentials": base64.b64encode(f"{CLIENT_ID}:{secret}".encode()).decode(),
        "the wrong Basic credentials": base64.b64encode(
            f"{CLIENT_ID}:{wrong_secret}".encode()
        ).decode(),
    }
    leaks = [what for what, value in {**random_values, **basic}.items() if value in text]
    # A part shown is a leak too (e.g. a token "masked" to its first characters). The values
    # are random, so no 12 of their characters appear by chance; a Basic header's start only
    # encodes the client id, so its end is checked instead.
    leaks += [
        f"a part of {what}"
        for what, value in random_values.items()
        if value[:12] in text or value[-12:] in text
    ]
    leaks += [f"the end of {what}" for what, value in basic.items() if value[-16:] in text]
    assert not leaks, leaks

    # httpx's and httpcore's debug logs never show the Authorization header.
    wire = "\n".join(
        line
        for record, line in zip(capture.records, capture.lines, strict=True)
        if record.name.split(".")[0] in ("httpx", "httpcore")
    )
    assert wire
    assert "authorization" not in wire.lower()
    assert "bearer" not in wire.lower()
    assert "basic " not in wire.lower()

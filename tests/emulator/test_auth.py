"""The emulator's token endpoint and the bearer-token half of its API gateway.

Covers ``POST /oauth/token`` (client-credentials flow, errors in the OAuth shape), how the
gateway answers requests without a token (401) or with an unknown or expired one (403),
the headers every ``/v1`` answer carries, per-credential rate limits, and moving the
emulated clock over HTTP.
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

import httpx
import pytest

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    Credential,
    EmulatorConfig,
    ErrorFault,
    FaultPlan,
    RateLimitSettings,
)
from tests.conftest import Api, ApiFactory, instance_body

REQUEST_ID = re.compile(r"^[0-9a-f]{32}/[0-9]{20}$")
FORM = {"grant_type": "client_credentials"}


async def _token(
    api: Api,
    *,
    auth: tuple[str, str] | None = (DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    **kw: Any,
) -> httpx.Response:
    if "data" not in kw and "content" not in kw and "json" not in kw:
        kw["data"] = FORM
    return await api.http.post("/oauth/token", auth=auth, **kw)


def _basic(raw: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def _assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    assert isinstance(body["error_description"], str)
    assert body["error_description"]


# ------------------------------------------------------------------ token endpoint


async def test_token_success_body(api: Api) -> None:
    response = await _token(api)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert len(body["access_token"]) >= 32
    assert body["expires_in"] == 3600
    # The token works, and each request mints a new one.
    again = (await _token(api)).json()["access_token"]
    assert again != body["access_token"]
    ok = await api.http.get(
        "/v1/instances", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200


async def test_token_counted_as_issued(api: Api) -> None:
    before = api.state.backend.counters.tokens_issued
    await _token(api)
    await _token(api, auth=(DEFAULT_CLIENT_ID, "wrong"))
    assert api.state.backend.counters.tokens_issued == before + 1


def test_a_token_shorter_than_a_real_second_is_refused() -> None:
    # expires_in is whole real seconds: such a token's life could not be told truthfully.
    with pytest.raises(ValueError, match="real second"):
        EmulatorConfig(token_lifetime=1.0, time_scale=600.0)


@pytest.mark.parametrize(
    ("lifetime", "scale", "expected"),
    [
        (3600.0, 1.0, 3600),
        (3600.0, 60.0, 60),
        (3600.0, 600.0, 6),
        (600.0, 60.0, 10),
        (100.0, 60.0, 1),  # 1.67 real seconds: rounded down, never promising too long
        (90.0, 1.0, 90),
    ],
)
async def test_expires_in_is_real_seconds(
    make_api: ApiFactory, lifetime: float, scale: float, expected: int
) -> None:
    api = await make_api(EmulatorConfig(seed=1, token_lifetime=lifetime), scale)
    body = (await _token(api)).json()
    assert body["expires_in"] == expected
    assert body["expires_in"] == max(1, math.floor(lifetime / scale))


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        pytest.param(None, {}, id="no-authorization"),
        pytest.param((DEFAULT_CLIENT_ID, "wrong-secret"), {}, id="wrong-secret"),
        pytest.param(("nobody", DEFAULT_CLIENT_SECRET), {}, id="unknown-client"),
        pytest.param((DEFAULT_CLIENT_ID, ""), {}, id="empty-secret"),
        pytest.param(None, {"Authorization": "Basic !!not-base64!!"}, id="not-base64"),
        pytest.param(None, _basic(DEFAULT_CLIENT_ID), id="no-colon"),
        pytest.param(None, {"Authorization": f"Bearer {DEFAULT_CLIENT_SECRET}"}, id="bearer"),
        pytest.param(None, {"Authorization": "Basic"}, id="basic-without-value"),
    ],
)
async def test_token_rejects_bad_credentials(
    api: Api, auth: tuple[str, str] | None, headers: dict[str, str]
) -> None:
    response = await _token(api, auth=auth, headers=headers)
    _assert_oauth_error(response, 401, "invalid_client")


async def test_token_checks_credentials_before_body(api: Api) -> None:
    # A bad body with bad credentials is a 401, not a 400.
    response = await _token(api, auth=(DEFAULT_CLIENT_ID, "wrong"), json=FORM)
    _assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "kw",
    [
        pytest.param({"json": FORM}, id="json-body"),
        pytest.param(
            {
                "content": b"grant_type=client_credentials",
                "headers": {"Content-Type": "text/plain"},
            },
            id="text-plain",
        ),
        pytest.param({"content": b"grant_type=client_credentials"}, id="no-content-type"),
        pytest.param({"data": {"scope": "all"}}, id="form-without-grant-type"),
        pytest.param({"data": {"grant_type": ""}}, id="form-empty-grant-type"),
        pytest.param(
            {"content": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
            id="empty-form",
        ),
    ],
)
async def test_token_invalid_request(api: Api, kw: dict[str, Any]) -> None:
    response = await _token(api, **kw)
    _assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("grant", ["password", "authorization_code", "CLIENT_CREDENTIALS"])
async def test_token_unsupported_grant_type(api: Api, grant: str) -> None:
    response = await _token(api, data={"grant_type": grant})
    _assert_oauth_error(response, 400, "unsupported_grant_type")


async def test_token_form_with_charset_is_accepted(api: Api) -> None:
    response = await _token(
        api,
        content=b"grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status_code == 200, response.text


async def test_token_failures_are_not_issued(api: Api) -> None:
    # Failed token requests mint nothing: the counter and the API agree.
    before = api.state.backend.counters.tokens_issued
    for _ in range(3):
        await _token(api, data={"grant_type": "password"})
    assert api.state.backend.counters.tokens_issued == before


# ----------------------------------------------------------- API: bearer tokens


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-without-token"),
        pytest.param({"Authorization": "Bearer    "}, id="bearer-blank-token"),
        pytest.param(_basic(f"{DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}"), id="basic"),
        pytest.param({"Authorization": "Token abc"}, id="other-scheme"),
    ],
)
async def test_api_without_bearer_token_is_401(api: Api, headers: dict[str, str]) -> None:
    response = await api.http.get("/v1/instances", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]


async def test_api_bearer_scheme_is_case_insensitive(api: Api) -> None:
    response = await api.http.get("/v1/instances", headers={"Authorization": f"bearer {api.token}"})
    assert response.status_code == 200


async def test_api_unknown_token_is_403(api: Api) -> None:
    for token in ("not-a-token", api.token + "x", api.token[:-1]):
        response = await api.http.get("/v1/instances", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 403
        assert set(response.json()) == {"error"}


async def test_api_401_and_403_do_no_work(api: Api) -> None:
    anonymous = await api.http.post("/v1/instances", json=instance_body())
    assert anonymous.status_code == 401
    forged = await api.http.post(
        "/v1/instances", json=instance_body(), headers={"Authorization": "Bearer forged"}
    )
    assert forged.status_code == 403
    assert api.state.backend.instances == {}


async def test_token_expires_after_lifetime(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, token_lifetime=120.0))
    old = api.token
    assert (await api.call("GET", "/instances")).status_code == 200
    api.clock.advance(119.0)
    assert (await api.call("GET", "/instances")).status_code == 200
    api.clock.advance(1.0)  # exactly the lifetime: expired
    expired = await api.call("GET", "/instances")
    assert expired.status_code == 403
    assert set(expired.json()) == {"error"}
    # A fresh token works; the old one stays dead.
    await api.login()
    assert api.token != old
    assert (await api.call("GET", "/instances")).status_code == 200
    stale = await api.http.get("/v1/instances", headers={"Authorization": f"Bearer {old}"})
    assert stale.status_code == 403


async def test_default_token_lifetime_is_a_real_hour(make_api: ApiFactory) -> None:
    # Tokens are not part of the lifecycle being compressed: at scale 60 a token still lasts
    # an hour of the client's time (60 emulated hours), and says so in expires_in.
    api = await make_api(EmulatorConfig(seed=1), 60.0)
    answer = await api.http.post(
        "/oauth/token",
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
        data={"grant_type": "client_credentials"},
    )
    assert answer.json()["expires_in"] == 3600
    api.clock.advance(3599.0 * 60)
    assert (await api.call("GET", "/instances")).status_code == 200
    api.clock.advance(60.0)
    assert (await api.call("GET", "/instances")).status_code == 403


async def test_expired_token_does_not_spend_rate_limit(make_api: ApiFactory) -> None:
    config = EmulatorConfig(seed=1, token_lifetime=10.0, rate_limit=RateLimitSettings(limit=2))
    api: Api = await make_api(config)
    api.clock.advance(10.0)
    for _ in range(5):
        assert (await api.call("GET", "/instances")).status_code == 403
    for _ in range(5):
        response = await api.http.get("/v1/instances")
        assert response.status_code == 401
    await api.login()
    assert [(await api.call("GET", "/instances")).status_code for _ in range(3)] == [200, 200, 429]


# ------------------------------------------------------------------- headers


async def _every_kind_of_answer(api: Api) -> list[httpx.Response]:
    """One /v1 answer of each kind the gateway and backend produce."""
    responses = [
        await api.call("GET", "/instances"),  # 200
        await api.call("POST", "/instances", instance_body()),  # 202
        await api.call("GET", "/instances/ffffffff"),  # 404 from the backend
        await api.call("POST", "/instances", {"name": "x"}),  # 400 invalid body
        await api.call(
            "POST", "/instances", content=b"{not json", headers={"Content-Type": "application/json"}
        ),  # 400 invalid JSON
        await api.call(
            "POST", "/instances", content=b"a=b", headers={"Content-Type": "text/plain"}
        ),  # 415
        await api.http.get("/v1/instances"),  # 401
        await api.http.get("/v1/instances", headers={"Authorization": "Bearer nope"}),  # 403
    ]
    api.state.backend.faults = FaultPlan(errors=(ErrorFault(503, 1.0, retry_after=5),))
    responses.append(await api.call("GET", "/instances"))  # 503 injected
    api.state.backend.faults = FaultPlan()
    return responses


async def test_request_id_on_every_v1_answer(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=RateLimitSettings(limit=7)))
    responses = await _every_kind_of_answer(api)
    responses.append(await api.call("GET", "/instances"))  # 429: the eighth counted request
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200, 202, 400, 401, 403, 404, 415, 429, 503]
    ids = [r.headers.get("X-Request-Id") for r in responses]
    for response, request_id in zip(responses, ids, strict=True):
        assert request_id is not None, f"no X-Request-Id on {response.status_code}"
        assert REQUEST_ID.match(request_id), request_id
    assert len(set(ids)) == len(ids), "request ids must be unique"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/v1/no-such-resource", id="unknown-route-404"),
        pytest.param("PUT", "/v1/instances", id="unknown-method-405"),
    ],
)
async def test_request_id_on_v1_routing_errors(api: Api, method: str, path: str) -> None:
    # "Every /v1 answer carries X-Request-Id" (app.py's docstring) includes the router's own
    # 404 and 405, which Starlette renders through the HTTPException handler, not the gateway.
    response = await api.http.request(
        method, path, headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status_code in (404, 405)
    assert REQUEST_ID.match(response.headers.get("X-Request-Id", "")), dict(response.headers)


async def test_deprecation_header_only_when_configured(make_api: ApiFactory) -> None:
    date = "Sat, 01 Nov 2025 00:00:00 GMT"
    deprecated: Api = await make_api(EmulatorConfig(seed=1, deprecation_date=date))
    for response in await _every_kind_of_answer(deprecated):
        assert response.headers.get("X-Tyk-Api-Expires") == date, response.status_code

    current: Api = await make_api(EmulatorConfig(seed=1))
    for response in await _every_kind_of_answer(current):
        assert "X-Tyk-Api-Expires" not in response.headers, response.status_code


# ------------------------------------------------------------- two credentials

ALICE = Credential("alice", "alice-secret")
BOB = Credential("bob", "bob-secret")
TRIAL = Credential("trial", "trial-secret", rate_limit=25)


async def _burst(api: Api, token: str, count: int) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    return [
        (await api.http.get("/v1/instances", headers=headers)).status_code for _ in range(count)
    ]


async def test_each_credential_logs_in_with_its_own_secret(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, credentials=(ALICE, BOB)), login=False)
    assert (await _token(api, auth=("alice", "alice-secret"))).status_code == 200
    assert (await _token(api, auth=("bob", "bob-secret"))).status_code == 200
    _assert_oauth_error(await _token(api, auth=("alice", "bob-secret")), 401, "invalid_client")
    # The defaults are gone once credentials are configured.
    _assert_oauth_error(
        await _token(api, auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET)), 401, "invalid_client"
    )


async def test_credentials_have_separate_rate_limits(make_api: ApiFactory) -> None:
    config = EmulatorConfig(seed=1, credentials=(ALICE, BOB), rate_limit=RateLimitSettings(limit=3))
    api: Api = await make_api(config, login=False)
    alice = await api.login("alice", "alice-secret")
    bob = await api.login("bob", "bob-secret")
    assert await _burst(api, alice, 5) == [200, 200, 200, 429, 429]
    # Alice's exhausted budget does not touch Bob's.
    assert await _burst(api, bob, 4) == [200, 200, 200, 429]
    # Two tokens of the same client share one budget.
    alice_again = await api.login("alice", "alice-secret")
    assert await _burst(api, alice_again, 1) == [429]
    counters = (await api.http.get("/_emulator/counters")).json()
    assert counters["max_accepted_in_window"] == {"alice": 3, "bob": 3}


async def test_credential_rate_limit_overrides_global(make_api: ApiFactory) -> None:
    config = EmulatorConfig(seed=1, credentials=(ALICE, TRIAL))  # global limit: 125
    assert config.rate_limit.limit == 125
    api: Api = await make_api(config, login=False)
    trial = await api.login("trial", "trial-secret")
    alice = await api.login("alice", "alice-secret")
    statuses = await _burst(api, trial, 30)
    assert statuses == [200] * 25 + [429] * 5
    statuses = await _burst(api, alice, 126)
    assert statuses == [200] * 125 + [429]
    counters = (await api.http.get("/_emulator/counters")).json()
    assert counters["max_accepted_in_window"] == {"alice": 125, "trial": 25}


async def test_credential_override_survives_runtime_limit_change(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, credentials=(ALICE, TRIAL)), login=False)
    patched = await api.http.patch("/_emulator/rate-limit", json={"limit": 2})
    assert patched.status_code == 200
    trial = await api.login("trial", "trial-secret")
    alice = await api.login("alice", "alice-secret")
    assert await _burst(api, alice, 3) == [200, 200, 429]
    assert (await _burst(api, trial, 26)).count(200) == 25


# ------------------------------------------------------------ clock over HTTP


async def test_clock_advance_over_http(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, token_lifetime=600.0))
    start = api.clock.now()
    response = await api.http.post("/_emulator/clock/advance", json={"seconds": 599.5})
    assert response.status_code == 200
    assert response.json() == {"now": start + 599.5}
    assert api.clock.now() == start + 599.5
    assert (await api.call("GET", "/instances")).status_code == 200
    response = await api.http.post("/_emulator/clock/advance", json={"seconds": 0.5})
    assert response.json() == {"now": start + 600.0}
    assert (await api.call("GET", "/instances")).status_code == 403
    # The emulated lifecycle moves with it too.
    await api.login()
    created = await api.create()
    await api.http.post("/_emulator/clock/advance", json={"seconds": 10_000})
    await api.login()  # the 10 000 s outlived the token
    assert (await api.data("GET", f"/instances/{created['id']}"))["status"] == "running"


async def test_clock_advance_without_body_is_a_no_op(api: Api) -> None:
    start = api.clock.now()
    response = await api.http.post("/_emulator/clock/advance")
    assert response.status_code == 200
    assert response.json() == {"now": start}


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"seconds": -1}', id="negative"),
        pytest.param(b'{"seconds": "soon"}', id="not-a-number"),
        pytest.param(b"[1, 2]", id="not-an-object"),
        pytest.param(b"{oops", id="not-json"),
        pytest.param(b'{"seconds": NaN}', id="nan"),
        pytest.param(b'{"seconds": Infinity}', id="infinity"),
    ],
)
async def test_clock_advance_rejects_bad_input(api: Api, content: bytes) -> None:
    start = api.clock.now()
    response = await api.http.post(
        "/_emulator/clock/advance", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["reason"] == "invalid-request"
    assert api.clock.now() == start, "a rejected advance must not move the clock"

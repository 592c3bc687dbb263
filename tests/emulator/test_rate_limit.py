"""The emulator's rate limit: three counting models, Retry-After, and the accepted-window witness.

Two guarantees matter to clients, and they differ by model:

- ``sliding``: no half-open interval of one window's length ever holds more than ``limit``
  accepted requests.
- ``fixed``: no ALIGNED window ``[k*window, (k+1)*window)`` holds more than ``limit``; an
  unaligned interval straddling a boundary may hold up to ``2 * limit`` (the end of one
  window plus the start of the next).
- ``bucket`` (the gateway's default): any closed interval of length ``T`` holds at most
  ``limit + rate * T`` accepted requests, so one window may carry up to twice the limit. That
  is why a client must not pace itself with a bucket of its own: against a fixed or sliding
  server, the burst it allows itself after a quiet period plus the refill would overrun.

``AcceptedWindow`` (surfaced as ``max_accepted_in_window`` in ``GET /_emulator/counters``)
records the densest half-open window actually accepted, whatever the model.
"""

from __future__ import annotations

import bisect
import copy
import email.utils
import itertools
import math
import random
import re
import time
from collections import Counter
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    EmulatorConfig,
    RateLimitSettings,
)
from aura_async.emulator.ratelimit import (
    AcceptedWindow,
    FixedWindow,
    SlidingLog,
    TokenBucket,
    make_limiter,
)
from tests.conftest import Api, ApiFactory, instance_body

MODELS = ("fixed", "sliding", "bucket")
LIMIT = 5
WINDOW = 60.0
# ManualClock starts at 1_700_000_000, which is 20 s into a fixed 60 s window.
START = 1_700_000_000.0
TO_NEXT_FIXED_WINDOW = 40.0


def _rate(model: str, **kw: Any) -> RateLimitSettings:
    kw.setdefault("limit", LIMIT)
    kw.setdefault("window", WINDOW)
    return RateLimitSettings(model=model, **kw)  # type: ignore[arg-type]


async def _get(api: Api) -> httpx.Response:
    return await api.call("GET", "/instances")


async def _statuses(api: Api, count: int) -> list[int]:
    return [(await _get(api)).status_code for _ in range(count)]


async def _counters(api: Api) -> dict[str, Any]:
    response = await api.http.get("/_emulator/counters")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def _max_in_window(times: list[float], window: float) -> int:
    """Brute force: the most of ``times`` (sorted) inside any ``[t, t + window)``."""
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)), default=0)


# ----------------------------------------------------------------------- bursts


@pytest.mark.parametrize("model", MODELS)
async def test_burst_accepts_exactly_limit(make_api: ApiFactory, model: str) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model)))
    responses = [await _get(api) for _ in range(LIMIT + 4)]
    assert [r.status_code for r in responses] == [200] * LIMIT + [429] * 4
    for rejected in responses[LIMIT:]:
        assert set(rejected.json()) == {"error"}
        assert re.fullmatch(r"[0-9]+", rejected.headers["Retry-After"])
        assert int(rejected.headers["Retry-After"]) >= 1
    for accepted in responses[:LIMIT]:
        assert "Retry-After" not in accepted.headers
    counters = await _counters(api)
    assert counters["rate_limited"] == 4
    assert counters["requests"]["GET /v1/instances"] == {"200": LIMIT, "429": 4}
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: LIMIT}


@pytest.mark.parametrize("model", MODELS)
async def test_rate_limited_request_does_no_work(make_api: ApiFactory, model: str) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model, limit=2)))
    statuses = [
        (await api.call("POST", "/instances", instance_body(name=f"db-{i}"))).status_code
        for i in range(4)
    ]
    assert statuses == [202, 202, 429, 429]
    assert sorted(i.name for i in api.state.backend.instances.values()) == ["db-0", "db-1"]
    assert (await _counters(api))["creates_per_name"] == {"db-0": 1, "db-1": 1}


async def test_disabled_rate_limit_accepts_everything(make_api: ApiFactory) -> None:
    api: Api = await make_api(
        EmulatorConfig(seed=1, rate_limit=_rate("fixed", limit=1, enabled=False))
    )
    assert await _statuses(api, 20) == [200] * 20
    counters = await _counters(api)
    assert counters["rate_limited"] == 0
    # Still witnessed, so a client's own pacing can be measured with the limit off.
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 20}


# ------------------------------------------------------------------ Retry-After


async def _reject_after_setup(api: Api, model: str) -> float:
    """Spend the budget so the next request is rejected; return the exact emulated wait."""
    if model == "fixed":
        assert await _statuses(api, LIMIT) == [200] * LIMIT
        return TO_NEXT_FIXED_WINDOW  # to the start of the next clock-aligned window
    if model == "sliding":
        for _ in range(LIMIT):  # one request every 10 s: t0, t0+10, ..., t0+40
            assert (await _get(api)).status_code == 200
            api.clock.advance(10.0)
        return 10.0  # at t0+50 the oldest (t0) leaves at t0+60
    assert await _statuses(api, LIMIT) == [200] * LIMIT
    return WINDOW / LIMIT  # an empty bucket refills one token in window / limit = 12 s


@pytest.mark.parametrize("model", MODELS)
async def test_retry_after_whole_seconds_at_scale_1(make_api: ApiFactory, model: str) -> None:
    api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model)), 1.0)
    wait = await _reject_after_setup(api, model)
    rejected = await _get(api)
    assert rejected.status_code == 429
    assert rejected.headers["Retry-After"] == str(int(wait))
    # One second short of it: still limited (the value is not padded).
    api.clock.advance(wait - 1.0)
    again = await _get(api)
    assert again.status_code == 429
    assert again.headers["Retry-After"] == "1"
    # Having waited Retry-After: accepted.
    api.clock.advance(1.0)
    assert (await _get(api)).status_code == 200


@pytest.mark.parametrize("model", MODELS)
async def test_retry_after_rounds_up_to_whole_seconds(make_api: ApiFactory, model: str) -> None:
    api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model)), 1.0)
    wait = await _reject_after_setup(api, model)
    api.clock.advance(0.25)
    rejected = await _get(api)
    assert rejected.status_code == 429
    # 39.75 s (fixed), 9.75 s (sliding), 11.75 s (bucket) -> rounded UP.
    assert rejected.headers["Retry-After"] == str(math.ceil(wait - 0.25))
    api.clock.advance(float(rejected.headers["Retry-After"]))
    assert (await _get(api)).status_code == 200


@pytest.mark.parametrize("scale", [60.0, 600.0, 7.0])
@pytest.mark.parametrize("model", MODELS)
async def test_retry_after_in_real_seconds_under_time_scale(
    make_api: ApiFactory, model: str, scale: float
) -> None:
    config = EmulatorConfig(seed=1, rate_limit=_rate(model, retry_after="seconds"))
    api = await make_api(config, scale)
    wait = await _reject_after_setup(api, model)
    rejected = await _get(api)
    assert rejected.status_code == 429
    header = rejected.headers["Retry-After"]
    assert re.fullmatch(r"[0-9]+\.[0-9]{3}", header), header
    real = wait / scale
    # Millisecond precision, rounded up: never tells the client to come back too early.
    assert real <= float(header) < real + 0.001
    # Waiting the real seconds it says (= header * scale emulated seconds) is enough.
    api.clock.advance(float(header) * scale)
    assert (await _get(api)).status_code == 200


@pytest.mark.parametrize(
    ("model", "scale", "expected"),
    [
        ("fixed", 1.0, "40"),  # to the next clock-aligned window
        ("sliding", 1.0, "10"),  # until the oldest request leaves the log
        ("bucket", 1.0, "12"),  # until one token refills
        ("fixed", 60.0, "1"),  # 40 / 60 s, rounded up to a whole second: valid HTTP
        ("sliding", 60.0, "1"),
        ("bucket", 600.0, "1"),
    ],
)
async def test_retry_after_examples(
    make_api: ApiFactory, model: str, scale: float, expected: str
) -> None:
    api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model)), scale)
    await _reject_after_setup(api, model)
    assert (await _get(api)).headers["Retry-After"] == expected


@pytest.mark.parametrize(
    ("model", "expected"), [("fixed", "0.667"), ("sliding", "0.167"), ("bucket", "0.200")]
)
async def test_retry_after_in_milliseconds_when_asked(
    make_api: ApiFactory, model: str, expected: str
) -> None:
    # 40, 10 and 12 emulated seconds at 60x, rounded up to the millisecond.
    config = EmulatorConfig(seed=1, rate_limit=_rate(model, retry_after="seconds"))
    api = await make_api(config, 60.0)
    await _reject_after_setup(api, model)
    assert (await _get(api)).headers["Retry-After"] == expected


@pytest.mark.parametrize("model", MODELS)
async def test_retry_after_as_http_date(make_api: ApiFactory, model: str) -> None:
    config = EmulatorConfig(seed=1, rate_limit=_rate(model, retry_after="date"))
    api = await make_api(config, 1.0)
    wait = await _reject_after_setup(api, model)
    before = time.time()
    rejected = await _get(api)
    after = time.time()
    assert rejected.status_code == 429
    header = rejected.headers["Retry-After"]
    assert header.endswith(" GMT")
    when = email.utils.parsedate_to_datetime(header).timestamp()
    # Second resolution, rounded up: never before the moment the request would pass.
    assert math.ceil(before + wait) <= when <= math.ceil(after + wait)


async def test_retry_after_date_uses_real_time_under_scale(
    make_api: ApiFactory,
) -> None:
    config = EmulatorConfig(seed=1, rate_limit=_rate("fixed", retry_after="date"))
    api = await make_api(config, 60.0)
    await _reject_after_setup(api, "fixed")
    before = time.time()
    header = (await _get(api)).headers["Retry-After"]
    when = email.utils.parsedate_to_datetime(header).timestamp()
    # 40 emulated seconds are 0.67 real seconds: the date is about a second away, not 40.
    assert before <= when <= before + 2


# ------------------------------------------------------------ what counts, what not


async def test_token_requests_not_counted_by_default(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("fixed")))
    for _ in range(3):
        await api.login()
    assert await _statuses(api, LIMIT + 1) == [200] * LIMIT + [429]
    # Even while limited, a token is still issued.
    response = await api.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert response.status_code == 200


async def test_token_requests_counted_when_configured(make_api: ApiFactory) -> None:
    config = EmulatorConfig(seed=1, rate_limit=_rate("fixed", count_token_requests=True))
    api: Api = await make_api(config)  # the login spent one request
    await api.login()  # and this one another
    assert await _statuses(api, LIMIT) == [200] * (LIMIT - 2) + [429] * 2
    limited = await api.http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET),
    )
    assert limited.status_code == 429
    assert set(limited.json()) == {"error"}
    assert limited.headers["Retry-After"] == str(int(TO_NEXT_FIXED_WINDOW))
    counters = await _counters(api)
    assert counters["requests"]["POST /oauth/token"] == {"200": 2, "429": 1}
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: LIMIT}
    # Bad credentials never reach the limiter.
    bad = await api.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y")
    )
    assert bad.status_code == 401


async def test_count_rejected_keeps_a_retrying_client_limited(make_api: ApiFactory) -> None:
    """A sliding log that counts rejections: a client that retries every second while limited
    never gets through; without counting them it does once the window has passed."""
    for count_rejected, expect_through in ((False, True), (True, False)):
        config = EmulatorConfig(
            seed=1, rate_limit=_rate("sliding", limit=2, window=10.0, count_rejected=count_rejected)
        )
        api: Api = await make_api(config)
        assert await _statuses(api, 2) == [200, 200]
        got_through = False
        for _ in range(30):  # three windows of retries, one per second
            api.clock.advance(1.0)
            if (await _get(api)).status_code == 200:
                got_through = True
                break
        assert got_through is expect_through, count_rejected


async def test_count_rejected_log_stays_bounded(make_api: ApiFactory) -> None:
    config = EmulatorConfig(
        seed=1, rate_limit=_rate("sliding", limit=2, window=10.0, count_rejected=True)
    )
    api: Api = await make_api(config)
    for _ in range(200):
        await _get(api)
        api.clock.advance(0.5)
    limiter = api.state.limiters[DEFAULT_CLIENT_ID]
    assert isinstance(limiter, SlidingLog)
    # Pruned to the last window: 20 half-second retries, not 200.
    assert len(limiter._log) <= 21


async def test_count_rejected_retry_after_is_honoured(make_api: ApiFactory) -> None:
    """With rejections counted, waiting exactly Retry-After must still get the client in.

    The rejected request itself joins the log, so the wait must be computed after it is
    appended, not before.
    """
    config = EmulatorConfig(
        seed=1, rate_limit=_rate("sliding", limit=2, window=10.0, count_rejected=True)
    )
    api: Api = await make_api(config)
    assert (await _get(api)).status_code == 200  # t0
    api.clock.advance(1.0)
    assert (await _get(api)).status_code == 200  # t0 + 1
    api.clock.advance(1.0)
    rejected = await _get(api)  # t0 + 2, counted
    assert rejected.status_code == 429
    api.clock.advance(float(rejected.headers["Retry-After"]))
    assert (await _get(api)).status_code == 200, "Retry-After was too short"


# -------------------------------------------------- the densest accepted window


def _gaps(seed: int, count: int, window: float) -> list[float]:
    """Gaps between requests: bursts (0), short gaps, and pauses near the window's length.

    All are binary fractions, so emulated times stay exact and no two requests are a
    window apart only up to rounding.
    """
    rng = random.Random(seed)
    choices = [0.0, 0.0, 0.25, 1.0, 1.125, window - 0.25, window]
    return [rng.choice(choices) for _ in range(count)]


async def _drive(api: Api, gaps: list[float]) -> list[float]:
    """Send one request per gap; return the emulated times of the accepted ones."""
    accepted = []
    for gap in gaps:
        api.clock.advance(gap)
        response = await _get(api)
        assert response.status_code in (200, 429)
        if response.status_code == 200:
            accepted.append(api.clock.now())
    return accepted


@pytest.mark.parametrize("model", MODELS)
async def test_counters_max_accepted_equals_true_maximum(make_api: ApiFactory, model: str) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model, window=8.0)))
    accepted = await _drive(api, _gaps(11, 400, 8.0))
    assert accepted
    truth = _max_in_window(accepted, 8.0)
    counters = await _counters(api)
    assert counters["window_seconds"] == 8.0
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: truth}


@pytest.mark.parametrize("model", ["fixed", "sliding"])
async def test_burst_never_exceeds_limit_in_a_window(make_api: ApiFactory, model: str) -> None:
    """Bursts at irregular times over many windows: the sliding model never accepts more than
    ``limit`` in any window; the fixed model never more than ``limit`` in an aligned one."""
    window = 8.0
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate(model, window=window)))
    rng = random.Random(5)
    accepted: list[float] = []
    for _ in range(60):
        api.clock.advance(rng.choice([0.5, 1.0, 2.5, window - 0.5, window]))
        accepted += await _drive(api, [0.0] * rng.randint(1, 2 * LIMIT))
    per_aligned_window = Counter(math.floor(t / window) for t in accepted)
    assert max(per_aligned_window.values()) == LIMIT
    densest = _max_in_window(accepted, window)
    if model == "sliding":
        assert densest == LIMIT
    else:
        assert LIMIT <= densest <= 2 * LIMIT
    assert (await _counters(api))["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: densest}


async def test_fixed_window_passes_twice_the_limit_across_a_boundary(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("fixed")))
    api.clock.advance(TO_NEXT_FIXED_WINDOW - 0.5)  # half a second before a boundary
    assert await _statuses(api, LIMIT + 1) == [200] * LIMIT + [429]
    api.clock.advance(0.5)  # the next window
    assert await _statuses(api, LIMIT + 1) == [200] * LIMIT + [429]
    counters = await _counters(api)
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 2 * LIMIT}


async def test_bucket_burst_after_quiet_period_is_exactly_limit(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("bucket")))
    assert await _statuses(api, LIMIT + 2) == [200] * LIMIT + [429] * 2
    api.clock.advance(10 * WINDOW)  # a long quiet spell does not overfill the bucket
    assert await _statuses(api, LIMIT + 2) == [200] * LIMIT + [429] * 2


async def test_bucket_passes_limit_plus_refill_in_one_window(make_api: ApiFactory) -> None:
    """A full bucket bursts ``limit`` at once and then refills ``limit`` per window, so one
    window of the clock can carry ``limit + refill``, nearly twice the limit. A client that
    paces itself with a bucket of its own would therefore overrun a fixed or sliding server:
    clients must keep every window at or under the limit instead."""
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("bucket")))
    refill_one = WINDOW / LIMIT  # 12 s per token
    start = api.clock.now()
    accepted = await _drive(api, [0.0] * (LIMIT + 1))
    assert len(accepted) == LIMIT
    # Steady refill: one token every 12 s is accepted, one more at once is not.
    for _ in range(LIMIT - 1):
        api.clock.advance(refill_one)
        assert await _statuses(api, 2) == [200, 429]
        accepted.append(api.clock.now())
    assert api.clock.now() - start == (LIMIT - 1) * refill_one  # 48 s: still in one window
    assert len(accepted) == LIMIT + (LIMIT - 1)
    assert _max_in_window(accepted, WINDOW) == 2 * LIMIT - 1
    assert (await _counters(api))["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 2 * LIMIT - 1}


async def test_bucket_burst_then_refilled_burst_within_a_window(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("bucket")))
    assert await _statuses(api, LIMIT) == [200] * LIMIT
    # Just under a window later the bucket holds limit - 0.5 tokens: limit - 1 more pass.
    api.clock.advance(WINDOW - WINDOW / LIMIT / 2)
    assert await _statuses(api, LIMIT) == [200] * (LIMIT - 1) + [429]
    counters = await _counters(api)
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 2 * LIMIT - 1}
    assert counters["max_accepted_in_window"][DEFAULT_CLIENT_ID] > LIMIT


# ------------------------------------------------------------- runtime changes


async def test_get_rate_limit_settings(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("sliding")))
    response = await api.http.get("/_emulator/rate-limit")
    assert response.status_code == 200
    assert response.json() == attrs.asdict(_rate("sliding"))


async def test_patch_rate_limit_changes_limit_and_model(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("fixed")))
    assert await _statuses(api, 3) == [200] * 3
    response = await api.http.patch(
        "/_emulator/rate-limit", json={"limit": 2, "model": "sliding", "window": 10}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["limit"] == 2
    assert body["model"] == "sliding"
    assert body["window"] == 10
    assert api.state.rate.model == "sliding"
    # Counting starts afresh under the new settings.
    assert await _statuses(api, 3) == [200, 200, 429]
    counters = await _counters(api)
    assert counters["window_seconds"] == 10
    assert counters["max_accepted_in_window"] == {DEFAULT_CLIENT_ID: 2}
    # The sliding model is now in force: 5 s later nothing has left the log...
    api.clock.advance(5.0)
    limited = await _get(api)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "5"
    api.clock.advance(5.0)
    assert await _statuses(api, 3) == [200, 200, 429]
    # A partial PATCH changes only what it names.
    response = await api.http.patch("/_emulator/rate-limit", json={"retry_after": "date"})
    assert response.json()["limit"] == 2
    assert response.json()["model"] == "sliding"
    assert response.json()["retry_after"] == "date"
    assert await _statuses(api, 2) == [200, 200]
    assert (await _get(api)).headers["Retry-After"].endswith(" GMT")


async def test_patch_rate_limit_can_disable_and_enable(make_api: ApiFactory) -> None:
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=_rate("fixed", limit=1)))
    assert await _statuses(api, 2) == [200, 429]
    await api.http.patch("/_emulator/rate-limit", json={"enabled": False})
    assert await _statuses(api, 10) == [200] * 10
    await api.http.patch("/_emulator/rate-limit", json={"enabled": True})
    assert await _statuses(api, 2) == [200, 429]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"model": "leaky"}', id="unknown-model"),
        pytest.param(b'{"limit": 0}', id="zero-limit"),
        pytest.param(b'{"limit": -3}', id="negative-limit"),
        pytest.param(b'{"window": 0}', id="zero-window"),
        pytest.param(b'{"window": -60}', id="negative-window"),
        pytest.param(b'{"limit": "ten"}', id="string-limit"),
        pytest.param(b'{"window": "60"}', id="string-window"),
        pytest.param(b'{"burst": 10}', id="unknown-key"),
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(b"{nope", id="not-json"),
        pytest.param(b'{"limit": 2.5}', id="fractional-limit"),
        pytest.param(b'{"window": NaN}', id="nan-window"),
        pytest.param(b'{"window": Infinity}', id="infinite-window"),
        pytest.param(b'{"retry_after": "minutes"}', id="unknown-retry-after-style"),
    ],
)
async def test_patch_rate_limit_rejects_invalid_values(api: Api, content: bytes) -> None:
    before = api.state.rate
    response = await api.http.patch(
        "/_emulator/rate-limit", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["reason"] == "invalid-request"
    assert api.state.rate == before, "a rejected PATCH must change nothing"
    assert (await _get(api)).status_code == 200


# ------------------------------------------------------------ property tests

TICK = 1 / 64  # arrival times are multiples of 1/64 s: exact in binary floating point


@st.composite
def arrivals(draw: st.DrawFn) -> list[float]:
    """Sorted arrival times: a small list hypothesis can shrink, or thousands from a seed."""
    base = draw(st.sampled_from([0.0, START]))
    if draw(st.booleans()):
        ticks = sorted(draw(st.lists(st.integers(0, 20_000), min_size=1, max_size=200)))
    else:
        rng = random.Random(draw(st.integers(0, 2**32 - 1)))
        count = draw(st.integers(1000, 4000))
        burstiness = draw(st.integers(0, 9)) / 10
        mean_gap = draw(st.integers(1, 128))
        ticks, tick = [], 0
        for _ in range(count):
            if rng.random() >= burstiness:
                tick += int(rng.expovariate(1 / mean_gap))
            ticks.append(tick)
    return [base + k * TICK for k in ticks]


limits = st.integers(1, 30)
windows = st.integers(1, 256).map(lambda k: k / 8)  # 0.125 s .. 32 s, exact
PROPERTY = settings(max_examples=40, deadline=None)


def _run(limiter: Any, times: list[float]) -> tuple[list[float], list[tuple[int, float]]]:
    """Feed ``times`` to ``limiter``; return accepted times and (index, wait) of rejections."""
    accepted: list[float] = []
    rejected: list[tuple[int, float]] = []
    for index, t in enumerate(times):
        wait = limiter.try_acquire(t)
        if wait is None:
            accepted.append(t)
        else:
            rejected.append((index, wait))
    return accepted, rejected


@PROPERTY
@given(times=arrivals(), limit=limits, window=windows, count_rejected=st.booleans())
def test_property_sliding_never_exceeds_limit_in_any_window(
    times: list[float], limit: int, window: float, count_rejected: bool
) -> None:
    accepted, rejected = _run(SlidingLog(limit, window, count_rejected=count_rejected), times)
    assert _max_in_window(accepted, window) <= limit
    assert len(accepted) >= min(limit, len(times))
    for index, wait in rejected:
        t = times[index]
        assert 0 < wait <= window
        # Not rejected for nothing: the window (t - window, t] is already full of accepted
        # requests, or, when rejections count, of earlier arrivals of any outcome.
        if count_rejected:
            inside = index - bisect.bisect_right(times, t - window)
        else:
            inside = bisect.bisect_right(accepted, t) - bisect.bisect_right(accepted, t - window)
        assert inside >= limit


@PROPERTY
@given(times=arrivals(), limit=limits, window=windows, count_rejected=st.booleans())
def test_property_fixed_never_exceeds_limit_in_an_aligned_window(
    times: list[float], limit: int, window: float, count_rejected: bool
) -> None:
    accepted, rejected = _run(FixedWindow(limit, window, count_rejected=count_rejected), times)
    arrived = Counter(math.floor(t / window) for t in times)
    taken = Counter(math.floor(t / window) for t in accepted)
    # Exactly min(limit, arrivals) per aligned window: never more, and none refused needlessly.
    assert taken == Counter({k: min(limit, n) for k, n in arrived.items()})
    # Unaligned intervals straddle at most two aligned windows.
    assert _max_in_window(accepted, window) <= 2 * limit
    for index, wait in rejected:
        t = times[index]
        assert 0 < wait <= window
        assert math.floor((t + wait) / window) == math.floor(t / window) + 1


@PROPERTY
@given(times=arrivals(), limit=limits, window=windows)
def test_property_bucket_bounded_by_limit_plus_refill(
    times: list[float], limit: int, window: float
) -> None:
    bucket = TokenBucket(limit, window)
    rate = limit / window
    accepted, _ = _run(bucket, times)
    # For every closed interval [a, b] of accepted times: count <= limit + rate * (b - a).
    # With i <= j indexing accepted times, count = j - i + 1; maximise over i for each j.
    # Times are taken relative to the first, so rate * t keeps its precision.
    origin = times[0]
    best = -math.inf  # max over i <= j of (rate * t_i - i)
    for j, t in enumerate(accepted):
        best = max(best, rate * (t - origin) - j)
        assert j + 1 - rate * (t - origin) + best <= limit + 1e-6
    # Live: the first `limit` arrivals pass, and after a gap that refills a token, one passes.
    assert accepted[: min(limit, len(times))] == times[: min(limit, len(times))]
    passed = set(accepted)
    for previous, t in itertools.pairwise(times):
        if t - previous > (1 / rate) * (1 + 1e-9) + 1e-6:
            assert t in passed


@pytest.mark.parametrize(
    ("model", "count_rejected"),
    [("fixed", False), ("fixed", True), ("sliding", False), ("sliding", True), ("bucket", False)],
)
@PROPERTY
@given(times=arrivals(), limit=limits, window=windows)
def test_property_retry_wait_is_exact(
    model: str, count_rejected: bool, times: list[float], limit: int, window: float
) -> None:
    """A lone retry after exactly the returned wait is accepted; one tick earlier it is not
    (for the bucket, within float tolerance, the wait is a float division)."""
    limiter = make_limiter(model, limit, window, count_rejected=count_rejected)
    checked = 0
    for t in times:
        wait = limiter.try_acquire(t)
        if wait is None or checked >= 40:
            continue
        checked += 1
        if model == "bucket":
            assert copy.deepcopy(limiter).try_acquire(t + wait + 1e-6) is None, (t, wait)
            if wait > 2e-6:
                assert copy.deepcopy(limiter).try_acquire(t + wait - 1e-6) is not None
        else:
            assert copy.deepcopy(limiter).try_acquire(t + wait) is None, (t, wait)
            assert copy.deepcopy(limiter).try_acquire(t + wait - TICK) is not None, (t, wait)


@PROPERTY
@given(
    times=st.one_of(
        arrivals(),
        st.lists(st.integers(0, 400), max_size=300).map(lambda ks: [k * 0.5 for k in sorted(ks)]),
    ),
    window=windows,
)
def test_property_accepted_window_equals_brute_force(times: list[float], window: float) -> None:
    witness = AcceptedWindow(window)
    for t in times:
        witness.record(t)
    assert witness.max_in_window == _max_in_window(times, window)


def test_accepted_window_half_open() -> None:
    witness = AcceptedWindow(10.0)
    for t in (0.0, 5.0, 10.0):  # 0 and 10 are not in one [t, t + 10)
        witness.record(t)
    assert witness.max_in_window == 2
    witness.record(10.0)
    assert witness.max_in_window == 3


def test_make_limiter_models() -> None:
    assert isinstance(make_limiter("fixed", 1, 1.0, count_rejected=False), FixedWindow)
    assert isinstance(make_limiter("sliding", 1, 1.0, count_rejected=False), SlidingLog)
    assert isinstance(make_limiter("bucket", 1, 1.0, count_rejected=False), TokenBucket)
    with pytest.raises(ValueError, match="unknown rate-limit model"):
        make_limiter("leaky", 1, 1.0, count_rejected=False)


async def test_bucket_counting_rejections_keeps_a_retrying_client_limited(
    make_api: ApiFactory,
) -> None:
    api: Api = await make_api(
        EmulatorConfig(
            seed=1, rate_limit=_rate("bucket", limit=2, window=10.0, count_rejected=True)
        )
    )
    assert await _statuses(api, 3) == [200, 200, 429]
    # One token refills every 5 s, but each rejected retry spends one it does not have.
    for _ in range(3):
        api.clock.advance(4.0)
        assert await _statuses(api, 1) == [429]


async def test_retry_after_can_be_whole_seconds(make_api: ApiFactory) -> None:
    settings = _rate("fixed", limit=1, window=60.0, retry_after="integer")
    api: Api = await make_api(EmulatorConfig(seed=1, rate_limit=settings), 60.0)
    api.clock.advance(60 - api.clock.now() % 60)  # the start of a window: 60 s to wait
    assert await _statuses(api, 1) == [200]
    api.clock.advance(20.0)  # 40 emulated s = 0.667 real s: rendered as 1
    response = await _get(api)
    assert (response.status_code, response.headers["Retry-After"]) == (429, "1")

"""A fault campaign: whole fleets against an emulator that misbehaves in every way at once.

Each run creates a fleet of 120 instances into a :class:`FileStore` ledger, pauses and resumes
it, and tears it down by its ledger, against an emulator whose clock runs 1200 times faster
than real time (a two-minute create takes 0.1 s) and which, all at once:

- answers 5 % of requests 503 with a ``Retry-After`` and another 5 % 503 without one, before
  doing any work;
- drops 2 % of the connections of mutations AFTER doing the work (a create that "failed" left
  an instance behind, a pause that "failed" was carried out);
- delays 3 % of requests by 0.2 real seconds (latency spikes: a slow request holds its slot);
- issues tokens that live 2 real seconds, so the client refreshes them during every run;
- counts the rate limit with another model than the client's rule (a sliding log, or the
  gateway's token bucket, each also counting the requests it rejects).

Two seeds run in process (``httpx.ASGITransport``: the app raises ``ConnectionDropped``, the
``RemoteProtocolError`` httpx raises for a closed socket) against a server limit LOWER than
the client was told (25 per window against 125, a free-tier credential), so the client must
learn it from 429s. One runs over real loopback HTTP, where uvicorn cuts the socket mid-answer
and the body read fails after the headers arrived, with the client told the server's limit
exactly (10 per window, so the limit binds even on a slow box): real sockets, pooled
connections and a busy server thread decide when each request reaches the server, and the
client's rule must still keep every window of the sliding log at the limit (0 429s).

What must hold:

- every item of every call ends precisely: a create succeeded (credentials saved, running,
  perhaps after attempts answered 503 that were proven not created, each an intent of its
  own marked ``not-created``), or failed with ``CreateFailedError`` saying what became of
  it: not created after its last attempt (the emulator never saw that name) or made without
  a known password (its id is on the item, ``credentials_known`` is False, the ledger says
  ``credentials-lost``, and it was never sent again); the counts match the faults the
  emulator injected on creates;
- the ledger agrees with the emulator: every instance of the fleet is in it, created with
  credentials or credentials-lost, under its own id;
- no name is ever created twice (``creates_per_name`` is 1 for every name that exists);
- every report's ``requests`` and ``rate_limited`` equal what the emulator counted meanwhile,
  and the 429s are bounded (see :func:`check_rate_limited`);
- pause, resume and teardown each reach every instance, and after teardown nothing of the
  fleet remains on the emulator, and every ledger entry is ``deleted`` or ``not-created``.

Run with ``-s`` to see the figures of each campaign.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from aura_async import (
    AuraClient,
    CreateFailedError,
    EntryState,
    FileStore,
    FleetReport,
    InstanceSpec,
    InstanceStatus,
    Outcome,
    PollPolicy,
    RateLimit,
    RateLimited,
    RateLowered,
    ResponseReceived,
    RetryPolicy,
)
from aura_async.emulator import (
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    RateLimitSettings,
    create_app,
)
from aura_async.emulator.app import EmulatorState
from aura_async.emulator.faults import FaultPlan, parse_fault
from aura_async.fleet import FleetFinished, LedgerEntry, Selector

pytestmark = pytest.mark.timeout(90)

SCALE = 1200.0  # emulated seconds per real second
COUNT = 120
PERIOD = 0.1  # the rate window in real seconds (two emulated minutes)
TOKEN_LIFETIME = 2.0  # real seconds
SPIKE = 0.2  # real seconds of one latency spike
RETRY_AFTER = 0.05 * SCALE  # emulated seconds: 50 ms for the client
TIMEOUT = 20.0  # real seconds per wait: generous, so a slow CI box never turns into a failure

# The emulator draws error faults in order and the second only when the first did not fire:
# 0.05 / 0.95 makes "503 without Retry-After" 5 % of all requests as well.
FAULTS = (
    f"error=0.05,status=503,retry_after={RETRY_AFTER:g}",
    f"error={0.05 / 0.95:.6f},status=503",
    "drop=0.02",
    f"latency=0.03,seconds={SPIKE:g}",
)

POST_INSTANCES = "POST /v1/instances"
OAUTH = "POST /oauth/token"


def report(line: str) -> None:
    """Show a figure of the campaign (run with -s to see them)."""
    print(line)  # noqa: T201  (the figures are the point of a campaign)


def fault_plan() -> FaultPlan:
    plan = FaultPlan()
    for text in FAULTS:
        plan = parse_fault(text, plan)
    return plan


@attrs.frozen
class Setup:
    """One campaign: the seed of the emulator's draws, how it counts, and where it runs."""

    seed: int
    model: str
    loopback: bool
    client_limit: int  # what the client is told
    server_limit: int  # what the server counts


SETUPS = [
    # The client is told the paid limit; the server counts a free-tier one.
    pytest.param(Setup(11, "sliding", False, 125, 25), id="in-process-sliding-learns-25"),
    pytest.param(Setup(23, "bucket", False, 125, 25), id="in-process-bucket-learns-25"),
    pytest.param(Setup(37, "sliding", True, 10, 10), id="loopback-sliding-10"),
]


def emulator_config(setup: Setup) -> EmulatorConfig:
    seed, model = setup.seed, setup.model
    rate = RateLimitSettings(
        limit=setup.server_limit,
        window=PERIOD * SCALE,
        model=model,  # type: ignore[arg-type]
        count_rejected=True,
        retry_after="seconds",  # a window lasts 0.1 real seconds: whole seconds are 10 windows
    )
    return EmulatorConfig(
        seed=seed,
        time_scale=SCALE,
        token_lifetime=TOKEN_LIFETIME * SCALE,
        rate_limit=rate,
        faults=fault_plan(),
    )


def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the emulator counted between two readings of its counters."""
    requests: Counter[str] = Counter()
    for sign, reading in ((1, after), (-1, before)):
        for route, statuses in reading["requests"].items():
            for status, n in statuses.items():
                requests[f"{route} {status}"] += sign * n
    faults = Counter(after["faults_injected"])
    faults.subtract(before["faults_injected"])
    creates = Counter(after["creates_per_name"])
    creates.subtract(before["creates_per_name"])
    return {
        "requests_total": after["requests_total"] - before["requests_total"],
        "rate_limited": after["rate_limited"] - before["rate_limited"],
        "tokens_issued": after["tokens_issued"] - before["tokens_issued"],
        "requests": +requests,
        "faults": +faults,
        "creates_per_name": +creates,
    }


@attrs.define(eq=False)
class Campaign:
    """One emulator, one client with its ledger, and what each fleet call cost."""

    setup: Setup
    state: EmulatorState
    control: httpx.AsyncClient
    aura: AuraClient
    store: FileStore
    events: list[tuple[float, object]] = attrs.Factory(list)
    # The client's requests in flight at the moment it lowered its limit.
    in_flight_at_lowering: list[int] = attrs.Factory(list)
    phases: list[tuple[FleetReport, dict[str, Any]]] = attrs.Factory(list)

    def on_event(self, event: object) -> None:
        self.events.append((time.monotonic(), event))
        if isinstance(event, RateLowered):
            limiter = self.aura.limiter
            assert limiter is not None
            self.in_flight_at_lowering.append(limiter.in_flight)

    def of(self, kind: type[Any]) -> list[tuple[float, Any]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind)]

    async def counters(self) -> dict[str, Any]:
        response = await self.control.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def instances(self, prefix: str) -> dict[str, tuple[str, str]]:
        """The emulator's instances named ``prefix-*``, settled now: id -> (name, status)."""
        backend = self.state.backend
        with backend.lock:
            backend.settle_all()
            return {
                i.id: (i.name, i.status)
                for i in backend.instances.values()
                if i.name.startswith(prefix + "-")
            }

    async def phase(self, call: Any) -> tuple[FleetReport, dict[str, Any]]:
        """Run one fleet call; return its report and what the emulator counted meanwhile."""
        before = await self.counters()
        result: FleetReport = await call
        seen = delta(before, await self.counters())
        self.phases.append((result, seen))
        # The client is the emulator's only API traffic: its tallies must be exact.
        assert result.requests == seen["requests_total"], (result.summary(), seen)
        assert result.rate_limited == seen["rate_limited"], (result.summary(), seen)
        report(
            f"  {result.operation:>6}: {result.summary()}; "
            f"{result.requests / COUNT:.2f} requests per instance; "
            f"faults {dict(seen['faults'])}; tokens {seen['tokens_issued']}; "
            f"403s {sum(n for k, n in seen['requests'].items() if k.endswith(' 403'))}"
        )
        return result, seen


@asynccontextmanager
async def campaign(setup: Setup, ledger: Path) -> AsyncIterator[Campaign]:
    cfg = emulator_config(setup)
    credential = cfg.credentials[0]
    server: EmulatorServer | None = None
    if setup.loopback:
        server = EmulatorServer(cfg)
        await server.__aenter__()
        state, base_url = server.state, server.base_url
        transport: httpx.AsyncBaseTransport | None = None
        control = httpx.AsyncClient(base_url=base_url, timeout=10)
    else:
        app = create_app(cfg)
        state, base_url = app.state.emulator, "http://emulator.test"
        transport = httpx.ASGITransport(app=app)
        control = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    hook: list[Campaign] = []
    aura = AuraClient(
        credential.client_id,
        credential.client_secret,
        tenant_id=DEFAULT_PROJECT_ID,
        base_url=base_url,
        transport=transport,
        rate_limit=RateLimit(setup.client_limit, PERIOD),
        poll=PollPolicy().scaled(1 / SCALE),
        # Small backoffs so a run is quick; eight resends make a poll that fails nine times
        # in a row at 10 % (one in 10^9) no flake of this test.
        retry=RetryPolicy(base_delay=0.005, max_delay=0.05, max_retries=8),
        on_event=lambda event: hook[0].on_event(event),
    )
    run = Campaign(setup, state, control, aura, FileStore(ledger))
    hook.append(run)
    try:
        yield run
    finally:
        await aura.aclose()
        await control.aclose()
        if server is not None:
            await server.__aexit__(None, None, None)


# --------------------------------------------------------------------------- the checks


async def check_created(
    run: Campaign, created: FleetReport, seen: dict[str, Any], prefix: str
) -> None:
    """Every item ended precisely, the ledger agrees with the emulator, no name was made twice."""
    names = [f"{prefix}-{n}" for n in range(1, COUNT + 1)]
    assert [item.name for item in created.items] == names
    assert set(created.totals) <= {Outcome.SUCCEEDED, Outcome.FAILED}, created.totals
    entries = await run.store.entries()
    # One intent per create sent: every attempt but an item's last was proven not created
    # (a create is sent again only then), and the last says what became of the item.
    attempts: dict[str, list[LedgerEntry]] = {}
    for entry in sorted(entries, key=lambda e: e.intent.started_at if e.intent else e.updated_at):
        attempts.setdefault(entry.name, []).append(entry)
    assert sorted(attempts) == sorted(names)
    for tries in attempts.values():
        assert all(e.state is EntryState.NOT_CREATED for e in tries[:-1]), tries
    ledger = {name: tries[-1] for name, tries in attempts.items()}
    refused = sum(1 for e in entries if e.state is EntryState.NOT_CREATED)
    on_server = run.instances(prefix)
    by_name = {name: instance_id for instance_id, (name, _) in on_server.items()}
    assert len(by_name) == len(on_server), "two instances share a name"

    lost, not_created = [], []
    for item in created.items:
        entry = ledger[item.name]
        where = (item.name, item.to_json(), entry.state)
        if item.outcome is Outcome.SUCCEEDED:
            assert item.error is None, where
            assert item.credentials is not None, where
            assert item.credentials.password, where
            assert item.credentials_known, where
            assert item.saved_to == run.store.location, where
            assert item.instance is not None, where
            assert item.instance.status is InstanceStatus.RUNNING, where
            assert entry.state is EntryState.CREATED, where
            assert entry.credentials is not None, where
            assert entry.credentials.password, where
            assert entry.instance_id == item.instance_id == by_name[item.name], where
            continue
        # A failed create says precisely what became of it (not "may or may not exist").
        assert isinstance(item.error, CreateFailedError), where
        assert item.error.instance_id == item.instance_id, where
        assert item.credentials is None, where
        assert item.saved_to is None, where
        if item.instance_id is not None:  # made, but its password never arrived
            lost.append(item)
            assert item.credentials_known is False, where
            assert entry.state is EntryState.LOST, where
            assert entry.instance_id == item.instance_id == by_name[item.name], where
        else:  # reconciled after every attempt: nothing was made
            not_created.append(item)
            assert entry.state is EntryState.NOT_CREATED, where
            assert item.name not in by_name, where

    # The emulator agrees, fault by fault: in this call the only mutations are the creates,
    # so every dropped connection was a create that made an instance (credentials lost, and
    # never sent again), and every create answered 503 made nothing (a 503 comes before any
    # work) and was proven so before it was sent again.
    assert len(lost) == seen["faults"]["drop"]
    assert refused == seen["requests"].get(f"{POST_INSTANCES} 503", 0)
    assert seen["requests"][f"{POST_INSTANCES} 202"] == len(on_server)
    assert len(on_server) == COUNT - len(not_created)
    # 0 duplicates: each name that exists was created exactly once.
    assert dict(seen["creates_per_name"]) == dict.fromkeys(by_name, 1)
    # Every instance of the fleet is in the ledger, under its own id, with its password or
    # marked credentials-lost.
    for instance_id, (name, _status) in on_server.items():
        entry = ledger[name]
        assert entry.instance_id == instance_id
        assert entry.state in (EntryState.CREATED, EntryState.LOST)
        assert (entry.credentials is not None) == (entry.state is EntryState.CREATED)


def check_changed(result: FleetReport, seen: dict[str, Any], live: set[str]) -> None:
    """A pause or resume reached every instance of the ledger, whatever the faults."""
    assert {item.instance_id for item in result.items} == live
    skipped = [item for item in result.items if item.outcome is Outcome.SKIPPED]
    assert set(result.totals) <= {Outcome.SUCCEEDED, Outcome.SKIPPED}, [
        (i.name, i.outcome, repr(i.error)) for i in result.failed
    ]
    # "Skipped" (already in the state asked) only happens to an item whose own request was
    # carried out but its answer lost: the resend found the change done.
    assert len(skipped) <= seen["faults"]["drop"]
    assert all(item.error is None for item in result.items)


def check_rate_limited(run: Campaign) -> None:
    """The 429s are counted exactly (see :meth:`Campaign.phase`) and bounded.

    Told the server's limit, the client gets none: it never has more than the limit in
    flight or completed within one window, and a request reaches the server between its
    start and its completion, so no window of a sliding log (or of fixed windows, or a full
    bucket of that size) ever holds more than the limit of its requests (the property
    tests of ``test_rate_properties`` check that on every model).

    Told more than the server counts (125 against 25), 429s are the price of learning the
    limit, and nothing more. Every 429 makes all tasks wait out its ``Retry-After``; 3 within
    one period lower the client's limit one step (125 -> 25, the free-tier preset). So:

    - the client lowered its limit exactly once, to the server's limit and not below, and no
      call after the one in which it did got a single 429;
    - until it lowered (at ``t1``), no period held 3 answers 429 (a third lowers the limit):
      at most ``2 * (floor((t1 - first) / W) + 1) + 1`` of them;
    - after it, requests sent under the old limit (at most those in flight at ``t1``), and
      requests sent at the learned limit: none against a sliding log (every window that ends
      with such a request holds at most 25, old ones included, as the client counted them
      all), while a bucket that counted the rejections may still be short of tokens until it
      refills, at most 2 per window (a third would lower the limit again) until that call
      ends, when the fleet's last waits leave it idle.

    The bound asserted is the sum of those, a handful; a client that never learns gets
    hundreds (it keeps bursting 125 into a window of 25).
    """
    setup = run.setup
    limited = [(t, t - e.elapsed) for t, e in run.of(ResponseReceived) if e.status == 429]
    assert len(limited) == len(run.of(RateLimited)) == sum(r.rate_limited for r, _ in run.phases)
    lowered = run.of(RateLowered)
    assert run.aura.limiter is not None
    if setup.client_limit == setup.server_limit:
        assert limited == []
        assert lowered == []
        assert run.aura.limiter.rate == RateLimit(setup.server_limit, PERIOD)
        report("  429s: 0 (bound 0)")
        return
    assert [(e.old, e.new) for _, e in lowered] == [
        (str(RateLimit(setup.client_limit, PERIOD)), str(RateLimit(setup.server_limit, PERIOD)))
    ]
    assert run.aura.limiter.rate == RateLimit(setup.server_limit, PERIOD)
    ((t1, _),) = lowered
    (in_flight,) = run.in_flight_at_lowering
    # The call in which it learned, and the moment that call ended.
    ends = [t for t, e in run.events if isinstance(e, FleetFinished)]
    learned_in = next(i for i, end in enumerate(ends) if end >= t1)
    assert [r.rate_limited for r, _ in run.phases[learned_in + 1 :]] == [0] * (
        len(run.phases) - learned_in - 1
    )
    before = [t for t, _ in limited if t <= t1]
    stragglers = [t for t, sent in limited if t > t1 and sent < t1]
    fresh = [t for t, sent in limited if t > t1 and sent >= t1]
    # The periods [first + kW, first + (k + 1)W) up to t1 each held at most 2, plus the one
    # that lowered the limit.
    until_lowered = 2 * (math.floor((t1 - before[0]) / PERIOD) + 1) + 1
    assert len(before) <= until_lowered
    assert len(stragglers) <= in_flight
    if setup.model == "sliding":
        assert fresh == []
        allowance = 0
    else:
        allowance = 2 * math.ceil((ends[learned_in] - t1) / PERIOD)
        assert len(fresh) <= allowance
    bound = until_lowered + in_flight + allowance
    start = run.events[0][0]
    report(
        f"  429s: {len(limited)} (bound {bound}): {len(before)} until the limit was lowered "
        f"to {setup.server_limit}/{PERIOD:g}s at {t1 - start:.3f} s, {len(stragglers)} sent "
        f"before it ({in_flight} in flight then), {len(fresh)} sent after it"
    )
    assert len(limited) <= bound


# --------------------------------------------------------------------------- the campaign


@pytest.mark.parametrize("setup", SETUPS)
async def test_a_fleet_under_every_fault_completes_or_reports_precisely(
    setup: Setup, tmp_path: Path
) -> None:
    prefix = f"chaos{setup.seed}"
    spec = InstanceSpec(
        name=prefix,
        type="professional-db",
        region="europe-west1",
        memory="2GB",
        cloud_provider="gcp",
    )
    report(
        f"\ncampaign seed {setup.seed}, {'loopback' if setup.loopback else 'in process'}: "
        f"server {setup.model} {setup.server_limit}/{PERIOD:g}s, client told "
        f"{setup.client_limit}/{PERIOD:g}s"
    )
    began = time.monotonic()
    async with campaign(setup, tmp_path / "ledger") as run:
        fleet = run.aura.fleet
        created, seen = await run.phase(
            fleet.create(spec, count=COUNT, on_error="continue", store=run.store, timeout=TIMEOUT)
        )
        await check_created(run, created, seen, prefix)
        live = {i.instance_id for i in created.items if i.instance_id is not None}

        by_ledger = Selector(ledger=run.store)
        paused, seen = await run.phase(fleet.pause(by_ledger, timeout=TIMEOUT))
        check_changed(paused, seen, live)
        assert {s for _, s in run.instances(prefix).values()} == {"paused"}
        resumed, seen = await run.phase(fleet.resume(by_ledger, timeout=TIMEOUT))
        check_changed(resumed, seen, live)
        assert {s for _, s in run.instances(prefix).values()} == {"running"}

        deleted, seen = await run.phase(fleet.delete(by_ledger, timeout=TIMEOUT))
        assert deleted.totals == {Outcome.SUCCEEDED: len(live)}, [
            (i.name, repr(i.error)) for i in deleted.failed
        ]
        assert {item.instance_id for item in deleted.items} == live
        # A delete whose answer was lost is found gone (404) when resent and not waited for:
        # let its emulated half-minute pass, then nothing of the fleet may remain.
        durations = run.state.config.durations
        with run.state.backend.lock:
            run.state.clock.advance(durations.delete * (1 + durations.jitter) + 1)
        assert run.instances(prefix) == {}
        states = Counter(e.state for e in await run.store.entries())
        assert set(states) <= {EntryState.DELETED, EntryState.NOT_CREATED}, states
        assert states[EntryState.DELETED] == len(live)

        check_rate_limited(run)
        total = await run.counters()
        densest = total["max_accepted_in_window"][run.state.config.credentials[0].client_id]
        if setup.client_limit == setup.server_limit:
            # Real sockets decided when each request reached the server; never more than
            # the limit in any window of it.
            assert densest <= setup.server_limit
        elapsed = time.monotonic() - began
        requests = sum(r.requests for r, _ in run.phases)
        succeeded = sum(1 for i in created.items if i.outcome is Outcome.SUCCEEDED)
        report(
            f"  {COUNT} items: {succeeded} created, {len(live) - succeeded} made without a "
            f"password, {COUNT - len(live)} not created; faults injected "
            f"{total['faults_injected']}; {requests} requests ({requests / COUNT:.1f} per "
            f"instance, 4 calls); {total['tokens_issued']} tokens; densest window {densest}; "
            f"{elapsed:.2f} s"
        )
        # Tokens live 2 s and the client refreshes them early: a run of several seconds
        # needs several (and no item failed for an expired one: see the checks above).
        assert total["tokens_issued"] >= elapsed // TOKEN_LIFETIME

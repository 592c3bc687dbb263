"""A crash campaign: ``fleet up`` killed with SIGKILL at random moments, then ``fleet recover``.

One emulator serves the whole campaign on loopback, its clock 600 times faster than real time
(a create of two emulated minutes lasts about 0.2 real seconds). Each trial runs
``python -m aura_async fleet up --count K --name t<i>`` as a separate process with its own
credentials directory, kills it with SIGKILL at a seeded random moment, waits until the
emulator has carried out every request the dead process got to send, and then recovers its
ledger in this process (``aura.fleet.recover(FileStore(dir))``).

The moments cover a run's whole span: a first batch runs to the end and measures it; then
15 % of the kills come a random time after the start, before the creates as a rule; 55 %
a few milliseconds (0-40 ms) after the server answered the trial's n-th create (n drawn from
1..K), which is where a password can be lost; 20 % while the fleet waits for its instances
(a random time after the last answer, up to the measured end); 10 % after the process has
exited. The creates are anchored on what the server saw rather than on the time since the
start, because the start of a Python process varies too much under load (0.3 to 2 s on two
busy cores) for fixed delays to land among creates that last a few milliseconds.

What must hold after every trial, for the instances on the emulator named ``t<i>-...``:

- each is in the ledger, either ``created`` with the credentials the server answered (the very
  password), or ``credentials-lost``: matched to its intent, without a password. The only
  allowed way to lose a password is to die between the server's answer and the write, so a
  lost one is only ever found in a trial whose process was killed;
- none is unknown: ``RecoveryReport.unknown`` is empty and every instance on the emulator is
  claimed by a ledger entry with an intent (checked directly: an instance whose intent was
  never written could not even be named by the report);
- no name was created twice (the emulator's ``creates_per_name``), and every ledger entry that
  claims an instance names one that exists;
- no intent is left ``intended`` after recovery;
- ``recover(delete_lost=True)`` deletes exactly the credential-less instances and marks them
  deleted.

At the end every instance the campaign created (every create the emulator answered 202) must
have been claimed by its trial's ledger: an instance made after its trial was recovered would
show here.

``AURA_CRASH_TRIALS`` sets the number of trials (50 by default; ``nox -s soak`` runs more);
``AURA_CRASH_SEED`` replays the moments and fleet sizes of a run (the seed is printed; where
a kill lands still depends on the machine, so a replay is close, not identical). Run with
``-s`` to see the figures of each trial and of the campaign.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
from anyio.abc import Process

from aura_async import AuraClient, PollPolicy, RateLimit
from aura_async.emulator import DEFAULT_PROJECT_ID, EmulatorConfig, EmulatorServer, ProjectSpec
from aura_async.fleet.fleet import RecoveryReport
from aura_async.fleet.store import EntryState, FileStore, LedgerEntry

TRIALS = int(os.environ.get("AURA_CRASH_TRIALS") or 50)
SEED = int(os.environ.get("AURA_CRASH_SEED") or random.SystemRandom().randrange(2**32))
# Processes alive at once: CI runs the suite with -n 2 on two cores.
PARALLEL = 4
SCALE = 600.0
SIZES = (4, 8)  # instances per trial, drawn uniformly
PRO = (
    *("--type", "professional-db", "--memory", "2GB"),
    *("--region", "europe-west1", "--cloud-provider", "gcp"),
)
POST_INSTANCES = "/v1/instances"
# How long after the server answered a create a kill may come: longer than a credentials
# write takes on a loaded machine, so some kills fall after it.
AFTER_ANSWER = 0.04

pytestmark = [
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only"),
    pytest.mark.timeout(90 + 2 * TRIALS),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def report(line: str) -> None:
    """Show a measured figure (run with -s to see them)."""
    print(line)  # noqa: T201  (the figures are the point of this test)


# ---------------------------------------------------------------------- the server side


@attrs.define
class Create:
    """One ``POST /v1/instances`` as the emulator saw it (monotonic times of this process)."""

    name: str
    arrived: float
    answered: float
    answered_wall: float
    status: int
    instance_id: str | None = None
    password: str | None = None


class Tracker:
    """ASGI middleware around the emulator: requests in flight, and every create's answer.

    A request is tracked from the moment the app is called until it returns, whether or not
    the client is still there to read the answer (a dead client's request runs to its end).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._next = 0
        self._in_flight: set[int] = set()
        self.creates: list[Create] = []

    @property
    def state(self) -> Any:
        """The wrapped app's state (``EmulatorServer.state`` reads it)."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self._lock:
            key = self._next
            self._next += 1
            self._in_flight.add(key)
        try:
            if scope["method"] == "POST" and scope["path"] == POST_INSTANCES:
                await self._create(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            with self._lock:
                self._in_flight.discard(key)

    async def _create(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived = time.monotonic()
        request = bytearray()
        response = bytearray()
        status = 0

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request.extend(message.get("body", b""))
            return message

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            create = Create(
                name=_json_name(bytes(request)),
                arrived=arrived,
                answered=time.monotonic(),
                answered_wall=time.time(),
                status=status,
            )
            if status == 202:
                data = httpx.Response(202, content=bytes(response)).json()["data"]
                create.instance_id, create.password = data["id"], data["password"]
            with self._lock:
                self.creates.append(create)

    def in_flight(self) -> set[int]:
        with self._lock:
            return set(self._in_flight)

    def creates_of(self, prefix: str) -> list[Create]:
        """The creates of names starting with ``prefix`` the server has answered."""
        with self._lock:
            return [c for c in self.creates if c.name.startswith(prefix)]

    async def settle(self, base_url: str) -> None:
        """Return once every request a dead process got to send has been carried out.

        Everything it sent is in the server's socket buffers by the time it is reaped. Two
        requests on a new connection make the server's event loop read all of that (a loop
        iteration that reads our bytes reads the older ones too) and start their handlers;
        then every request in flight at that moment is waited for.
        """
        async with httpx.AsyncClient(base_url=base_url) as http:
            for _ in range(2):
                (await http.get("/_emulator/info")).raise_for_status()
        pending = self.in_flight()
        with anyio.fail_after(10):
            # The requests run on the server's thread: nothing here could set an Event.
            while pending & self.in_flight():  # noqa: ASYNC110
                await anyio.sleep(0.002)


def _json_name(body: bytes) -> str:
    try:
        name = httpx.Response(200, content=body).json().get("name")
    except ValueError:
        return ""
    return name if isinstance(name, str) else ""


def held(server: EmulatorServer, prefix: str) -> dict[str, tuple[str, str]]:
    """The emulator's instances named ``prefix...``: id -> (name, status)."""
    with server.backend.lock:
        server.backend.settle_all()
        return {
            i.id: (i.name, str(i.status))
            for i in server.backend.instances.values()
            if i.name.startswith(prefix)
        }


def purge(server: EmulatorServer, instance_ids: set[str]) -> None:
    """Take a finished trial's instances off the emulator, so the project stays small."""
    with server.backend.lock:
        for instance_id in instance_ids:
            server.backend.instances.pop(instance_id, None)


# ---------------------------------------------------------------------- one trial


@attrs.frozen
class Moment:
    """When to kill: ``offset`` seconds after the start (``after`` = 0) or after the server
    answered the trial's ``after``-th create; never, for ``"end"``."""

    kind: str  # "early", "creates", "waiting" or "end"
    offset: float = 0.0
    after: int = 0

    def __str__(self) -> str:
        if self.kind == "end":
            return "at the end"
        anchor = "start" if self.after == 0 else f"answer {self.after}"
        return f"{anchor}+{self.offset * 1000:.0f}ms"


@attrs.define
class Trial:
    """One ``fleet up`` run, its kill and what recovery found."""

    index: int
    size: int
    moment: Moment
    started: float = 0.0
    killed_at: float | None = None  # monotonic time of the SIGKILL (None: never sent)
    end: float | None = None  # seconds from the start to the exit, when it ran to the end
    returncode: int | None = None
    output: str = ""  # what the process printed (both streams)
    created: int = 0
    lost: int = 0
    lost_unanswered: int = 0  # lost ones whose answer the server had not sent at the kill
    not_created: int = 0
    unknown: int = 0
    bare: int = 0  # created per the ledger, without the password (must be 0)
    write_lags: list[float] = attrs.Factory(list)  # answer -> credentials file, seconds
    claimed: set[str] = attrs.Factory(set)
    problems: list[str] = attrs.Factory(list)

    @property
    def prefix(self) -> str:
        return f"t{self.index}-"

    @property
    def finished(self) -> bool:
        """The process ended on its own (exit 0) before any kill."""
        return self.returncode == 0

    def landed(self, creates: list[Create]) -> str:
        """Where the kill landed, as the emulator saw this trial's creates."""
        if self.finished or self.killed_at is None:
            return "after the end"
        answered = sum(c.answered < self.killed_at for c in creates)
        if answered == 0:
            return "before any answer"
        if answered < self.size:
            return "among the creates"
        return "after the last answer"

    def check(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(f"trial {self.index} ({self.prefix}): {problem}")


@attrs.define
class Campaign:
    """The emulator, its tracker, the recovering client, and where the trials run."""

    server: EmulatorServer
    tracker: Tracker
    aura: AuraClient
    root: Path
    env: dict[str, str]

    async def run(self, trial: Trial) -> None:
        directory = self.root / f"t{trial.index}"
        directory.mkdir()
        await self._spawn_and_kill(trial, directory)
        await self.tracker.settle(self.server.base_url)
        await self._recover(trial, FileStore(directory / "ledger"))

    async def _spawn_and_kill(self, trial: Trial, directory: Path) -> None:
        command = [sys.executable, "-m", "aura_async", "--credentials-dir", "ledger"]
        command += ["fleet", "up", "--count", str(trial.size), "--name", f"t{trial.index}", *PRO]
        with (directory / "output").open("wb") as output:
            trial.started = time.monotonic()
            process = await anyio.open_process(
                command,
                cwd=directory,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )
            async with process:
                if trial.moment.kind != "end":
                    await self._until(trial, process)
                    if process.returncode is None:
                        trial.killed_at = time.monotonic()
                        process.send_signal(signal.SIGKILL)
                with anyio.fail_after(60):
                    trial.returncode = await process.wait()
                ended = time.monotonic()
        trial.output = (directory / "output").read_text(errors="replace")
        if trial.returncode == 0:
            trial.end = ended - trial.started
            trial.killed_at = None  # it had exited by itself: the signal went nowhere
        trial.check(
            trial.returncode in (0, -signal.SIGKILL),
            f"fleet up exited {trial.returncode}: {trial.output[-2000:]}",
        )

    async def _until(self, trial: Trial, process: Process) -> None:
        """Wait for the trial's moment (or for its process to end first)."""
        moment = trial.moment
        if moment.after:
            with anyio.fail_after(60):
                # The answers are counted on the server's thread; 1 ms polls are precise enough.
                while (  # noqa: ASYNC110
                    process.returncode is None
                    and len(self.tracker.creates_of(trial.prefix)) < moment.after
                ):
                    await anyio.sleep(0.001)
            await anyio.sleep(moment.offset)
        else:
            await anyio.sleep(max(0.0, trial.started + moment.offset - time.monotonic()))

    async def _recover(self, trial: Trial, store: FileStore) -> None:
        creates = self.tracker.creates_of(trial.prefix)
        answered = {c.instance_id: c for c in creates if c.instance_id is not None}
        on_server = held(self.server, trial.prefix)
        names = Counter(name for name, _ in on_server.values())
        expected = {f"{trial.prefix}{n}" for n in range(1, trial.size + 1)}

        found = await self.aura.fleet.recover(store)
        entries = await store.entries()
        by_instance = {e.instance_id: e for e in entries if e.instance_id is not None}
        claimed = {
            e.instance_id: e
            for e in entries
            if e.instance_id is not None and e.state in (EntryState.CREATED, EntryState.LOST)
        }
        trial.created = len(on_server)
        trial.lost = sum(e.state is EntryState.LOST for e in entries)
        trial.not_created = sum(e.state is EntryState.NOT_CREATED for e in entries)
        trial.unknown = len(found.unknown) + len(set(on_server) - set(claimed))
        trial.claimed = set(claimed)

        trial.check(not found.unknown, f"recover found unknown instances {found.unknown}")
        trial.check(not store.unreadable, f"unreadable ledger files {store.unreadable}")
        trial.check(
            set(answered) == set(on_server),
            f"the emulator holds {sorted(on_server)}, answered creates {sorted(answered)}",
        )
        trial.check(
            all(n == 1 for n in names.values()), f"names created twice: {names.most_common(3)}"
        )
        per_name = {name: n for name, n in self._creates_per_name().items() if name in expected}
        trial.check(
            all(n == 1 for n in per_name.values()), f"creates per name: {sorted(per_name.items())}"
        )
        trial.check(set(names) <= expected, f"unexpected names {sorted(set(names) - expected)}")
        trial.check(
            {e.name for e in entries} <= expected and len(entries) <= trial.size,
            f"ledger entries {sorted((e.name, e.state.value) for e in entries)}",
        )
        trial.check(
            all(e.state is not EntryState.INTENDED for e in entries),
            "intents left intended after recovery: "
            + ", ".join(e.name for e in entries if e.state is EntryState.INTENDED),
        )
        for instance_id, (name, _) in on_server.items():
            entry = by_instance.get(instance_id)
            if entry is None:
                trial.check(False, f"{name} ({instance_id}) is unknown to the ledger")
                continue
            self._check_entry(trial, entry, answered.get(instance_id), store)
        for instance_id, entry in claimed.items():
            trial.check(
                instance_id in on_server,
                f"{entry.name} is {entry.state.value} with {instance_id}, which does not exist",
            )
        if trial.finished:
            trial.check(
                trial.created == trial.size and trial.lost == 0,
                f"ran to the end yet created {trial.created} of {trial.size}, lost {trial.lost}",
            )
        await self._delete_lost(trial, store, found)
        purge(self.server, set(on_server))

    def _check_entry(
        self, trial: Trial, entry: LedgerEntry, create: Create | None, store: FileStore
    ) -> None:
        name = f"{entry.name} ({entry.instance_id})"
        trial.check(entry.intent is not None, f"{name} has no intent in the ledger")
        if entry.state is EntryState.CREATED:
            credentials = entry.credentials
            good = (
                credentials is not None
                and create is not None
                and credentials.instance_id == entry.instance_id
                and credentials.password == create.password
            )
            trial.bare += not good
            trial.check(good, f"{name} is created without the password the server answered")
            path = store.directory / "credentials" / f"{entry.instance_id}.json"
            if create is not None and path.exists():
                trial.write_lags.append(path.stat().st_mtime - create.answered_wall)
        elif entry.state is EntryState.LOST:
            # The allowed kind only: the process was killed after its create reached the
            # server, so it died between the answer (sent or about to be) and the write.
            trial.check(
                trial.killed_at is not None and create is not None,
                f"{name} lost its credentials, but its process was not killed",
            )
            trial.check(entry.credentials is None, f"{name} is lost yet has credentials")
            if create is not None and trial.killed_at is not None:
                trial.lost_unanswered += create.answered >= trial.killed_at
        else:
            trial.check(False, f"{name} is {entry.state.value} although it exists")

    async def _delete_lost(self, trial: Trial, store: FileStore, found: RecoveryReport) -> None:
        lost = {e.instance_id for e in found.lost if e.exists and e.instance_id is not None}
        if not lost:
            return
        cleaned = await self.aura.fleet.recover(store, delete_lost=True)
        deleted = {e.instance_id for e in cleaned.entries if e.deleted}
        trial.check(deleted == lost, f"delete_lost deleted {deleted}, the lost were {lost}")
        trial.check(
            all(e.error is None for e in cleaned.entries),
            f"delete_lost failed: {[e.error for e in cleaned.entries if e.error]}",
        )
        left = held(self.server, trial.prefix)
        trial.check(
            all(left[i][1] in ("destroying", "deleting") for i in lost if i in left),
            f"lost instances still alive after delete_lost: { {i: left.get(i) for i in lost} }",
        )
        states = {e.instance_id: e.state for e in await store.entries()}
        trial.check(
            all(states.get(i) is EntryState.DELETED for i in lost),
            "deleted instances not marked deleted in the ledger",
        )

    def _creates_per_name(self) -> dict[str, int]:
        with self.server.backend.lock:
            return dict(self.server.backend.counters.creates_per_name)


# ---------------------------------------------------------------------- the moments


@attrs.frozen
class Span:
    """When a run reaches its first answer and its end, in seconds after its start."""

    first_answer: float
    last_answer: float
    end: float

    @classmethod
    def measure(cls, trials: list[Trial], tracker: Tracker) -> Span:
        firsts: list[float] = []
        lasts: list[float] = []
        for trial in trials:
            creates = tracker.creates_of(trial.prefix)
            if creates:
                firsts.append(min(c.answered for c in creates) - trial.started)
                lasts.append(max(c.answered for c in creates) - trial.started)
        ends = [t.end for t in trials if t.end is not None]
        assert firsts, "the first batch created nothing"
        assert ends, "no run of the first batch ended by itself"
        return cls(statistics.median(firsts), statistics.median(lasts), statistics.median(ends))

    def draw(self, rng: random.Random, size: int) -> Moment:
        """A seeded moment to kill a run of ``size`` creates."""
        u = rng.random()
        if u < 0.15:
            return Moment("early", rng.uniform(0.0, self.first_answer))
        if u < 0.70:
            return Moment("creates", rng.uniform(0.0, AFTER_ANSWER), rng.randint(1, size))
        if u < 0.90:
            waiting = max(self.end - self.last_answer, AFTER_ANSWER)
            return Moment("waiting", rng.uniform(AFTER_ANSWER, waiting), size)
        return Moment("end")


# ---------------------------------------------------------------------- the campaign


async def test_sigkill_at_random_moments_leaves_nothing_unknown(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    config = EmulatorConfig(
        time_scale=SCALE,
        seed=SEED % 1000,
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Crash", max_instances=100_000),),
    )
    server = EmulatorServer(config)
    tracker = Tracker(server.app)
    server.app = tracker  # type: ignore[assignment]  # served through the tracker
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_") and k != "CI"}
    env.update(
        AURA_CLIENT_ID=server.client_id,
        AURA_CLIENT_SECRET=server.client_secret,
        AURA_TENANT_ID=DEFAULT_PROJECT_ID,
        AURA_TIME_SCALE=str(SCALE),
        XDG_CONFIG_HOME=str(tmp_path / "xdg"),
    )
    began = time.monotonic()
    async with server:
        env["AURA_BASE_URL"] = server.base_url
        async with AuraClient(
            server.client_id,
            server.client_secret,
            tenant_id=DEFAULT_PROJECT_ID,
            base_url=server.base_url,
            rate_limit=RateLimit(125, 60 / SCALE),
            poll=PollPolicy().scaled(1 / SCALE),
        ) as aura:
            campaign = Campaign(server, tracker, aura, tmp_path, env)
            trials = [
                Trial(index=i, size=rng.randint(*SIZES), moment=Moment("end"))
                for i in range(min(PARALLEL, TRIALS))
            ]
            # The first batch runs to the end: it measures the span the moments are drawn in.
            async with anyio.create_task_group() as tg:
                for trial in trials:
                    tg.start_soon(campaign.run, trial)
            span = Span.measure(trials, tracker)
            for i in range(len(trials), TRIALS):
                size = rng.randint(*SIZES)
                trials.append(Trial(index=i, size=size, moment=span.draw(rng, size)))
            limiter = anyio.CapacityLimiter(PARALLEL)

            async def run(trial: Trial) -> None:
                async with limiter:
                    await campaign.run(trial)

            async with anyio.create_task_group() as tg:
                for trial in trials[PARALLEL:]:
                    tg.start_soon(run, trial)

    elapsed = time.monotonic() - began
    summarize(trials, tracker, span, elapsed)
    # The worst first: instances nobody knows of.
    problems = sorted((p for t in trials for p in t.problems), key=lambda p: "unknown" not in p)
    # Every create the emulator answered belongs to a trial whose ledger claimed it: an
    # instance made after its trial's recovery (a request still in flight) would show here.
    claimed = set().union(*(t.claimed for t in trials))
    strays = [c for c in tracker.creates if c.instance_id and c.instance_id not in claimed]
    problems += [f"created {c.name} ({c.instance_id}) was never claimed" for c in strays]
    assert not problems, f"seed {SEED}: {len(problems)} problems:\n" + "\n".join(problems[:20])


def summarize(trials: list[Trial], tracker: Tracker, span: Span, elapsed: float) -> None:
    landed: Counter[str] = Counter()
    for trial in trials:
        where = trial.landed(tracker.creates_of(trial.prefix))
        landed[where] += 1
        report(
            f"crash trial {trial.index:3d}: {trial.size} wanted, kill {trial.moment!s:>17} "
            f"({where}), rc={trial.returncode}: created {trial.created}, lost {trial.lost}, "
            f"not created {trial.not_created}, unknown {trial.unknown}"
        )
    lags = sorted(lag for t in trials for lag in t.write_lags)
    lag = "none"
    if lags:
        lag = (
            f"median {statistics.median(lags) * 1000:.1f} ms, "
            f"max {lags[-1] * 1000:.1f} ms over {len(lags)}"
        )
    report(
        f"crash span (median of the first batch): first answer {span.first_answer:.3f}s, "
        f"last answer {span.last_answer:.3f}s, exit {span.end:.3f}s after the start; "
        f"answer -> credentials file: {lag}; kills landed "
        + ", ".join(f"{where} {n}" for where, n in sorted(landed.items()))
    )
    killed = sum(t.killed_at is not None for t in trials)
    lost = sum(t.lost for t in trials)
    report(
        f"crash campaign seed={SEED}: {len(trials)} trials ({killed} killed) in {elapsed:.1f} s, "
        f"{sum(t.created for t in trials)} instances created, {lost} credentials lost "
        f"(died between the answer and the write; for "
        f"{sum(t.lost_unanswered for t in trials)} the answer was still being sent), "
        f"{sum(t.unknown for t in trials)} unknown to the ledger, "
        f"{sum(t.bare for t in trials)} created without their password, "
        f"{sum(t.not_created for t in trials)} intents not created"
    )

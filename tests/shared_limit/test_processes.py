"""Several real processes, one credential, one Redis: one rate budget between them.

Each test starts an emulator over real loopback HTTP (uvicorn in this process's thread) with
a rate limit of 25 requests per 60 emulated seconds, its clock 60 times faster than real
time (a window lasts one real second), and a real Redis server (tests/redis_server.py). Then
it starts at least four OS processes (tests/shared_limit/worker.py), each with its OWN
``AuraClient`` built with the SAME credential and ``rate_limit`` equal to the emulator's
limit, and releases them together (each says ``ready`` once its client is entered, then waits
for ``go``), so their first bursts reach the server at the same moment. Each runs
``aura.fleet.create`` of a few instances, waiting until they run, then ``aura.fleet.delete``
of them, waiting until they are gone.

What is asserted comes from the emulator's counters, not from the clients: the most requests
it accepted from the credential in any interval of one window (``max_accepted_in_window``,
exact over the whole run), its 429s (``rate_limited``), and which instances it created and
still holds. Nothing here asserts on time; a run that hung is caught by the per-worker guard
below (a failure saying which worker did not finish) or by pytest-timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from aura_async.emulator import (
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    FaultPlan,
    LatencyFault,
    ProjectSpec,
    RateLimitSettings,
)
from tests.support.workers import WorkerExited, WorkerPipe, WorkerSilent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX processes and signals"),
]

WORKER = Path(__file__).with_name("worker.py")
LIMIT = 25  # requests per window, the emulator's and every client's
WINDOW = 60.0  # emulated seconds
SCALE = 60.0  # emulated seconds per real second: a window lasts 1 s, a create 2 s
PERIOD = WINDOW / SCALE  # the clients' period, real seconds
PROCESSES = 4
COUNT = 8  # instances per process: 4 x (1 listing + 8 creates) = 36 > 25 in the first burst
HEARTBEAT, DEAD_AFTER = 0.2, 1.0  # the kill tests' (real seconds)
# Hang guards, not timings: generous enough for a loaded 2-core machine; a worker that has
# not answered by then is reported by name with its stderr.
READY_GUARD = 60.0
FINISH_GUARD = 90.0


def emulator_config(model: str, faults: FaultPlan | None = None) -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=SCALE,
        seed=8,
        token_lifetime=1e9,
        # Retry-After with milliseconds: a compressed window lasts well under a second.
        rate_limit=RateLimitSettings(
            limit=LIMIT, window=WINDOW, model=model, retry_after="seconds"
        ),
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Shared limit", max_instances=10_000),),
        faults=faults or FaultPlan(),
    )


@dataclass
class Worker(WorkerPipe):
    """One worker process, what it printed so far, and where its stderr goes."""

    stderr: Path = field(kw_only=True)

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr.read_text(errors="replace")
        except OSError:
            return "(no stderr)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty stderr)"

    def expect(self, prefix: str, guard: float) -> str:
        """Read stdout lines until one starts with ``prefix``; fail on EOF or after ``guard``."""
        try:
            return self.read_until(prefix, time.monotonic() + guard)
        except WorkerSilent:
            exited = None
        except WorkerExited as error:
            exited = error
        # (Failed out here, so the report does not show the driver's exception first.)
        if exited is not None:
            pytest.fail(
                f"worker {self.name} exited ({exited.code}) before printing {prefix!r}; it "
                f"printed {self.lines}; stderr:\n{self.stderr_tail()}"
            )
        self.dump_and_kill()
        pytest.fail(
            f"worker {self.name} did not print {prefix!r} within the {guard:g} s "
            f"hang guard; it printed {self.lines}; stderr:\n{self.stderr_tail(200)}"
        )

    def dump_and_kill(self) -> None:
        """Have a hanging worker write its threads' and tasks' stacks to stderr; kill it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=2)
            self.process.kill()
            self.process.wait()

    def result(self) -> dict[str, Any]:
        line = self.expect("result ", FINISH_GUARD)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.dump_and_kill()
            pytest.fail(
                f"worker {self.name} printed its result but did not exit within the 30 s hang "
                f"guard; its stacks:\n{self.stderr_tail(200)}"
            )
        assert code == 0, f"worker {self.name} exited {code}; stderr:\n{self.stderr_tail()}"
        result: dict[str, Any] = json.loads(line.removeprefix("result "))
        return result


@dataclass
class Setup:
    """An emulator over loopback and a way to start workers against it."""

    server: EmulatorServer
    tmp_path: Path
    workers: list[Worker] = field(default_factory=list)

    def start(
        self,
        name: str,
        *,
        redis_url: str,
        mode: str = "fleet",
        count: int = COUNT,
        announce_after: int = 0,
    ) -> Worker:
        command = [
            sys.executable,
            str(WORKER),
            f"--mode={mode}",
            f"--base-url={self.server.base_url}",
            f"--client-id={self.server.client_id}",
            f"--tenant={self.server.project_id}",
            f"--limit={LIMIT}",
            f"--period={PERIOD!r}",
            f"--scale={SCALE!r}",
            f"--redis={redis_url}",
            f"--heartbeat={HEARTBEAT!r}",
            f"--dead-after={DEAD_AFTER!r}",
            f"--prefix={name}",
            f"--count={count}",
            f"--announce-after={announce_after}",
        ]
        env = {
            **os.environ,
            "AURA_CLIENT_SECRET": self.server.client_secret,
            "PYTHONUNBUFFERED": "1",
        }
        # Nothing of the test's own configuration may leak into the worker's client.
        for variable in ("AURA_RATE_LIMIT", "AURA_RATE_LIMIT_REDIS_URL", "AURA_BASE_URL"):
            env.pop(variable, None)
        stderr = self.tmp_path / f"{name}.stderr"
        with stderr.open("w") as err:
            process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
                cwd=self.tmp_path,
            )
        worker = Worker(name, process, stderr=stderr)
        self.workers.append(worker)
        return worker

    def go(self, workers: list[Worker]) -> None:
        """Wait until every worker is ready, then release them all at once."""
        for worker in workers:
            worker.expect("ready", READY_GUARD)
        for worker in workers:
            worker.send("go")

    def counters(self) -> dict[str, Any]:
        response = httpx.get(f"{self.server.base_url}/_emulator/counters", timeout=30)
        response.raise_for_status()
        counters: dict[str, Any] = response.json()
        return counters

    def densest(self) -> int:
        return int(self.counters()["max_accepted_in_window"][self.server.client_id])

    def instances(self) -> dict[str, str]:
        """The emulator's instances now: name -> status."""
        with self.server.backend.lock:
            self.server.backend.settle_all()
            return {i.name: str(i.status) for i in self.server.backend.instances.values()}

    def close(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
            worker.close_streams()


@pytest.fixture
def setup_factory(tmp_path: Path) -> Iterator[Any]:
    opened: list[Setup] = []
    servers: list[EmulatorServer] = []

    def make(config: EmulatorConfig) -> Setup:
        server = EmulatorServer(config)
        server.start()
        servers.append(server)
        setup = Setup(server, tmp_path)
        opened.append(setup)
        return setup

    yield make
    for setup in opened:
        setup.close()
    for server in servers:
        server.stop()


def names(prefix: str, count: int = COUNT) -> list[str]:
    return [f"{prefix}-{n:02d}" for n in range(1, count + 1)]


def check_fleet(setup: Setup, worker: Worker, result: dict[str, Any]) -> None:
    """The worker created each of its instances once, then deleted every one of them."""
    where = (worker.name, result)
    assert result["errors"] == [], where
    assert result["created"] == {"succeeded": COUNT}, where
    assert result["deleted"] == {"succeeded": COUNT}, where
    assert sorted(result["deleted_ids"]) == sorted(result["ids"]), where
    assert len(set(result["ids"])) == COUNT, where
    creates = setup.counters()["creates_per_name"]
    assert {name: creates.get(name) for name in names(worker.name)} == dict.fromkeys(
        names(worker.name), 1
    ), where


# ----------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("model", ["fixed", "sliding"])
def test_processes_sharing_redis_keep_one_budget(
    setup_factory: Any, redis_url: str, model: str
) -> None:
    """Four processes at full speed together never put more than the limit in any window."""
    setup: Setup = setup_factory(emulator_config(model))
    workers = [setup.start(f"p{k}", redis_url=redis_url) for k in range(PROCESSES)]
    setup.go(workers)
    results = [worker.result() for worker in workers]

    counters = setup.counters()
    assert counters["rate_limited"] == 0, counters["requests_by_status"]
    assert sum(r["rate_limited"] for r in results) == 0
    densest = counters["max_accepted_in_window"][setup.server.client_id]
    assert densest <= LIMIT, f"{densest} requests in one window, limit {LIMIT}"
    # Together they needed several windows: the budget was really put to the test.
    api_requests = sum(
        n for route, s in counters["requests"].items() if " /v1/" in route for n in s.values()
    )
    assert api_requests > 3 * LIMIT
    for worker, result in zip(workers, results, strict=True):
        check_fleet(setup, worker, result)
    # Nothing of any fleet remains.
    assert setup.instances() == {}


def test_per_process_limiters_overrun_the_shared_limit(setup_factory: Any) -> None:
    """The same four processes, each with its own in-process budget: the server's limit is
    overrun (429s, or more than the limit accepted in one window). This is what the shared
    budget prevents, and shows that the test above can fail."""
    setup: Setup = setup_factory(emulator_config("sliding"))
    workers = [setup.start(f"q{k}", redis_url="") for k in range(PROCESSES)]
    setup.go(workers)
    for worker in workers:
        worker.expect("result ", FINISH_GUARD)
    counters = setup.counters()
    densest = counters["max_accepted_in_window"][setup.server.client_id]
    assert counters["rate_limited"] > 0 or densest > LIMIT, (densest, counters["rate_limited"])


def test_a_killed_process_holding_the_whole_budget_blocks_nobody(
    setup_factory: Any, redis_url: str
) -> None:
    """A process holds every slot of the budget in flight and is killed with SIGKILL: after
    ``dead_after`` its slots count as completed and expire a period later, so the processes
    queued behind it go on and finish, still within the limit and without a 429."""
    setup: Setup = setup_factory(emulator_config("sliding"))
    hog = setup.start("hog", redis_url=redis_url, mode="hold")
    setup.go([hog])
    assert hog.expect("holding", READY_GUARD) == f"holding {LIMIT}"
    workers = [setup.start(f"k{k}", redis_url=redis_url) for k in range(PROCESSES - 1)]
    setup.go(workers)
    # They are all queued behind the hog now (the budget is full); kill it.
    hog.process.send_signal(signal.SIGKILL)
    assert hog.process.wait(timeout=30) == -signal.SIGKILL
    results = [worker.result() for worker in workers]

    counters = setup.counters()
    assert counters["rate_limited"] == 0, counters["requests_by_status"]
    assert sum(r["rate_limited"] for r in results) == 0
    assert counters["max_accepted_in_window"][setup.server.client_id] <= LIMIT
    for worker, result in zip(workers, results, strict=True):
        check_fleet(setup, worker, result)
    assert setup.instances() == {}


def test_a_process_killed_mid_fleet_leaves_the_budget_usable(
    setup_factory: Any, redis_url: str
) -> None:
    """Four processes run their fleets; one is killed with SIGKILL in the middle of its own,
    with requests in flight (every answer is delayed by 0.1 s after the server counted it).
    The other three finish their fleets without a 429 and within the limit: the dead
    process's slots are freed no sooner than they may be (its requests did reach the server,
    so they must keep counting for a period), and not never (the test above proves that)."""
    latency = FaultPlan(latency=(LatencyFault(probability=1.0, seconds=0.1),))
    setup: Setup = setup_factory(emulator_config("fixed", latency))
    victim = setup.start("victim", redis_url=redis_url, announce_after=6)
    others = [setup.start(f"m{k}", redis_url=redis_url) for k in range(PROCESSES - 1)]
    setup.go([victim, *others])
    victim.expect("progress", READY_GUARD)
    victim.process.send_signal(signal.SIGKILL)
    assert victim.process.wait(timeout=30) == -signal.SIGKILL
    results = [worker.result() for worker in others]

    counters = setup.counters()
    assert counters["rate_limited"] == 0, counters["requests_by_status"]
    assert counters["max_accepted_in_window"][setup.server.client_id] <= LIMIT
    for worker, result in zip(others, results, strict=True):
        check_fleet(setup, worker, result)
    # Only what the victim created is left (it never got to delete).
    left = setup.instances()
    assert all(name.startswith("victim-") for name in left), left
    assert Counter(counters["creates_per_name"].values()) == Counter(
        {1: len(counters["creates_per_name"])}
    )

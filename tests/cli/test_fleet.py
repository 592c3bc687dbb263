"""``aura-async fleet``: up, down, pause, resume, resize, snapshot, status, recover.

Run in process against the loopback emulator (600 times faster than real time), except the
Ctrl-C tests, which run the command as a subprocess and interrupt it with a real SIGINT, then
read what the emulator holds and what the ledger says.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from rich.console import Console

from aura_async._http.limiter import RateLimit
from aura_async.cli.output import Output
from aura_async.cli.progress import FleetProgress, live_progress
from aura_async.emulator import DEFAULT_PROJECT_ID, EmulatorConfig, EmulatorServer, ProjectSpec
from aura_async.events import CredentialsSaved, RequestSent
from aura_async.fleet.events import FleetFinished, FleetItemFinished, FleetStarted
from aura_async.fleet.store import EntryState, FileStore, Intent, LedgerEntry, new_intent_id
from aura_async.lifecycle.events import OperationSubmitted, StatusChanged, WaitCancelled
from aura_async.lifecycle.operations import Operation

from .conftest import SCALE, CliRun, counters, json_of, sent

pytestmark = pytest.mark.timeout(60)

PRO = ("--type", "professional-db", "--memory", "2GB", "--region", "europe-west1")
PRO += ("--cloud-provider", "gcp")
REPORT_KEYS = {
    "operation",
    "dry_run",
    "ok",
    "totals",
    "requests",
    "rate_limited",
    "elapsed",
    "connectable_after",
    "items",
}
ITEM_KEYS = {
    "name",
    "instance_id",
    "outcome",
    "error",
    "error_type",
    "elapsed",
    "status",
    "credentials_known",
    "saved_to",
    "snapshot_id",
    "snapshot_status",
    "already_gone",
    "connectable_after",
}


def up(cli_run: CliRun, count: int, pattern: str, *extra: str) -> Any:
    """``fleet up`` of ``count`` Professional instances, as JSON (exit 0 expected)."""
    args = ["--count", str(count), "--name-pattern", pattern, *PRO]
    return json_of(cli_run("-o", "json", *extra, "fleet", "up", *args))


def held(server: EmulatorServer) -> dict[str, tuple[str, str]]:
    """Every instance the emulator holds: id -> (name, status)."""
    with server.backend.lock:
        server.backend.settle_all()
        return {i.id: (i.name, str(i.status)) for i in server.backend.instances.values()}


def ledger(directory: Path) -> list[LedgerEntry]:
    return anyio.run(FileStore(directory).entries)


def routes(server: EmulatorServer) -> Counter[str]:
    """Requests answered per route (all statuses together)."""
    return Counter({route: sum(by.values()) for route, by in counters(server)["requests"].items()})


# ---------------------------------------------------------------------- up


def test_up_by_count_and_pattern(cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path) -> None:
    report = up(cli_run, 3, "ci-{n:02d}", "--credentials-dir", "creds")
    cli_out = cli_run  # the same runner, for the table run below

    assert set(report) == REPORT_KEYS
    assert all(set(item) == ITEM_KEYS for item in report["items"])
    assert report["operation"] == "create"
    assert report["ok"] is True
    assert report["totals"] == {"succeeded": 3}
    assert [i["name"] for i in report["items"]] == ["ci-01", "ci-02", "ci-03"]
    assert {i["status"] for i in report["items"]} == {"running"}
    assert counters(emulator)["creates_per_name"] == {"ci-01": 1, "ci-02": 1, "ci-03": 1}

    entries = ledger(tmp_path / "creds")
    assert {e.state for e in entries} == {EntryState.CREATED}
    files = list((tmp_path / "creds" / "credentials").glob("*.json"))
    assert len(files) == 3
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    passwords = [e.credentials.password for e in entries if e.credentials is not None]
    assert len(passwords) == 3

    # Again, in table mode, with .env files: every name is adopted, nothing is created twice.
    again = cli_out(
        "--credentials-dir",
        "creds",
        "fleet",
        "up",
        "--count",
        "3",
        "--name-pattern",
        "ci-{n:02d}",
        "--env-dir",
        "envs",
        *PRO,
    )
    assert again.exit_code == 0, again.output
    assert "create: 3 adopted" in again.stdout
    assert counters(emulator)["creates_per_name"] == {"ci-01": 1, "ci-02": 1, "ci-03": 1}
    envs = sorted((tmp_path / "envs").glob("*.env"))
    assert [p.name for p in envs] == ["ci-01.env", "ci-02.env", "ci-03.env"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in envs)
    assert any(password in envs[0].read_text() for password in passwords)
    for password in passwords:
        assert password not in again.output
        assert password not in json.dumps(report)


def test_up_by_spec_file(cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path) -> None:
    (tmp_path / "fleet.toml").write_text(
        "[defaults]\n"
        'type = "professional-db"\nregion = "europe-west1"\nmemory = "2GB"\n'
        'cloud_provider = "gcp"\n'
        '[[instance]]\nname = "alpha"\n'
        '[[instance]]\nname = "beta"\nmemory = "4GB"\n'
    )
    result = cli_run("fleet", "up", "--spec-file", "fleet.toml")
    assert result.exit_code == 0, result.output
    assert "create: 2 succeeded" in result.stdout
    assert counters(emulator)["creates_per_name"] == {"alpha": 1, "beta": 1}
    memory = dict.fromkeys(("alpha", "beta"))
    with emulator.backend.lock:
        for instance in emulator.backend.instances.values():
            memory[instance.name] = instance.memory
    assert memory == {"alpha": "2GB", "beta": "4GB"}
    entries = ledger(tmp_path / "aura-credentials")
    assert sorted(e.name for e in entries if e.state is EntryState.CREATED) == ["alpha", "beta"]
    assert all(e.credentials is not None for e in entries)
    for entry in entries:
        assert entry.credentials is not None
        assert entry.credentials.password not in result.output


BAD_SPECS = {
    "not TOML": ("[[instance]\nname = 'x'\n", "not valid TOML"),
    "unknown key": ('[[instance]]\nname = "x"\ntype = "free-db"\ncolour = "red"\n', "colour"),
    "wrong type": ('[[instance]]\nname = "x"\ntype = "free-db"\nversion = 5\n', "'version'"),
    "unknown table": ('[instances]\nname = "x"\n', "instances"),
    "not an array": ('[instance]\nname = "x"\ntype = "free-db"\n', "[[instance]]"),
    "missing name": ('[[instance]]\ntype = "free-db"\n', "'name'"),
    "bad default": ('[defaults]\nsize = "2GB"\n[[instance]]\nname = "x"\n', "size"),
    "same name": ('[defaults]\ntype = "free-db"\n' + '[[instance]]\nname = "x"\n' * 2, "twice"),
    "rejected value": (
        '[defaults]\ntype = "professional-db"\nregion = "europe-west1"\n'
        'cloud_provider = "gcp"\n[[instance]]\nname = "x"\nmemory = "lots"\n',
        "memory",
    ),
}


def test_bad_spec_files_send_nothing(cli_run: CliRun, emulator: EmulatorServer) -> None:
    for case, (text, named) in BAD_SPECS.items():
        Path("bad.toml").write_text(text)
        result = cli_run("fleet", "up", "--spec-file", "bad.toml")
        assert result.exit_code == 2, (case, result.output)
        assert "bad.toml" in result.stderr, (case, result.stderr)
        assert named in result.stderr, (case, result.stderr)
        assert "Traceback" not in result.output
    assert sent(emulator) == 0


def test_bad_flags_selectors_and_ages_send_nothing(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    cases = [
        ("fleet", "down"),  # no criterion
        ("fleet", "down", "--older-than", "2x"),
        ("fleet", "pause", "--older-than", "0s"),
        ("fleet", "down", "--id", "not an id!"),
        ("fleet", "status", "--prefix", ""),
        ("fleet", "resize", "--prefix", "ci-"),  # no size
        ("fleet", "resize", "--prefix", "ci-", "--memory", "huge"),
        ("fleet", "up", "--count", "2", "--name", "x"),  # no type
        ("fleet", "up", "--count", "2", "--name-pattern", "ci", *PRO),  # no {n}
        ("fleet", "up", "--count", "2", *PRO),  # {name} without --name
        ("fleet", "up", "--count", "2", "--name", "x", "--rollback", "--on-error", "stop", *PRO),
        ("fleet", "up", "--spec-file", "missing.toml"),
        ("fleet", "up", "--count", "0", "--name", "x", *PRO),
        ("fleet", "down", "--prefix", "ci-", "--timeout", "soon"),
    ]
    for args in cases:
        result = cli_run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    assert sent(emulator) == 0


def test_partial_failure_exits_3_and_total_failure_exits_1(
    cli_run: CliRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = EmulatorConfig(
        time_scale=SCALE,
        seed=5,
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Quota", max_instances=2),),
    )
    with EmulatorServer(config) as small:
        monkeypatch.setenv("AURA_BASE_URL", small.base_url)
        monkeypatch.setenv("AURA_TENANT_ID", small.project_id)
        flags = ["--count", "4", "--name", "q", "--on-error", "continue", *PRO]
        result = cli_run("-o", "json", "fleet", "up", *flags)
        assert result.exit_code == 3, result.output
        report = json.loads(result.stdout)
        assert report["ok"] is False
        assert report["totals"] == {"succeeded": 2, "failed": 2}
        failed = [i for i in report["items"] if i["outcome"] == "failed"]
        assert all(i["error_type"] == "NotAllowedError" for i in failed)
        assert len(held(small)) == 2

        # The quota is full: no item can succeed.
        table = cli_run("fleet", "up", "--count", "2", "--name", "r", *PRO)
        assert table.exit_code == 1, table.output
        assert "no item succeeded" in table.stderr
        assert "failed" in table.stdout
        assert len(held(small)) == 2


def test_timeouts_are_in_api_time(cli_run: CliRun, emulator: EmulatorServer) -> None:
    # One API second is 1/600 of a real second here: no create is done that soon.
    result = cli_run("-o", "json", "fleet", "up", "--count", "1", "--name", "t", "--timeout", "1s",
                     *PRO)  # fmt: skip
    assert result.exit_code == 1, result.output
    assert "no item succeeded" in result.stderr
    (item,) = json.loads(result.stdout)["items"]
    assert item["error_type"] == "WaitTimeoutError"
    assert item["saved_to"]  # the instance exists, and its password is in the store
    assert list(held(emulator)) == [item["instance_id"]]


def test_jsonl_prints_one_item_per_line(cli_run: CliRun) -> None:
    result = cli_run("-o", "jsonl", "fleet", "up", "--count", "2", "--name", "j", *PRO)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["name"] for line in lines) == ["j-1", "j-2"]
    assert {line["outcome"] for line in lines} == {"succeeded"}
    assert not any("kind" in line for line in lines)  # no event without --events


def test_jsonl_with_events_streams_them_before_the_items(cli_run: CliRun) -> None:
    result = cli_run("-o", "jsonl", "--events", "fleet", "up", "--count", "2", "--name", "j", *PRO)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [line.get("kind") for line in lines]
    for kind in ("FleetStarted", "RequestSent", "CredentialsSaved", "FleetItemFinished"):
        assert kind in kinds
    assert kinds[-2:] == [None, None]  # the two items, last
    assert sorted(line["name"] for line in lines[-2:]) == ["j-1", "j-2"]
    assert kinds.index("FleetStarted") < kinds.index("FleetFinished") < len(kinds) - 2
    assert "password" not in result.stdout.lower().replace('"password"', "")


# ---------------------------------------------------------------------- down


def test_down_dry_run_and_confirmation(cli_run: CliRun, emulator: EmulatorServer) -> None:
    up(cli_run, 2, "ci-{n}")
    before = routes(emulator)

    plan = json_of(cli_run("-o", "json", "fleet", "down", "--prefix", "ci-", "--dry-run"))
    assert plan["dry_run"] is True
    assert plan["totals"] == {"skipped": 2}
    assert sorted(i["name"] for i in plan["items"]) == ["ci-1", "ci-2"]
    spent = routes(emulator) - before
    assert {
        r for r in spent if r.startswith(("GET", "POST", "PATCH", "DELETE")) and "/v1/" in r
    } == {"GET /v1/instances"}
    assert spent["GET /v1/instances"] == 1

    # No --yes and standard input is not a terminal: refused, nothing deleted.
    refused = cli_run("fleet", "down", "--prefix", "ci-")
    assert refused.exit_code == 2, refused.output
    assert "Delete 2 instances: ci-1, ci-2?" in refused.stderr
    assert "--yes" in refused.stderr
    assert not any(r.startswith("DELETE") for r in routes(emulator))
    assert len(held(emulator)) == 2


def test_down_ledger_deletes_exactly_the_ledgers_instances(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    mine = up(cli_run, 2, "mine-{n}")
    up(cli_run, 1, "theirs-{n}", "--credentials-dir", "elsewhere")

    report = json_of(cli_run("--yes", "-o", "json", "fleet", "down", "--ledger"))
    assert report["totals"] == {"succeeded": 2}
    ids = {i["instance_id"] for i in mine["items"]}
    assert {i["instance_id"] for i in report["items"]} == ids
    assert [name for name, _ in held(emulator).values()] == ["theirs-1"]
    states = {e.name: e.state for e in ledger(tmp_path / "aura-credentials")}
    assert states == {"mine-1": EntryState.DELETED, "mine-2": EntryState.DELETED}

    # Nothing left in the ledger: a second teardown has nothing to do.
    again = cli_run("--yes", "fleet", "down", "--ledger")
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.stdout


def test_down_right_after_up_leaves_nothing_running(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    """The issue's command lines: ``fleet up --no-wait`` then ``fleet down --prefix`` at once,
    while every new instance still answers 404 (for 150 emulated seconds, longer than the
    60 the client allows for by default): the teardown deletes them all, and says so only
    when it is true."""
    httpx.put(f"{emulator.base_url}/_emulator/faults", json={"not_found_after_create": 150})
    args = ("fleet", "up", "--count", "5", "--name-pattern", "leak-{n}", "--no-wait", *PRO)
    assert cli_run(*args).exit_code == 0

    report = json_of(cli_run("--yes", "-o", "json", "fleet", "down", "--prefix", "leak-"))

    assert report["totals"] == {"succeeded": 5}
    assert counters(emulator)["faults_injected"]["not_found_after_create"] >= 1
    assert not [s for _, s in held(emulator).values() if s not in ("destroying", "deleting")]
    with emulator.backend.lock:
        emulator.state.clock.advance(3600)
    assert held(emulator) == {}
    states = {e.state for e in ledger(tmp_path / "aura-credentials")}
    assert states == {EntryState.DELETED}


# ---------------------------------------------------------------------- changes, status


def test_pause_resume_resize_snapshot_status(cli_run: CliRun, emulator: EmulatorServer) -> None:
    up(cli_run, 2, "ops-{n}")

    paused = json_of(cli_run("-o", "json", "fleet", "pause", "--glob", "ops-*"))
    assert paused["totals"] == {"succeeded": 2}
    assert {i["status"] for i in paused["items"]} == {"paused"}
    status = json_of(cli_run("-o", "json", "fleet", "status", "--prefix", "ops-"))
    assert sorted((i["name"], i["status"]) for i in status) == [
        ("ops-1", "paused"),
        ("ops-2", "paused"),
    ]
    again = json_of(cli_run("-o", "json", "fleet", "pause", "--prefix", "ops-"))
    assert again["totals"] == {"skipped": 2}

    resumed = cli_run("fleet", "resume", "--prefix", "ops-")
    assert resumed.exit_code == 0, resumed.output
    assert "resume: 2 succeeded" in resumed.stdout

    resized = json_of(cli_run("-o", "json", "fleet", "resize", "--ledger", "--memory", "4GB"))
    assert resized["totals"] == {"succeeded": 2}
    shot = json_of(cli_run("-o", "json", "fleet", "snapshot", "--all"))
    assert shot["totals"] == {"succeeded": 2}
    assert all(i["snapshot_id"] for i in shot["items"])
    assert {i["snapshot_status"] for i in shot["items"]} == {"Completed"}
    shot_table = cli_run("fleet", "snapshot", "--prefix", "ops-1")
    assert shot_table.exit_code == 0, shot_table.output
    assert "SNAPSHOT ID" in shot_table.stdout
    assert "Completed" in shot_table.stdout

    table = cli_run("fleet", "status", "--all")
    assert table.exit_code == 0, table.output
    assert "ops-1" in table.stdout
    assert "4GB" in table.stdout
    assert "running" in table.stdout


def test_recover_finds_and_deletes_an_instance_without_credentials(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    up(cli_run, 1, "kept-{n}")
    # A create whose answer never reached the ledger (a crash): only its intent is recorded,
    # and the instance exists (made here through another credential store).
    intent = Intent(
        intent_id=new_intent_id(),
        name="lost-1",
        spec={"name": "lost-1"},
        tenant_id=emulator.project_id,
        started_at=dt.datetime.now(dt.UTC),
    )
    anyio.run(FileStore(tmp_path / "aura-credentials").record_intent, intent)
    lost = up(cli_run, 1, "lost-{n}", "--credentials-dir", "elsewhere")["items"][0]

    found = json_of(cli_run("-o", "json", "fleet", "recover"))
    states = {e["name"]: (e["state"], e["instance_id"]) for e in found["entries"]}
    assert states["lost-1"] == ("credentials-lost", lost["instance_id"])
    assert states["kept-1"][0] == "created"

    refused = cli_run("fleet", "recover", "--delete-lost")
    assert refused.exit_code == 2
    assert lost["instance_id"] in set(held(emulator))

    result = cli_run("--yes", "fleet", "recover", "--delete-lost")
    assert result.exit_code == 0, result.output
    assert "deleted" in result.stdout
    assert lost["instance_id"] not in {
        i for i, (_, status) in held(emulator).items() if status not in ("destroying",)
    }
    assert [name for name, _ in held(emulator).values() if name == "kept-1"] == ["kept-1"]


# ---------------------------------------------------------------------- Ctrl-C


def spawn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """``python -m aura_async ARGS`` in the background, pointed at an emulator by ``env``."""
    return subprocess.Popen(
        [sys.executable, "-m", "aura_async", *args],
        env={**os.environ, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_when(process: subprocess.Popen[str], ready: Callable[[], bool]) -> str:
    """Send SIGINT once ``ready()``; return standard error after the process ended."""
    try:
        deadline = time.monotonic() + 30
        while not ready():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the moment to interrupt never came"
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err
    assert "Traceback" not in err
    return err


def gone(server: EmulatorServer) -> bool:
    """Wait (a little) until the emulator holds no instance."""
    deadline = time.monotonic() + 10
    while held(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not held(server)


@pytest.mark.parametrize("rollback", [False, True], ids=["keep", "rollback"])
def test_ctrl_c_leaves_a_complete_ledger(
    emulator: EmulatorServer, cli_env: dict[str, str], tmp_path: Path, rollback: bool
) -> None:
    creds = tmp_path / "creds"
    args = ["--rate-limit", "4/1", "--credentials-dir", str(creds), "fleet", "up"]
    args += ["--count", "30", "--name", "sig", *PRO]
    if rollback:
        args.append("--rollback")
    process = spawn(args, cli_env, tmp_path)
    interrupt_when(process, lambda: len(list((creds / "credentials").glob("*.json"))) >= 3)

    entries = ledger(creds)
    assert len(entries) == 30  # every intent is recorded before its item waits its turn
    # Creates not yet sent were never made (the interrupt came before the end); none is left
    # "intended": what was sent was carried to its answer and its credentials saved.
    assert EntryState.NOT_CREATED in {e.state for e in entries}
    assert EntryState.INTENDED not in {e.state for e in entries}
    by_instance = {e.instance_id: e for e in entries if e.instance_id is not None}
    assert by_instance, "some instances were created before the interrupt"
    if not rollback:
        instances = held(emulator)
        for instance_id in instances:
            entry = by_instance[instance_id]
            assert entry.state is EntryState.CREATED
            assert entry.credentials is not None
        assert {e.instance_id for e in entries if e.state is EntryState.CREATED} == set(instances)
    else:
        assert {e.state for e in by_instance.values()} == {EntryState.DELETED}
        assert gone(emulator)


def test_ctrl_c_during_a_rollback_lets_it_finish(cli_env: dict[str, str], tmp_path: Path) -> None:
    """The rollback after a failure runs shielded in the main task; asyncio's own Ctrl-C
    (a native cancel of that task) would cut it short and leave instances running."""
    config = EmulatorConfig(
        time_scale=SCALE,
        seed=3,
        projects=(ProjectSpec(DEFAULT_PROJECT_ID, "Quota", max_instances=5),),
    )
    with EmulatorServer(config) as small:
        env = {**cli_env, "AURA_BASE_URL": small.base_url}
        args = ["--rate-limit", "3/1", "fleet", "up", "--count", "8", "--name", "rb", *PRO]
        process = spawn([*args, "--rollback"], env, tmp_path)

        def rolling_back() -> bool:
            return any(route.startswith("DELETE") for route in routes(small))

        interrupt_when(process, rolling_back)
        assert gone(small)
        created = counters(small)["creates_per_name"]
        assert len(created) == 5  # the quota: the sixth create failed, and all were undone
        assert set(created.values()) == {1}


# ---------------------------------------------------------------------- live progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _render(progress: FleetProgress) -> str:
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    console.print(progress)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(text, str)
    return text


def test_progress_counts_statuses_budget_and_time_left() -> None:
    clock = FakeClock()
    progress = FleetProgress("create", budget=RateLimit(10, 60), clock=clock, max_rows=3)
    at = dt.datetime.now(dt.UTC)
    progress(FleetStarted(operation="create", items=5, at=at, monotonic=100.0))
    assert "estimating time left" in _render(progress)
    for n in range(1, 5):
        clock.now = 100.0 + n
        progress(RequestSent("POST", "/v1/instances", 1, monotonic=clock.now))
        progress(CredentialsSaved(resource_id=f"id{n}", name=f"i-{n}", location="creds"))
        progress(
            OperationSubmitted(
                resource_id=f"id{n}",
                name=f"i-{n}",
                operation=Operation.CREATE,
                at=at,
                monotonic=clock.now,
                elapsed=0.0,
            )
        )
    statuses, outcomes = progress.counts()
    assert statuses == {"creating": 4, "queued": 1}
    assert not outcomes

    clock.now = 130.0
    progress(
        StatusChanged(
            resource_id="id1",
            name=None,
            operation=Operation.CREATE,
            at=at,
            monotonic=130.0,
            elapsed=29.0,
            previous="creating",
            status="running",
        )
    )
    progress(
        FleetItemFinished(
            operation="create",
            name="i-1",
            resource_id="id1",
            outcome="succeeded",
            error=None,
            elapsed=30.0,
            at=at,
            monotonic=131.0,
        )
    )
    # A wait cut short before any poll keeps the status last known.
    progress(
        WaitCancelled(
            resource_id="id2", name="i-2", operation=Operation.CREATE, at=at, monotonic=131.5,
            elapsed=29.5, status="",
        )
    )  # fmt: skip
    clock.now = 132.0
    statuses, outcomes = progress.counts()
    assert statuses == {"creating": 3, "queued": 1}
    assert outcomes == {"succeeded": 1}
    # Took 30 s from acceptance; i-4 was accepted at 104: ends ~134. The fifth is not sent
    # yet: one request at 10 a minute (6 s), then 30 s: ~36 s left.
    assert progress.remaining() == pytest.approx(36.0)
    assert progress.in_window() == 4
    shown = _render(progress)
    assert "fleet create · 1/5 done · 32s elapsed · ~36s left" in shown
    assert "4 sent · 4 of 10 allowed in the last 1m00s" in shown
    assert "creating 3" in shown
    assert "succeeded 1" in shown
    assert "and 1 more" in shown  # 4 instances seen, 3 rows shown
    assert "i-1" not in shown  # ended items come after those under way

    progress(
        FleetFinished(
            operation="create",
            totals={"succeeded": 5},
            requests=9,
            rate_limited=2,
            elapsed=40,
            at=at,
            monotonic=140.0,
        )
    )
    assert progress.remaining() == 0.0
    assert "2 rate-limited" in _render(progress)


def test_live_display_only_on_a_terminal_in_table_mode() -> None:
    listeners: list[Any] = []
    plain = Output("table", console=Console(file=io.StringIO()))
    with live_progress(plain, listeners, "create") as progress:
        assert progress is None
        assert listeners == []
    for output in (
        Output("json", console=Console(file=io.StringIO(), force_terminal=True)),
        Output("table", quiet=True, console=Console(file=io.StringIO(), force_terminal=True)),
    ):
        with live_progress(output, listeners, "create") as progress:
            assert progress is None
    screen = io.StringIO()
    terminal = Output("table", console=Console(file=screen, force_terminal=True, width=100))
    with live_progress(terminal, listeners, "create", budget=RateLimit(125, 60)) as progress:
        assert progress is not None
        assert listeners == [progress]
        progress(FleetStarted(operation="create", items=1, at=dt.datetime.now(dt.UTC), monotonic=0))
    assert listeners == []
    assert "fleet create" in screen.getvalue()


def test_live_display_end_to_end(cli_run: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TTY_INTERACTIVE", "1")
    result = cli_run("fleet", "up", "--count", "2", "--name", "live", *PRO)
    assert result.exit_code == 0, result.output
    assert "fleet create" in result.stdout  # the live display
    assert "create: 2 succeeded" in result.stdout  # the report after it
    assert "credentials saved to" not in result.stderr  # events fed the display, not lines


# ---------------------------------------------------------------------- review fixes


@pytest.mark.shows_secrets
def test_up_prints_the_credentials_the_store_could_not_save(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    # The ledger can record intents, but not credentials: "credentials" is a file.
    (tmp_path / "creds").mkdir(mode=0o700)
    (tmp_path / "creds" / "credentials").write_text("")
    args = ["--count", "2", "--name", "lost", "--on-error", "continue", *PRO]
    result = cli_run("-o", "json", "--credentials-dir", "creds", "fleet", "up", *args)
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)  # standard output is still one JSON document
    assert report["totals"] == {"failed": 2}
    assert "item.credentials" not in result.output
    assert all("printed on standard error" in item["error"] for item in report["items"])
    assert "the only copy" in result.stderr
    shown = {
        fields["id"]: fields
        for fields in (
            dict(part.split("=", 1) for part in line.split())
            for line in result.stderr.splitlines()
            if line.strip().startswith("name=")
        )
    }
    assert set(shown) == {item["instance_id"] for item in report["items"]} == set(held(emulator))
    for fields in shown.values():
        assert fields["name"].startswith("lost-")
        assert fields["uri"].startswith("neo4j+s://")
        assert fields["username"] == "neo4j"
        assert len(fields["password"]) >= 16
        assert fields["password"] not in result.stdout

    # In a table too, with the SDK's wording of the error nowhere.
    table = cli_run("--credentials-dir", "creds", "fleet", "up", "--count", "1", "--name", "t",
                    *PRO)  # fmt: skip
    assert table.exit_code == 1, table.output
    assert "item.credentials" not in table.output
    assert sum(line.strip().startswith("name=t-1 ") for line in table.stderr.splitlines()) == 1


def test_live_display_takes_names_that_look_like_markup() -> None:
    progress = FleetProgress("create", clock=FakeClock())
    at = dt.datetime.now(dt.UTC)
    progress(FleetStarted(operation="create", items=2, at=at, monotonic=100.0))
    progress(CredentialsSaved(resource_id="[red]id", name="[/b]x", location="creds"))
    progress(
        FleetItemFinished(
            operation="create", name="[bold]y", resource_id="abc", outcome="failed",
            error=None, elapsed=1.0, at=at, monotonic=101.0,
        )
    )  # fmt: skip
    shown = _render(progress)
    assert "[/b]x" in shown
    assert "[red]id" in shown
    assert "[bold]y" in shown


def test_status_rows_share_one_schema(cli_run: CliRun, emulator: EmulatorServer) -> None:
    up(cli_run, 1, "seen-{n}")
    # A new instance the API lists but does not yet answer a GET for: "not found".
    httpx.put(f"{emulator.base_url}/_emulator/faults", json={"not_found_after_create": 3600})
    args = ("fleet", "up", "--count", "1", "--name-pattern", "hidden-{n}", "--no-wait", *PRO)
    assert cli_run(*args).exit_code == 0
    rows = json_of(cli_run("-o", "json", "fleet", "status", "--all"))
    by_name = {row["name"]: row for row in rows}
    assert by_name["hidden-1"]["status"] == "not found"
    assert by_name["seen-1"]["status"] == "running"
    keys = set(rows[0])
    assert {"id", "name", "status", "type", "memory", "error"} <= keys
    assert all(set(row) == keys for row in rows)
    assert by_name["hidden-1"]["memory"] is None
    assert by_name["seen-1"]["error"] is None


def test_fleet_output_is_sorted_by_name(cli_run: CliRun, emulator: EmulatorServer) -> None:
    # Listed oldest first: zeta, mid-10, alpha, mid-9.
    for name in ("zeta", "mid-10", "alpha", "mid-9"):
        assert cli_run("instance", "create", "--name", name, *PRO).exit_code == 0
    wanted = ["alpha", "mid-9", "mid-10", "zeta"]
    status = json_of(cli_run("-o", "json", "fleet", "status", "--all"))
    assert [row["name"] for row in status] == wanted
    paused = json_of(cli_run("-o", "json", "fleet", "pause", "--all"))
    assert [item["name"] for item in paused["items"]] == wanted
    plan = cli_run("fleet", "down", "--all", "--dry-run")
    assert plan.exit_code == 0, plan.output
    positions = [plan.stdout.index(f" {name} ") for name in wanted]
    assert positions == sorted(positions)
    # The spec file's order is not the output's either.
    Path("f.toml").write_text(
        '[defaults]\ntype = "professional-db"\nregion = "europe-west1"\nmemory = "2GB"\n'
        'cloud_provider = "gcp"\n[[instance]]\nname = "b"\n[[instance]]\nname = "a"\n'
    )
    created = json_of(cli_run("-o", "json", "fleet", "up", "--spec-file", "f.toml"))
    assert [item["name"] for item in created["items"]] == ["a", "b"]


def test_down_dry_run_shows_the_plan(cli_run: CliRun, emulator: EmulatorServer) -> None:
    up(cli_run, 2, "ci-{n}")
    table = cli_run("fleet", "down", "--prefix", "ci-", "--dry-run")
    assert table.exit_code == 0, table.output
    assert "planned" in table.stdout
    assert "skipped" not in table.stdout
    assert "dry run" in table.stdout
    plan = json_of(cli_run("-o", "json", "fleet", "down", "--prefix", "ci-", "--dry-run"))
    assert plan["dry_run"] is True
    assert {item["outcome"] for item in plan["items"]} == {"skipped"}
    assert len(held(emulator)) == 2


def test_timeouts_take_seconds_and_durations(cli_run: CliRun, emulator: EmulatorServer) -> None:
    up(cli_run, 1, "d-{n}")
    paused = json_of(cli_run("-o", "json", "fleet", "pause", "--all", "--timeout", "10m"))
    assert paused["totals"] == {"succeeded": 1}
    resumed = json_of(cli_run("-o", "json", "fleet", "resume", "--all", "--timeout", "900"))
    assert resumed["totals"] == {"succeeded": 1}
    for bad in ("soon", "-5", "10x", "1h-"):
        result = cli_run("fleet", "pause", "--all", "--timeout", bad)
        assert result.exit_code == 2, (bad, result.output)
        assert "--timeout" in result.stderr


def test_errors_name_the_flags(cli_run: CliRun, emulator: EmulatorServer) -> None:
    for args, words in (
        (("fleet", "resize", "--prefix", "ci-", "--memory", "huge"), "--memory must be a size"),
        (("fleet", "down", "--id", "not an id!"), "--id must be an instance id"),
        (("fleet", "up", "--count", "1", "--name", "x", *PRO[:2], "--cloud-provider", "gcp",
          "--memory", "2GB"), "--region"),
    ):  # fmt: skip
        result = cli_run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert words in result.stderr, (args, result.stderr)
        assert "_id" not in result.stderr
    assert sent(emulator) == 0

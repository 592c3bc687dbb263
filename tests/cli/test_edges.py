"""The command at its edges (issue 15): errors in the command's words, waits on unknown ids,
deleting what is already gone, an unreachable API, a server that stops mid-fleet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result

from aura_async.cli.commands._common import cli_error
from aura_async.cli.output import describe
from aura_async.emulator import EmulatorConfig, EmulatorServer
from aura_async.errors import (
    AuraError,
    ConfigurationError,
    CreateFailedError,
    RateLimitBackendError,
    error_for_response,
)
from aura_async.events import RetryScheduled

from .conftest import CliRun, counters, json_of

PRO = ("--type", "professional-db", "--cloud-provider", "gcp", "--region", "europe-west1",
       "--memory", "2GB")  # fmt: skip


def create(cli_run: CliRun, name: str, *extra: str) -> dict[str, Any]:
    """Create an instance through the command; its JSON."""
    data: dict[str, Any] = json_of(cli_run("-o", "json", "instance", "create", "--name", name,
                                           *PRO, *extra))  # fmt: skip
    return data


# How the SDK spells what the command line says with flags and commands.
SDK_SPELLINGS = re.compile(
    r"AuraClient|aura\.(tenants|instances|snapshots)\.|fleet\.recover\(|\(store|"
    r"delete_lost=|rate_limit_backend=|pass them to"
)


def assert_in_cli_words(result: Result) -> None:
    """The run said something, and nothing in the SDK's spelling."""
    assert "Traceback" not in result.output
    found = SDK_SPELLINGS.search(result.output)
    assert found is None, f"SDK spelling {found.group(0)!r} in: {result.output}"


# --------------------------------------------------------------------------- 5: CLI words


def test_missing_credentials_name_the_flags_and_commands(
    cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_CLIENT_ID")
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    result = cli_run("instance", "list")
    assert result.exit_code == 2
    assert "Missing API credentials" in result.stderr
    assert "--client-id" in result.stderr
    assert "aura-async credential add" in result.stderr
    assert_in_cli_words(result)


@pytest.mark.parametrize(
    "args",
    [
        ("instance", "create", "--name", "x", "--type", "professional-db",
         "--cloud-provider", "gcp", "--region", "mars-1", "--memory", "2GB"),
        ("fleet", "up", "--count", "2", "--name-pattern", "x-{n}", "--type",
         "professional-db", "--cloud-provider", "gcp", "--region", "mars", "--memory", "2GB"),
        ("instance", "create", "--name", "x", "--type", "professional-db",
         "--cloud-provider", "gcp", "--region", "europe-west1", "--memory", "3GB"),
    ],
    ids=["region", "fleet-region", "memory"],
)  # fmt: skip
def test_offer_errors_point_at_regions_once(cli_run: CliRun, args: tuple[str, ...]) -> None:
    result = cli_run(*args)
    assert result.exit_code == 2
    assert result.stderr.count("aura-async regions") == 1, result.stderr
    assert_in_cli_words(result)


# The SDK errors a command may surface whose words name SDK calls (built as the SDK builds
# them), and what the command line must say instead.
SDK_ERRORS: dict[str, tuple[AuraError, str]] = {
    "lost-password": (
        CreateFailedError("db", 2, AuraError("a 503"), instance_id="abcdef12"),
        "aura-async fleet recover --delete-lost",
    ),
    "tenant-not-found": (
        error_for_response(
            404,
            {"errors": [{"message": "no such tenant", "reason": "tenant-not-found"}]},
            method="GET",
            path="/v1/tenants/x",
        ),
        "aura-async tenant list",
    ),
    "missing-credentials": (
        ConfigurationError(
            "Missing API credentials: set AURA_CLIENT_ID (or pass them to AuraClient)"
        ),
        "--client-id",
    ),
    "redis": (RateLimitBackendError("Redis is down"), "--rate-limit-redis"),
    "closed": (ConfigurationError("The client is closed; create a new AuraClient"), "again"),
}


@pytest.mark.parametrize(("error", "instead"), SDK_ERRORS.values(), ids=SDK_ERRORS.keys())
def test_sdk_errors_are_said_in_the_commands_words(error: AuraError, instead: str) -> None:
    worded = cli_error(error, {})
    assert type(worded) is type(error)
    assert instead in str(worded)
    assert SDK_SPELLINGS.search(str(worded)) is None, str(worded)
    assert SDK_SPELLINGS.search(str(error)) is not None  # (the SDK's own words are kept)


# --------------------------------------------------------------------------- 1: unknown ids


def test_wait_on_an_unknown_id_says_not_found_in_one_line(cli_run: CliRun) -> None:
    result = cli_run("instance", "wait", "deadbeef")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: No instance deadbeef was found")
    assert "aura-async instance list" in lines[0]
    assert "submitted" not in result.output
    assert "Create of" not in result.output


def test_wait_on_known_and_unknown_ids_reports_each(cli_run: CliRun) -> None:
    key = create(cli_run, "here", "--await")["id"]
    result = cli_run("-o", "json", "instance", "wait", key, "deadbeef")
    assert result.exit_code == 1
    by_id = {w["id"]: w for w in json.loads(result.stdout)}
    assert by_id[key]["result"] == "done"
    assert by_id["deadbeef"]["result"] == "not found"
    assert "no instance deadbeef was found" in by_id["deadbeef"]["error"]


def test_wait_right_after_a_create_that_answers_404_still_waits(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    """Live Aura answers 404 for a just-created instance for a while: while it is listed, a
    wait on it is no "not found"."""
    httpx.put(f"{emulator.base_url}/_emulator/faults", json={"not_found_after_create": 150})
    key = create(cli_run, "young")["id"]
    result = cli_run("-o", "json", "instance", "wait", key, "--timeout", "20m")
    waited = json_of(result)
    assert waited[0]["result"] == "done"
    assert waited[0]["status"] == "running"
    assert counters(emulator)["faults_injected"]["not_found_after_create"] >= 1


# --------------------------------------------------------------------------- 2: already gone


@pytest.mark.parametrize("wait", [(), ("--await",)], ids=["sent", "await"])
def test_deleting_an_instance_already_gone_succeeds_with_a_note(
    cli_run: CliRun, wait: tuple[str, ...]
) -> None:
    key = create(cli_run, "doomed", "--await")["id"]
    assert json_of(cli_run("-o", "json", "-y", "instance", "delete", key, "--await"))["status"] == (
        "deleted"
    )

    again = cli_run("-y", "instance", "delete", key, *wait)
    assert again.exit_code == 0, again.output
    assert f"instance {key}: already gone" in again.stdout
    assert "error" not in again.stderr
    gone = json_of(cli_run("-o", "json", "-y", "instance", "delete", key, *wait))
    assert gone == {"id": key, "status": "already gone"}

    # fleet down calls the same thing done, with the same exit code and the same note.
    down = cli_run("-y", "fleet", "down", "--id", key)
    assert down.exit_code == 0, down.output
    assert "succeeded" in down.stdout
    assert "already gone" in down.stdout
    (item,) = json_of(cli_run("-o", "json", "-y", "fleet", "down", "--id", key))["items"]
    assert (item["outcome"], item["already_gone"]) == ("succeeded", True)


def test_delete_right_after_create_is_no_already_gone(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    """A 404 inside a new instance's window proves nothing: the delete is sent again after
    it and the instance is deleted, not reported gone."""
    httpx.put(f"{emulator.base_url}/_emulator/faults", json={"not_found_after_create": 150})
    key = create(cli_run, "newborn")["id"]
    gone = json_of(cli_run("-o", "json", "-y", "instance", "delete", key))
    assert gone == {"id": key, "status": "destroying"}
    assert counters(emulator)["faults_injected"]["not_found_after_create"] >= 1
    with emulator.backend.lock:  # the service took the delete
        record = emulator.backend.instances.get(key)
        assert record is None or record.status == "destroying"


# --------------------------------------------------------------------------- 4: retries shown


def test_server_errors_show_each_retry_as_it_happens(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    fault = {"status": 503, "probability": 1.0, "retry_after": 1,
             "only": {"methods": ["GET"], "route": "/instances"}}  # fmt: skip
    httpx.put(f"{emulator.base_url}/_emulator/faults", json={"errors": [fault]}).raise_for_status()
    result = cli_run("instance", "list")
    assert result.exit_code == 1
    retries = [line for line in result.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 5, result.stderr  # one line per resend, before the error
    assert "GET /v1/instances: answered 503; retrying in" in retries[0]
    assert retries[0].endswith("(attempt 2)")
    assert retries[-1].endswith("(attempt 6)")
    assert result.stderr.splitlines()[-1].startswith("error:")


def test_retry_lines_say_what_failed_and_leave_out_rate_limits() -> None:
    refused = RetryScheduled("GET", "/v1/tenants", 1, 0.4, "ConnectError")
    assert describe(refused) == ("GET /v1/tenants: could not connect; retrying in 0.4s (attempt 2)")
    token = RetryScheduled("GET", "/v1/tenants", 2, 0.9, "token 502")
    assert "the token request answered 502" in describe(token)
    # Routine in a fleet, and said once by the RateLimited line already.
    assert describe(RetryScheduled("POST", "/v1/instances", 1, 2.0, "429")) == ""
    assert describe(RetryScheduled("GET", "/v1/instances", 1, 2.0, "token 429")) == ""


# --------------------------------------------------------------------------- 3: server stops


def test_a_server_stopped_mid_fleet_up_leaves_every_item_with_a_reason(tmp_path: Path) -> None:
    """The emulator stops once every create was answered: the waits cannot poll, the first
    item fails and the others are cut short, each saying why."""
    server = EmulatorServer(EmulatorConfig(time_scale=30, seed=3))
    server.start()
    env = {
        **os.environ,
        "AURA_CLIENT_ID": server.client_id,
        "AURA_CLIENT_SECRET": server.client_secret,
        "AURA_TENANT_ID": server.project_id,
        "AURA_BASE_URL": server.base_url,
        "AURA_TIME_SCALE": "30",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    env.pop("CI", None)
    command = [sys.executable, "-m", "aura_async", "fleet", "up", "--count", "6",
               "--name-pattern", "s-{n}", *PRO]  # fmt: skip
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answered = counters(server)["requests"].get("POST /v1/instances", {})
            if sum(answered.values()) >= 6:
                break
            time.sleep(0.05)
    finally:
        server.stop()
    out, err = process.communicate(timeout=120)

    assert process.returncode == 1, err
    assert "()" not in err
    assert re.search(r"create failed \(\S", err), err
    ended = [line for line in err.splitlines() if re.search(r" s-\d: (failed|cancelled)", line)]
    assert len(ended) == 6, err
    for line in ended:
        assert re.search(r": (failed|cancelled): \S", line), line
    assert sum("the API became unreachable: " in line for line in ended) == 5, err
    rows = [line for line in out.splitlines() if "│ cancelled" in line]
    assert len(rows) == 5, out
    assert all("Cut short when the call stopped" in row for row in rows), out

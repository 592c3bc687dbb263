"""The command refuses bad input with ONE line on stderr and exit 2, before anything billable.

Each malformed command line of the report (issue 12) is run against an emulator on loopback
and the emulator's own counters say no mutation was sent (a read of the project's catalogue
may be, once). Usage errors are one line (click's Usage/Try/Error form replaced), and what
the server or the user wrote is printed escaped: no forged line, no raw control character.
"""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest
from click.testing import Result
from rich.console import Console

from aura_async.cli.output import Output, describe
from aura_async.emulator import EmulatorServer
from aura_async.lifecycle.events import StatusChanged
from aura_async.lifecycle.operations import Operation
from tests.cli.conftest import CliRun, counters, sent

PRO = ("--type", "professional-db", "--region", "europe-west1", "--memory", "2GB")
PRO_CLOUD = (*PRO, "--cloud-provider", "gcp")
FORGING = "a\n00:00:00 ok: deleted\n{n}"


def mutations(server: EmulatorServer) -> int:
    """Requests that change something (anything but GET and the token)."""
    return sum(
        sum(statuses.values())
        for route, statuses in counters(server)["requests"].items()
        if not route.startswith("GET ") and "/oauth/" not in route
    )


def one_error_line(result: Result, *words: str) -> str:
    """Check exit 2, nothing on stdout, and exactly one line on stderr naming ``words``."""
    shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.exit_code == 2, shown
    assert result.stdout == "", shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert result.stderr.count("\n") == 1, shown
    assert result.stderr.endswith("\n"), shown
    line = lines[0]
    assert line.startswith("error: "), shown
    for raw in ("\x07", "\x1b", "\r"):
        assert raw not in line, shown
    for word in words:
        assert word in line, shown
    return line


USAGE = {
    "unknown option": (("fleet", "up", "--foo"), ("--foo", "(see aura-async fleet up --help)")),
    "unknown command": (("instances", "list"), ("instances", "(see aura-async --help)")),
    "missing argument": (("instance", "get"), ("INSTANCE_ID",)),
    "bad choice": (("--output", "yaml", "tenant", "list"), ("--output", "yaml")),
    "bad option value with a bell": (
        ("--time-scale", "x\x07", "tenant", "list"),
        ("--time-scale", "x\\x07"),
    ),
}


@pytest.mark.parametrize("case", list(USAGE))
def test_a_usage_error_is_one_line(cli_run: CliRun, emulator: EmulatorServer, case: str) -> None:
    args, words = USAGE[case]
    one_error_line(cli_run(*args), *words)
    assert sent(emulator) == 0


MALFORMED = {
    "name with a newline": (("instance", "create", "--name", "a\nb", *PRO_CLOUD), ("\\n",)),
    "name with a bell": (("instance", "create", "--name", "db\x07", *PRO_CLOUD), ("\\x07",)),
    "name with a line separator": (
        ("instance", "create", "--name", "a\u2028b", "--type", "free-db"),
        ("\\u2028",),
    ),
    "memory 3GB": (
        ("instance", "create", "--name", "db", *PRO_CLOUD[:4], "--memory", "3GB",
         "--cloud-provider", "gcp"),
        ("--memory", "3GB", "offered: 1GB, 2GB, 4GB"),
    ),
    "version 99": (
        ("instance", "create", "--name", "db", *PRO_CLOUD, "--version", "99"),
        ("99", "offered: 5"),
    ),
    "region mars-1": (
        ("instance", "create", "--name", "db", "--type", "professional-db", "--region",
         "mars-1", "--memory", "2GB", "--cloud-provider", "gcp"),
        ("mars-1", "not offered"),
    ),
    "an aws region on gcp": (
        ("instance", "create", "--name", "db", "--type", "professional-db", "--region",
         "us-east-1", "--memory", "2GB", "--cloud-provider", "gcp"),
        ("us-east-1", "on gcp"),
    ),
    "tenant id not a uuid (global)": (
        ("--tenant-id", "not-a-uuid", "instance", "create", "--name", "db", *PRO_CLOUD),
        ("--tenant-id", "UUID"),
    ),
    "tenant id not a uuid (command)": (
        ("instance", "create", "--name", "db", *PRO_CLOUD, "--tenant-id", "not-a-uuid"),
        ("--tenant-id", "UUID"),
    ),
    "fleet name pattern forging event lines": (
        ("fleet", "up", "--count", "2", "--name-pattern", FORGING, "--type", "free-db"),
        ("\\n", "pattern"),
    ),
    "fleet name with a bell": (
        ("fleet", "up", "--count", "2", "--name", "x\x07", "--type", "free-db"),
        ("\\x07",),
    ),
    "fleet up memory 3GB": (
        ("fleet", "up", "--count", "2", "--name", "db", *PRO_CLOUD[:4], "--memory", "3GB",
         "--cloud-provider", "gcp"),
        ("3GB", "offered"),
    ),
    "fleet resize to 7GB": (
        ("fleet", "resize", "--all", "--memory", "7GB"),
        ("7GB", "offered"),
    ),
    "instance update to 7GB": (
        ("instance", "update", "0123abcd", "--memory", "7GB"),
        ("7GB", "offered"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_input_is_refused_before_any_mutation(
    cli_run: CliRun, emulator: EmulatorServer, case: str
) -> None:
    args, words = MALFORMED[case]
    one_error_line(cli_run(*args), *words)
    assert mutations(emulator) == 0
    state = counters(emulator)
    assert state["creates_per_name"] == {}


def test_fleet_resize_to_7gb_changes_nothing_that_exists(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    created = cli_run("instance", "create", "--name", "db", *PRO_CLOUD)
    assert created.exit_code == 0, created.output
    before = mutations(emulator)
    one_error_line(cli_run("fleet", "resize", "--all", "--memory", "7GB"), "7GB")
    assert mutations(emulator) == before


def test_an_env_tenant_id_that_is_not_a_uuid_is_one_line(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_TENANT_ID", "not-a-uuid")
    one_error_line(cli_run("instance", "create", "--name", "db", *PRO_CLOUD), "AURA_TENANT_ID")
    assert sent(emulator) == 0


# ------------------------------------------------------------------ output escaped


def test_names_from_the_server_are_printed_escaped(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    """An instance the server holds under a name with control characters (made by another
    client) lists on one row, escaped; JSON keeps it exact."""
    forged = "a\n00:00:00 ok: x\x07"
    response = httpx.post(
        f"{emulator.base_url}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(emulator.client_id, emulator.client_secret),
    )
    token = response.json()["access_token"]
    made = httpx.post(
        f"{emulator.base_url}/v1/instances",
        headers={"Authorization": f"Bearer {token}"},
        json={"name": forged, "type": "free-db", "tenant_id": emulator.project_id,
              "region": "europe-west1", "memory": "1GB", "cloud_provider": "gcp",
              "version": "5"},
    )  # fmt: skip
    if made.status_code != 202:
        pytest.skip(f"the emulator refuses such names itself ({made.status_code})")
    table = cli_run("instance", "list")
    assert table.exit_code == 0, table.output
    assert "\x07" not in table.stdout
    assert "a\\n00:00:00 ok: x\\x07" in table.stdout
    assert not any(line.startswith("00:00:00 ok") for line in table.stdout.splitlines())
    listed = cli_run("--output", "json", "instance", "list")
    assert forged in [row["name"] for row in json.loads(listed.stdout)]


def test_an_event_line_cannot_be_forged() -> None:
    console = Console(record=True, width=200, force_terminal=False)
    output = Output("table", errors=console, console=console)
    event = StatusChanged(
        resource_id="0123abcd",
        name="a\n00:00:00 ok: deleted\n\x07",
        operation=Operation.CREATE,
        at=dt.datetime.now(dt.UTC),
        monotonic=0.0,
        elapsed=0.0,
        status="running",
        previous="creating",
    )
    assert "\n" in describe(event)  # the raw description holds the name as it is
    output.event(event)
    output.note("note \x1b[2J")
    output.warn("warn \r")
    output.error("boom\nerror: forged")
    text = console.export_text()
    assert text.count("\n") == 4, text
    for raw in ("\x07", "\x1b", "\r"):
        assert raw not in text
    assert "a\\n00:00:00 ok: deleted\\n\\x07" in text

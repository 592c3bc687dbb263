"""``--verify`` and ``instance verify``: the command connects with the real ``neo4j`` driver.

The emulator of these tests serves Bolt on loopback (``bolt=True``) with a 30 s (emulated)
lag between running and accepting, so each verification meets the lag or has outlasted it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aura_async.emulator import EmulatorConfig, EmulatorServer
from tests.cli.conftest import SCALE, CliRun, json_of, sent

PRO = ["--type", "professional-db", "--memory", "2GB", "--region", "europe-west1"]
PRO += ["--cloud-provider", "gcp"]


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """An emulator on loopback, 600 times faster than real time, that answers Bolt."""
    config = EmulatorConfig(time_scale=SCALE, seed=11, bolt=True, bolt_delay=30.0)
    with EmulatorServer(config) as server:
        yield server


def test_create_verify_then_verify_again_from_the_ledger_and_from_the_env_file(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    made = json_of(
        cli_run("instance", "create", "--name", "app", *PRO, "--env-file", ".env", "--verify",
                "-o", "json")
    )  # fmt: skip
    assert made["status"] == "running"
    assert made["connectable_after"] is not None
    assert made["connection_url"].startswith("neo4j://127.0.0.1:")
    again = json_of(cli_run("instance", "verify", made["id"], "-o", "json"))
    assert again["id"] == made["id"]
    assert again["attempts"] == 1
    assert again["server"].startswith("Neo4j/")
    assert again["credentials_from"].endswith("aura-credentials")
    from_env = json_of(cli_run("instance", "verify", "--env-file", ".env", "-o", "json"))
    assert from_env["id"] == made["id"]
    assert from_env["credentials_from"] == ".env"
    assert emulator.bolt is not None
    seen = emulator.bolt.stats(made["id"])
    assert seen.logons >= 3
    assert seen.auth_failures == 0


def test_fleet_up_verify_reports_running_to_connectable(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    report = json_of(
        cli_run("fleet", "up", "--count", "3", "--name", "ci", *PRO, "--verify", "-o", "json")
    )
    assert report["ok"]
    assert set(report["connectable_after"]) == {"fastest", "median", "slowest"}
    assert all(item["connectable_after"] is not None for item in report["items"])
    table = cli_run("fleet", "up", "--count", "3", "--name", "ci", *PRO, "--verify")
    assert table.exit_code == 0, table.output
    assert "connectable" in table.output  # the summary line and the column (adopted again)


def test_a_stale_password_fails_at_once_with_its_hint_and_no_traceback(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    made = json_of(cli_run("instance", "create", "--name", "app", *PRO, "--env-file", ".env",
                           "--await", "-o", "json"))  # fmt: skip
    env = Path(".env")
    lines = env.read_text().splitlines()
    env.write_text(
        "\n".join(
            "NEO4J_PASSWORD='an-old-password'" if line.startswith("NEO4J_PASSWORD=") else line
            for line in lines
        )
        + "\n"
    )
    result = cli_run("instance", "verify", made["id"], "--env-file", ".env")
    assert result.exit_code == 1
    assert "refused the user 'neo4j'" in result.stderr
    assert "stale" in result.stderr
    assert "Traceback" not in result.output
    assert "an-old-password" not in result.output
    assert emulator.bolt is not None
    assert emulator.bolt.stats(made["id"]).auth_failures == 1


def test_the_env_file_of_another_instance_is_refused(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    made = json_of(cli_run("instance", "create", "--name", "app", *PRO, "--env-file", ".env",
                           "-o", "json"))  # fmt: skip
    result = cli_run("instance", "verify", "fedcba98", "--env-file", ".env")
    assert result.exit_code == 1
    assert f"holds the credentials of instance {made['id']}, not fedcba98" in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["instance", "verify"], "give the instance's ID, or --env-file"),
        (["instance", "verify", "not-an-id"], "ID"),
        (["fleet", "up", "--count", "2", "--name", "x", *PRO, "--verify", "--no-wait"], "drop"),
        (["instance", "create", "--name", "x", *PRO, "--verify", "--timeout", "0"], "drop"),
    ],
)
def test_bad_verify_input_is_refused_and_sends_nothing(
    cli_run: CliRun, emulator: EmulatorServer, args: list[str], says: str
) -> None:
    result = cli_run(*args)
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert sent(emulator) == 0


def test_verify_of_an_instance_the_ledger_does_not_hold(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    result = cli_run("instance", "verify", "0123abcd")
    assert result.exit_code == 1
    assert "holds no credentials of instance 0123abcd" in result.stderr
    assert sent(emulator) == 0


def test_the_embedded_emulator_answers_bolt(cli_run: CliRun) -> None:
    result = cli_run(
        "--emulator", "instance", "create", "--name", "app", "--type", "free-db", "--verify",
        "-o", "json",
    )  # fmt: skip
    made = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert made["connectable_after"] is not None


def test_the_drivers_own_log_lines_stay_out_of_the_commands_output(tmp_path: Path) -> None:
    """The driver logs each refused attempt at ERROR with no handler of its own: in a process
    that configured no logging (the command), Python's last resort would print them all.
    Chaos seed 5's address lags running by 54 emulated seconds (0.9 s at 60x), so every
    verification meets refusals first."""
    result = subprocess.run(
        [sys.executable, "-m", "aura_async", "--emulator", "--emulator-preset", "chaos",
         "--emulator-seed", "5", "--time-scale", "60",
         "fleet", "up", "--count", "3", "--name", "quiet", "--type", "professional-db",
         "--memory", "2GB", "--region", "europe-west1", "--cloud-provider", "gcp", "--verify"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False,
        # (Not as CI: there the command prints a summary instead of each event's line.)
        env={**{k: v for k, v in os.environ.items() if k != "CI"},
             "AURA_CONFIG": str(tmp_path / "none.toml")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert " attempts)" in result.stderr  # "connectable (Neo4j/5.26.0, 0.9s, 7 attempts)"
    assert "defunct" not in result.stderr
    assert "routing information" not in result.stderr


def test_verify_with_the_ideal_preset_is_refused_as_nothing_would_answer(cli_run: CliRun) -> None:
    result = cli_run(
        "--emulator", "--emulator-preset", "ideal", "fleet", "up", "--count", "2",
        "--name", "x", *PRO, "--verify",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "serves no Bolt" in result.stderr


def test_verify_from_an_env_file_needs_no_api_credentials(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = json_of(cli_run("instance", "create", "--name", "app", *PRO, "--env-file", ".env",
                           "--await", "-o", "json"))  # fmt: skip
    for name in ("AURA_CLIENT_ID", "AURA_CLIENT_SECRET"):
        monkeypatch.delenv(name)
    before = sent(emulator)
    verified = json_of(cli_run("instance", "verify", "--env-file", ".env", "-o", "json"))
    assert verified["id"] == made["id"]
    assert sent(emulator) == before  # the database's credentials alone

"""Nothing billable before the command's own preconditions hold, and clean interrupts.

- Every place a create writes (``--env-file``, ``--env-dir``, the credentials directory) is
  made (0700) or refused before the first request; a ``.env`` is written the moment the
  credentials are saved, not after the wait.
- SIGTERM (what CI sends on cancel) is handled as Ctrl-C is, exit 143; an interrupted
  command says what it created, where the credentials are, and the exact ``fleet recover``
  command with the flags it needs.

The interrupt tests run the command as a subprocess and send it real signals.
"""

from __future__ import annotations

import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from aura_async.emulator import DEFAULT_PROJECT_ID, Durations, EmulatorConfig, EmulatorServer
from aura_async.fleet.store import EntryState

from .conftest import CliRun, sent
from .test_fleet import PRO, SCALE, held, ledger, spawn

ONE = ("instance", "create", "--name", "one", *PRO)


def _finish(process: subprocess.Popen[str], stop: signal.Signals) -> tuple[str, str, int]:
    """Send ``stop``; return standard output, standard error and the exit code."""
    process.send_signal(stop)
    try:
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return out, err, process.returncode


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not ready():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the moment to interrupt never came"
        time.sleep(0.01)


# ----------------------------------------------------------------- preconditions


def test_env_file_in_a_missing_directory_is_made_first(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = cli_run(*ONE, "--env-file", "app/.env")
    assert result.exit_code == 0, result.output
    env = tmp_path / "app" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert stat.S_IMODE(env.parent.stat().st_mode) == 0o700
    values = dotenv_values(env)
    (instance_id,) = held(emulator)
    assert values["AURA_INSTANCE_ID"] == instance_id
    assert values["NEO4J_URI"] == f"neo4j+s://{instance_id}.databases.neo4j.io"


@pytest.mark.parametrize("flag", ["--env-file", "--env-dir", "--credentials-dir"])
def test_an_unwritable_place_stops_the_create_before_any_request(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path, flag: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory would go\n")
    place = str(blocker / "sub" / ".env") if flag == "--env-file" else str(blocker / "sub")
    if flag == "--credentials-dir":
        args = [flag, place, *ONE]
    elif flag == "--env-file":
        args = [*ONE, flag, place]
    else:
        args = ["fleet", "up", "--count", "2", "--name", "blocked", *PRO, flag, place]
    result = cli_run(*args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "blocker" in result.stderr
    assert sent(emulator) == 0  # not even a token: nothing billable, nothing at all
    assert held(emulator) == {}


def test_env_dir_is_made_and_filled_as_credentials_are_saved(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = cli_run("fleet", "up", "--count", "3", "--name", "e", *PRO, "--env-dir", "envs/x")
    assert result.exit_code == 0, result.output
    directory = tmp_path / "envs" / "x"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = sorted(p.name for p in directory.glob("*.env"))
    assert files == ["e-1.env", "e-2.env", "e-3.env"]
    ids = {dotenv_values(directory / name)["AURA_INSTANCE_ID"] for name in files}
    assert ids == set(held(emulator))


# ----------------------------------------------------------------- interrupts


@pytest.fixture
def slow() -> Iterator[EmulatorServer]:
    """An emulator whose creates take an emulated hour: a wait to interrupt."""
    config = EmulatorConfig(
        time_scale=SCALE, seed=4, durations=Durations(create=3600.0, jitter=0.0)
    )
    with EmulatorServer(config) as server:
        yield server


def test_the_env_file_is_written_before_the_wait_and_ctrl_c_names_the_instance(
    slow: EmulatorServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "AURA_BASE_URL": slow.base_url}
    creds = tmp_path / "my creds"
    args = ["--credentials-dir", str(creds), *ONE, "--env-file", "app/.env", "--await"]
    process = spawn(args, env, tmp_path)
    dotenv = tmp_path / "app" / ".env"
    _wait_for(dotenv.exists, process)
    # Written while the instance is still being created: the wait has not ended.
    assert process.poll() is None
    assert {status for _, status in held(slow).values()} == {"creating"}

    _out, err, code = _finish(process, signal.SIGINT)

    assert code == 130, err
    assert "Traceback" not in err
    (instance_id,) = held(slow)
    assert f"one: {instance_id} (created)" in err
    assert f"credentials saved in {creds}" in err
    assert f"--credentials-dir '{creds}' fleet recover" in err
    assert dotenv_values(dotenv)["AURA_INSTANCE_ID"] == instance_id


def test_sigterm_is_handled_as_ctrl_c_with_a_report_and_exit_143(
    slow: EmulatorServer, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "AURA_BASE_URL": slow.base_url}
    creds = tmp_path / "ci-creds"
    args = ["--credentials-dir", str(creds), "--tenant-id", DEFAULT_PROJECT_ID, "fleet", "up"]
    args += ["--count", "4", "--name", "ci", *PRO]
    process = spawn(args, env, tmp_path)
    _wait_for(lambda: len(held(slow)) == 4, process)

    _out, err, code = _finish(process, signal.SIGTERM)

    assert code == 143, err
    assert "terminated" in err
    assert "Traceback" not in err
    for instance_id, (name, _status) in held(slow).items():
        assert f"{name}: {instance_id} (created)" in err
    hint = err.rstrip().splitlines()[-1]
    assert hint.startswith("to account for everything it may have created: aura-async ")
    assert f" --tenant-id {DEFAULT_PROJECT_ID} " in hint
    assert hint.endswith(f" --credentials-dir {creds} fleet recover")
    entries = ledger(creds)
    assert {e.state for e in entries} == {EntryState.CREATED}
    assert {e.instance_id for e in entries} == set(held(slow))


# ----------------------------------------------------------------- --emulator


def test_the_embedded_emulator_keeps_its_credentials_out_of_the_real_ledger(
    cli_run: CliRun, tmp_path: Path
) -> None:
    result = cli_run("--emulator", "fleet", "up", "--count", "2", "--name", "emu", *PRO)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "aura-credentials").exists()
    assert "a temporary directory (the embedded emulator ends with the command)" in result.stderr
    single = cli_run("--emulator", *ONE)
    assert single.exit_code == 0, single.output
    assert not (tmp_path / "aura-credentials").exists()


def test_the_embedded_emulator_keeps_an_explicit_credentials_dir(
    cli_run: CliRun, tmp_path: Path
) -> None:
    result = cli_run("--emulator", "--credentials-dir", "mine", *ONE)
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "mine" / "credentials").glob("*.json"))) == 1

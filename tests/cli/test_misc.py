"""``regions``, ``doctor``, ``emulator serve`` and ``demo``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aura_async.emulator import EmulatorServer

from .conftest import CliRun, json_of

# ------------------------------------------------------------------------------ regions


def test_regions_table_groups_the_sizes(cli_run: CliRun) -> None:
    result = cli_run("regions", "--type", "free-db")
    assert result.exit_code == 0, result.output
    assert "free-db" in result.stdout
    assert "europe-west1" in result.stdout
    assert "professional-db" not in result.stdout


def test_regions_json_lists_configurations_and_filters(cli_run: CliRun) -> None:
    everything = json_of(cli_run("-o", "json", "regions"))
    assert {c["cloud_provider"] for c in everything} == {"gcp", "aws", "azure"}
    assert set(everything[0]) == {
        "type",
        "cloud_provider",
        "region",
        "region_name",
        "memory",
        "storage",
        "version",
    }
    free = json_of(cli_run("-o", "json", "regions", "--type", "free-db"))
    assert free
    assert {(c["type"], c["cloud_provider"], c["memory"]) for c in free} == {
        ("free-db", "gcp", "1GB")
    }
    chosen = json_of(
        cli_run("-o", "json", "regions", "--cloud-provider", "AWS", "--region", "eu-west-1")
    )
    assert chosen
    assert {(c["cloud_provider"], c["region"]) for c in chosen} == {("aws", "eu-west-1")}
    assert len(chosen) < len(everything)


def test_regions_without_a_match_says_what_is_offered(cli_run: CliRun) -> None:
    result = cli_run("regions", "--type", "no-such-tier")
    assert result.exit_code == 0, result.output
    assert "(none)" in result.stdout
    assert "free-db" in result.stderr


def test_regions_uses_the_only_project_when_none_is_configured(
    cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_TENANT_ID")
    assert json_of(cli_run("-o", "json", "regions", "--type", "free-db"))


def test_regions_from_the_embedded_emulator(cli_run: CliRun) -> None:
    data = json_of(cli_run("--emulator", "-o", "json", "regions", "--cloud-provider", "azure"))
    assert data
    assert {c["cloud_provider"] for c in data} == {"azure"}


# ------------------------------------------------------------------------------ doctor


def test_doctor_passes_against_the_emulator(cli_run: CliRun, emulator: EmulatorServer) -> None:
    result = cli_run("doctor")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("ok") and "environment (AURA_CLIENT_SECRET)" in line for line in lines
    )
    assert any(line.startswith("ok") and "token fetched" in line for line in lines)
    # Against a clock 600 times faster, the client keeps 125 per emulated minute.
    assert any("125 per emulated minute" in line and "25/min" in line for line in lines)
    assert emulator.client_secret not in result.output
    checks = json_of(cli_run("-o", "json", "doctor"))
    assert {c["name"] for c in checks} == {
        "credentials",
        "api",
        "rate limit",
        ".env",
        "credential store",
        "neo4j driver",
    }
    assert all(c["status"] in ("ok", "skip") for c in checks)


def test_doctor_says_whether_verify_can_run(
    cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = {c["name"]: c for c in json_of(cli_run("-o", "json", "doctor"))}["neo4j driver"]
    assert driver["status"] == "ok"
    monkeypatch.setitem(sys.modules, "neo4j", None)  # as without the [verify] extra
    checks = json_of(cli_run("-o", "json", "doctor"))
    driver = {c["name"]: c for c in checks}["neo4j driver"]
    assert driver["status"] == "skip"  # optional: not a failure
    assert "aura-async[verify]" in driver["detail"]


def test_doctor_fails_with_a_wrong_secret_and_never_prints_it(
    cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-secret-7f3a9c"
    monkeypatch.setenv("AURA_CLIENT_SECRET", wrong)
    result = cli_run("doctor")
    assert result.exit_code == 1
    assert wrong not in result.output
    assert any(line.startswith("FAIL api") for line in result.stdout.splitlines())
    assert "Traceback" not in result.output


def test_doctor_names_where_the_secret_comes_from(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    secret_file = tmp_path / "secret"
    secret_file.write_text(emulator.client_secret)
    result = cli_run("--client-secret-file", str(secret_file), "doctor")
    assert result.exit_code == 0, result.output
    assert f"secret from flag --client-secret-file {secret_file}" in result.stdout
    Path(".env").write_text(f"AURA_CLIENT_SECRET={emulator.client_secret}\n")
    result = cli_run("doctor")
    assert result.exit_code == 0, result.output
    assert "secret from .env (AURA_CLIENT_SECRET)" in result.stdout
    assert emulator.client_secret not in result.output


def test_doctor_fails_without_credentials(cli_run: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    result = cli_run("doctor")
    assert result.exit_code == 1
    assert "FAIL credentials: missing AURA_CLIENT_SECRET" in result.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_doctor_checks_that_git_ignores_dotenv(cli_run: CliRun) -> None:
    subprocess.run(["git", "init", "-q", "."], check=True)
    Path(".env").write_text("UNRELATED=1\n")
    result = cli_run("doctor")
    assert result.exit_code == 1
    assert "FAIL .env: .env is NOT ignored by git" in result.stdout
    Path(".gitignore").write_text(".env\n")
    result = cli_run("doctor")
    assert result.exit_code == 0, result.output
    assert "ok   .env: .env is ignored by git" in result.stdout


def test_doctor_checks_the_credential_store_is_private(cli_run: CliRun) -> None:
    store = Path("aura-credentials")
    store.mkdir(mode=0o700)
    os.chmod(store, 0o755)  # noqa: S103 - the mistake the check is for
    result = cli_run("doctor")
    assert result.exit_code == 1
    assert "FAIL credential store" in result.stdout
    assert "chmod 700" in result.stdout
    os.chmod(store, 0o700)
    assert cli_run("doctor").exit_code == 0


# ------------------------------------------------------------------------------ emulator


def test_emulator_serve_help_is_the_emulators(cli_run: CliRun) -> None:
    result = cli_run("emulator", "serve", "--help")
    assert result.exit_code == 0
    for flag in ("--port", "--time-scale", "--rate-limit", "--fault", "--seed", "--demo"):
        assert flag in result.stdout


def test_emulator_serve_rejects_a_bad_flag(cli_run: CliRun) -> None:
    result = cli_run("emulator", "serve", "--rate-model", "nope")
    assert result.exit_code == 2
    assert "--rate-model" in result.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_emulator_serve_serves_until_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    with (
        (tmp_path / "stderr").open("w") as log,
        subprocess.Popen(
            [sys.executable, "-m", "aura_async", "emulator", "serve", "--port", "0", "--seed", "3"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert "serving at " in first, first
            base_url = first.split("serving at ", 1)[1].split()[0]
            info = httpx.get(f"{base_url}/_emulator/info", timeout=10)
            assert info.status_code == 200
            assert info.json()["seed"] == 3
            process.send_signal(stop)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


# ------------------------------------------------------------------------------ demo


def test_demo_runs_the_story_and_never_prints_a_password(cli_run: CliRun) -> None:
    started = time.monotonic()
    result = cli_run("--credentials-dir", "creds", "demo")
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 30
    for step in ("create", "pause", "resume", "resize", "snapshot", "delete", "total"):
        assert step in result.stdout
    assert "20 succeeded" in result.stdout
    assert "3 succeeded" in result.stdout
    passwords = [
        json.loads(path.read_text())["password"]
        for path in Path("creds", "credentials").glob("*.json")
    ]
    assert len(passwords) == 20
    for password in passwords:
        assert password not in result.output


def test_demo_as_json_is_its_summary(cli_run: CliRun) -> None:
    rows = json_of(cli_run("-o", "json", "demo", "--count", "4"))
    assert [row["step"] for row in rows] == [
        "create",
        "pause",
        "resume",
        "resize",
        "snapshot",
        "delete",
        "total",
    ]
    assert rows[0]["items"] == 4
    assert rows[0]["outcomes"] == "4 succeeded"
    assert rows[-1]["requests"] == sum(row["requests"] for row in rows[:-1])
    assert all(row["emulated_seconds"] > 0 for row in rows)


def test_demo_ignores_the_configured_account(
    cli_run: CliRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_CLIENT_SECRET", "would-be-wrong")
    monkeypatch.setenv("AURA_BASE_URL", "http://127.0.0.1:9")
    result = cli_run("demo", "--count", "3")
    assert result.exit_code == 0, result.output
    assert not Path("aura-credentials").exists()


def test_doctor_prints_details_as_they_are(cli_run: CliRun) -> None:
    store = Path("st[/b]ore [red]x")  # the directory "b]ore [red]x" in "st["
    store.mkdir(mode=0o700, parents=True)
    os.chmod(store, 0o755)  # noqa: S103 - a failing check, to quote the path
    result = cli_run("--credentials-dir", str(store), "doctor")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stdout.splitlines() if "credential store" in line]
    assert line.startswith("FAIL credential store: ")
    assert f"{store.resolve()} is mode 0755" in line
    assert "chmod 700" in line

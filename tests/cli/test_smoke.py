"""The command's skeleton: global options, output modes, exit codes."""

from __future__ import annotations

import json

from aura_async.emulator import EmulatorServer

from .conftest import CliRun, json_of, sent


def test_tenant_list_as_table_and_json(cli_run: CliRun, emulator: EmulatorServer) -> None:
    table = cli_run("tenant", "list")
    assert table.exit_code == 0, table.output
    assert emulator.project_id in table.stdout
    data = json_of(cli_run("--output", "json", "tenant", "list"))
    assert [p["id"] for p in data] == [emulator.project_id]
    lines = cli_run("-o", "jsonl", "tenant", "list").stdout.splitlines()
    assert [json.loads(line)["id"] for line in lines] == [emulator.project_id]


def test_missing_credentials_is_a_usage_error(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.delenv("AURA_CLIENT_SECRET")
    result = cli_run("tenant", "list")
    assert result.exit_code == 2
    assert "AURA_CLIENT_SECRET" in result.stderr
    assert "Traceback" not in result.output
    assert sent(emulator) == 0

"""``aura-async config set|get|list`` and the default project, against an emulator on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aura_async.emulator import EmulatorConfig, EmulatorServer, ProjectSpec
from tests.cli.conftest import SCALE, CliRun, counters, json_of, sent

pytestmark = pytest.mark.timeout(60)

OTHER = ProjectSpec("2d7a4f0e-93b1-4c5e-8f6a-1b2c3d4e5f60", "Other Project")
PRO = ("--type", "professional-db", "--region", "europe-west1", "--memory", "2GB",
       "--cloud-provider", "gcp")  # fmt: skip


@pytest.fixture
def config_path(cli_env: dict[str, str]) -> Path:
    return Path(cli_env["XDG_CONFIG_HOME"]) / "aura-async" / "config.toml"


def test_set_get_and_list_with_their_sources(
    cli_run: CliRun, config_path: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli_run("config", "set", "rate-limit", "free").exit_code == 0
    assert cli_run("config", "set", "output", "default").exit_code == 0  # aura-cli's name
    assert cli_run("config", "set", "default_tenant", emulator.project_id).exit_code == 0
    text = config_path.read_text()
    assert 'rate_limit = "free"' in text
    assert 'output = "table"' in text
    rows = {r["key"]: r for r in json_of(cli_run("-o", "json", "config", "list"))}
    assert set(rows) >= {"default-tenant", "output", "rate-limit", "base-url", "auth-url"}
    assert rows["rate-limit"]["value"] == "free"
    assert rows["rate-limit"]["source"].startswith("profile 'default' in ")
    # AURA_TENANT_ID is set by the test's environment: it wins, and list says so.
    assert rows["default-tenant"]["source"] == "environment (AURA_TENANT_ID)"
    assert rows["auth-url"]["source"] == "default"
    got = cli_run("config", "get", "rate-limit")
    assert got.stdout.strip() == "free"
    monkeypatch.delenv("AURA_TENANT_ID")
    row = json_of(cli_run("-o", "json", "config", "get", "default-tenant"))
    assert row["value"] == emulator.project_id
    assert "profile 'default'" in row["source"]
    # A flag wins over both.
    flagged = json_of(cli_run("-o", "json", "--rate-limit", "10/60", "config", "get", "rate-limit"))
    assert flagged == {"key": "rate-limit", "value": "10/60", "source": "flag --rate-limit"}
    assert sent(emulator) == 0


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("colour", "blue", "unknown config key 'colour'"),
        ("beta-enabled", "true", "no beta commands"),
        ("default-tenant", "not-a-uuid", "default-tenant"),
        ("output", "yaml", "output must be table, json or jsonl"),
        ("rate-limit", "fast", "rate-limit"),
        ("base-url", "ftp://x", "base-url must be an http(s) URL"),
    ],
)
def test_bad_keys_and_values_change_nothing(
    cli_run: CliRun, config_path: Path, key: str, value: str, says: str
) -> None:
    assert cli_run("config", "set", "base-url", "https://api.neo4j.io").exit_code == 0
    before = config_path.read_bytes()
    result = cli_run("config", "set", key, value)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert config_path.read_bytes() == before


def test_config_set_default_tenant_is_used_by_commands(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_TENANT_ID")
    assert cli_run("config", "set", "default-tenant", emulator.project_id).exit_code == 0
    created = cli_run("-o", "json", "instance", "create", "--name", "a", *PRO)
    assert json_of(created)["tenant_id"] == emulator.project_id
    # Named, the project is not looked up.
    assert "GET /v1/tenants" not in counters(emulator)["requests"]


def test_the_only_project_is_used_without_configuration(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AURA_TENANT_ID")
    created = cli_run("-o", "json", "instance", "create", "--name", "a", *PRO)
    assert json_of(created)["tenant_id"] == emulator.project_id
    assert counters(emulator)["requests"]["GET /v1/tenants"] == {"200": 1}


@pytest.fixture
def two_projects(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    config = EmulatorConfig(
        time_scale=SCALE, seed=11, projects=(ProjectSpec(OTHER.id.replace("2d", "3e"), "A"), OTHER)
    )
    with EmulatorServer(config) as server:
        monkeypatch.setenv("AURA_BASE_URL", server.base_url)
        monkeypatch.setenv("AURA_CLIENT_ID", server.client_id)
        monkeypatch.setenv("AURA_CLIENT_SECRET", server.client_secret)
        monkeypatch.delenv("AURA_TENANT_ID")
        yield server.base_url


def test_several_projects_are_listed_with_the_ways_to_choose(
    cli_run: CliRun, two_projects: str
) -> None:
    result = cli_run("instance", "create", "--name", "a", *PRO)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1
    assert "2 projects" in line
    assert f"{OTHER.id} (Other Project)" in line
    assert "(A)" in line
    for way in ("--tenant-id ID", "AURA_TENANT_ID", "aura-async config set default-tenant ID"):
        assert way in line
    assert "AuraClient" not in line


def test_the_configured_output_applies_unless_a_flag_is_given(cli_run: CliRun) -> None:
    assert cli_run("config", "set", "output", "json").exit_code == 0
    assert json_of(cli_run("instance", "list")) == []
    assert cli_run("-o", "table", "instance", "list").stdout.strip() == "(none)"

"""``aura-async instance ...`` and ``instance snapshot ...`` against the loopback emulator."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result

from aura_async.emulator import EmulatorServer

from .conftest import CliRun, counters, json_of, sent

INSTANCE_KEYS = {
    "id",
    "name",
    "status",
    "tenant_id",
    "cloud_provider",
    "region",
    "type",
    "connection_url",
    "memory",
    "storage",
    "created_at",
    "metrics_integration_url",
    "customer_managed_key_id",
    "graph_nodes",
    "graph_relationships",
    "secondaries_count",
    "cdc_enrichment_mode",
    "vector_optimized",
    "graph_analytics_plugin",
}
SUMMARY_KEYS = {"id", "name", "tenant_id", "cloud_provider", "created_at"}
CREATED_KEYS = {
    "id",
    "name",
    "status",
    "type",
    "memory",
    "storage",
    "cloud_provider",
    "region",
    "tenant_id",
    "connection_url",
    "username",
    "password",
    "created_at",
    "credentials_file",
    "env_file",
    "connectable_after",  # null unless --verify
}
SNAPSHOT_KEYS = {"snapshot_id", "instance_id", "status", "profile", "timestamp", "exportable"}
PRO: tuple[str, ...] = ("--type", "professional-db", "--memory", "2GB", "--region", "europe-west1")
PRO += ("--cloud-provider", "gcp")


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: a substring check must not meet a folded cell."""
    monkeypatch.setenv("COLUMNS", "250")


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def run_json(cli_run: CliRun, *args: str) -> Any:
    result = cli_run("-o", "json", *args)
    assert "Traceback" not in result.output
    return json_of(result)


def create(cli_run: CliRun, name: str, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = run_json(cli_run, "instance", "create", "--name", name, *PRO, *extra)
    return data


def requests(emulator: EmulatorServer, method: str) -> int:
    """Requests with this method the emulator answered on /v1."""
    return sum(
        sum(statuses.values())
        for route, statuses in counters(emulator)["requests"].items()
        if route.startswith(f"{method} /v1")
    )


@pytest.mark.shows_secrets
def test_create_saves_credentials_and_shows_the_password_only_when_asked(
    cli_run: CliRun, tmp_path: Path
) -> None:
    table = ok(cli_run("instance", "create", "--name", "free", "--type", "free-db", "--await"))
    saved = next((tmp_path / "aura-credentials" / "credentials").glob("*.json"))
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    stored = json.loads(saved.read_text())
    password = stored["password"]
    assert password
    assert password not in table.output
    assert f"Credentials saved to {saved}" in table.stdout
    assert "running" in table.stdout
    assert "--show-password" in table.stdout  # the hidden password's cell

    data = create(cli_run, "pro", "--env-file", "db.env")
    assert set(data) == CREATED_KEYS
    assert data["password"] is None
    assert data["status"] == "creating"
    assert (data["type"], data["memory"], data["region"]) == (
        "professional-db",
        "2GB",
        "europe-west1",
    )
    env = (tmp_path / "db.env").read_text()
    assert stat.S_IMODE((tmp_path / "db.env").stat().st_mode) == 0o600
    assert f"AURA_INSTANCE_ID='{data['id']}'" in env
    assert f"NEO4J_URI='{data['connection_url']}'" in env
    assert "NEO4J_USERNAME='neo4j'" in env
    assert "NEO4J_PASSWORD='" in env
    assert Path(data["credentials_file"]).is_file()
    assert Path(data["env_file"]) == (tmp_path / "db.env").resolve()
    stored_pro = Path(data["credentials_file"]).read_text()
    assert "NEO4J_PASSWORD='" + json.loads(stored_pro)["password"] in env

    shown = run_json(
        cli_run, "--show-password", "instance", "create", "--name", "shown", *PRO, "--await"
    )
    assert shown["status"] == "running"
    assert shown["password"] == json.loads(Path(shown["credentials_file"]).read_text())["password"]


def test_create_that_times_out_still_saves_the_credentials(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    result = cli_run("-o", "json", "instance", "create", "--name", "slow", *PRO, "--timeout", "1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error:")
    assert "timed out" in result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "creating"
    assert json.loads(Path(data["credentials_file"]).read_text())["instance_id"] == data["id"]

    # An unusable credential store: the intent cannot be recorded, so nothing is created.
    (tmp_path / "blocked").write_text("")
    free = ("instance", "create", "--name", "x", "--type", "free-db")
    refused = cli_run("--credentials-dir", "blocked/store", *free)
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert requests(emulator, "POST") == 1


def test_list_get_and_detail(cli_run: CliRun, emulator: EmulatorServer) -> None:
    first = create(cli_run, "one", "--await")
    second = create(cli_run, "[/b]two")  # a name, not markup
    summaries = run_json(cli_run, "instance", "list")
    assert {s["id"] for s in summaries} == {first["id"], second["id"]}
    assert all(set(s) == SUMMARY_KEYS for s in summaries)
    detailed = run_json(cli_run, "instance", "list", "--detail")
    assert all(set(i) == INSTANCE_KEYS for i in detailed)
    assert {i["id"]: i["status"] for i in detailed}[first["id"]] == "running"
    table = ok(cli_run("instance", "list", "--detail", "--tenant-id", emulator.project_id))
    assert "STATUS" in table.stdout
    assert "running" in table.stdout
    assert "[/b]two" in ok(cli_run("instance", "list")).stdout

    got = run_json(cli_run, "instance", "get", first["id"])
    assert set(got) == INSTANCE_KEYS
    assert got["name"] == "one"
    assert first["id"] in ok(cli_run("instance", "get", first["id"])).stdout


def test_pause_resume_update_wait_until_done(cli_run: CliRun) -> None:
    created = create(cli_run, "cycle", "--await")
    key = created["id"]
    paused = run_json(cli_run, "instance", "pause", key, "--await")
    assert set(paused) == INSTANCE_KEYS
    assert paused["status"] == "paused"
    assert "resuming" in ok(cli_run("instance", "resume", key)).stdout
    assert run_json(cli_run, "instance", "get", key)["status"] == "resuming"
    wait = run_json(cli_run, "instance", "wait", key)
    assert wait == [
        {"id": key, "name": "cycle", "status": "running", "result": "done", "error": None}
    ]

    resized = run_json(cli_run, "instance", "update", key, "--memory", "4GB", "--await")
    assert (resized["status"], resized["memory"]) == ("running", "4GB")
    renamed = ok(cli_run("instance", "update", key, "--name", "renamed"))
    assert "renamed" in renamed.stdout
    ok(cli_run("instance", "update", key, "--vector-optimized", "--await"))
    assert run_json(cli_run, "instance", "get", key)["vector_optimized"] is True
    # --timeout alone waits too; --timeout 0 does not.
    assert run_json(cli_run, "instance", "pause", key, "--timeout", "600")["status"] == "paused"
    assert run_json(cli_run, "instance", "resume", key, "--await", "--timeout", "0")["status"] == (
        "resuming"
    )


def test_delete_asks_first(cli_run: CliRun, emulator: EmulatorServer) -> None:
    key = create(cli_run, "doomed", "--await")["id"]
    refused = cli_run("instance", "delete", key)
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert "Traceback" not in refused.output
    assert requests(emulator, "DELETE") == 0

    gone = run_json(cli_run, "--yes", "instance", "delete", key, "--await")
    assert gone == {"id": key, "status": "deleted"}
    assert requests(emulator, "DELETE") == 1
    missing = cli_run("instance", "get", key)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error:")
    assert "Traceback" not in missing.output


def test_delete_await_right_after_create_deletes_it(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    """Live Aura answers 404 for a just-created instance for a while: ``--await`` keeps at it
    (deleting again after the window, waiting out the create) until the instance is gone."""
    httpx.put(f"{emulator.base_url}/_emulator/faults", json={"not_found_after_create": 150})
    key = create(cli_run, "short-lived")["id"]

    gone = run_json(cli_run, "--yes", "instance", "delete", key, "--await")

    assert gone == {"id": key, "status": "deleted"}
    assert counters(emulator)["faults_injected"]["not_found_after_create"] >= 1
    with emulator.backend.lock:
        emulator.backend.settle_all()
        assert key not in emulator.backend.instances


def test_delete_without_await_shows_it_destroying(cli_run: CliRun) -> None:
    key = create(cli_run, "doomed", "--await")["id"]
    table = ok(cli_run("-y", "instance", "delete", key))
    assert f"instance {key}: destroying" in table.stdout


def test_wait_on_several_instances_reports_each(cli_run: CliRun, emulator: EmulatorServer) -> None:
    running = create(cli_run, "stays-up", "--await")["id"]
    pausing = create(cli_run, "goes-down", "--await")["id"]
    ok(cli_run("instance", "pause", pausing))

    args = ("instance", "wait", running, pausing, "--status", "paused", "--timeout", "240")
    result = cli_run("-o", "json", *args)
    assert result.exit_code == 1
    assert "1 of 2 instances did not reach paused" in result.stderr
    assert "Traceback" not in result.output
    by_id = {w["id"]: w for w in json.loads(result.stdout)}
    assert by_id[pausing]["result"] == "done"
    assert by_id[pausing]["status"] == "paused"
    assert by_id[running]["result"] == "timed out"
    assert by_id[running]["status"] == "running"
    assert all(set(w) == {"id", "name", "status", "result", "error"} for w in by_id.values())

    table = cli_run("instance", "wait", running, pausing, "--status", "running", "--timeout", "60")
    assert table.exit_code == 1
    assert "timed out" in table.stdout
    assert "done" in table.stdout

    ok(cli_run("-y", "instance", "delete", running))
    gone = run_json(cli_run, "instance", "wait", running, "--status", "deleted")
    assert gone[0]["result"] == "done"


def test_overwrite_upgrade_and_sizing(cli_run: CliRun) -> None:
    source = create(cli_run, "source", "--await")["id"]
    target = create(cli_run, "target", "--await")["id"]
    done = run_json(
        cli_run, "instance", "overwrite", target, "--source-instance-id", source, "--await"
    )
    assert (done["id"], done["status"]) == (target, "running")

    upgraded = run_json(cli_run, "instance", "upgrade", source)
    assert set(upgraded) == INSTANCE_KEYS
    assert upgraded["type"] == "business-critical"
    assert "business-critical" in ok(cli_run("instance", "get", source)).stdout

    args = ("instance", "sizing", "--node-count", "1000000", "--relationship-count", "5000000")
    sizing = run_json(cli_run, *args, "--algorithm-categories", "centrality,community")
    assert set(sizing) == {"did_exceed_maximum", "min_required_memory", "recommended_size"}
    assert "RECOMMENDED SIZE" in ok(cli_run(*args)).stdout


def test_snapshots(cli_run: CliRun) -> None:
    key = create(cli_run, "snapped", "--await")["id"]
    started = run_json(cli_run, "instance", "snapshot", "create", "--instance-id", key)
    assert set(started) == {"snapshot_id"}
    taken = run_json(cli_run, "instance", "snapshot", "create", "--instance-id", key, "--await")
    assert set(taken) == SNAPSHOT_KEYS
    assert taken["status"] == "Completed"
    snap = taken["snapshot_id"]

    listed = run_json(cli_run, "instance", "snapshot", "list", "--instance-id", key)
    assert snap in {s["snapshot_id"] for s in listed}
    assert all(set(s) == SNAPSHOT_KEYS for s in listed)
    assert snap in ok(cli_run("instance", "snapshot", "list", "--instance-id", key)).stdout
    dated = cli_run("instance", "snapshot", "list", "--instance-id", key, "--date", "2001-01-01")
    assert "(none)" in ok(dated).stdout

    got = run_json(cli_run, "instance", "snapshot", "get", snap, "--instance-id", key)
    assert got == taken
    assert (
        "Completed" in ok(cli_run("instance", "snapshot", "get", snap, "--instance-id", key)).stdout
    )

    # aura-cli's other spelling: --snapshot-id beside the positional.
    by_flag = run_json(
        cli_run, "instance", "snapshot", "get", "--snapshot-id", snap, "--instance-id", key
    )
    assert by_flag == taken
    both = cli_run(
        "instance", "snapshot", "get", snap, "--snapshot-id", "other", "--instance-id", key
    )
    assert both.exit_code == 2
    assert "two snapshot ids given" in both.stderr
    neither = cli_run("instance", "snapshot", "get", "--instance-id", key)
    assert neither.exit_code == 2
    assert "--snapshot-id ID" in neither.stderr

    restored = run_json(
        cli_run,
        "instance",
        "snapshot",
        "restore",
        "--snapshot-id",
        snap,
        "--instance-id",
        key,
        "--await",
    )
    assert set(restored) == INSTANCE_KEYS
    assert restored["status"] == "running"


BAD_INPUTS = {
    "malformed id": ("instance", "get", "not-an-id"),
    "unknown type": ("instance", "create", "--name", "x", "--type", "huge-db"),
    "bad memory": ("instance", "create", "--name", "x", *PRO[:2], "--memory", "8", *PRO[4:]),
    "missing region": ("instance", "create", "--name", "x", *PRO[:4]),
    "bad cloud": ("instance", "create", "--name", "x", *PRO[:6], "--cloud-provider", "ibm"),
    "long name": ("instance", "create", "--name", "x" * 31, "--type", "free-db"),
    "snapshot without source": (
        "instance",
        "create",
        "--name",
        "x",
        *PRO,
        "--source-snapshot-id",
        "s1",
    ),
    "missing type": ("instance", "create", "--name", "x"),
    "nothing to update": ("instance", "update", "abcdef12"),
    "bad update memory": ("instance", "update", "abcdef12", "--memory", "lots"),
    "bad cdc mode": ("instance", "update", "abcdef12", "--cdc-enrichment-mode", "SOME"),
    "negative timeout": ("instance", "pause", "abcdef12", "--timeout", "-1"),
    "delete malformed id": ("--yes", "instance", "delete", "ABCDEF12"),
    "overwrite bad source": ("instance", "overwrite", "abcdef12", "--source-instance-id", "x"),
    "half an upgrade": ("instance", "upgrade", "abcdef12", "--memory", "4GB"),
    "negative count": ("instance", "sizing", "--node-count", "-1", "--relationship-count", "1"),
    "wait for one bad id": ("instance", "wait", "abcdef12", "nothex!!"),
    "wait for a bad status": ("instance", "wait", "abcdef12", "--status", "gone"),
    "bad date": ("instance", "snapshot", "list", "--instance-id", "abcdef12", "--date", "May"),
    "missing instance id": ("instance", "snapshot", "create"),
    "bad snapshot id": ("instance", "snapshot", "get", "a/b", "--instance-id", "abcdef12"),
}


def assert_usage_error(result: Result, emulator: EmulatorServer) -> None:
    """Exit 2, a message (ours on one line), no traceback, and nothing sent."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.strip()
    if result.stderr.startswith("error:"):  # ours (click's own usage errors show the usage)
        assert len(result.stderr.strip().splitlines()) == 1
    assert sent(emulator) == 0


@pytest.mark.parametrize("args", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_usage_error_and_sends_nothing(
    cli_run: CliRun, emulator: EmulatorServer, args: tuple[str, ...]
) -> None:
    assert_usage_error(cli_run(*args), emulator)


# ---------------------------------------------------------------------- review fixes


def test_delete_prints_one_shape_and_takes_a_local_yes(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    first = create(cli_run, "first", "--await")["id"]
    second = create(cli_run, "second", "--await")["id"]
    going = run_json(cli_run, "instance", "delete", first, "-y")
    assert going == {"id": first, "status": "destroying"}
    gone = run_json(cli_run, "instance", "delete", second, "--yes", "--await")
    assert gone == {"id": second, "status": "deleted"}
    assert requests(emulator, "DELETE") == 2


def test_overwrite_from_a_snapshot_of_the_instance_itself(cli_run: CliRun) -> None:
    key = create(cli_run, "itself", "--await")["id"]
    snap = run_json(cli_run, "instance", "snapshot", "create", "--instance-id", key, "--await")
    done = run_json(
        cli_run, "instance", "overwrite", key, "--source-snapshot-id", snap["snapshot_id"],
        "--await",
    )  # fmt: skip
    assert (done["id"], done["status"]) == (key, "running")


def test_timeouts_take_durations(cli_run: CliRun) -> None:
    key = create(cli_run, "timed", "--await")["id"]
    assert run_json(cli_run, "instance", "pause", key, "--timeout", "10m")["status"] == "paused"
    waited = run_json(cli_run, "instance", "wait", key, "--status", "paused", "--timeout", "1h")
    assert waited[0]["result"] == "done"
    resumed = run_json(cli_run, "instance", "resume", key, "--timeout", "1h30m")
    assert resumed["status"] == "running"


CLI_WORDED = {
    "INSTANCE_ID must be": ("instance", "get", "not-an-id"),
    "--source-snapshot-id needs --source-instance-id": (
        "instance", "create", "--name", "x", *PRO, "--source-snapshot-id", "s1",
    ),
    "--memory must be a size": ("instance", "update", "abcdef12", "--memory", "lots"),
    "--cdc-enrichment-mode must be one of": (
        "instance", "update", "abcdef12", "--cdc-enrichment-mode", "SOME",
    ),
    "--source-instance-id, --source-snapshot-id": ("instance", "overwrite", "abcdef12"),
    "--timeout": ("instance", "pause", "abcdef12", "--timeout", "soon"),
}  # fmt: skip


@pytest.mark.parametrize(("words", "args"), CLI_WORDED.items(), ids=CLI_WORDED.keys())
def test_errors_name_the_flags(
    cli_run: CliRun, emulator: EmulatorServer, words: str, args: tuple[str, ...]
) -> None:
    result = cli_run(*args)
    assert_usage_error(result, emulator)
    assert words in result.stderr
    for python in ("instance_id", "source_snapshot_id", "cdc_enrichment_mode", "aura."):
        assert python not in result.stderr


@pytest.mark.shows_secrets
def test_create_with_a_failing_store_shows_the_only_copy(
    cli_run: CliRun, emulator: EmulatorServer, tmp_path: Path
) -> None:
    (tmp_path / "creds").mkdir(mode=0o700)
    (tmp_path / "creds" / "credentials").write_text("")
    result = cli_run("--credentials-dir", "creds", "-o", "json", "instance", "create",
                     "--name", "x", "--type", "free-db")  # fmt: skip
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["password"]
    assert "only copy" in result.stderr
    assert "printed above" in result.stderr
    assert "item.credentials" not in result.output

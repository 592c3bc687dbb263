"""``aura-async tenant``, ``customer-managed-key`` (``cmk``) and ``graph-analytics session``."""

from __future__ import annotations

import pytest

from aura_async.emulator import EmulatorServer

from .conftest import CliRun, json_of
from .test_instance import assert_usage_error, ok, requests, run_json
from .test_instance import wide as wide  # an autouse fixture: wide tables here too

KEY_KEYS = {
    "id",
    "name",
    "tenant_id",
    "cloud_provider",
    "region",
    "instance_type",
    "key_id",
    "created",
    "status",
    "type",
}
SESSION_KEYS = {
    "id",
    "name",
    "memory",
    "status",
    "host",
    "tenant_id",
    "user_id",
    "instance_id",
    "database_uuid",
    "created_at",
    "expiry_date",
    "ttl",
    "cloud_provider",
    "region",
}
CONFIGURATION_KEYS = {
    "region",
    "region_name",
    "type",
    "memory",
    "storage",
    "version",
    "cloud_provider",
}
NEW_KEY: tuple[str, ...] = (
    "--name",
    "key",
    "--key-id",
    "arn:aws:kms:eu-west-1:1:key/k",
    "--region",
    "eu-west-1",
)
NEW_KEY += ("--cloud-provider", "aws", "--type", "enterprise-db")
STANDALONE: tuple[str, ...] = ("--name", "gds", "--memory", "8GB", "--cloud-provider", "gcp")
STANDALONE += ("--region", "europe-west1")
SESSION = ("graph-analytics", "session", "create")
SIZING = ("graph-analytics", "session", "sizing")


def test_tenant_get_shows_configurations_and_tolerates_no_metrics(
    cli_run: CliRun, emulator: EmulatorServer
) -> None:
    project = emulator.project_id
    data = run_json(cli_run, "tenant", "get", project)
    assert set(data) == {"id", "name", "metrics_integration_url", "instance_configurations"}
    assert data["metrics_integration_url"] is None  # the API's 400: nothing eligible
    assert all(set(c) == CONFIGURATION_KEYS for c in data["instance_configurations"])
    table = ok(cli_run("tenant", "get"))  # the configured project
    assert project in table.stdout
    assert "professional-db" in table.stdout
    assert "metrics integration: -" in table.stdout

    bc = ("--name", "bc", "--type", "business-critical", "--memory", "2GB")
    run_json(cli_run, "instance", "create", *bc, "--region", "us-east1", "--cloud-provider", "gcp")
    url = run_json(cli_run, "tenant", "get")["metrics_integration_url"]
    assert url.startswith("https://")
    assert url in ok(cli_run("tenant", "get", project)).stdout
    assert [p["id"] for p in run_json(cli_run, "tenant", "list")] == [project]


def test_customer_managed_keys(cli_run: CliRun, emulator: EmulatorServer) -> None:
    pending = run_json(cli_run, "customer-managed-key", "create", *NEW_KEY)
    assert set(pending) == KEY_KEYS
    assert pending["status"] == "pending"
    ready = run_json(cli_run, "cmk", "create", *NEW_KEY[:1], "other", *NEW_KEY[2:], "--await")
    assert ready["status"] == "ready"
    table = ok(cli_run("cmk", "create", "--name", "third", *NEW_KEY[2:]))
    assert "third" in table.stdout
    assert "pending" in table.stdout

    listed = run_json(cli_run, "cmk", "list")
    assert {k["name"] for k in listed} == {"key", "other", "third"}
    assert all(set(k) == {"id", "name", "tenant_id"} for k in listed)
    assert (
        "other"
        in ok(cli_run("customer-managed-key", "list", "--tenant-id", emulator.project_id)).stdout
    )
    assert run_json(cli_run, "cmk", "get", ready["id"]) == ready
    assert "ready" in ok(cli_run("cmk", "get", ready["id"])).stdout

    refused = cli_run("cmk", "delete", ready["id"])
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert requests(emulator, "DELETE") == 0
    assert run_json(cli_run, "-y", "cmk", "delete", ready["id"]) == {
        "id": ready["id"],
        "status": "deleted",
    }
    deleted = ok(cli_run("--yes", "customer-managed-key", "delete", pending["id"]))
    assert f"customer managed key {pending['id']} deleted" in deleted.stdout
    assert [k["name"] for k in run_json(cli_run, "cmk", "list")] == ["third"]


def test_graph_analytics_sessions(cli_run: CliRun, emulator: EmulatorServer) -> None:
    session = run_json(cli_run, *SESSION, *STANDALONE, "--ttl", "30m")
    assert set(session) == SESSION_KEYS
    ready = run_json(cli_run, *SESSION, *STANDALONE, "--await")
    assert ready["id"] == session["id"]  # get-or-create by name
    assert ready["status"] == "Ready"
    assert ready["ttl"] == 1800

    table = ok(cli_run(*SESSION, *STANDALONE[:1], "two", *STANDALONE[2:]))
    assert "two" in table.stdout
    listed = run_json(cli_run, "graph-analytics", "session", "list")
    assert {s["name"] for s in listed} == {"gds", "two"}
    assert all(set(s) == SESSION_KEYS for s in listed)
    assert "gds" in ok(cli_run("graph-analytics", "session", "list")).stdout
    assert (
        run_json(cli_run, "graph-analytics", "session", "get", session["id"])["status"] == "Ready"
    )
    assert "Ready" in ok(cli_run("graph-analytics", "session", "get", session["id"])).stdout

    args: tuple[str, ...] = (*SIZING, "--node-count", "1000000")
    args += ("--relationship-count", "5000000", "--node-property-count", "3")
    sizing = run_json(cli_run, *args, "--algorithm-categories", "centrality")
    assert set(sizing) == {"estimated_memory", "recommended_size"}
    assert "RECOMMENDED SIZE" in ok(cli_run(*args)).stdout

    refused = cli_run("graph-analytics", "session", "delete", session["id"])
    assert refused.exit_code == 2
    assert requests(emulator, "DELETE") == 0
    gone = run_json(cli_run, "-y", "graph-analytics", "session", "delete", session["id"])
    assert gone == {"id": session["id"], "status": "deleted"}
    assert [s["name"] for s in run_json(cli_run, "graph-analytics", "session", "list")] == ["two"]


BAD_INPUTS: dict[str, tuple[str, ...]] = {
    "bad tenant id": ("tenant", "get", "no/such"),
    "bad key id": ("cmk", "get", "a b"),
    "key for a pro tier": ("cmk", "create", *NEW_KEY[:-1], "professional-db"),
    "key without name": ("cmk", "create", *NEW_KEY[2:]),
    "key bad cloud": ("cmk", "create", *NEW_KEY[:6], "--cloud-provider", "ibm", *NEW_KEY[8:]),
    "delete bad key id": ("-y", "cmk", "delete", "a/b"),
    "session nowhere": (*SESSION, "--name", "s", "--memory", "8GB"),
    "session bad memory": (*SESSION, *STANDALONE[:2], "--memory", "8", *STANDALONE[4:]),
    "session bad ttl": (*SESSION, *STANDALONE, "--ttl", "forever"),
    "session bad instance": (*SESSION, *STANDALONE[:4], "--instance-id", "x"),
    "session bad timeout": (*SESSION, *STANDALONE, "--timeout", "x"),
    "session list bad instance": ("graph-analytics", "session", "list", "--instance-id", "zz"),
    "sizing negative": (*SIZING, "--node-count", "1", "--relationship-count", "-5"),
    "sizing missing count": (*SIZING, "--node-count", "1"),
}


@pytest.mark.parametrize("args", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_usage_error_and_sends_nothing(
    cli_run: CliRun, emulator: EmulatorServer, args: tuple[str, ...]
) -> None:
    assert_usage_error(cli_run(*args), emulator)


# ---------------------------------------------------------------------- review fixes


def test_deletes_take_a_local_yes(cli_run: CliRun, emulator: EmulatorServer) -> None:
    key = run_json(cli_run, "cmk", "create", *NEW_KEY)["id"]
    assert run_json(cli_run, "cmk", "delete", key, "--yes") == {"id": key, "status": "deleted"}
    session = run_json(cli_run, *SESSION, *STANDALONE)["id"]
    gone = run_json(cli_run, "graph-analytics", "session", "delete", session, "-y")
    assert gone == {"id": session, "status": "deleted"}
    assert requests(emulator, "DELETE") == 2


def test_errors_name_the_flags_and_commands(
    cli_run: CliRun, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = cli_run(*SESSION, "--name", "s", "--memory", "8GB")
    assert_usage_error(nowhere, emulator)
    assert "needs --cloud-provider and --region (or pass --instance-id)" in nowhere.stderr

    for python in ("tenant_id", "aura.tenants", "cloud_provider", "instance_id"):
        assert python not in nowhere.stderr
    # No project named: the account's only one (several: test_config_commands.py).
    monkeypatch.delenv("AURA_TENANT_ID")
    only_project = cli_run("-o", "json", "cmk", "create", *NEW_KEY)
    assert json_of(only_project)["tenant_id"] == emulator.project_id

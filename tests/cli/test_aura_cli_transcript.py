"""aura-cli's own documented command lines, run as they are written, against the emulator.

The lines are those of aura-cli's usage guide ("A Guide To The New Aura CLI",
neo4j/aura-cli docs/usageGuide) and of its command reference (notes section 9.2), with
``aura-cli`` replaced by ``aura-async`` and the capitalised placeholders by real values. Global
options come after the subcommand, where aura-cli users put them (``--output table``,
``--base-url``, ``--auth-url``: persistent flags of aura-cli's command groups). The transcript
runs in order, each line feeding the next its ids; it fails if any line stops working.

Deviations: ``instance delete`` asks first, and refuses without ``--yes`` when standard input
is not a terminal, so its line has ``--yes`` (after the subcommand, as every global option may
be); ``credential add`` reads the secret from standard input, never from a ``--client-secret``
flag (process listings and shell histories keep flags). The configuration lines
(``credential add|list|use``, ``config set|list|get``) run with a file keyring in the test's
directory and no credential in the environment, so only what they keep can work. Between
lines the transcript waits as the guide tells the reader to ("check the status with instance
get") before a change the instance's state would refuse.
"""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

import pytest
from click.testing import Result
from keyrings.alt.file import PlaintextKeyring

from aura_async.emulator import EmulatorServer
from tests.cli.conftest import CliRun


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: a substring check must not meet a folded cell."""
    monkeypatch.setenv("COLUMNS", "250")


class Transcript:
    """Runs aura-cli's lines one after the other; ``values`` fill their placeholders."""

    def __init__(self, cli_run: CliRun, values: dict[str, str]) -> None:
        self.cli_run = cli_run
        self.values = values
        self.ran: list[str] = []

    def run(self, line: str, *, input: str | None = None) -> Result:
        """Run ``aura-cli ...`` (placeholders filled); it must succeed without a traceback."""
        assert line.startswith("aura-cli "), line
        words = shlex.split(line.format(**self.values))[1:]
        result = self.cli_run(*words, input=input)
        shown = f"{line}\nexit {result.exit_code}\n{result.output}"
        assert result.exit_code == 0, shown
        assert "Traceback" not in result.output, shown
        self.ran.append(line)
        return result

    def json(self, line: str) -> Any:
        """Run a line that says ``--output json`` and return its document."""
        assert "--output json" in line, line
        return json.loads(self.run(line).stdout)

    def wait_for(self, status: str, instance: str = "{instance}") -> None:
        """Check the status with ``instance get`` until it is ``status``, as the guide says."""
        deadline = time.monotonic() + 30
        while True:
            got = self.json(f"aura-cli instance get {instance} --output json")["status"]
            if got == status:
                return
            assert time.monotonic() < deadline, f"still {got}, not {status}"
            time.sleep(0.05)


def test_aura_clis_documented_lines(cli_run: CliRun, emulator: EmulatorServer) -> None:
    t = Transcript(
        cli_run,
        {
            "tenant": emulator.project_id,
            "base_url": emulator.base_url,
            "auth_url": emulator.token_url,
        },
    )
    urls = "--base-url {base_url} --auth-url {auth_url}"

    # Working with AuraDB tenants
    tenants = t.run("aura-cli tenant list")
    assert emulator.project_id in tenants.stdout
    t.run("aura-cli tenant get {tenant}")
    listed = t.json("aura-cli tenant list --output json")
    assert emulator.project_id in [project["id"] for project in listed]

    # Create (Aura Free, then another tier); the settings from the tenant's configurations
    free = t.json("aura-cli instance create --name free --type free-db --await --output json")
    assert free["type"] == "free-db"
    created = t.json(
        "aura-cli instance create --name YOUR_INSTANCE_NAME --cloud-provider gcp "
        "--region europe-west1 --memory 2GB --type professional-db --tenant-id {tenant} "
        "--output json"
    )
    t.values["instance"] = created["id"]

    # List, get
    t.run("aura-cli instance list")
    table = t.run("aura-cli instance list --output table " + urls)
    assert created["id"] in table.stdout
    t.run("aura-cli instance get {instance}")
    t.wait_for("running")
    assert t.json("aura-cli instance get {instance} --output json " + urls)["id"] == created["id"]

    # Update
    t.run("aura-cli instance update {instance} --name NEW_NAME  --memory 4GB")
    t.wait_for("running")

    # Pause / resume
    t.run("aura-cli instance pause {instance}")
    t.wait_for("paused")
    t.run("aura-cli instance resume {instance} --await")
    t.wait_for("running")

    # Snapshots
    snapshot = t.json("aura-cli instance snapshot create --instance-id {instance} --output json")
    t.values["snapshot"] = snapshot["snapshot_id"]
    t.run("aura-cli instance snapshot create --instance-id {instance} --await")
    listed_snapshots = t.run("aura-cli instance snapshot list --instance-id {instance}")
    assert t.values["snapshot"] in listed_snapshots.stdout
    shown = t.json(
        "aura-cli instance snapshot get {snapshot} --instance-id {instance} --output json"
    )
    assert shown["snapshot_id"] == t.values["snapshot"]

    # Overwrite: the latest snapshot of another instance, then a historical one
    t.values["source"] = free["id"]
    t.run("aura-cli instance overwrite {instance} --source-instance-id {source}")
    t.wait_for("running")
    t.run(
        "aura-cli instance overwrite {instance} --source-instance-id {instance}  "
        "--source-snapshot-id {snapshot}"
    )
    t.wait_for("running")

    # Customer managed keys
    t.run("aura-cli customer-managed-key list --tenant-id {tenant} --output table")

    # Delete (aura-async asks first; not on a terminal, --yes answers)
    t.run("aura-cli instance delete {instance} --yes")
    deadline = time.monotonic() + 30
    while created["id"] in [i["id"] for i in t.json("aura-cli instance list --output json")]:
        assert time.monotonic() < deadline, "still listed after its delete"
        time.sleep(0.05)

    # Version
    assert "aura-async" in t.run("aura-cli -v").stdout


def test_aura_clis_documented_configuration_lines(
    cli_run: CliRun,
    emulator: EmulatorServer,
    file_keyring: PlaintextKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only what the command keeps may give the credential and the project.
    for name in ("AURA_CLIENT_ID", "AURA_CLIENT_SECRET", "AURA_TENANT_ID"):
        monkeypatch.delenv(name)
    t = Transcript(
        cli_run,
        {"tenant": emulator.project_id, "client_id": emulator.client_id, "label": "work"},
    )

    # Configure Aura CLI with Aura API key. aura-cli takes the secret as --client-secret;
    # aura-async keeps it out of process listings and reads it from standard input instead.
    t.run(
        "aura-cli credential add --name {label} --client-id {client_id}",
        input=emulator.client_secret + "\n",
    )
    t.run("aura-cli credential list")
    # The guide writes `credential use --name NAME`; aura-cli itself takes `use <name>`
    # (credential/use.go, cobra.ExactArgs(1)), as aura-async does.
    t.run("aura-cli credential use {label}")
    t.run("aura-cli instance list --output table")

    # Working with AuraDB tenants: a default tenant
    t.run("aura-cli config set default-tenant {tenant}")
    t.run("aura-cli config list")
    assert emulator.project_id in t.run("aura-cli config get default-tenant").stdout
    created = t.json(
        "aura-cli instance create --name YOUR_INSTANCE_NAME --cloud-provider gcp "
        "--region europe-west1 --memory 2GB --type professional-db --output json"
    )
    assert created["tenant_id"] == emulator.project_id

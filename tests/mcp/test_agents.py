"""What an agent needs of the server: progress on long calls, cancellation that loses
nothing, guard rails, clear refusals, and no secret in anything it receives."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from click.testing import CliRunner

from aura_async.cli import cli
from aura_async.cli.commands import register
from aura_async.emulator import Durations, secrets
from aura_async.fleet.store import EntryState, Intent, new_intent_id
from aura_async.mcp import Guard
from aura_async.mcp.server import READ_TOOLS, WRITE_TOOLS
from mcp import Client, StdioServerParameters
from tests.fleet.conftest import config, manual_clock, until
from tests.mcp.conftest import PRO

pytestmark = pytest.mark.anyio


async def test_a_fleet_of_20_reports_progress_and_is_torn_down(make_agent) -> None:
    rig, agent, _ = await make_agent()
    made = await agent.data("create_instances", name="agent", count=20, **PRO)
    assert made["totals"] == {"succeeded": 20}
    assert made["env_vars"] is None  # no .env asked for
    progress = agent.seen.progress
    assert len(progress) >= 20  # one per finished item at least
    assert progress[-1][:2] == (20, 20)
    assert all(total == 20 for _, total, _ in progress)
    assert [p for p, _, _ in progress] == sorted(p for p, _, _ in progress)
    assert any("requests in the last" in (m or "") for _, _, m in progress)
    assert any("under way" in (m or "") for _, _, m in progress)
    assert len(rig.names()) == 20
    gone = await agent.data("delete_instances", name_prefix="agent-", confirm=True)
    assert gone["totals"] == {"succeeded": 20}
    rig.settle()
    assert rig.names() == {}
    assert agent.seen.leaks() == []


async def test_env_files_are_written_on_request_and_named_not_shown(
    make_agent, tmp_path: Path
) -> None:
    rig, agent, _ = await make_agent(env_dir=tmp_path / "envs")
    made = await agent.data("create_instances", name="envy", write_env_files=True, **PRO)
    (item,) = made["items"]
    assert item["env_file"] == str(tmp_path / "envs" / "envy.env")
    assert "NEO4J_PASSWORD" in made["env_vars"]
    assert "NEO4J_PASSWORD='" in await anyio.Path(item["env_file"]).read_text()
    before = await rig.requests()
    assert "cannot name a file" in await agent.error(
        "create_instances", name="../", type="free-db", write_env_files=True
    )
    assert "POST /v1/instances 202" not in await rig.requests() - before
    assert agent.seen.leaks() == []


async def test_a_cancelled_create_leaves_the_ledger_consistent(make_agent, make_rig) -> None:
    # Creates last an emulated hour (a real second): the cancel lands while they are under way.
    rig = await make_rig(config(durations=Durations(create=3600.0, jitter=0)))
    _, agent, store = await make_agent(rig)
    with anyio.move_on_after(0.3):
        await agent.call("create_instances", name="cut", count=10, **PRO)
    # The next call works; every instance the service holds is in the ledger, with its
    # password, and nothing is left half-known.
    assert (await agent.data("list_instances"))["count"] == len(rig.names())
    entries = await store.entries()
    known = {e.instance_id: e for e in entries if e.instance_id}
    assert set(rig.names()) <= set(known)
    assert all(known[i].credentials is not None for i in rig.names())
    recovered = await agent.data("recover")
    assert not [e for e in recovered["entries"] if e["state"] == EntryState.INTENDED.value]


async def test_a_destructive_call_is_refused_without_confirmation(make_agent) -> None:
    rig, agent, _ = await make_agent()
    await agent.data("create_instances", name="keep", count=2, **PRO)
    before = await rig.requests()
    message = await agent.error("delete_instances", name_prefix="keep-")
    assert "keep-1" in message
    assert "keep-2" in message
    assert "confirm=true" in message
    message = await agent.error("pause_instances", name_prefix="keep-")
    assert "Nothing was changed" in message
    sent = await rig.requests() - before
    assert not [route for route in sent if not route.startswith("GET ")]  # reads only
    assert len(rig.names()) == 2
    assert "confirm" in await agent.error("recover", delete_lost=True)


async def test_a_read_only_server_offers_and_does_no_change(make_agent) -> None:
    rig, agent, _ = await make_agent(guard=Guard(read_only=True))
    names = {tool.name for tool in (await agent.client.list_tools()).tools}
    assert names == set(READ_TOOLS)
    for tool in WRITE_TOOLS:
        assert "Unknown tool" in await agent.error(tool, name="x", type="free-db")
    assert rig.names() == {}


async def test_a_name_prefix_keeps_the_agent_to_its_own_instances(make_agent) -> None:
    rig, agent, _ = await make_agent(guard=Guard(prefix="ci-"))
    other = await rig.raw_create("prod-db")
    assert "'ci-'" in await agent.error("create_instances", name="prod", **PRO)
    assert "not found among" in await agent.error(
        "delete_instances", instance_ids=[other["id"]], confirm=True
    )
    assert "must start with 'ci-'" in await agent.error(
        "pause_instances", name_prefix="prod", confirm=True
    )
    made = await agent.data("create_instances", name="ci-run", count=2, name_pattern="{name}-{n}",
                            **PRO)  # fmt: skip
    assert made["ok"]
    listed = await agent.data("list_instances")
    assert {i["name"] for i in listed["instances"]} == {"ci-run-1", "ci-run-2"}
    gone = await agent.data("delete_instances", in_ledger=True, confirm=True)
    assert gone["totals"] == {"succeeded": 2}
    assert other["id"] in rig.names()  # never touched


async def test_bad_input_gets_one_message_per_field_and_sends_nothing(make_agent) -> None:
    rig, agent, _ = await make_agent()
    before = await rig.requests()
    assert "greater than or equal to 1" in await agent.error(
        "create_instances", name="x", count=0, **PRO
    )
    assert "type must be one of" in await agent.error("create_instances", name="x", type="warp-db")
    assert "memory" in await agent.error("create_instances", name="x", **{**PRO, "memory": "2 GB"})
    assert "30 characters" in await agent.error("create_instances", name="x" * 31, **PRO)
    assert "memroy" in await agent.error(
        "create_instances", specs=[{"name": "x", "type": "free-db", "memroy": "1GB"}]
    )
    assert "until" in await agent.error("wait_for_instances", instance_ids=["0123abcd"],
                                        until="gone")  # fmt: skip
    assert "give name and type" in await agent.error("create_instances")
    sent = await rig.requests() - before
    assert not [route for route in sent if not route.startswith("GET ")], sent
    assert agent.seen.leaks() == []


async def test_the_command_serves_over_stdio_on_the_embedded_emulator(tmp_path: Path) -> None:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "aura_async", "--emulator", "mcp", "--name-prefix", "stdio-"],
        cwd=str(tmp_path),
        env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")},
    )
    async with Client(server) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert tools == {*READ_TOOLS, *WRITE_TOOLS}
        made = await client.call_tool("create_instances", {"name": "stdio-db", "type": "free-db"})
        assert not made.is_error, made.content
        assert made.structured_content is not None
        assert made.structured_content["totals"] == {"succeeded": 1}
        listed = await client.call_tool("list_instances", {})
        assert listed.structured_content is not None
        assert listed.structured_content["count"] == 1


async def test_a_create_cut_short_by_its_timeout_hands_back_what_to_wait_for(
    make_agent, make_rig
) -> None:
    # Creates last an emulated hour (a real second); the agent allows a tenth of that.
    rig = await make_rig(config(durations=Durations(create=3600.0, jitter=0)))
    _, agent, _ = await make_agent(rig)
    made = await agent.data(
        "create_instances", name="slow", count=2, timeout_seconds=0.1, on_error="continue", **PRO
    )
    assert len(made["still_pending"]) == 2
    assert "wait_for_instances" in made["next_step"]
    assert all(item["credentials_saved"] for item in made["items"])
    waited = await agent.data(
        "wait_for_instances", instance_ids=made["still_pending"], timeout_seconds=10.0
    )
    assert [w["status"] for w in waited["instances"]] == ["running", "running"]


async def test_a_cancelled_create_with_rollback_deletes_what_it_created(
    make_agent, make_rig
) -> None:
    # On a manual clock the creates stay "creating" until the test moves it: the cancel
    # lands while every item waits, whatever the machine's speed.
    rig = await make_rig(config(), clock=manual_clock(time.time()))
    _, agent, store = await make_agent(rig)
    cancelled = anyio.Event()

    async def time_passes_once_cancelled() -> None:
        # The rollback runs inside the cancelled call (shielded), its deletes answered 409
        # while the creates go on: end the creates then, so that the deletes are taken.
        await cancelled.wait()
        while rig.names():
            rig.advance(600)
            await anyio.sleep(0.01)

    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(time_passes_once_cancelled)
            with anyio.CancelScope() as scope:
                tg.start_soon(lambda: _cancel_after(0.5, scope, cancelled))
                await agent.call(
                    "create_instances", name="undo", count=4, on_error="rollback", **PRO
                )
    assert rig.names() == {}

    async def all_marked() -> bool:  # each entry is marked once its delete was taken
        return {e.state for e in await store.entries()} == {EntryState.DELETED}

    await until(all_marked)


async def _cancel_after(seconds: float, scope: anyio.CancelScope, said: anyio.Event) -> None:
    await anyio.sleep(seconds)
    scope.cancel()
    said.set()


async def test_secrets_stay_out_of_results_progress_and_logs(
    make_agent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    _, agent, _ = await make_agent()
    await agent.data("create_instances", name="quiet", count=3, **PRO)
    await agent.error("create_instances", name="quiet-x", type="free-db", memory="8GB")
    await agent.data("delete_instances", name_prefix="quiet", confirm=True)
    passwords = secrets.issued("password")
    assert len(passwords) >= 3  # the sweep has something to find
    assert agent.seen.texts  # and something to look in
    assert agent.seen.leaks() == []
    logged = caplog.text
    assert not [kind for kind in secrets.issued() if kind and kind in logged]


async def test_over_http_on_loopback_with_host_and_origin_checked(
    tmp_path: Path, free_tcp_port: int
) -> None:
    command = [sys.executable, "-m", "aura_async", "--emulator", "mcp", "--transport", "http",
               "--port", str(free_tcp_port)]  # fmt: skip
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    url = f"http://127.0.0.1:{free_tcp_port}/mcp"
    process = await anyio.open_process(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            with anyio.fail_after(30):
                while True:  # until it listens
                    try:
                        await http.get(url)
                        break
                    except httpx.TransportError:
                        await anyio.sleep(0.1)
            rebinding = await http.post(url, json={}, headers={"Host": "evil.example"})
            assert rebinding.status_code == 421  # a DNS-rebinding page's Host
            foreign = await http.post(url, json={}, headers={"Origin": "https://evil.example"})
            assert foreign.status_code == 403
        async with Client(url) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == {*READ_TOOLS, *WRITE_TOOLS}
            projects = await client.call_tool("list_projects", {})
            assert not projects.is_error
    finally:
        process.terminate()
        with anyio.fail_after(10):
            await process.wait()
        await process.aclose()


def test_without_the_extra_the_command_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register(cli)
    for name in [m for m in sys.modules if m == "mcp" or m.startswith("mcp.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mcp", None)  # as if aura-async[mcp] were not installed
    result = CliRunner().invoke(cli, ["--emulator", "mcp"])
    assert result.exit_code != 0
    assert "aura-async[mcp]" in result.output
    assert "Traceback" not in result.output


async def test_ids_never_widen_a_selection(make_agent) -> None:
    rig, agent, _ = await make_agent()
    other = await rig.raw_create("prod-db")  # another client's, not in the ledger
    message = await agent.error(
        "delete_instances", instance_ids=[other["id"]], in_ledger=True, confirm=True
    )
    assert "no instance matched" in message
    assert other["id"] in rig.names()


async def test_a_clone_source_outside_the_prefix_is_refused(make_agent) -> None:
    rig, agent, _ = await make_agent(guard=Guard(prefix="ci-"))
    source = await rig.raw_create("prod-db")
    rig.settle()
    before = await rig.requests()
    message = await agent.error(
        "create_instances",
        specs=[{"name": "ci-copy", **PRO, "source_instance_id": source["id"]}],
    )
    assert "prod-db" in message
    sent = await rig.requests() - before
    assert "POST /v1/instances 202" not in sent


async def test_recover_deletes_only_lost_instances_within_the_prefix(make_agent) -> None:
    rig, agent, store = await make_agent(guard=Guard(prefix="ci-"))
    for name in ("prod-lost", "ci-lost"):  # intents whose answers never arrived
        await store.record_intent(
            Intent(
                intent_id=new_intent_id(),
                name=name,
                spec={},
                tenant_id=rig.state.config.projects[0].id,
                started_at=dt.datetime.now(dt.UTC),
            )
        )
        await rig.raw_create(name)
    rig.settle()
    refused = await agent.error("recover", delete_lost=True, confirm=True)
    assert "prod-lost" in refused
    assert len(rig.names()) == 2
    listed = await agent.data("list_instances")
    assert [i["name"] for i in listed["instances"]] == ["ci-lost"]  # the prefix's view


async def test_recover_lists_the_lost_before_deleting_them(make_agent) -> None:
    rig, agent, store = await make_agent()
    await store.record_intent(
        Intent(
            intent_id=new_intent_id(),
            name="lost-one",
            spec={},
            tenant_id=rig.state.config.projects[0].id,
            started_at=dt.datetime.now(dt.UTC),
        )
    )
    made = await rig.raw_create("lost-one")
    rig.settle()
    plan = await agent.error("recover", delete_lost=True)
    assert f"lost-one ({made['id']})" in plan
    assert made["id"] in rig.names()
    done = await agent.data("recover", delete_lost=True, confirm=True)
    rig.settle()
    assert rig.names() == {}
    assert [e["state"] for e in done["entries"]] == ["deleted"]


async def test_two_calls_at_once_each_report_their_own_progress(make_agent) -> None:
    _, agent, _ = await make_agent()
    seen: dict[str, list[tuple[float, float | None]]] = {"a": [], "b": []}

    async def create(tag: str, count: int) -> None:
        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen[tag].append((progress, total))

        result = await agent.client.call_tool(
            "create_instances",
            {"name": f"two-{tag}", "count": count, **PRO},
            progress_callback=on_progress,
        )
        assert not result.is_error, result.content

    async with anyio.create_task_group() as tg:
        tg.start_soon(create, "a", 5)
        tg.start_soon(create, "b", 2)
    assert seen["a"][-1] == (5, 5)
    assert seen["b"][-1] == (2, 2)
    assert all(total == 5 for _, total in seen["a"])

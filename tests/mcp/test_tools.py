"""Every tool of the MCP server, through the ``mcp`` SDK's client, on the emulator."""

from __future__ import annotations

import pytest

from aura_async.emulator import BoltListener
from aura_async.mcp.server import READ_TOOLS, WRITE_TOOLS
from tests.fleet.conftest import config
from tests.mcp.conftest import PRO

pytestmark = pytest.mark.anyio


async def test_the_tools_say_what_they_do_and_return_structured_content(make_agent) -> None:
    _, agent, _ = await make_agent()
    tools = {tool.name: tool for tool in (await agent.client.list_tools()).tools}
    assert set(tools) == {*READ_TOOLS, *WRITE_TOOLS}
    for tool in tools.values():
        assert tool.output_schema is not None, tool.name
        assert "Never returns a password" in (tool.description or ""), tool.name
    for name in READ_TOOLS:
        assert tools[name].annotations.read_only_hint is True
    for name in ("delete_instances", "pause_instances", "recover"):
        assert tools[name].annotations.destructive_hint is True
    assert "confirm" in tools["delete_instances"].input_schema["properties"]


async def test_every_tool_on_the_emulator(make_agent, make_rig) -> None:
    rig = await make_rig(config(bolt=True, bolt_delay=0.0))
    _, agent, store = await make_agent(rig)
    projects = await agent.data("list_projects")
    assert projects["projects"][0]["offers"] is None
    project = await agent.data("get_project")
    offered = {(o["type"], o["memory"], o["region"]) for o in project["offers"]}
    assert ("professional-db", "2GB", "europe-west1") in offered
    async with BoltListener(rig.state):
        made = await agent.data(
            "create_instances", name="mcp", count=3, name_pattern="mcp-{n}", verify=True, **PRO
        )
        assert made["ok"], made["summary"]
        assert made["credentials_ledger"] == store.location
        ids = [item["instance_id"] for item in made["items"]]
        assert all(item["credentials_saved"] for item in made["items"])
        assert all(item["connectable_after_seconds"] is not None for item in made["items"])
        verified = await agent.data("verify_instance", instance_id=ids[0])
        assert verified["server"].startswith("Neo4j/")
    listed = await agent.data("list_instances", name_prefix="mcp-")
    assert listed["count"] == 3
    one = await agent.data("get_instance", instance_id=ids[0])
    assert one["status"] == "running"
    status = await agent.data("fleet_status", name_prefix="mcp-")
    assert [i["status"] for i in status["instances"]] == ["running"] * 3
    paused = await agent.data("pause_instances", instance_ids=ids[:2], confirm=True)
    assert paused["totals"] == {"succeeded": 2}
    waited = await agent.data("wait_for_instances", instance_ids=ids[:2], until="paused")
    assert all(w["done"] and w["status"] == "paused" for w in waited["instances"])
    resumed = await agent.data("resume_instances", instance_ids=ids[:2])
    assert resumed["totals"] == {"succeeded": 2}
    resized = await agent.data("resize_instances", instance_ids=ids[:1], memory="4GB")
    assert resized["items"][0]["outcome"] == "succeeded"
    snap = await agent.data("snapshot_instances", instance_ids=ids[:1])
    assert snap["ok"]
    plan = await agent.data("delete_instances", in_ledger=True, dry_run=True)
    assert sorted(item["instance_id"] for item in plan["items"]) == sorted(ids)
    assert set(rig.names()) == set(ids)  # a dry run deletes nothing
    gone = await agent.data("delete_instances", in_ledger=True, confirm=True)
    assert gone["totals"] == {"succeeded": 3}
    rig.settle()
    assert rig.names() == {}
    recovered = await agent.data("recover")
    assert all(e["state"] == "deleted" for e in recovered["entries"])
    assert agent.seen.leaks() == []

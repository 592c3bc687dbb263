"""MCP tests: the server over an in-process emulator, driven by the ``mcp`` SDK's own client.

The emulator's clock runs 3600 times faster (tests/fleet/conftest.py); the server's client
polls at that pace. Every tool result, progress message and log line a test sees is kept in
``Seen`` and swept for the secrets the emulator issued (its registry).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from aura_async.emulator import secrets
from aura_async.fleet import FileStore
from aura_async.mcp import Guard, build_server
from mcp import Client, types
from tests.fleet.conftest import Rig, RigFactory, make_rig  # noqa: F401 (a fixture)

PRO = {"type": "professional-db", "memory": "2GB", "region": "europe-west1",
       "cloud_provider": "gcp"}  # fmt: skip


@attrs.define
class Seen:
    """Everything the agent's side received: results, progress, log messages."""

    texts: list[str] = attrs.Factory(list)
    progress: list[tuple[float, float | None, str | None]] = attrs.Factory(list)

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append((progress, total, message))
        self.texts.append(message or "")

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.texts.append(json.dumps(params.data, default=str))

    def keep(self, result: types.CallToolResult) -> None:
        for block in result.content:
            self.texts.append(getattr(block, "text", "") or "")
        if result.structured_content is not None:
            self.texts.append(json.dumps(result.structured_content))

    def leaks(self) -> list[str]:
        """Issued secrets found in anything received (passwords, tokens, client secrets)."""
        issued = secrets.issued()
        return sorted({kind for text in self.texts for kind in issued if kind and kind in text})


@attrs.define
class Agent:
    """An MCP client session on the server, recording what it receives."""

    client: Client
    seen: Seen

    async def call(self, tool: str, **arguments: Any) -> types.CallToolResult:
        result = await self.client.call_tool(
            tool, arguments, progress_callback=self.seen.on_progress
        )
        self.seen.keep(result)
        return result

    async def data(self, tool: str, **arguments: Any) -> Any:
        """Call a tool that must succeed; its structured content."""
        result = await self.call(tool, **arguments)
        assert not result.is_error, result.content
        return result.structured_content

    async def error(self, tool: str, **arguments: Any) -> str:
        """Call a tool that must fail; its message."""
        result = await self.call(tool, **arguments)
        assert result.is_error, result.structured_content
        return " ".join(getattr(block, "text", "") for block in result.content)


AgentFactory = Callable[..., Any]


@pytest.fixture
async def make_agent(
    make_rig: RigFactory,  # noqa: F811 (the fleet tests' fixture, imported above)
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Any]]:
    """Build (rig, agent) pairs: an emulator, a server over a client of it, an MCP client."""
    opened: list[Client] = []

    async def factory(
        rig: Rig | None = None,
        *,
        guard: Guard | None = None,
        env_dir: Path | None = None,
        mode: Literal["auto", "legacy"] = "auto",
    ) -> tuple[Rig, Agent, FileStore]:
        rig = rig or await make_rig()
        store = FileStore(tmp_path / f"ledger-{len(opened)}")
        server = build_server(rig.client(), store, guard=guard, env_dir=env_dir)
        seen = Seen()
        client = Client(server, logging_callback=seen.on_log, log_level="debug", mode=mode)
        await client.__aenter__()
        opened.append(client)
        return rig, Agent(client, seen), store

    yield factory
    for client in reversed(opened):
        await client.__aexit__(None, None, None)

"""An MCP (Model Context Protocol) server over the SDK, for AI agents: ``aura-async mcp``.

Agents provision through tools that share one client (one rate budget, waits that learn,
fleets, the write-ahead credential ledger). Passwords, tokens and the client secret never
enter a tool's result, progress or error: created credentials go to the ledger (and ``.env``
files on request) and the agent gets where they are and the variable names. Needs the
optional extra ``aura-async[mcp]`` (the official MCP Python SDK).
"""

from __future__ import annotations

from aura_async.mcp.guard import Guard
from aura_async.mcp.server import build_server

__all__ = ["Guard", "build_server"]

"""The MCP server's tools, each a thin call into the SDK (one client, one ledger).

Every tool's description tells the agent what it does, what it costs, and that no password,
token or secret is ever returned. Errors come back as tool errors (``is_error``) whose text is
the SDK's own one-line message with its hint: nothing is sent for input the SDK refuses.

build_server assembles the server; the tools are in reading.py and changing.py, what they
share (the client, the ledger, the guard rails) in scope.py.
"""

from __future__ import annotations

from pathlib import Path

from mcp.server import MCPServer

from aura_async.client import AuraClient
from aura_async.fleet import CredentialStore
from aura_async.mcp.changing import add_changing_tools
from aura_async.mcp.guard import Guard
from aura_async.mcp.reading import add_reading_tools
from aura_async.mcp.scope import ToolScope

__all__ = ["INSTRUCTIONS", "READ_TOOLS", "WRITE_TOOLS", "build_server"]

INSTRUCTIONS = """\
Provision Neo4j Aura database instances. One client serves every tool: it keeps the account's
rate limit, waits for operations by itself (never poll get_instance in a loop: create, pause,
resume, resize and delete wait until done, reporting progress), and creates many instances at
once. Passwords are NEVER shown to you: create_instances saves them
to the credential ledger (and .env files when asked) and tells you where and under which
environment variable names. Destructive tools (delete_instances, pause_instances, recover with
delete_lost) refuse without confirm=true and then list what they would change. After a crash
or a cancelled call, recover matches the ledger against the project.
"""

READ_TOOLS = (
    "list_projects",
    "get_project",
    "list_instances",
    "get_instance",
    "fleet_status",
    "wait_for_instances",
    "verify_instance",
)
WRITE_TOOLS = (
    "create_instances",
    "pause_instances",
    "resume_instances",
    "resize_instances",
    "snapshot_instances",
    "delete_instances",
    "recover",
)


def build_server(
    aura: AuraClient,
    store: CredentialStore,
    *,
    guard: Guard | None = None,
    env_dir: Path | None = None,
    name: str = "aura-async",
) -> MCPServer:
    """Build the MCP server over an open client and a credential ledger.

    Args:
        aura: the client every tool uses (its rate budget, waits and project).
        store: where create intents and credentials go (a FileStore: the ledger).
        guard: read-only mode and a name prefix; none by default.
        env_dir: where ``create_instances(write_env_files=true)`` writes ``<name>.env``
            files (mode 0600, git-ignored); None refuses that option.
        name: the server's name in the MCP handshake.
    """
    rails = guard or Guard()
    server = MCPServer(name, instructions=INSTRUCTIONS + _limits(aura, rails))
    scope = ToolScope(aura, store, rails, env_dir)
    add_reading_tools(server, scope)
    if rails.read_only:
        return server
    add_changing_tools(server, scope)
    return server


def _limits(aura: AuraClient, rails: Guard) -> str:
    """What this server's instructions add: its rate budget and guard rails."""
    lines = []
    rate = aura.limiter.rate if aura.limiter is not None else None
    if rate is not None:
        lines.append(f"The rate budget is {rate.limit} requests per {rate.period:g} s.")
    if rails.read_only:
        lines.append("This server is read-only: it offers no tool that changes anything.")
    if rails.prefix is not None:
        lines.append(
            f"This server only creates and changes instances whose names start with "
            f"{rails.prefix!r}."
        )
    return "\n".join(lines) + ("\n" if lines else "")

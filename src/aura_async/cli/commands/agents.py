"""Command: ``mcp``, the SDK served to AI agents over the Model Context Protocol."""

from __future__ import annotations

from pathlib import Path

import click

from aura_async.cli.commands._common import pass_runtime, run
from aura_async.cli.runtime import Runtime
from aura_async.errors import ConfigurationError

__all__ = ["register"]

_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


@click.command("mcp")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio (an MCP client starts this command) or streamable HTTP.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="HTTP: the address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="HTTP: the port.")
@click.option(
    "--allow-host",
    "allowed",
    multiple=True,
    metavar="HOST",
    help="HTTP: a Host header (and https/http Origin) to accept besides loopback's; repeat.",
)
@click.option("--read-only", is_flag=True, help="Offer only the tools that change nothing.")
@click.option(
    "--name-prefix",
    metavar="PREFIX",
    help="Tools may only create or change instances whose names start with PREFIX.",
)
@click.option(
    "--env-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where create_instances(write_env_files=true) writes <name>.env files (0600, "
    "git-ignored); without it, that option is refused.",
)
@pass_runtime
def mcp_command(
    rt: Runtime,
    transport: str,
    host: str,
    port: int,
    allowed: tuple[str, ...],
    read_only: bool,
    name_prefix: str | None,
    env_dir: Path | None,
) -> None:
    """Serve the SDK to AI agents over MCP: projects, instances, fleets, waits, recovery.

    Passwords never reach the agent: creates save them to the credential store
    (--credentials-dir) and .env files, and say where. Destructive tools need confirm=true.
    With --emulator the tools run on the embedded emulator: no account needed. Needs
    pip install 'aura-async[mcp]'.
    """
    if name_prefix == "":
        raise click.UsageError("--name-prefix must not be empty")
    # The events are the agent's (as progress), not lines on this process's stderr.
    rt.listeners.append(lambda _event: None)

    async def body() -> None:
        try:
            from mcp.server.transport_security import TransportSecuritySettings

            from aura_async.mcp import Guard, build_server
        except ModuleNotFoundError:
            raise ConfigurationError(
                "the MCP server needs the MCP Python SDK (the mcp package)",
                hint="pip install 'aura-async[mcp]'",
            ) from None
        store = rt.store()
        await store.prepare()
        async with rt.client() as aura:
            server = build_server(
                aura, store, guard=Guard(read_only=read_only, prefix=name_prefix), env_dir=env_dir
            )
            if transport == "stdio":
                await server.run_stdio_async()
                return
            hosts = [*_LOOPBACK, *allowed]
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=[*hosts, *(f"{h}:*" for h in hosts)],
                allowed_origins=[f"{scheme}://{h}{port}" for h in hosts
                                 for scheme in ("http", "https") for port in ("", ":*")],
            )  # fmt: skip
            await server.run_streamable_http_async(
                host=host, port=port, transport_security=security
            )

    run(rt, body)


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    root.add_command(mcp_command)

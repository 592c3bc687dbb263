"""Commands: ``tenant``, ``customer-managed-key`` (``cmk``) and ``graph-analytics session``."""

from __future__ import annotations

import click

from aura_async.cli.runtime import Runtime

__all__ = ["register"]

pass_runtime = click.make_pass_decorator(Runtime)


@click.group()
def tenant() -> None:
    """Projects (Aura calls them tenants in the API)."""


@tenant.command("list")
@pass_runtime
def tenant_list(rt: Runtime) -> None:
    """List the projects this API client can see."""

    async def body() -> None:
        async with rt.client() as aura:
            projects = await aura.tenants.list()
        rt.output.result(projects, columns=["id", "name"])

    rt.run(body)


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    root.add_command(tenant)

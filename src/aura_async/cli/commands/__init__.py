"""The command groups, each in its own module, registered on the root command."""

from __future__ import annotations

import click

from aura_async.cli.commands import (
    agents,
    config,
    credential,
    fleet,
    instance,
    misc,
    resources,
)

__all__ = ["register"]


def register(root: click.Group) -> None:
    """Add every command group to ``root`` (once)."""
    if root.commands:
        return
    for module in (instance, resources, fleet, misc, config, credential, agents):
        module.register(root)

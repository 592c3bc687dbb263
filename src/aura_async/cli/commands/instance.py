"""Commands: (to be written)."""

from __future__ import annotations

import click

__all__ = ["register"]


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""

"""Guard rails of the MCP server: read-only mode, a name prefix, confirmations."""

from __future__ import annotations

import attrs

__all__ = ["Guard", "Refused"]


class Refused(Exception):
    """A tool call the server's guard rails refuse; its message says why and what to do."""


@attrs.frozen
class Guard:
    """What the server lets an agent do.

    Args:
        read_only: only the tools that change nothing are offered.
        prefix: every instance a tool creates or changes must have a name starting with
            this (an agent in CI touches only its own instances); None: any name.
    """

    read_only: bool = False
    prefix: str | None = None

    def check_name(self, name: str) -> None:
        """Refuse a name outside the prefix.

        Raises:
            Refused: so.
        """
        if self.prefix is not None and not name.startswith(self.prefix):
            raise Refused(
                f"this server may only touch instances named {self.prefix!r}...; "
                f"{name!r} is not (start the name with {self.prefix!r})"
            )

    def check_names(self, names: dict[str, str]) -> None:
        """Refuse instances (id -> name) whose names are outside the prefix.

        Raises:
            Refused: naming each.
        """
        if self.prefix is None:
            return
        outside = sorted(f"{i} ({n})" for i, n in names.items() if not n.startswith(self.prefix))
        if outside:
            raise Refused(
                f"this server may only touch instances named {self.prefix!r}...; not "
                f"{', '.join(outside)}"
            )

    def narrowed(self, prefix: str | None) -> str | None:
        """The name prefix a selection must use: the caller's, within the server's.

        Raises:
            Refused: the caller's prefix reaches outside the server's.
        """
        if self.prefix is None:
            return prefix
        if prefix is None:
            return self.prefix
        if not prefix.startswith(self.prefix):
            raise Refused(f"name_prefix must start with {self.prefix!r} on this server")
        return prefix


def confirm_or_refuse(confirm: bool, what: str, plan: list[str]) -> None:
    """Let a destructive call through only with ``confirm``; else say what it would do.

    Raises:
        Refused: without ``confirm``, listing the plan.
    """
    if confirm:
        return
    listed = ", ".join(plan[:50]) + (f" and {len(plan) - 50} more" if len(plan) > 50 else "")
    raise Refused(
        f"{what} would affect {len(plan)} instance(s): {listed or 'none'}. Nothing was "
        "changed: call again with confirm=true to do it"
    )

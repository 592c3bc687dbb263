"""What every tool of one MCP server shares: the client, the ledger and the guard rails
(``ToolScope``: choosing instances, running a fleet call with progress), the parameter
types and annotations of the tools, and the SDK's errors as tool errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated

import attrs
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from aura_async.client import AuraClient
from aura_async.errors import AuraError
from aura_async.fleet import CredentialStore, FleetReport, Selector
from aura_async.mcp.guard import Guard, Refused, confirm_or_refuse
from aura_async.mcp.progress import reporting
from aura_async.mcp.views import FleetView, fleet_view

__all__ = [
    "CHANGE",
    "DESTROY",
    "READ",
    "SECRET_NOTE",
    "Age",
    "Confirm",
    "Glob",
    "Ids",
    "InLedger",
    "Prefix",
    "Timeout",
    "ToolScope",
    "as_tool_errors",
    "plan",
]

SECRET_NOTE = " Never returns a password, token or secret."  # noqa: S105 (a sentence)

READ = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=True)
CHANGE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=True)

Ids = Annotated[
    list[str] | None, Field(description="Exactly these instance ids (8 hex characters each).")
]
Prefix = Annotated[str | None, Field(description="Instances whose names start with this.")]
Glob = Annotated[str | None, Field(description="Instances whose names match this (ci-*).")]
Age = Annotated[
    str | None, Field(description="Instances created longer ago than this: 30m, 2h, 1d.")
]
InLedger = Annotated[
    bool,
    Field(
        description="Only instances in this server's credential ledger (created or adopted "
        "through it, not yet deleted)."
    ),
]
Timeout = Annotated[
    float | None,
    Field(
        description="Seconds to wait at most (per instance); those still under way are "
        "listed in still_pending, to wait for again. Default: the operation's usual limit.",
        ge=0,
    ),
]
Confirm = Annotated[
    bool, Field(description="Must be true to do it; false lists what it would change.")
]


@contextlib.contextmanager
def as_tool_errors() -> Iterator[None]:
    """The SDK's errors and the guard's refusals, as tool errors the agent reads."""
    try:
        yield
    except (AuraError, Refused) as error:
        raise ToolError(str(error)) from None


def plan(chosen: dict[str, str]) -> list[str]:
    """What a confirmation lists: each chosen instance as ``name (id)``."""
    return [f"{name} ({instance_id})" for instance_id, name in sorted(chosen.items())]


@attrs.frozen
class ToolScope:
    """One server's client, ledger and guard rails, and what its tools do with them."""

    aura: AuraClient
    store: CredentialStore
    rails: Guard
    env_dir: Path | None = None

    async def targets(
        self,
        ids: list[str] | None,
        prefix: str | None,
        glob: str | None,
        older_than: str | None,
        in_ledger: bool,
    ) -> dict[str, str]:
        """The instances a call chose (id -> name), within the guard's prefix."""
        narrowed = self.rails.narrowed(prefix)
        criteria = (ids, narrowed, glob, older_than)
        if all(c is None for c in criteria) and not in_ledger:
            raise Refused(
                "choose instances by instance_ids, name_prefix, name_glob, older_than or in_ledger"
            )
        selector = Selector(
            ids=tuple(ids) if ids is not None else None,
            prefix=narrowed,
            glob=glob,
            older_than=older_than,
            ledger=self.store if in_ledger else None,
        )
        chosen = {s.id: s.name for s in await self.aura.fleet.select(selector)}
        if ids is not None:
            missing = sorted(set(ids) - set(chosen))
            only_ids = all(c is None for c in criteria[1:]) and not in_ledger
            if missing and self.rails.prefix is None and only_ids:
                # Perhaps too new to be listed: the fleet call looks them up one by one.
                chosen.update(dict.fromkeys(missing, "(not listed yet)"))
            elif missing and self.rails.prefix is not None:
                raise Refused(
                    f"not found among this server's instances ({self.rails.prefix!r}...): "
                    f"{', '.join(missing)}"
                )
        if not chosen:
            raise Refused("no instance matched the selection; nothing was changed")
        self.rails.check_names(chosen)
        return chosen

    async def change(
        self,
        ctx: Context,
        operation: str,
        chosen_by: tuple[list[str] | None, str | None, str | None, str | None, bool],
        call: Callable[[list[str]], Awaitable[FleetReport]],
        *,
        confirm: bool | None = None,
        wait_tool: str | None = "wait_for_instances",
    ) -> FleetView:
        """Resolve a selection, confirm when asked to, run a fleet call with progress."""
        with as_tool_errors():
            chosen = await self.targets(*chosen_by)
            if confirm is not None:
                confirm_or_refuse(confirm, f"{operation}_instances", plan(chosen))
            async with reporting(ctx, self.aura, operation, len(chosen), ids=set(chosen)):
                report = await call(list(chosen))
        return fleet_view(report, wait_tool=wait_tool)

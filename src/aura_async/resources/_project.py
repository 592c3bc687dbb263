"""The default project when none is configured: the account's only one, found once."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Awaitable, Callable

import anyio

from aura_async._validation import escape_controls
from aura_async.errors import ValidationError
from aura_async.models import ProjectSummary

__all__ = ["HOW_TO_CHOOSE", "DefaultProject"]

logger = logging.getLogger("aura_async")

# How a caller names the project. The command rewords this phrase into its own flags and
# commands (cli/commands/_common.py SDK_PHRASES), so keep the two in step.
HOW_TO_CHOOSE = "AuraClient(tenant_id=ID) or AURA_TENANT_ID=ID"


class DefaultProject:
    """The project used when neither the call nor the client names one.

    With exactly one project on the account, that one; the listing (``GET /tenants``) is
    sent once per client, on first need, and kept (projects are made in the console, not
    through this API, so they do not change under a running client).
    """

    def __init__(self, list_projects: Callable[[], Awaitable[builtins.list[ProjectSummary]]]):
        self._list = list_projects
        self._projects: builtins.list[ProjectSummary] | None = None
        self._lock = anyio.Lock()

    @property
    def known(self) -> str | None:
        """The account's only project's id, if it has been listed already (nothing is sent)."""
        if self._projects is not None and len(self._projects) == 1:
            return self._projects[0].id
        return None

    async def resolve(self) -> str:
        """Return the account's only project's id, listing the projects on first need.

        Raises:
            ValidationError: the account has no project, or several (the message lists
                them, id and name, and how to choose one).
            AuraError: the listing failed (it is tried again on the next call).
        """
        async with self._lock:  # concurrent first calls share one listing
            if self._projects is None:
                self._projects = await self._list()
                if len(self._projects) == 1:
                    only = self._projects[0]
                    logger.info(
                        "using the account's only project %s (%s)",
                        escape_controls(only.id),
                        escape_controls(only.name),
                    )
        projects = self._projects
        if len(projects) == 1:
            return projects[0].id
        if not projects:
            raise ValidationError(
                "No project (tenant) id given, and these credentials see no project",
                field="tenant_id",
                hint="Check that the API credentials belong to a project in the Aura console",
            )
        # Names are the server's text: escaped, so none can forge a line of the message.
        listed = ", ".join(f"{escape_controls(p.id)} ({escape_controls(p.name)})" for p in projects)
        raise ValidationError(
            f"No project (tenant) id given, and these credentials see {len(projects)} "
            f"projects: {listed}",
            field="tenant_id",
            hint=f"Choose one: {HOW_TO_CHOOSE}",
        )

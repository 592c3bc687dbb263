"""What the instance commands share (instance.py, instance_waits.py, snapshot.py): the columns
an instance prints with, and a get that takes "not found" for "gone".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aura_async.client import AuraClient
from aura_async.errors import NotFoundError
from aura_async.models import Instance

__all__ = ["INSTANCE_COLUMNS", "instance_getter"]

INSTANCE_COLUMNS = (
    "id",
    "name",
    "status",
    "type",
    "memory",
    "cloud_provider",
    "region",
    "connection_url",
)


def instance_getter(aura: AuraClient, instance_id: str) -> Callable[[], Awaitable[Instance | None]]:
    """Get one instance; None when it is not found (deleted meanwhile, or never there)."""

    async def get() -> Instance | None:
        try:
            return await aura.instances.get(instance_id)
        except NotFoundError:
            return None

    return get

"""Ready means connectable: the connection check behind ``Instances.verify``
(:func:`~aura_async.lifecycle.connectivity.check_connectable`) and the event it publishes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aura_async.errors import VerifyAuthError, VerifyError, VerifyUnreachableError
from aura_async.lifecycle.connectivity import Connectivity, Login, check_connectable
from aura_async.lifecycle.events import Connectable, VerifyFailed
from aura_async.lifecycle.watcher import Watcher

__all__ = ["connect_and_report"]


async def connect_and_report(
    watcher: Watcher,
    credentials: Login,
    url: str | None,
    *,
    instance_id: str,
    name: object,
    timeout: float | None,
    query: str,
) -> Connectivity:
    """Connect to ``url`` with ``credentials`` and run ``query``, as the watcher's policy
    says; publish :class:`Connectable` or :class:`VerifyFailed` on the watcher.

    Raises:
        ConfigurationError: the driver (``neo4j``) is not installed.
        VerifyAuthError: the password was refused.
        VerifyUnreachableError: nothing accepted a connection before the timeout.
        VerifyError: the driver refused the URL, or the server refused the query.
    """
    began = watcher.now()

    def stamp() -> dict[str, Any]:
        now = watcher.now()
        return {
            "resource_id": instance_id,
            "name": name if isinstance(name, str) else None,
            "at": dt.datetime.now(dt.UTC),
            "monotonic": now,
            "elapsed": now - began,
        }

    try:
        found = await check_connectable(
            url or "",
            credentials.username,
            credentials.password,
            policy=watcher.policy,
            timeout=timeout,
            instance_id=instance_id,
            query=query,
            clock=watcher.now,
        )
    except VerifyError as error:
        reason = (
            "auth"
            if isinstance(error, VerifyAuthError)
            else "unreachable"
            if isinstance(error, VerifyUnreachableError)
            else "error"
        )
        watcher.publish(
            VerifyFailed(reason=reason, message=error.message, attempts=error.attempts, **stamp())
        )
        raise
    watcher.publish(Connectable(attempts=found.attempts, server=found.server, **stamp()))
    return found

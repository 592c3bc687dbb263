"""Whether a database accepts connections: the official Neo4j driver, tried until it does.

"Running" is the API's word; a client's is its first connection. A new instance's address can
lag its status (DNS to publish, the listener to open), so a refused connection or an address
that does not resolve yet is tried again, with growing pauses, until a deadline. A refused
password is never tried again: the second try would be refused too, and repeated failures
lock the user out. Each verdict is its own error with its own hint.

The driver is the optional extra ``aura-async[verify]`` (``neo4j``), used as users' own code
uses it, so "connectable" means what they will see. It runs on asyncio only.
"""

from __future__ import annotations

import logging
import random
import socket
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import anyio
import attrs

from aura_async._version import __version__
from aura_async.errors import (
    ConfigurationError,
    ValidationError,
    VerifyAuthError,
    VerifyError,
    VerifyUnreachableError,
)

__all__ = ["Connectivity", "Login", "check_connectable", "check_login", "load_driver"]

logger = logging.getLogger("aura_async.verify")

#: The query that proves a session works, as the classic provisioning script runs it.
QUERY = "RETURN 1"
# The longest one connection attempt may take before it counts as silence.
_ATTEMPT_LIMIT = 30.0
_GROWTH = 1.5
_SECURITY = "Neo.ClientError.Security."


class Login(Protocol):
    """What a connection needs: a create's answer and the ledger's credentials both have it."""

    @property
    def username(self) -> str:
        """The database user."""
        ...

    @property
    def password(self) -> str:
        """Its password."""
        ...

    @property
    def connection_url(self) -> str | None:
        """The Bolt URI (None when the API has not shown it yet)."""
        ...


@attrs.frozen
class Connectivity:
    """A database that accepted a connection and answered a query.

    Attributes:
        instance_id: the instance verified ("" when the credentials did not say).
        connection_url: the address that answered.
        attempts: connections tried, the successful one included.
        elapsed: seconds from the first attempt to the answer.
        server: the server's agent string (``Neo4j/5.26.0``).
    """

    instance_id: str
    connection_url: str
    attempts: int
    elapsed: float
    server: str


def load_driver() -> ModuleType:
    """Import the official Neo4j driver.

    Raises:
        ConfigurationError: it is not installed (the ``verify`` extra).
    """
    try:
        import neo4j
    except ModuleNotFoundError:
        raise ConfigurationError(
            "verifying a database needs the official Neo4j driver (the neo4j package)",
            hint="pip install 'aura-async[verify]'",
        ) from None
    # The driver logs every refused attempt at ERROR on "neo4j" without a handler of its own,
    # so where the application configured none, Python's last-resort handler prints each to
    # stderr. The verdict is ours to report: a NullHandler (what a library should add) stops
    # only that fallback; handlers the application configured still receive everything.
    driver_log = logging.getLogger("neo4j")
    if not any(isinstance(h, logging.NullHandler) for h in driver_log.handlers):
        driver_log.addHandler(logging.NullHandler())
    return neo4j


def shown(url: str) -> str:
    """The URL fit for a message: any user and password in it left out."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _unresolved(error: BaseException) -> bool:
    """Whether a driver error came from a name that did not resolve."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def check_login(username: str, password: str, instance_id: str = "") -> None:
    """Refuse credentials without a user name or password.

    Raises:
        ValidationError: one of them is empty (or not text).
    """
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise ValidationError(
            f"the credentials of instance {instance_id or '?'} hold no user name or password",
            field="password",
        )


async def _attempt(
    neo4j: ModuleType, url: str, username: str, password: str, query: str, limit: float
) -> str:
    """Connect once, verify, run ``query``; return the server's agent. Driver errors pass."""
    driver = neo4j.AsyncGraphDatabase.driver(
        url,
        auth=(username, password),
        connection_timeout=limit,
        connection_acquisition_timeout=limit,
        max_connection_pool_size=2,
        user_agent=f"aura-async/{__version__}",
    )
    async with driver:
        info = await driver.get_server_info()
        # A session run in auto-commit: the driver's managed retries would hide attempts.
        async with driver.session() as session:
            result = await session.run(query)
            await result.consume()
        return str(info.agent)


async def check_connectable(
    url: str,
    username: str,
    password: str,
    *,
    timeout: float,  # noqa: ASYNC109 (a budget for attempts, not a cancel: it picks the error)
    first_pause: float = 1.0,
    longest_pause: float = 10.0,
    instance_id: str = "",
    query: str = QUERY,
    clock: Callable[[], float] = anyio.current_time,
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
) -> Connectivity:
    """Connect to ``url`` with the driver and run ``query``, trying again until ``timeout``.

    Refused connections, names that do not resolve yet, silence and the server's transient
    errors are tried again after a pause that starts at ``first_pause`` seconds and grows
    to ``longest_pause`` (with jitter); a refused password is not.

    Raises:
        ConfigurationError: the driver is not installed.
        ValidationError: no URL, user name or password to connect with; nothing was tried.
        VerifyAuthError: the database refused the user name and password (tried once).
        VerifyUnreachableError: no connection was made before ``timeout`` seconds.
        VerifyError: the driver refused the URL, or the server refused the query.
    """
    if not url:
        raise ValidationError(
            f"instance {instance_id or '?'} has no connection URL to verify",
            field="connection_url",
            hint="Wait until it runs (the API shows the address by then) and try again",
        )
    check_login(username, password, instance_id)
    neo4j = load_driver()
    exceptions = neo4j.exceptions
    where = shown(url)
    began = clock()
    deadline = began + timeout
    attempts = 0
    pause = first_pause
    last = "nothing answered"

    def failure(kind: type[VerifyError], message: str) -> VerifyError:
        return kind(
            message,
            instance_id=instance_id,
            connection_url=where,
            attempts=attempts,
            elapsed=clock() - began,
        )

    while True:
        attempts += 1
        # At least a second each: a deadline nearly spent still gets one fair attempt.
        limit = min(_ATTEMPT_LIMIT, max(1.0, deadline - clock()))
        try:
            with anyio.fail_after(limit + 1.0):
                server = await _attempt(neo4j, url, username, password, query, limit)
        except exceptions.AuthError as error:
            raise failure(
                VerifyAuthError,
                f"instance {instance_id or where} refused the user {username!r} and its "
                f"password ({error.code or 'unauthorized'})",
            ) from None
        except (exceptions.ConfigurationError, ValueError) as error:
            raise failure(
                VerifyError, f"the driver cannot use the connection URL {where}: {error}"
            ) from None
        except exceptions.Neo4jError as error:
            if (error.code or "").startswith(_SECURITY):
                # After repeated refusals Neo4j answers AuthenticationRateLimit, a plain
                # ClientError to the driver: the password is the matter all the same.
                raise failure(
                    VerifyAuthError,
                    f"instance {instance_id or where} refused the user {username!r} ({error.code})",
                ) from None
            if not error.is_retryable():
                raise failure(
                    VerifyError,
                    f"instance {instance_id or where} accepted the connection but not the "
                    f"query {query!r} ({error.code}: {error.message})",
                ) from None
            last = f"the server answered {error.code}"
        except (exceptions.DriverError, OSError, TimeoutError) as error:
            if _unresolved(error):
                last = "the address does not resolve"
            elif isinstance(error, TimeoutError):
                last = f"no answer within {limit:.0f} s"
            else:
                last = "the connection was refused or closed"
            logger.debug("verify %s: attempt %d: %s", where, attempts, error)
        else:
            return Connectivity(instance_id, where, attempts, clock() - began, server)
        wait = min(pause, longest_pause) * random.uniform(0.5, 1.0)
        if clock() + wait >= deadline:
            raise failure(
                VerifyUnreachableError,
                f"instance {instance_id or where} did not accept a connection at {where} "
                f"within {timeout:.0f} s ({attempts} attempts; last: {last})",
            )
        await sleep(wait)
        pause *= _GROWTH

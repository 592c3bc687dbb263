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

import asyncio
import logging
import random
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from types import ModuleType
from typing import Any, Literal, Protocol
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
from aura_async.lifecycle.operations import PollPolicy

__all__ = [
    "Connectivity",
    "Login",
    "check_connectable",
    "check_login",
    "classify",
    "load_driver",
    "shown",
]

logger = logging.getLogger("aura_async.verify")

#: The query that proves a session works, as the classic provisioning script runs it.
QUERY = "RETURN 1"
# The longest one connection attempt may take before it counts as silence.
_ATTEMPT_LIMIT = 30.0
_GROWTH = 1.5
# However short the policy's pauses (a compressed clock's), a connection attempt is real.
_SHORTEST_PAUSE = 0.01
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
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, its causes and contexts, and the members of its exception groups.

    The driver wraps what went wrong: a routing failure holds an ExceptionGroup of each
    address's error, each holding the socket's.
    """
    seen: set[int] = set()
    stack = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _innermost(error: BaseException, password: str) -> str:
    """The deepest cause's words, for a message: one line, bounded, the password masked."""
    deepest = list(_chain(error))[-1]
    text = f"{type(deepest).__name__}: {deepest}" if str(deepest) else type(deepest).__name__
    if password:
        text = text.replace(password, "********")
    return " ".join(text.split())[:300]


Verdict = Literal["auth", "retry", "final", "busy"]


def classify(error: Exception, exceptions: ModuleType, password: str = "") -> tuple[Verdict, str]:
    """What a driver error says of the database: a refused password (``auth``), something
    an address that lags may stop doing (``retry``), a server that answered with a
    transient error (``busy``, retried too), or a verdict no retry can change (``final``);
    and its description for people (the password masked).
    """
    chain = list(_chain(error))
    code = getattr(error, "code", None) or ""
    if isinstance(error, exceptions.AuthError):
        return "auth", f"refused ({code or 'unauthorized'})"
    # The driver's own judgement of a server's answer (Neo4jError.is_retryable).
    transient = bool(getattr(error, "is_retryable", lambda: False)())
    if isinstance(error, exceptions.Neo4jError) and code.startswith(_SECURITY) and not transient:
        # After repeated refusals Neo4j answers AuthenticationRateLimit, a plain ClientError
        # to the driver: the password is the matter all the same.
        return "auth", f"refused ({code})"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return "final", f"its TLS certificate is not trusted ({_innermost(error, password)})"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "retry", "the address does not resolve"
    if isinstance(error, exceptions.Neo4jError):
        verdict: Verdict = "busy" if transient else "final"
        said = error.message or ""
        if password:
            said = said.replace(password, "********")
        return verdict, f"the server answered {code}: {said}"
    if isinstance(error, exceptions.ConfigurationError | ValueError):
        return "final", f"the driver cannot use the URL ({_innermost(error, password)})"
    if any(isinstance(e, TimeoutError) for e in chain) or "timed out" in str(error).lower():
        return "retry", "no answer (timed out)"
    if isinstance(error, exceptions.DriverError | OSError):
        return "retry", "the connection was refused or reset"
    return "final", f"the driver failed ({_innermost(error, password)})"


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
    """Connect once, verify, run ``query``; return the server's agent.

    Raises whatever the driver raises (``neo4j.exceptions`` errors, ``OSError``,
    ``ValueError``, its private protocol errors): :func:`classify` judges them.
    """
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


def _check_target(url: str, username: str, password: str, instance_id: str) -> None:
    """Refuse, before trying anything, what cannot be verified.

    Raises:
        ValidationError: no URL, user name or password, or a URL holding a user or password.
    """
    if not url:
        raise ValidationError(
            f"instance {instance_id or '?'} has no connection URL to verify",
            field="connection_url",
            hint="Wait until it runs (the API shows the address by then) and try again",
        )
    check_login(username, password, instance_id)
    if "@" in urlsplit(url).netloc:
        raise ValidationError(
            f"the connection URL of instance {instance_id or '?'} holds a user name or "
            "password: give them apart",
            field="connection_url",
        )


def _check_on_asyncio() -> None:
    """Refuse to verify from another event loop (trio): the driver runs on asyncio only.

    Raises:
        ConfigurationError: no asyncio loop is running.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise ConfigurationError(
            "the Neo4j driver runs on asyncio only", hint="Verify from an asyncio event loop"
        ) from None


async def check_connectable(
    url: str,
    username: str,
    password: str,
    *,
    policy: PollPolicy | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 (a budget for attempts: it picks the error)
    instance_id: str = "",
    query: str = QUERY,
    clock: Callable[[], float] = anyio.current_time,
    sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
) -> Connectivity:
    """Connect to ``url`` with the driver and run ``query``, trying again until ``timeout``
    (``policy.verify_timeout`` when None).

    Refused connections, names that do not resolve yet, silence and the server's transient
    errors are tried again after a pause that starts at ``policy.min_interval`` and grows
    to a third of its ``max_interval`` (with jitter; 10 ms at the least); a refused password, an
    untrusted certificate and a URL the driver refuses are not. Messages name the driver's
    deepest cause, never the password.

    Raises:
        ConfigurationError: the driver is not installed.
        ValidationError: no URL, user name or password to connect with; nothing was tried.
        VerifyAuthError: the database refused the user name and password (tried once).
        VerifyUnreachableError: no connection was made before ``timeout`` seconds.
        VerifyError: the driver refused the URL, the certificate was not trusted, the
            server refused the query or answered only transient errors until the timeout.
    """
    _check_target(url, username, password, instance_id)
    neo4j = load_driver()
    _check_on_asyncio()
    where = shown(url)
    policy = policy or PollPolicy()
    if timeout is None:
        timeout = policy.verify_timeout
    longest_pause = max(policy.min_interval, policy.max_interval / 3)
    began = clock()
    deadline = began + timeout
    attempts = 0
    pause = policy.min_interval
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
        except Exception as error:  # any driver failure is judged here; cancellation passes
            verdict, last = classify(error, neo4j.exceptions, password)
            logger.debug("verify %s: attempt %d: %s: %s", where, attempts, verdict, last)
            who = f"instance {instance_id or where}"
            if verdict == "auth":
                raise failure(
                    VerifyAuthError, f"{who} refused the user {username!r} and its password: {last}"
                ) from None
            if verdict == "final":
                raise failure(
                    VerifyError, f"{who} could not be verified at {where}: {last}"
                ) from None
            answered = verdict == "busy"
        else:
            return Connectivity(instance_id, where, attempts, clock() - began, server)
        wait = max(_SHORTEST_PAUSE, min(pause, longest_pause) * random.uniform(0.5, 1.0))
        if clock() + wait >= deadline:
            if answered:
                raise failure(
                    VerifyError,
                    f"{who} accepted connections at {where} but answered none of {attempts} "
                    f"queries within {timeout:.0f} s (last: {last})",
                )
            raise failure(
                VerifyUnreachableError,
                f"{who} did not accept a connection at {where} within {timeout:.0f} s "
                f"({attempts} attempts; last: {last})",
            )
        await sleep(wait)
        pause *= _GROWTH

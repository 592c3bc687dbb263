"""How verify judges the driver's errors: the real ``neo4j`` exception classes, built the way
the driver raises them (a routing failure wraps a group of each address's error, each wrapping
the socket's), judged by :func:`aura_async.lifecycle.connectivity.classify`."""

from __future__ import annotations

import socket
import ssl

import neo4j
import pytest
from neo4j import exceptions

from aura_async.lifecycle.connectivity import classify, shown

PASSWORD = "s3cret-pw"


def raised(error: BaseException, cause: BaseException | None) -> BaseException:
    """``error`` as ``raise error from cause`` leaves it."""
    error.__cause__ = cause
    return error


def server_error(code: str, message: str = "m") -> exceptions.Neo4jError:
    return exceptions.Neo4jError._hydrate_neo4j(code=code, message=message)


def routing_failure(inner: BaseException) -> BaseException:
    unavailable = raised(exceptions.ServiceUnavailable("Couldn't connect to a:7687"), inner)
    group = ExceptionGroup("addresses", [unavailable])  # type: ignore[type-var]
    return raised(exceptions.ServiceUnavailable("Unable to retrieve routing information"), group)


@pytest.mark.parametrize(
    ("error", "verdict", "words"),
    [
        (exceptions.AuthError("no"), "auth", "refused"),
        (
            server_error("Neo.ClientError.Security.AuthenticationRateLimit"),
            "auth",
            "AuthenticationRateLimit",
        ),
        (routing_failure(ConnectionRefusedError(111, "refused")), "retry", "refused or reset"),
        (routing_failure(ConnectionResetError(104, "reset")), "retry", "refused or reset"),
        (routing_failure(socket.gaierror(-2, "Name or service not known")), "retry", "resolve"),
        # The driver's other DNS path: a ValueError, not a URL it cannot use.
        (
            raised(ValueError("Cannot resolve address"), socket.gaierror(-5, "no data")),
            "retry",
            "resolve",
        ),
        (
            exceptions.ServiceUnavailable("Timed out trying to establish connection"),
            "retry",
            "timed out",
        ),
        (TimeoutError(), "retry", "timed out"),
        (
            routing_failure(ssl.SSLCertVerificationError(1, "certificate verify failed")),
            "final",
            "TLS certificate",
        ),
        (server_error("Neo.TransientError.General.DatabaseUnavailable"), "busy", "answered"),
        (server_error("Neo.ClientError.Statement.SyntaxError"), "final", "SyntaxError"),
        (exceptions.ConfigurationError("bad scheme"), "final", "cannot use the URL"),
        (ValueError("Unknown URI scheme"), "final", "cannot use the URL"),
        # A private protocol error of the driver, or anything else: final, never raw.
        (RuntimeError("protocol"), "final", "driver failed (RuntimeError: protocol)"),
    ],
)
def test_each_driver_error_gets_its_verdict(error: Exception, verdict: str, words: str) -> None:
    judged, text = classify(error, neo4j.exceptions, PASSWORD)
    assert judged == verdict
    assert words in text


def test_the_driver_s_words_never_carry_the_password() -> None:
    error = exceptions.ConfigurationError(f"Given URI: 'neo4j://neo4j:{PASSWORD}@host'")
    _, text = classify(error, neo4j.exceptions, PASSWORD)
    assert PASSWORD not in text
    assert "********" in text


@pytest.mark.parametrize(
    ("url", "seen"),
    [
        ("neo4j+s://abcd1234.databases.neo4j.io", "neo4j+s://abcd1234.databases.neo4j.io"),
        ("neo4j://neo4j:pw@host:7687?x=1", "neo4j://host:7687?x=1"),
        ("bolt://user@[::1]:7687", "bolt://[::1]:7687"),
    ],
)
def test_urls_in_messages_lose_their_user_and_password(url: str, seen: str) -> None:
    assert shown(url) == seen

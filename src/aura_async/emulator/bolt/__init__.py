"""The emulator's database side: a Bolt listener the official ``neo4j`` driver connects to.

One loopback port serves every instance. A connection names its instance by the routing
context of its URI (``neo4j://127.0.0.1:PORT?instance=ID``, the ``connection_url`` the API
shows while the listener runs; the driver sends URI query parameters with every HELLO and
ROUTE) or, over ``bolt://127.0.0.1:PORT`` (no routing context), by its password alone,
which must be the password of exactly one existing instance. The user is ``neo4j`` and the
password the one the create answer gave.

An instance is connectable while ``running`` (or ``updating``/``resizing``: online
operations) and at least ``EmulatorConfig.bolt_delay`` emulated seconds after it last
became running. Otherwise the connection is reset (SO_LINGER 0) without an answer to the
message that named the instance (HELLO, or LOGON over ``bolt://``), and to every later
message once the instance stops being connectable (paused, deleted). The driver raises
``ServiceUnavailable`` on ``neo4j://`` (routing discovery fails); on ``bolt://`` it raises
``SessionExpired``, its class for a connection lost while it opens (the instance is known
only after the handshake, and the driver attaches a connection to its direct pool only once
opened). Both are retryable (``is_retryable()``). A wrong password is refused as Neo4j
refuses it (``Neo.ClientError.Security.Unauthorized``: the driver's ``AuthError``), and the
connection closed.

Only trivial queries are answered: ``RETURN <integer|float|'string'|true|false|null> [AS
name]``; anything else fails with ``Neo.ClientError.Statement.RuntimeUnsupportedError``.
Bolt 5.1 to 5.4 are spoken: HELLO, LOGON, LOGOFF, ROUTE, RUN, PULL, DISCARD, BEGIN, COMMIT
(with a bookmark), ROLLBACK, RESET, TELEMETRY and GOODBYE.

Modules: :mod:`.packstream` (the value encoding), :mod:`.messages` (handshake, framing),
:mod:`.query` (the trivial queries), :mod:`.gate` (which instance is connectable),
:mod:`.session` (one connection's state machine), :mod:`.stats` (counters),
:mod:`.listener` (the socket server in its thread).
"""

from __future__ import annotations

from aura_async.emulator.bolt.listener import BoltListener
from aura_async.emulator.bolt.stats import BoltStats

__all__ = ["BoltListener", "BoltStats"]

"""One Bolt connection's server state machine (Bolt 5.1-5.4), with no I/O.

:meth:`BoltSession.handle` takes one message and returns a :class:`Reply`: the messages to
send and what to do with the connection next (go on, close after sending, or reset it at
once without an answer). The states are Bolt's::

    CONNECTED --HELLO--> AUTHENTICATION --LOGON--> READY
    READY --RUN--> STREAMING --PULL/DISCARD (all)--> READY
    READY --BEGIN--> TX_READY --RUN--> TX_STREAMING --PULL/DISCARD (all)--> TX_READY
    TX_READY/TX_STREAMING --COMMIT/ROLLBACK--> READY
    READY --LOGOFF--> AUTHENTICATION
    any FAILURE --> FAILED: every message IGNORED until RESET --> READY

Which instance the connection is for comes from the ``instance`` key of HELLO's routing
context (``neo4j://host:port?instance=ID``); without one (``bolt://``), from LOGON's
password, which must then match exactly one existing instance. The instance must be
connectable (see :mod:`.gate`) when it is named, at LOGON and before every later message;
when it is not, the connection is reset unanswered (the driver raises ``ServiceUnavailable``
on ``neo4j://``, ``SessionExpired`` on ``bolt://``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Literal, Protocol

import attrs

from aura_async.emulator.bolt.messages import Message, Signature
from aura_async.emulator.bolt.query import Literal as Value
from aura_async.emulator.bolt.query import parse_query
from aura_async.emulator.bolt.stats import StatsBook

__all__ = [
    "AGENT",
    "ROUTING_TTL",
    "BoltSession",
    "Gate",
    "Reply",
    "State",
]

#: The server agent HELLO announces: a Neo4j 5 LTS, as Aura runs.
AGENT = "Neo4j/5.26.0"
#: How long, in seconds, the driver may keep a routing table.
ROUTING_TTL = 300
DEFAULT_DATABASE = "neo4j"
_DATABASES = (DEFAULT_DATABASE, "system")

UNAUTHORIZED = "Neo.ClientError.Security.Unauthorized"
RATE_LIMITED = "Neo.ClientError.Security.AuthenticationRateLimit"
RATE_LIMITED_MESSAGE = (
    "The client has provided incorrect authentication details too many times in a row."
)
UNAUTHORIZED_MESSAGE = "The client is unauthorized due to authentication failure."
INVALID = "Neo.ClientError.Request.Invalid"
NOT_FOUND = "Neo.ClientError.Database.DatabaseNotFound"
#: Neo4j's code for a query the chosen runtime cannot run: the emulator's "runtime" runs
#: ``RETURN <literal>`` only.
UNSUPPORTED = "Neo.ClientError.Statement.RuntimeUnsupportedError"
UNSUPPORTED_MESSAGE = (
    "The Aura emulator answers only trivial queries, RETURN followed by one integer, float, "
    "'string', true, false or null, optionally AS a name; it keeps no graph. Got: {query}"
)


class State(enum.Enum):
    """Bolt's server states (5.1+)."""

    CONNECTED = "CONNECTED"
    AUTHENTICATION = "AUTHENTICATION"
    READY = "READY"
    STREAMING = "STREAMING"
    TX_READY = "TX_READY"
    TX_STREAMING = "TX_STREAMING"
    FAILED = "FAILED"


class Gate(Protocol):
    """What a session asks of the emulated service (:class:`.gate.InstanceGate`)."""

    def verdict(self, instance_id: str) -> Literal["open", "closed", "unknown"]:
        """Whether the instance is connectable now."""
        ...

    def authenticate(
        self, instance_id: str, principal: object, credentials: object
    ) -> Literal["ok", "refused", "locked"]:
        """Whether these are the instance's user and password, or the user is locked out."""
        ...

    def find_by_password(self, credentials: object) -> str | None:
        """The one instance with this password, if exactly one."""
        ...


@attrs.frozen
class Reply:
    """What to send in answer to one message, and what then becomes of the connection.

    ``then``: ``continue`` reading; ``close`` once the messages are sent; ``abort``: reset
    the connection at once (SO_LINGER 0) without sending anything.
    """

    messages: tuple[Message, ...] = ()
    then: Literal["continue", "close", "abort"] = "continue"


@attrs.define
class _Result:
    """A query's records not yet pulled."""

    records: list[list[Value]]


def _success(metadata: dict[str, Any] | None = None) -> Message:
    return Message(Signature.SUCCESS, (metadata or {},))


def _failure(code: str, message: str) -> Message:
    # Bolt 5.1-5.4 carry Neo4j's status code and message (5.7 moved to GQL fields).
    return Message(Signature.FAILURE, ({"code": code, "message": message},))


_IGNORED = Message(Signature.IGNORED)


def _extra(fields: tuple[Any, ...], index: int) -> dict[str, Any]:
    value = fields[index] if len(fields) > index else None
    return value if isinstance(value, dict) else {}


class BoltSession:
    """The server side of one Bolt connection.

    Args:
        gate: where instances are looked up.
        stats: where the counters go.
        address: the listener's ``host:port``, for routing tables.
        connection_id: the id HELLO's answer carries (``bolt-7``).
    """

    def __init__(self, gate: Gate, stats: StatsBook, *, address: str, connection_id: str) -> None:
        self.gate = gate
        self.stats = stats
        self.address = address
        self.connection_id = connection_id
        self.state = State.CONNECTED
        self.instance_id: str | None = None
        # True when HELLO's routing context named the instance; else LOGON's password did,
        # and a LOGOFF forgets it.
        self.named = False
        self._results: dict[int, _Result] = {}
        self._next_qid = 0
        self._last_qid = -1
        self._transactions = 0

    # ------------------------------------------------------------------ entry

    def handle(self, message: Message) -> Reply:
        """Answer one message (see the module's state diagram). Never raises for bad input:
        a malformed message is answered with ``Neo.ClientError.Request.Invalid``."""
        signature = message.signature
        if signature == Signature.GOODBYE:
            return Reply(then="close")
        if self.state is State.CONNECTED:
            if signature != Signature.HELLO:
                return Reply(then="close")  # a protocol violation: Neo4j hangs up too
            return self._hello(message)
        if self.state is State.AUTHENTICATION:
            if signature == Signature.LOGON:
                return self._logon(message)
            if signature == Signature.RESET:
                return Reply((_success(),))
            return self._fail(INVALID, self._misplaced(message), close=True)
        if self.instance_id is None or self.gate.verdict(self.instance_id) != "open":
            # Paused, deleted or otherwise gone since LOGON: the database went away.
            return Reply(then="abort")
        if signature == Signature.RESET:
            self._clear()
            self.state = State.READY
            return Reply((_success(),))
        if self.state is State.FAILED:
            return Reply((_IGNORED,))
        try:
            return self._dispatch(message)
        except (TypeError, ValueError, IndexError) as exc:
            return self._fail(INVALID, f"Invalid {message.name} message: {exc}")

    def _dispatch(self, message: Message) -> Reply:
        handlers: dict[int, Callable[[Message], Reply]] = {
            Signature.RUN: self._run,
            Signature.PULL: self._pull,
            Signature.DISCARD: self._pull,
            Signature.BEGIN: self._begin,
            Signature.COMMIT: self._commit,
            Signature.ROLLBACK: self._rollback,
            Signature.ROUTE: self._route,
            Signature.TELEMETRY: self._telemetry,
            Signature.LOGOFF: self._logoff,
        }
        handler = handlers.get(message.signature)
        if handler is None:
            return self._fail(INVALID, f"Unknown message {message.name}.")
        return handler(message)

    # -------------------------------------------------------------- helpers

    def _fail(self, code: str, text: str, *, close: bool = False) -> Reply:
        self.state = State.FAILED
        self._clear()
        return Reply((_failure(code, text),), then="close" if close else "continue")

    def _misplaced(self, message: Message) -> str:
        return (
            f"Message '{message.name}' cannot be handled by a session in the "
            f"{self.state.value} state."
        )

    def _clear(self) -> None:
        self._results.clear()
        self._next_qid = 0
        self._last_qid = -1

    def _bookmark(self) -> str:
        self._transactions += 1
        return f"FB:aura-emulator:{self.connection_id}:{self._transactions}"

    def _database(self, extra: dict[str, Any]) -> str | None:
        """The database a message names, or None when Neo4j would not find it."""
        database = extra.get("db") or DEFAULT_DATABASE
        return database if database in _DATABASES else None

    def _not_found(self, extra: dict[str, Any]) -> Reply:
        return self._fail(NOT_FOUND, f"Graph not found: {extra.get('db')}")

    def _refuse(self, instance_id: str) -> Reply:
        self.stats.add(instance_id, "refused")
        return Reply(then="abort")

    # ----------------------------------------------------------- connection

    def _hello(self, message: Message) -> Reply:
        extra = _extra(message.fields, 0)
        routing = extra.get("routing")
        if isinstance(routing, dict) and isinstance(routing.get("instance"), str):
            self.instance_id, self.named = routing["instance"], True
            self.stats.add(self.instance_id, "connections")
            if self.gate.verdict(self.instance_id) != "open":
                return self._refuse(self.instance_id)
        self.state = State.AUTHENTICATION
        return Reply(
            (
                _success(
                    {"server": AGENT, "connection_id": self.connection_id, "hints": {}},
                ),
            )
        )

    def _unauthorized(self, text: str = UNAUTHORIZED_MESSAGE) -> Reply:
        # Neo4j answers a failed LOGON and then hangs up.
        self.stats.add(self.instance_id, "auth_failures")
        return self._fail(UNAUTHORIZED, text, close=True)

    def _logon(self, message: Message) -> Reply:
        auth = _extra(message.fields, 0)
        principal, credentials = auth.get("principal"), auth.get("credentials")
        if not self.named:
            self.instance_id = self.gate.find_by_password(credentials)
            if self.instance_id is not None:
                self.stats.add(self.instance_id, "connections")
        if self.instance_id is not None and self.gate.verdict(self.instance_id) != "open":
            return self._refuse(self.instance_id)
        if auth.get("scheme") != "basic":
            return self._unauthorized(
                f"Unsupported authentication token, scheme '{auth.get('scheme')}' is not supported."
            )
        if self.instance_id is None:
            return self._unauthorized()
        login = self.gate.authenticate(self.instance_id, principal, credentials)
        if login == "locked":
            self.stats.add(self.instance_id, "auth_failures")
            return self._fail(RATE_LIMITED, RATE_LIMITED_MESSAGE, close=True)
        if login == "refused":
            return self._unauthorized()
        self.stats.add(self.instance_id, "logons")
        self.state = State.READY
        return Reply((_success(),))

    def _logoff(self, message: Message) -> Reply:
        if self.state is not State.READY:
            return self._fail(INVALID, self._misplaced(message))
        if not self.named:
            self.instance_id = None
        self.state = State.AUTHENTICATION
        return Reply((_success(),))

    def _telemetry(self, message: Message) -> Reply:
        if self.state is not State.READY:
            return self._fail(INVALID, self._misplaced(message))
        return Reply((_success(),))

    def _route(self, message: Message) -> Reply:
        if self.state is not State.READY:
            return self._fail(INVALID, self._misplaced(message))
        # Bolt 4.4+ sends {db, imp_user}; 4.3 sent the database name alone.
        raw = message.fields[2] if len(message.fields) > 2 else None
        extra = {"db": raw} if isinstance(raw, str) else _extra(message.fields, 2)
        database = self._database(extra)
        if database is None:
            return self._not_found(extra)
        servers = [{"addresses": [self.address], "role": r} for r in ("WRITE", "READ", "ROUTE")]
        table = {"ttl": ROUTING_TTL, "db": database, "servers": servers}
        return Reply((_success({"rt": table}),))

    # -------------------------------------------------------------- queries

    def _run(self, message: Message) -> Reply:
        if self.state not in (State.READY, State.TX_READY, State.TX_STREAMING):
            return self._fail(INVALID, self._misplaced(message))
        query = message.fields[0]
        if not isinstance(query, str):
            raise TypeError("the query must be a string")
        extra = _extra(message.fields, 2)
        if self.state is State.READY and self._database(extra) is None:
            return self._not_found(extra)
        parsed = parse_query(query)
        if parsed is None:
            shown = query if len(query) <= 200 else query[:200] + "..."
            return self._fail(UNSUPPORTED, UNSUPPORTED_MESSAGE.format(query=shown))
        self.stats.add(self.instance_id, "queries")
        metadata: dict[str, Any] = {"fields": [parsed.field], "t_first": 0}
        if self.state is State.READY:
            self._results = {-1: _Result([[parsed.value]])}
            self.state = State.STREAMING
        else:
            qid = self._next_qid
            self._next_qid += 1
            self._results[qid] = _Result([[parsed.value]])
            self._last_qid = qid
            metadata["qid"] = qid
            self.state = State.TX_STREAMING
        return Reply((_success(metadata),))

    def _pull(self, message: Message) -> Reply:
        if self.state not in (State.STREAMING, State.TX_STREAMING):
            return self._fail(INVALID, self._misplaced(message))
        extra = _extra(message.fields, 0)
        n, qid = extra.get("n", -1), extra.get("qid", -1)
        if isinstance(n, bool) or not isinstance(n, int) or not (n == -1 or n > 0):
            raise ValueError(f"n must be -1 or a positive integer, got {n!r}")
        if isinstance(qid, bool) or not isinstance(qid, int):
            raise ValueError(f"qid must be an integer, got {qid!r}")
        # Outside a transaction there is one result (kept under -1); inside, -1 means the
        # latest query's.
        key = qid if qid != -1 else self._last_qid
        if self.state is State.STREAMING:
            key = -1
        result = self._results.get(key)
        if result is None:
            return self._fail(INVALID, f"No open result for qid {qid}.")
        count = len(result.records) if n == -1 else n
        taken, result.records = result.records[:count], result.records[count:]
        sent = (
            tuple(Message(Signature.RECORD, (record,)) for record in taken)
            if message.signature == Signature.PULL
            else ()
        )
        if result.records:
            return Reply((*sent, _success({"has_more": True})))
        del self._results[key]
        summary: dict[str, Any] = {"type": "r", "t_last": 0, "db": DEFAULT_DATABASE}
        if self.state is State.STREAMING:
            summary["bookmark"] = self._bookmark()  # an auto-commit transaction ended
            self.state = State.READY
        elif not self._results:
            self.state = State.TX_READY
        return Reply((*sent, _success(summary)))

    # --------------------------------------------------------- transactions

    def _begin(self, message: Message) -> Reply:
        if self.state is not State.READY:
            return self._fail(INVALID, self._misplaced(message))
        extra = _extra(message.fields, 0)
        if self._database(extra) is None:
            return self._not_found(extra)
        self._clear()
        self.state = State.TX_READY
        return Reply((_success(),))

    def _commit(self, message: Message) -> Reply:
        if self.state not in (State.TX_READY, State.TX_STREAMING):
            return self._fail(INVALID, self._misplaced(message))
        self._clear()
        self.state = State.READY
        return Reply((_success({"bookmark": self._bookmark()}),))

    def _rollback(self, message: Message) -> Reply:
        if self.state not in (State.TX_READY, State.TX_STREAMING):
            return self._fail(INVALID, self._misplaced(message))
        self._clear()
        self.state = State.READY
        return Reply((_success(),))

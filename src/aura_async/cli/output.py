"""How the command prints: a table for people, one JSON document, or JSON lines for pipes.

The shapes are stable: what ``--output json`` prints for a resource is the API's own field
names (snake_case) for it, a fleet call prints its report (``FleetReport.to_json``), and
``--output jsonl`` prints the result as one JSON object per line: each instance of a
listing, each item of a fleet call, or the one object a command returns; with ``--events``,
each event as it happens too (``to_json(event)``, with its ``kind``; data lines have none).
Passwords appear only with ``--show-password``.

Whatever a user or the server wrote (names, messages, table cells, event lines) is printed
with its control characters escaped (:func:`safe`): a name holding a newline shows as
``a\\nb`` on one line and cannot forge a line of the event log, and no BEL or escape sequence
reaches the terminal. JSON output is escaped by ``json.dumps`` already.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aura_async._validation import escape_controls
from aura_async.lifecycle.events import to_json

__all__ = ["Output", "OutputMode", "plain", "safe"]

OutputMode = Literal["table", "json", "jsonl"]
_SECRET_FIELDS = frozenset({"password"})
_HIDDEN = "(hidden: --show-password)"
_PIPE_WIDTH = 400


def safe(text: object) -> str:
    """``str(text)`` on one line: control, format and line-separator characters escaped."""
    return escape_controls(str(text))


def plain(value: Any, *, show_password: bool = False) -> Any:
    """Turn models, enums, datetimes and containers into JSON values; hide passwords."""
    if attrs.has(type(value)):
        return {
            field.name: (
                plain(getattr(value, field.name), show_password=show_password)
                if show_password or field.name not in _SECRET_FIELDS
                else None
            )
            for field in attrs.fields(type(value))
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): plain(v, show_password=show_password) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, show_password=show_password) for v in value]
    return value


class Output:
    """The printer of one invocation.

    Args:
        mode: ``table``, ``json`` or ``jsonl``.
        quiet: print nothing but errors (and the result in json/jsonl modes).
        show_password: print one-time passwords (never by default).
        events: in jsonl mode, print each event as a line too (``--events``).
        console: where tables go (stdout); ``errors``: where messages go (stderr).
    """

    def __init__(
        self,
        mode: OutputMode = "table",
        *,
        quiet: bool = False,
        show_password: bool = False,
        events: bool = False,
        console: Console | None = None,
        errors: Console | None = None,
    ) -> None:
        self.mode = mode
        self.quiet = quiet
        self.show_password = show_password
        self.events = events
        # Piped, a table is read by scripts and greps: as wide as its rows, never wrapped
        # mid-id (rich would assume 80 columns).
        piped = not sys.stdout.isatty()
        self.console = console or Console(soft_wrap=True, width=_PIPE_WIDTH if piped else None)
        self.errors = errors or Console(stderr=True, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        """Whether live displays make sense: a terminal, table mode, not quiet."""
        return self.mode == "table" and not self.quiet and self.console.is_terminal

    def data(self, value: Any) -> Any:
        """The JSON value of a result, passwords hidden unless asked for."""
        return plain(value, show_password=self.show_password)

    def result(
        self,
        value: Any,
        *,
        columns: Sequence[str] | None = None,
        title: str | None = None,
        message: str | Sequence[str] | None = None,
    ) -> None:
        """Print a command's result: a table of ``columns`` (or a message), or JSON.

        ``message`` is one line, or a sequence of lines; each is escaped (:func:`safe`).
        """
        data = self.data(value)
        if self.mode == "json":
            self._write(json.dumps(data, indent=2, sort_keys=True))
            return
        if self.mode == "jsonl":
            for line in _lines_of(data):
                self._write(json.dumps(line, sort_keys=True))
            return
        # Quiet drops the talk, never the result itself.
        if message is not None and not self.quiet:
            lines = [message] if isinstance(message, str) else list(message)
            for line in lines:
                self.console.print(safe(line), highlight=False, markup=False)
        if columns is None:
            return
        rows = data if isinstance(data, list) else [data]
        self.table(rows, columns, title=title)

    def table(
        self, rows: Iterable[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None
    ) -> None:
        """Print rows as a table with the given columns (missing values blank)."""
        table = Table(
            title=safe(title) if title is not None else None, show_lines=False, header_style="bold"
        )
        for column in columns:
            table.add_column(column.replace("_", " ").upper(), overflow="fold")
        count = 0
        for row in rows:
            count += 1
            # Text, not str: a cell is data (an instance named "[/x]"), never markup.
            table.add_row(*(Text(_cell(row.get(column), column)) for column in columns))
        if count == 0:
            self.console.print("(none)")
            return
        self.console.print(table)

    def event(self, event: object) -> None:
        """Print one event: a JSON line in jsonl mode, a timestamped line when not live."""
        if self.mode == "jsonl":
            if self.events:
                self._write(json.dumps(to_json(event), default=str, sort_keys=True))
        elif self.mode == "table" and not self.quiet:
            line = describe(event)
            if line:
                stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S")
                # One event, one line: a name or message with a newline cannot forge another.
                self.errors.print(f"{stamp} {safe(line)}", highlight=False, markup=False)

    def note(self, text: str) -> None:
        """A one-line message for people (stderr, escaped), left out when quiet or in a
        machine mode."""
        if not self.quiet and self.mode == "table":
            self.errors.print(safe(text), highlight=False, markup=False)

    def warn(self, text: str) -> None:
        """A one-line warning (stderr, escaped), always shown."""
        self.errors.print(f"warning: {safe(text)}", highlight=False, style="yellow", markup=False)

    def error(self, text: str) -> None:
        """A one-line error (stderr, escaped): ``error: <text>``."""
        self.errors.print(f"error: {safe(text)}", highlight=False, style="red", markup=False)

    def _write(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _lines_of(data: Any) -> list[Any]:
    """The objects a jsonl result prints, one per line: a listing's elements, a fleet
    report's items, or the one object."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get("items"), list) and "operation" in data:
        return list(data["items"])
    return [data]


def _cell(value: Any, column: str) -> str:
    if value is None:
        return _HIDDEN if column in _SECRET_FIELDS else ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return safe(value)


def describe(event: object) -> str:
    """One line about an event for people, or "" for events not worth a line."""
    kind = type(event).__name__
    fields = to_json(event)
    who = fields.get("name") or fields.get("resource_id") or ""
    if kind == "StatusChanged":
        return f"{who}: {fields['previous']} -> {fields['status']}"
    if kind == "TargetReached":
        return f"{who}: {fields['operation']} done ({fields['status']}, {fields['elapsed']:.0f}s)"
    if kind in ("WaitFailed", "WaitTimedOut"):
        what = "failed" if kind == "WaitFailed" else "timed out"
        # Never empty parentheses: the status last seen, the reason, or that nothing was.
        said = [str(fields[k]) for k in ("status", "reason") if fields.get(k)]
        why = ": ".join(dict.fromkeys(said)) or "no status seen"
        return f"{who}: {fields['operation']} {what} ({why})"
    if kind == "OperationSubmitted":
        return f"{who}: {fields['operation']} submitted"
    if kind == "Connectable":
        tries = "" if fields["attempts"] == 1 else f", {fields['attempts']} attempts"
        return f"{who}: connectable ({fields['server']}, {fields['elapsed']:.1f}s{tries})"
    if kind == "VerifyFailed":
        return f"{who}: verify failed ({fields['reason']}): {fields['message']}"
    if kind == "FleetItemFinished":
        error = f": {fields['error']}" if fields.get("error") else ""
        return f"{who}: {fields['outcome']}{error}"
    if kind == "FleetStarted":
        return f"fleet {fields['operation']}: {fields['items']} items"
    if kind == "CredentialsSaved":
        return f"{who}: credentials saved to {fields['location']}"
    if kind == "RetryScheduled":
        return _retry_line(fields)
    if kind == "RateLimited":
        return f"rate limited: every request waits {fields['retry_after']:.1f}s"
    if kind == "RateLowered":
        return f"the API counts a lower limit: now {fields['new']}"
    if kind == "RateLimitBackendLost":
        then = f"going on alone at {fields['fallback']}" if fields["fallback"] else "failing"
        return f"{fields['reason']}; {then} until it answers"
    if kind == "RateLimitBackendRestored":
        return "the shared rate limit's Redis answers again: back on the shared budget"
    return ""


# Transport failures as the pipeline names them (httpx's exception classes), for people.
_TRANSPORT_WORDS = {
    "ConnectError": "could not connect",
    "ConnectTimeout": "connecting timed out",
    "ReadTimeout": "the answer timed out",
    "WriteTimeout": "sending timed out",
    "PoolTimeout": "no free connection in time",
    "ReadError": "the connection broke",
    "WriteError": "the connection broke",
    "RemoteProtocolError": "the server closed the connection",
}


def _retry_line(fields: Mapping[str, Any]) -> str:
    """A resend after a failed attempt, or "" for one after a 429.

    A 429 says nothing new: the client already prints its cool-down (``RateLimited``) and a
    fleet's report counts them, and in a large fleet they are routine; a line per resend
    would bury the rest. A refused connection or a 5xx is what a person waiting on a silent
    command wants to see, as it happens.
    """
    reason = str(fields["reason"])
    if reason in ("429", "token 429"):
        return ""
    if reason.isdigit():
        why = f"answered {reason}"
    elif reason.startswith("token "):
        why = f"the token request answered {reason.removeprefix('token ')}"
    else:
        why = _TRANSPORT_WORDS.get(reason, reason)
    attempt = int(fields["attempt"])
    return (
        f"{fields['method']} {fields['path']}: {why}; retrying in {float(fields['delay']):.1f}s "
        f"(attempt {attempt + 1})"
    )

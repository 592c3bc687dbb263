"""Durations: the one grammar people write them in, Go's (the API's), and durations for people.

**People** (``--timeout``, ``--older-than``, :class:`~aura_async.fleet.Selector`'s
``older_than``) write a sum of terms, read by :func:`parse_human_duration`::

    duration := term ( separator* term )* separator*     (surrounding whitespace ignored)
    term     := number ( whitespace* unit )?             (no unit: seconds)
    number   := digits [ "." [digits] ] | "." digits
    unit     := s sec secs second seconds | m min mins minute minutes
              | h hr hrs hour hours | d day days | w week weeks        (any case)
    separator := whitespace | ","

So ``600``, ``0.5``, ``90s``, ``10m``, ``1h30m``, ``1h30`` (the last number in seconds),
``1d12h``, ``2 days``, ``1w``, ``1h, 30m`` all read. Two numbers in a row must be parted by a
unit, a space or a comma (``1.5.5h`` is refused, ``1 2`` is 3 seconds). A unit is a whole
word: ``1ms`` and ``1mo`` are refused, not read as a minute and something. No sign: nothing
here is negative.

**Go** durations (:func:`parse_go_duration`, :func:`format_go_duration`) are what the API
sends and takes (a session's ``ttl``: ``20m0s``, ``1h30m``, ``1.5s``, ``500ms``): Go's
``time.ParseDuration`` grammar, ASCII digits, exact to the nanosecond.

**For people** (:func:`format_human_duration`): ``3.2s``, ``45s``, ``2m05s``, ``1h03m``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from typing import Final

__all__ = [
    "HUMAN_EXAMPLES",
    "format_go_duration",
    "format_human_duration",
    "parse_go_duration",
    "parse_human_duration",
]

# --------------------------------------------------------------------------- people's

#: Examples of the human grammar, for error messages and help.
HUMAN_EXAMPLES: Final = "90s, 10m, 1h30m, 2d or 1w"

_HUMAN_UNITS: Final = (
    *("s", "sec", "secs", "second", "seconds"),
    *("m", "min", "mins", "minute", "minutes"),
    *("h", "hr", "hrs", "hour", "hours"),
    *("d", "day", "days"),
    *("w", "week", "weeks"),
)
# A unit's first letter names it.
_SECONDS_PER: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longest units first (an alternation takes the first that matches), and a unit is a whole
# word: no letter may follow it.
_TERM = re.compile(
    r"(\d+(?:\.\d*)?|\.\d+)(?:\s*("
    + "|".join(sorted(_HUMAN_UNITS, key=len, reverse=True))
    + r")(?![^\W\d_]))?",
    re.IGNORECASE,
)


def parse_human_duration(text: str) -> float:
    """Read a duration as people write it (the grammar above), as seconds (0 or more).

    Raises:
        ValueError: ``text`` does not follow the grammar.
    """
    body = text.strip()
    if not body:
        raise ValueError(f"{text!r} is not a duration; write seconds or {HUMAN_EXAMPLES}")
    seconds = 0.0
    position = 0
    while position < len(body):
        term = _TERM.match(body, position)
        if term is None:
            raise ValueError(f"{text!r} is not a duration; write seconds or {HUMAN_EXAMPLES}")
        number, unit = term.groups()
        # Matched regardless of case, so casefold (U+017F, the long s, matches and is an s).
        seconds += float(number) * _SECONDS_PER[unit[0].casefold() if unit else "s"]
        position = term.end()
        while position < len(body) and (body[position].isspace() or body[position] == ","):
            position += 1
        if unit is None and position == term.end() and position < len(body):
            raise ValueError(
                f"{text!r} is not a duration: part two numbers with a unit, a space or a comma"
            )
    return seconds


def format_human_duration(seconds: float) -> str:
    """Seconds for people: ``3.2s`` (under 10 s), ``45s``, ``2m05s``, ``1h03m``.

    What it writes, :func:`parse_human_duration` reads back (to the shown precision).
    """
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


# --------------------------------------------------------------------------- Go's

_GO_UNIT = r"ns|us|\u00b5s|\u03bcs|ms|s|m|h"  # "ms" before "m"; both micro signs, as Go
_GO_TERM = re.compile(rf"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)({_GO_UNIT})")
_GO_DURATION = re.compile(rf"([+-]?)((?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:{_GO_UNIT}))+|0)")
_GO_SECONDS_PER: Final = {
    "ns": decimal.Decimal("1e-9"),
    "us": decimal.Decimal("1e-6"),
    "\u00b5s": decimal.Decimal("1e-6"),  # MICRO SIGN
    "\u03bcs": decimal.Decimal("1e-6"),  # GREEK SMALL LETTER MU
    "ms": decimal.Decimal("1e-3"),
    "s": decimal.Decimal(1),
    "m": decimal.Decimal(60),
    "h": decimal.Decimal(3600),
}


def parse_go_duration(text: str) -> decimal.Decimal:
    """Read a Go duration (``20m0s``, ``1h30m``, ``1.5s``, ``-500ms``, ``0``) as exact seconds.

    Go's ``time.ParseDuration``: an optional sign, then one or more <number><unit> (``ns``,
    ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``), or ``0`` alone. Nothing around it.

    Raises:
        ValueError: anything else.
    """
    match = _GO_DURATION.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a Go duration such as 20m0s, 1h30m or 1.5s")
    sign, terms = match.groups()
    seconds = sum(
        (decimal.Decimal(n) * _GO_SECONDS_PER[unit] for n, unit in _GO_TERM.findall(terms)),
        start=decimal.Decimal(0),
    )
    return -seconds if sign == "-" else seconds


def format_go_duration(value: dt.timedelta) -> str:
    """Write ``value`` as a Go duration without its zero parts: ``1h30m``, ``2h``, ``45s``,
    ``1.5s`` (``0s`` for zero; a ``-`` before a negative one).

    Go's ``time.ParseDuration`` reads it back exactly (Go itself would write ``1h30m0s``).
    """
    micros = value // dt.timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    whole, fraction = divmod(rest, 1_000_000)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes else ""
    if whole or fraction:
        text += f"{whole}" + (f".{fraction:06d}".rstrip("0") if fraction else "") + "s"
    return ("-" if micros < 0 else "") + text

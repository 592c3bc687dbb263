"""The one kind of Cypher the emulator answers: ``RETURN <literal> [AS name]``.

Enough for a connectivity check (``RETURN 1``) and for code that proves it reached a
database, and no more: the emulator keeps no graph. Keywords and ``true``/``false``/``null``
are case-insensitive, a trailing ``;`` is allowed, and the column is named by the alias, or
else by the literal's text as written (as Neo4j names it).
"""

from __future__ import annotations

import re

import attrs

from aura_async.emulator.bolt.packstream import INT64_MAX, INT64_MIN

__all__ = ["Literal", "TrivialQuery", "parse_query"]

Literal = None | bool | int | float | str

_FLOAT = r"[+-]?(?:\d+\.\d+(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)"
_INT = r"[+-]?\d+"
_STRING = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""
_NAME = r"[A-Za-z_][A-Za-z0-9_]*|`(?:[^`]|``)+`"
_QUERY = re.compile(
    rf"""\s*RETURN\s+
    (?P<literal>(?P<float>{_FLOAT})|(?P<int>{_INT})|(?P<string>{_STRING})|(?P<word>true|false|null))
    (?:\s+AS\s+(?P<alias>{_NAME}))?
    \s*;?\s*""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "b": "\b",
    "f": "\f",
}
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)


@attrs.frozen
class TrivialQuery:
    """A parsed ``RETURN <literal>``: the column's name and the one value it holds."""

    field: str
    value: Literal


def _unescape(body: str) -> str | None:
    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("u") and len(code) == 5:
            return chr(int(code[1:], 16))
        if code not in _ESCAPES:
            raise ValueError(code)
        return _ESCAPES[code]

    try:
        return _ESCAPE.sub(replace, body)
    except ValueError:
        return None  # Cypher refuses unknown escapes; so does the emulator


def parse_query(text: str) -> TrivialQuery | None:
    """Parse ``text`` as ``RETURN <int|float|string|true|false|null> [AS name]``.

    Returns None for anything else (including an integer beyond 64 bits or a string with an
    escape Cypher does not know); the caller answers that with a failure.
    """
    match = _QUERY.fullmatch(text)
    if match is None:
        return None
    value: Literal
    if match.group("float") is not None:
        value = float(match.group("float"))
    elif match.group("int") is not None:
        value = int(match.group("int"))
        if not INT64_MIN <= value <= INT64_MAX:
            return None
    elif match.group("string") is not None:
        value = _unescape(match.group("string")[1:-1])
        if value is None:
            return None
    else:
        value = {"true": True, "false": False, "null": None}[match.group("word").lower()]
    alias = match.group("alias")
    if alias is None:
        field = match.group("literal")
    elif alias.startswith("`"):
        field = alias[1:-1].replace("``", "`")
    else:
        field = alias
    return TrivialQuery(field, value)

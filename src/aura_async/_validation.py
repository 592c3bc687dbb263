"""Checks made before anything is sent: what the API would refuse, refused locally.

Each check raises :class:`~aura_async.errors.ValidationError` naming the argument, and no
request leaves. The rules are the API's documented ones, plus no control characters in names
(a newline in a name forges lines in every log that prints it). What only the project's
configurations can tell (which regions and sizes a tier offers) is checked against them in
:mod:`aura_async.resources.catalogue`.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from typing import TypeVar

from aura_async._durations import parse_go_duration
from aura_async.errors import ValidationError

__all__ = [
    "check_count",
    "check_date",
    "check_duration",
    "check_enum",
    "check_id",
    "check_instance_id",
    "check_name",
    "check_no_controls",
    "check_size",
    "check_strings",
    "check_tenant_id",
    "check_text",
    "check_timeout",
    "control_characters",
    "escape_controls",
]

E = TypeVar("E", bound=enum.Enum)

_INSTANCE_ID = re.compile(r"[0-9a-f]{8}")
# Ids travel in URL paths: letters, digits and a few separators, nothing that changes the path.
_PATH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SIZE = re.compile(r"[1-9][0-9]{0,4}GB")
# Aura project (tenant) ids are UUIDs (8-4-4-4-12 hex digits).
_TENANT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
# Characters that must never reach a name or a terminal as they are: controls (Cc, the
# newline and BEL among them), format characters (Cf: bidi overrides, zero-width ones) and
# the line and paragraph separators (Zl, Zp), which some viewers break lines at.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def control_characters(text: str) -> list[tuple[int, str]]:
    """Return the control, format and line/paragraph-separator characters in ``text``.

    Each as ``(position, character)``; empty when there is none.
    """
    return [
        (index, char)
        for index, char in enumerate(text)
        if unicodedata.category(char) in _CONTROL_CATEGORIES
    ]


def escape_controls(text: str) -> str:
    """Return ``text`` with every control, format or line-separator character escaped.

    ``"a\\nb"`` becomes ``a\\nb`` (a backslash and an ``n``), BEL ``\\x07``, U+2028
    ``\\u2028``: whatever comes from a user or a server prints on one line and sends no
    control sequence to a terminal. Everything else is left as it is.
    """
    if not any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in text):
        return text
    return "".join(
        char.encode("unicode_escape").decode("ascii")
        if unicodedata.category(char) in _CONTROL_CATEGORIES
        else char
        for char in text
    )


def check_no_controls(value: str, field: str) -> str:
    """Return ``value`` if it holds no control characters (see :func:`control_characters`).

    Raises:
        ValidationError: naming the first such character, escaped, and its position.
    """
    found = control_characters(value)
    if found:
        index, char = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise ValidationError(
            f"{field} must not contain control characters; found "
            f"{escape_controls(char)} (U+{ord(char):04X}) at position {index + 1} of "
            f"{escape_controls(repr(value))}{more}",
            field=field,
        )
    return value


def check_name(value: object, field: str = "name") -> str:
    """Return ``value`` if it is a valid instance, key or session name.

    The API's rule (1-30 characters, no leading or trailing white space), and no control
    characters: no newline, tab, BEL, escape, bidi override or line separator.

    Raises:
        ValidationError: when not a string, empty, over 30 characters, padded with white
            space, or holding a control character (named, escaped, with its position).
    """
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {type(value).__name__}", field=field)
    if not 1 <= len(value) <= 30:
        raise ValidationError(
            f"{field} must be 1 to 30 characters long, got {len(value)}", field=field
        )
    if value != value.strip():
        raise ValidationError(f"{field} must not start or end with white space", field=field)
    check_no_controls(value, field)
    return value


def check_tenant_id(value: object, field: str = "tenant_id") -> str:
    """Return ``value`` if it is a project (tenant) id: a UUID such as
    ``6c0b0a3e-7f3c-4b7e-9a55-0e3f1c2d4a5b``.

    Raises:
        ValidationError: otherwise.
    """
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value):
        shown = escape_controls(repr(value)) if isinstance(value, str) else type(value).__name__
        raise ValidationError(
            f"{field} must be a project id (a UUID such as "
            f"6c0b0a3e-7f3c-4b7e-9a55-0e3f1c2d4a5b); got {shown}",
            field=field,
            hint="List your projects with aura.tenants.list() (aura-async tenant list)",
        )
    return value


def check_instance_id(value: object, field: str = "instance_id") -> str:
    """Return ``value`` if it looks like an instance id (8 lowercase hex characters).

    Raises:
        ValidationError: otherwise.
    """
    if not isinstance(value, str) or not _INSTANCE_ID.fullmatch(value):
        raise ValidationError(
            f"{field} must be an instance id of 8 hex characters such as 2f49c2b3; got {value!r}",
            field=field,
        )
    return value


def check_id(value: object, field: str) -> str:
    """Return ``value`` if it can be an id in a URL path (project, snapshot, key, session).

    Raises:
        ValidationError: when empty or holding characters no Aura id has.
    """
    if not isinstance(value, str) or not _PATH_ID.fullmatch(value):
        raise ValidationError(f"{field} is not a valid id: {value!r}", field=field)
    return value


def check_text(value: object, field: str) -> str:
    """Return ``value`` if it is a non-empty string.

    Raises:
        ValidationError: otherwise.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string; got {value!r}", field=field)
    return value


def check_size(value: object, field: str) -> str:
    """Return ``value`` if it is a size in whole gigabytes such as ``8GB``.

    Raises:
        ValidationError: otherwise.
    """
    if not isinstance(value, str) or not _SIZE.fullmatch(value):
        raise ValidationError(
            f"{field} must be a size in whole gigabytes such as 8GB; got {value!r}", field=field
        )
    return value


def check_enum(value: object, enum_type: type[E], field: str) -> E:
    """Return ``value`` as a KNOWN member of ``enum_type`` (by value or member).

    Raises:
        ValidationError: when the value is not one the API accepts, listing those it does.
    """
    allowed = [m.value for m in enum_type if m.value]
    member = None
    if isinstance(value, enum_type):
        member = value
    elif isinstance(value, str):
        member = next((m for m in enum_type if m.value == value), None)
    if member is None or member.value not in allowed:
        raise ValidationError(
            f"{field} must be one of {', '.join(map(str, allowed))}; got {value!r}", field=field
        )
    return member


def check_date(value: object, field: str = "date") -> str:
    """Return ``value`` as ``YYYY-MM-DD`` (a ``datetime.date`` or such a string).

    Raises:
        ValidationError: otherwise.
    """
    if isinstance(value, dt.datetime):
        raise ValidationError(f"{field} must be a date, not a datetime", field=field)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    raise ValidationError(f"{field} must be a date such as 2025-01-31; got {value!r}", field=field)


def check_duration(value: object, field: str) -> str:
    """Return ``value`` if it is a positive Go duration string such as ``30m`` or ``1h30m``.

    Raises:
        ValidationError: otherwise (not a string, malformed, signed, or zero).
    """
    if isinstance(value, str) and not value.startswith(("+", "-")):
        try:
            positive = parse_go_duration(value) > 0
        except ValueError:
            positive = False
        if positive:
            return value
    raise ValidationError(
        f"{field} must be a positive duration such as 30m, 1h or 1h30m; got {value!r}",
        field=field,
    )


def check_timeout(timeout: float | None) -> None:
    """Check a wait's timeout (seconds, or None for the operation's usual limit) before
    anything is sent.

    Raises:
        ValidationError: a negative timeout, or not a number (NaN).
    """
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not timeout >= 0  # NaN fails every comparison
    ):
        raise ValidationError(
            f"timeout must be seconds, 0 or more (0: do not wait); got {timeout!r}",
            field="timeout",
        )


def check_count(value: object, field: str) -> int:
    """Return ``value`` if it is a non-negative integer (booleans are not).

    Raises:
        ValidationError: otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{field} must be a non-negative integer; got {value!r}", field=field)
    return value


def check_strings(values: object, field: str) -> list[str]:
    """Return ``values`` as a list if it is a sequence (not a string) of non-empty strings.

    Raises:
        ValidationError: otherwise.
    """
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise ValidationError(f"{field} must be a list of strings; got {values!r}", field=field)
    if not all(isinstance(v, str) and v for v in values):
        raise ValidationError(f"{field} must hold non-empty strings only", field=field)
    return list(values)

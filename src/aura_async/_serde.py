"""The package's one cattrs converter: the API's JSON to attrs models, and back.

Two converters share every rule but one:

- :data:`converter` (what the client uses) ignores fields it does not know, so a field the
  API adds tomorrow cannot break today's client; unknown enum values become pseudo-members.
- :data:`strict_converter` (tests and contract checks only) rejects unknown fields and
  unknown enum values, so that a change of the spec or of the emulator is caught as drift.

Rules, beyond cattrs' defaults:

- Timestamps: RFC 3339 strings (``2023-01-20T13:44:42Z``; a space for the ``T`` and
  offsets are read too) become aware UTC datetimes. A timestamp without an offset is taken
  as UTC, the API's only zone. In an optional field, ``null`` and ``""`` both give ``None``.
- Durations: Go duration strings (``20m0s``, ``8m``, ``1h0m0s``, ``1.5s``) and integer
  seconds (what the spec promises for session ``ttl``) become timedeltas.
- Integers may arrive as numeric strings (``graph_nodes: "0"``).
- Strings, booleans and integers are otherwise checked, not coerced: cattrs' default would
  turn ``"false"`` into ``True`` and an object into its repr.
- Arrays must be JSON arrays and objects JSON objects (cattrs' default would accept a string
  as a sequence of characters, or an object as a sequence of its keys).
- ``null`` in a session's ``status`` reads as :attr:`SessionStatus.ACCEPTED` (the spec's
  example for a just-created session shows ``null`` where the live service sends ``""``).

Unstructuring gives JSON-ready data: timestamps as ``...Z`` strings, durations as seconds,
enums as their raw values, tuples as lists. Note that it includes a created instance's
password: never unstructure credentials into a log.

Error messages never quote the value of a string field, so a password cannot leak into one.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory
from cattrs.gen import make_dict_structure_fn

from aura_async import models
from aura_async._durations import parse_go_duration
from aura_async.models import OpenEnum, SessionStatus

__all__ = [
    "ResponseShapeError",
    "converter",
    "strict_converter",
    "structure",
    "unstructure",
]

T = TypeVar("T")

_Hook = Callable[[Any, Any], Any]


class ResponseShapeError(ValueError):
    """Data from the API did not fit the model it was parsed into.

    Attributes:
        target: the name of the type the data was parsed into.
        errors: one line per problem, ``<what> @ <where>``, where is a JSON path such as
            ``$.instance_configurations[1].memory``.
    """

    def __init__(self, target: str, errors: Sequence[str]) -> None:
        self.target = target
        self.errors = tuple(errors)
        count = len(self.errors)
        problems = "problem" if count == 1 else "problems"
        super().__init__(f"{target}: {count} {problems}: " + "; ".join(self.errors))


class _Invalid(ValueError):
    """A value that does not fit its type; its message is shown as it is."""


# --------------------------------------------------------------------------- messages

_JSON_TYPE_NAMES: Final = {
    type(None): "null",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "an array",
    tuple: "an array",
    dict: "an object",
}


def _json_type(value: object) -> str:
    """Name the JSON type of a value (never the value itself: it might be a secret)."""
    # bool comes before int in the table: in Python (not in JSON) a bool is an int.
    for python_type, name in _JSON_TYPE_NAMES.items():
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _short(text: str) -> str:
    """Quote a non-secret value for an error message, cut short."""
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _format_exception(exc: BaseException, type_: type | None) -> str:
    """Word one problem: our own messages as they are, cattrs' as cattrs words them."""
    if isinstance(exc, _Invalid):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


# --------------------------------------------------------------------------- scalars


def _structure_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Invalid(f"expected a string, got {_json_type(value)}")


def _structure_bool(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _Invalid(f"expected a boolean, got {_json_type(value)}")


_INTEGER = re.compile(r"[+-]?\d+")


def _structure_int(value: Any, _: Any) -> int:
    # bool is an int subclass in Python, never in JSON.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    # The API sends some counts as strings ("graph_nodes": "0").
    if isinstance(value, str):
        if _INTEGER.fullmatch(value.strip()):
            return int(value)
        raise _Invalid(f"expected an integer, got {_short(value)}")
    raise _Invalid(f"expected an integer, got {_json_type(value)}")


# --------------------------------------------------------------------------- timestamps


def _parse_datetime(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            # RFC 3339 allows lower-case "t" and "z"; fromisoformat does not.
            moment = datetime.datetime.fromisoformat(value.strip().upper())
        except ValueError:
            raise _Invalid(f"expected an RFC 3339 timestamp, got {_short(value)}") from None
    else:
        raise _Invalid(f"expected an RFC 3339 timestamp, got {_json_type(value)}")
    if moment.tzinfo is None:
        # The API only speaks UTC; a missing offset is a formatting slip, not another zone.
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


def _structure_datetime(value: Any, _: Any) -> datetime.datetime:
    return _parse_datetime(value)


def _structure_optional_datetime(value: Any, _: Any) -> datetime.datetime | None:
    # Go clients render a zero time as "", and the API has sent "" for "not yet".
    if value is None or value == "":
        return None
    return _parse_datetime(value)


def _unstructure_datetime(value: datetime.datetime) -> str:
    moment = value.astimezone(datetime.UTC) if value.tzinfo is not None else value
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


# --------------------------------------------------------------------------- durations


def _parse_duration(value: Any) -> datetime.timedelta:
    if isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # The spec types session ttl as integer seconds.
        return datetime.timedelta(seconds=value)
    if not isinstance(value, str):
        raise _Invalid(f"expected a duration, got {_json_type(value)}")
    text = value.strip()
    if _INTEGER.fullmatch(text):
        # Plain seconds in a string ("0" is also Go's zero duration).
        return datetime.timedelta(seconds=int(text))
    try:
        seconds = parse_go_duration(text)
    except ValueError:
        raise _Invalid(
            f"expected a duration such as '20m0s' or seconds, got {_short(value)}"
        ) from None
    # Whole microseconds: timedelta's resolution (Go's nanoseconds are rounded).
    return datetime.timedelta(microseconds=int(seconds * 1_000_000))


def _structure_duration(value: Any, _: Any) -> datetime.timedelta:
    return _parse_duration(value)


def _structure_optional_duration(value: Any, _: Any) -> datetime.timedelta | None:
    if value is None or value == "":
        return None
    return _parse_duration(value)


def _unstructure_duration(value: datetime.timedelta) -> int | float:
    # Seconds, the spec's unit; an int when whole, so it round-trips through the spec's type.
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


# --------------------------------------------------------------------------- factories

# A JSON null where the API means a member (see the module docstring).
_NULL_MEMBERS: Final[Mapping[type[OpenEnum], OpenEnum]] = {SessionStatus: SessionStatus.ACCEPTED}


def _open_enum_hook(*, strict: bool) -> _Hook:
    def structure_enum(value: Any, enum_type: type[OpenEnum]) -> OpenEnum:
        if isinstance(value, str):
            member = enum_type(value)
            if strict and not member.known:
                raise _Invalid(f"unknown {enum_type.__name__} value {_short(value)}")
            return member
        if value is None:
            null_member = _NULL_MEMBERS.get(enum_type)
            if null_member is not None:
                return null_member
        raise _Invalid(f"expected a string ({enum_type.__name__}), got {_json_type(value)}")

    return structure_enum


def _unstructure_open_enum(member: OpenEnum) -> str:
    return member.value


def _is_array(type_: Any) -> bool:
    origin = get_origin(type_)
    if origin is list:
        return True
    args = get_args(type_)
    return origin is tuple and len(args) == 2 and args[1] is Ellipsis


def _array_hook(type_: Any, conv: cattrs.Converter) -> _Hook:
    # cattrs' own element-by-element structuring (with per-index error paths), behind a check
    # that the value is an array at all.
    if get_origin(type_) is list:
        inner: _Hook = list_structure_factory(type_, conv)
    else:
        inner = homogenous_tuple_structure_factory(type_, conv)

    def structure_array(value: Any, _: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            raise _Invalid(f"expected an array, got {_json_type(value)}")
        return inner(value, type_)

    return structure_array


def _attrs_hook(cls: type[Any], conv: cattrs.Converter) -> _Hook:
    inner = make_dict_structure_fn(cls, conv)

    def structure_object(value: Any, _: Any) -> Any:
        # Without this, a list or a string gives one confusing error per field.
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected an object, got {_json_type(value)}")
        return inner(value, cls)

    return structure_object


# --------------------------------------------------------------------------- converters

# Every response model, so that their hooks are generated at import, not on a first request.
_MODELS: Final[tuple[type[Any], ...]] = (
    models.ProjectSummary,
    models.InstanceConfiguration,
    models.Project,
    models.MetricsIntegration,
    models.InstanceSummary,
    models.Instance,
    models.CreatedInstance,
    models.Snapshot,
    models.CreatedSnapshot,
    models.CustomerManagedKeySummary,
    models.CustomerManagedKey,
    models.GraphAnalyticsSession,
    models.DeletedSession,
    models.InstanceSizing,
    models.SessionSizing,
)


def _make_converter(*, strict: bool) -> cattrs.Converter:
    """Build a converter with the package's rules; ``strict`` rejects what it doesn't know."""
    conv = cattrs.Converter(forbid_extra_keys=strict, detailed_validation=True)

    # Registered by class, so cattrs puts them in its singledispatch table, which it consults
    # before any predicate: OpenEnum (more specific than str) must be there too, or the str
    # hook would answer for every enum.
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(OpenEnum, _open_enum_hook(strict=strict))
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(datetime.datetime, _structure_datetime)
    conv.register_structure_hook(datetime.datetime | None, _structure_optional_datetime)
    conv.register_structure_hook(datetime.timedelta, _structure_duration)
    conv.register_structure_hook(datetime.timedelta | None, _structure_optional_duration)
    conv.register_structure_hook_factory(_is_array, _array_hook)
    conv.register_structure_hook_factory(attrs.has, _attrs_hook)

    conv.register_unstructure_hook(datetime.datetime, _unstructure_datetime)
    conv.register_unstructure_hook(datetime.timedelta, _unstructure_duration)
    conv.register_unstructure_hook(OpenEnum, _unstructure_open_enum)

    for model in _MODELS:
        # Generates and caches the hooks for each model and its field types.
        conv.get_structure_hook(model)
        conv.get_structure_hook(tuple[model, ...])  # type: ignore[valid-type]
    return conv


converter: Final = _make_converter(strict=False)
"""The converter the client uses: unknown fields ignored, unknown enum values kept."""

strict_converter: Final = _make_converter(strict=True)
"""For tests and contract checks: unknown fields and unknown enum values are errors."""


def structure(data: object, cls: type[T], *, strict: bool = False) -> T:
    """Parse JSON data (the content of an answer's ``data``) into ``cls``.

    ``cls`` is a model or a tuple of models (``tuple[Instance, ...]`` for a list answer).

    Args:
        data: the decoded JSON.
        cls: the type to build.
        strict: use :data:`strict_converter` (tests and contract checks).

    Raises:
        ResponseShapeError: when the data does not fit, listing every problem found.
    """
    conv = strict_converter if strict else converter
    try:
        return conv.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        errors = cattrs.transform_error(exc, format_exception=_format_exception)
        raise ResponseShapeError(_type_name(cls), errors) from exc


def unstructure(obj: object) -> Any:
    """Turn a model (or a tuple of them) into JSON-ready data, as the API would write it."""
    return converter.unstructure(obj)


def _type_name(cls: object) -> str:
    """Name a target type for a message: ``Instance``, ``tuple[Instance, ...]``."""
    if isinstance(cls, type) and get_origin(cls) is None:
        return cls.__name__
    return repr(cls).replace(f"{models.__name__}.", "")

"""Reading request bodies, and the errors the rules answer with.

Every rule module reads its JSON body through these helpers, so a missing, empty or
mistyped field is refused the same way on every route: 400 ``invalid-request`` naming the
field, as the live service does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aura_async.emulator.errors import ApiError
from aura_async.emulator.records import InstanceRecord

_INVALID = "invalid-request"


def _bad(message: str, field: str | None = None, reason: str = _INVALID) -> ApiError:
    return ApiError(400, message, reason, field)


def _instance_not_found(instance_id: str) -> ApiError:
    return ApiError(404, f"DB not found: {instance_id}", "db-not-found")


def _snapshot_not_found(snapshot_id: str) -> ApiError:
    return ApiError(404, f"Snapshot not found: {snapshot_id}", "snapshot-not-found")


def _ongoing(instance: InstanceRecord) -> ApiError:
    # The live message really says "is current undergoing".
    return ApiError(
        409,
        f"The database is current undergoing an operation: {instance.status}",
        "ongoing-database-operation",
    )


def _object(body: object) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _bad("The request body must be a JSON object")
    return body


def _optional(body: Mapping[str, Any], field: str, kind: type[Any] = str) -> Any:
    """Return ``body[field]`` checked to be of ``kind``, or None when absent or null."""
    value = body.get(field)
    if value is None:
        return None
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _bad(f"{field} must be a non-negative integer", field)
    elif not isinstance(value, kind):
        raise _bad(f"{field} must be a {'boolean' if kind is bool else 'string'}", field)
    return value


def _text(body: Mapping[str, Any], field: str) -> str:
    value: str | None = _optional(body, field)
    if value is None:
        raise _bad(f"{field} is required", field)
    if not value:
        raise _bad(f"{field} must not be empty", field)
    return value


def _count(body: Mapping[str, Any], field: str) -> int:
    value: int | None = _optional(body, field, int)
    if value is None:
        raise _bad(f"{field} is required", field)
    return value


def _categories(body: Mapping[str, Any]) -> list[str]:
    value = body.get("algorithm_categories")
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _bad("algorithm_categories must be a list of strings", "algorithm_categories")
    return value


def _check_name(name: str, field: str = "name") -> str:
    if not 1 <= len(name) <= 30:
        raise _bad(f"{field} must be between 1 and 30 characters", field)
    if name != name.strip():
        raise _bad(f"{field} must not start or end with white space", field)
    return name


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise _bad(f"{field} must be one of {', '.join(allowed)}", field)
    return value

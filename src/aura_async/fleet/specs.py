"""What a fleet creates: one :class:`InstanceSpec` per instance, or N copies of one by pattern."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from aura_async._validation import check_no_controls
from aura_async.errors import ValidationError
from aura_async.models import CloudProvider, InstanceType

__all__ = ["DEFAULT_PATTERN", "InstanceSpec", "expand"]

DEFAULT_PATTERN = "{name}-{n}"
_MAX_COUNT = 10_000


@attrs.frozen(kw_only=True)
class InstanceSpec:
    """The arguments of one :meth:`~aura_async.resources.instances.Instances.create`.

    The name is the fleet's idempotency key: an instance already present under it is adopted,
    never created twice. Fields left None are not sent (AuraDB Free needs no region, memory
    or cloud).
    """

    name: str
    type: InstanceType | str
    region: str | None = None
    memory: str | None = None
    cloud_provider: CloudProvider | str | None = None
    version: str = "5"
    tenant_id: str | None = None
    storage: str | None = None
    source_instance_id: str | None = None
    source_snapshot_id: str | None = None
    customer_managed_key_id: str | None = None
    vector_optimized: bool | None = None
    graph_analytics_plugin: bool | None = None

    def create_arguments(self) -> dict[str, Any]:
        """The keyword arguments for ``aura.instances.create`` (and ``check_create``)."""
        # The name and type are always passed, None too, so that check_create names them.
        return {
            field.name: getattr(self, field.name)
            for field in attrs.fields(InstanceSpec)
            if getattr(self, field.name) is not None or field.name in ("name", "type")
        }

    def to_json(self) -> dict[str, Any]:
        """The spec as plain JSON values (enums as their strings), for the ledger."""
        return {
            key: str(value) if isinstance(value, InstanceType | CloudProvider) else value
            for key, value in self.create_arguments().items()
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, where: str = "spec") -> InstanceSpec:
        """Build a spec from a mapping (one entry of a TOML or JSON spec file).

        Raises:
            ValidationError: unknown keys, a missing name or type, or a value of the wrong
                type; the message names ``where`` and the key.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(
                f"{where}: must be a table of keys, got {type(data).__name__}", field="spec"
            )
        known = {field.name: field for field in attrs.fields(InstanceSpec)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValidationError(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(known)}",
                field=unknown[0],
            )
        for required in ("name", "type"):
            if required not in data:
                raise ValidationError(f"{where}: {required!r} is required", field=required)
        for key, value in data.items():
            wanted: tuple[type, ...] = (
                (bool,) if key in ("vector_optimized", "graph_analytics_plugin") else (str,)
            )
            if not isinstance(value, wanted) or (str in wanted and isinstance(value, bool)):
                kind = "true or false" if bool in wanted else "a string"
                raise ValidationError(
                    f"{where}: {key!r} must be {kind}, got {type(value).__name__}", field=key
                )
        return cls(**data)


def expand(spec: InstanceSpec, count: int, pattern: str = DEFAULT_PATTERN) -> list[InstanceSpec]:
    """Return ``count`` copies of ``spec`` named by ``pattern``.

    ``pattern`` is a :meth:`str.format` template with ``{name}`` (the spec's name) and ``{n}``
    (1 to ``count``; ``{n:03d}`` pads it), e.g. ``"ci-{n:02d}"``.

    The names it makes are checked as every name is (1-30 characters, no control
    characters) when they are created; a control character in the pattern itself (a newline
    would forge lines in every log that prints the names) is refused here, at once.

    Raises:
        ValidationError: ``count`` is not a positive integer (10,000 at most), or the
            pattern is malformed, holds a control character, or does not make ``count``
            distinct names.
    """
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_COUNT:
        raise ValidationError(
            f"count must be a whole number from 1 to {_MAX_COUNT}, got {count!r}", field="count"
        )
    if not isinstance(pattern, str) or "n" not in _fields(pattern, malformed={"n"}):
        raise ValidationError(
            "the name pattern must contain {n} (the instance's number), e.g. '{name}-{n}'",
            field="pattern",
        )
    check_no_controls(pattern, "pattern")
    names: list[str] = []
    for n in range(1, count + 1):
        try:
            names.append(pattern.format(name=spec.name, n=n))
        except (KeyError, IndexError, ValueError, TypeError, AttributeError) as error:
            raise ValidationError(
                f"the name pattern {pattern!r} is malformed ({error}); it may use {{name}} "
                "and {n}",
                field="pattern",
            ) from None
    if len(set(names)) != len(names):
        raise ValidationError(
            f"the name pattern {pattern!r} makes the same name twice", field="pattern"
        )
    return [attrs.evolve(spec, name=name) for name in names]


def _fields(pattern: str, *, malformed: set[str]) -> set[str]:
    """The fields a :meth:`str.format` pattern uses (``{n:03d}`` -> ``n``).

    (``"{n" in pattern`` would take ``{name}`` for ``{n}``.) A malformed pattern gives
    ``malformed``, so that formatting it reports what is wrong.
    """
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError:
        return malformed
    return {re.split(r"[.\[]", field, maxsplit=1)[0] for _, field, _, _ in parsed if field}


def check_distinct(specs: Sequence[InstanceSpec]) -> None:
    """Check that no two specs share a name (the name is what makes a create idempotent).

    Raises:
        ValidationError: naming the first repeated name.
    """
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValidationError(
                f"the name {spec.name!r} appears twice in one fleet; names identify instances, "
                "so each must be unique",
                field="name",
            )
        seen.add(spec.name)

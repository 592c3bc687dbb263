"""What a fleet creates: one :class:`InstanceSpec` per instance, or N copies of one by pattern.

Specs come from code, from :func:`expand` (N copies named by a pattern), or from a TOML spec
file (:func:`load_spec_file`: one ``[[instance]]`` table per instance over ``[defaults]``),
each entry checked by :meth:`InstanceSpec.from_mapping`.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from aura_async._validation import check_no_controls
from aura_async.errors import ValidationError
from aura_async.models import CloudProvider, InstanceType

__all__ = ["DEFAULT_PATTERN", "InstanceSpec", "check_distinct", "expand", "load_spec_file"]

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
        _refuse_unknown(data, where)
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


# The keys a spec (a mapping, a spec file's table) may hold, in the order help lists them.
_FIELDS = tuple(field.name for field in attrs.fields(InstanceSpec))


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


def check_distinct(specs: Sequence[InstanceSpec], *, where: str | None = None) -> None:
    """Check that no two specs share a name (the name is what makes a create idempotent).

    Raises:
        ValidationError: naming the first repeated name (after ``where``, when given).
    """
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValidationError(
                f"{where + ': ' if where else ''}the name {spec.name!r} appears twice in one "
                "fleet; names identify instances, so each must be unique",
                field="name",
            )
        seen.add(spec.name)


def _refuse_unknown(data: Mapping[str, Any], where: str) -> None:
    """Refuse keys that are not :class:`InstanceSpec` fields, naming ``where`` and the keys.

    Raises:
        ValidationError: naming the unknown keys and the known ones.
    """
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        raise ValidationError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"known keys: {', '.join(_FIELDS)}",
            field=unknown[0],
        )


def load_spec_file(path: str | Path) -> list[InstanceSpec]:
    """Read a TOML spec file: one ``[[instance]]`` table per instance, ``[defaults]`` under each.

    Keys are :class:`InstanceSpec` fields (``name``, ``type``, ``region``, ``memory``,
    ``cloud_provider``, ``version``, ...); an instance's own keys win over the defaults.
    Nothing is sent: what the API and the project would refuse is checked when the specs
    are created (or by ``check_create``).

    Raises:
        ValidationError: the file cannot be read or parsed, or a table or key is wrong; the
            message names the file and the table and key.
    """
    where = str(path)
    data = _read_toml(path)
    unknown = sorted(set(data) - {"defaults", "instance"})
    if unknown:
        raise ValidationError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))} at the top level; a "
            "spec file holds a [defaults] table and one [[instance]] table per instance",
            field=unknown[0],
        )
    defaults = _defaults(data, where)
    instances = data.get("instance")
    if instances is None:
        raise ValidationError(
            f"{where}: no [[instance]] tables; write one per instance to create",
            field="instance",
        )
    if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
        raise ValidationError(
            f"{where}: 'instance' must be a list of tables: write [[instance]], not [instance]",
            field="instance",
        )
    if not instances:
        raise ValidationError(f"{where}: no [[instance]] tables", field="instance")
    specs = [
        InstanceSpec.from_mapping(
            {**defaults, **entry}, where=f"{where}: [[instance]] #{number}{_named(entry)}"
        )
        for number, entry in enumerate(instances, start=1)
    ]
    check_distinct(specs, where=where)
    return specs


def _read_toml(path: str | Path) -> dict[str, Any]:
    """The file's TOML document.

    Raises:
        ValidationError: the file cannot be read, is not UTF-8 or not TOML.
    """
    where = str(path)
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ValidationError(
            f"{where}: cannot read the spec file ({error.strerror or error})", field="spec_file"
        ) from None
    except UnicodeDecodeError:
        raise ValidationError(f"{where}: not a UTF-8 text file", field="spec_file") from None
    except tomllib.TOMLDecodeError as error:
        raise ValidationError(f"{where}: not valid TOML ({error})", field="spec_file") from None


def _defaults(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The file's ``[defaults]`` table (empty when it has none), its keys checked.

    Raises:
        ValidationError: not a table, an unknown key, or a ``name`` (each instance needs its
            own).
    """
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ValidationError(f"{where}: 'defaults' must be a table ([defaults])", field="defaults")
    _refuse_unknown(defaults, f"{where}: [defaults]")
    if "name" in defaults:
        raise ValidationError(
            f"{where}: [defaults]: 'name' cannot be a default (each instance needs its own)",
            field="name",
        )
    return defaults


def _named(entry: dict[str, Any]) -> str:
    """`` ('name')`` for an entry that names itself, to say which table is wrong."""
    name = entry.get("name")
    return f" ({name!r})" if isinstance(name, str) else ""

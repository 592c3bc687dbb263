"""Bad input, fuzzed: every public SDK entry point and CLI command refuses it before sending.

The campaign works by kind of value (names, instance ids, other ids, regions and other text,
sizes, enums, flags, counts, timeouts, dates, durations, ages, selectors, name patterns, spec
files): a hypothesis strategy draws only INVALID values of each kind, and a table puts them,
one argument at a time, into every public entry point of ``aura.tenants``, ``aura.instances``,
``aura.snapshots``, ``aura.customer_managed_keys``, ``aura.graph_analytics`` and
``aura.fleet`` (the waits and ``check_create`` included), the other arguments being valid.
Each call must raise :class:`~aura_async.ValidationError` whose ``field`` names the argument
and whose one-line message says so, and an in-process emulator (``httpx.ASGITransport``)
must have counted no request at all (not even a token request) on ``/_emulator/counters``.

The command line gets the same treatment through click's runner against an emulator on
loopback (as ``tests/cli`` does): every command with one invalid flag, argument or spec file
exits 2 with one error line on stderr that names the flag or field, no traceback, nothing on
stdout, and no request counted.

``tests/client/test_validation.py`` holds the fixed table of refusals per method and the
fuzzing of names, instance ids and sizes on the resource methods; this file widens it to every
kind and entry point, the fleet and the command line.

Bugs this campaign found, each fixed, are kept as regression cases (``REGRESSIONS`` and
``CLI_REGRESSIONS``).
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import math
import re
import string
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import attrs
import httpx
import httpx._transports.default as httpx_transports
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aura_async import AuraClient, ValidationError
from aura_async.cli import cli
from aura_async.cli.commands import register
from aura_async.cli.commands.fleet import load_spec_file
from aura_async.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PROJECT_ID,
    EmulatorConfig,
    EmulatorServer,
    create_app,
)
from aura_async.fleet import Credentials, InstanceSpec, MemoryStore, Selector
from aura_async.fleet.selectors import parse_age
from aura_async.fleet.specs import expand
from aura_async.models import CdcEnrichmentMode, CloudProvider, InstanceType

pytestmark = pytest.mark.timeout(120)

T = TypeVar("T")

FUZZ = settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
FUZZ_MORE = settings(FUZZ, max_examples=25)

ID = "0123abcd"  # a well-formed instance id
# Credentials to verify, never used: each call with them below is refused first.
LOGIN = Credentials(
    instance_id=ID, name="db", username="neo4j", password="unused", connection_url="neo4j://x"
)
SNAP = "snap-1"  # a well-formed snapshot, key or session id
PRO: dict[str, Any] = {
    "name": "db",
    "type": "professional-db",
    "region": "europe-west1",
    "memory": "2GB",
    "cloud_provider": "gcp",
}
KEY: dict[str, Any] = {
    "name": "key",
    "key_id": "arn:aws:kms:eu-west-1:123456789012:key/0000",
    "region": "europe-west1",
    "cloud_provider": "aws",
    "instance_type": "enterprise-db",
}
SESSION: dict[str, Any] = {
    "name": "session",
    "memory": "4GB",
    "cloud_provider": "gcp",
    "region": "europe-west1",
}
ATTACHED: dict[str, Any] = {"name": "session", "memory": "4GB", "instance_id": ID}
GRAPH: dict[str, Any] = {"node_count": 10, "relationship_count": 20}
IDS = [ID, "4e5f6a7b"]

# --------------------------------------------------------------------------- strategies

_INSTANCE_ID = re.compile(r"[0-9a-f]{8}")
_PATH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SIZE = re.compile(r"[1-9][0-9]{0,4}GB")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DURATION = re.compile(r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+")
# What parse_age reads (a sum of <number><unit> parts, spaces and commas between).
_READABLE_AGE = re.compile(
    r"\s*(?:\d+(?:\.\d+)?\s*(?:s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w)?[\s,]*)+",
    re.IGNORECASE,
)

_WHITE = st.sampled_from([" ", "\t", "\n", "\u00a0", "\u2003"])
# Values of other types than the one wanted (hashable ones and not).
_NOT_TEXT = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(st.text(max_size=4), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
# Text that prints on one line (for command-line values shown in error lines).
_LINE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))


def _white_only() -> st.SearchStrategy[str]:
    return st.lists(_WHITE, max_size=3).map("".join)


def bad_names(*, hashable: bool = False) -> st.SearchStrategy[object]:
    """Names the API refuses: empty, over 30 characters, padded with white space, not text."""
    other = _NOT_TEXT.filter(lambda v: not isinstance(v, list | dict)) if hashable else _NOT_TEXT
    return st.one_of(
        st.just(""),
        st.text(min_size=31, max_size=60),
        st.builds(lambda w, rest: w + rest, _WHITE, st.text(max_size=29)),
        st.builds(lambda w, rest: rest + w, _WHITE, st.text(max_size=29)),
        other,
    )


bad_text = st.one_of(_white_only(), _NOT_TEXT)
bad_instance_ids = st.one_of(
    st.text(max_size=12).filter(lambda s: not _INSTANCE_ID.fullmatch(s)),
    st.from_regex(r"[0-9A-F]{8}", fullmatch=True).filter(lambda s: s != s.lower()),
    st.from_regex(r"[0-9a-f]{1,7}|[0-9a-f]{9,12}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{8}[\s/?#.]", fullmatch=True),
    st.sampled_from(["../../x", "0123abcd/pause", "%2e%2e"]),
    _NOT_TEXT,
)
bad_path_ids = st.one_of(
    st.text(max_size=16).filter(lambda s: not _PATH_ID.fullmatch(s)),
    st.builds(
        lambda a, b: f"{a}/{b}",
        st.from_regex(r"[a-z]{1,4}", fullmatch=True),
        st.from_regex(r"[a-z]{1,4}", fullmatch=True),
    ),
    st.sampled_from(["..", "../x", ".hidden", "-dash", "a b", "a?b", "a#b", "x" * 129]),
    _NOT_TEXT,
)
_GB = st.integers(1, 99999)
bad_sizes = st.one_of(
    st.sampled_from(["2G", "0GB", "-1GB", "abc", "", "8 GB", "8gb", "08GB", "8.5GB", "1TB"]),
    st.text(max_size=8).filter(lambda s: not _SIZE.fullmatch(s)),
    st.builds("{}G".format, _GB),
    st.builds("{}MB".format, _GB),
    st.builds("-{}GB".format, _GB),
    st.builds("{}GB".format, st.integers(100000, 10**15)),
    st.builds(str, _GB),
    st.integers(),
    st.floats(),
    st.booleans(),
)


def bad_enum(enum_type: type[Any]) -> st.SearchStrategy[object]:
    """Values that are not one of ``enum_type``'s: unknown text, other case, other types."""
    known = {m.value for m in enum_type}
    return st.one_of(
        st.text(max_size=16).filter(lambda s: s not in known),
        st.sampled_from(sorted(known)).map(str.upper).filter(lambda s: s not in known),
        st.sampled_from(sorted(known)).map(lambda s: f" {s}"),
        st.integers(),
        st.booleans(),
        st.floats(allow_nan=False),
    )


bad_flags = st.one_of(
    st.integers(),
    st.sampled_from(["true", "false", "yes", "no", "1", "0", ""]),
    st.floats(allow_nan=False),
    st.lists(st.booleans(), max_size=1),
)
bad_counts = st.one_of(
    st.integers(max_value=-1),
    st.booleans(),
    st.floats(allow_nan=False).filter(lambda f: not f.is_integer() or f < 0),
    st.floats(allow_nan=False).filter(lambda f: f.is_integer() and f >= 0),  # 3.0 is no int
    st.text(max_size=5),
    st.none(),
)
# Numbers the waits refuse: negative, NaN. (Other types: see REGRESSIONS.)
bad_timeouts = st.one_of(
    st.floats(max_value=0, exclude_max=True, allow_nan=False),
    st.integers(max_value=-1),
    st.just(math.nan),
)
# The fleet checks the type too.
bad_fleet_timeouts = st.one_of(
    bad_timeouts, st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=1)
)
bad_dates = st.one_of(
    st.sampled_from(["2025-13-01", "2025-02-30", "2025-1-1", "20250101", "yesterday", ""]),
    st.dates().map(lambda d: d.strftime("%d/%m/%Y")),
    st.text(max_size=12).filter(lambda s: not _DATE.fullmatch(s)),
    st.datetimes(),  # a datetime is not a date here
    st.integers(),
    st.floats(allow_nan=False),
)
bad_ttls = st.one_of(
    st.sampled_from(["forever", "", "-5m", "0s", "0h0m", "30", "1d", "1h 30m", "1H", "+5m"]),
    st.text(max_size=8).filter(lambda s: not _DURATION.fullmatch(s)),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.timedeltas(max_value=dt.timedelta(0)),
    st.timedeltas(min_value=dt.timedelta(microseconds=1)).filter(
        lambda t: t.total_seconds() != int(t.total_seconds())
    ),
)
bad_string_lists = st.one_of(
    st.text(max_size=10),
    st.none(),
    st.integers(),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    st.lists(st.sampled_from(["", 1, None, b"x"]), min_size=1, max_size=3),
    st.lists(st.text(min_size=1, max_size=4), max_size=2).map(lambda xs: [*xs, ""]),
)
_INSTANCE_OPERATIONS = {
    "create",
    "pause",
    "resume",
    "delete",
    "resize",
    "update",
    "overwrite",
    "restore",
}
bad_operations = st.one_of(
    st.sampled_from(["snapshot", "key", "session", "CREATE", "running", ""]),
    st.text(max_size=10).filter(lambda s: s not in _INSTANCE_OPERATIONS),
    st.integers(),
    st.none(),
)
bad_policies = st.one_of(
    st.text(max_size=10).filter(lambda s: s not in ("continue", "stop", "rollback")),
    st.sampled_from(["STOP", "ignore", "retry", " stop"]),
    st.integers(),
    st.none(),
)
bad_targets = st.one_of(
    st.just([]),
    st.just(()),
    bad_instance_ids.filter(lambda v: isinstance(v, str)),  # one text, not a list
    st.lists(bad_instance_ids, min_size=1, max_size=3).map(lambda bad: [ID, *bad]),
    st.integers(),
    st.none(),
    st.dictionaries(st.just(ID), st.integers(), max_size=1),
)
bad_fleet_counts = st.one_of(
    st.integers(max_value=0),
    st.integers(min_value=10_001),
    st.booleans(),
    st.text(max_size=4),
    st.floats(allow_nan=False),
)
bad_attempts = st.one_of(
    st.integers(max_value=0), st.booleans(), st.text(max_size=4), st.floats(), st.none()
)
bad_moments = st.one_of(
    st.text(max_size=4),
    st.booleans(),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.lists(st.integers(), max_size=1),
)
bad_spec_lists = st.one_of(
    st.just([]),
    st.lists(
        st.one_of(st.none(), st.integers(), st.dictionaries(st.just("name"), st.text())),
        min_size=1,
        max_size=2,
    ).map(lambda xs: [InstanceSpec(**PRO), *xs]),
    st.integers(),
    st.none(),
    st.dictionaries(st.just("name"), st.just("x")),
)
# Ages nobody can read, and ages that are not positive. (Overflowing ones: REGRESSIONS.)
bad_ages = st.one_of(
    st.text(max_size=10).filter(lambda s: not _READABLE_AGE.fullmatch(s)),
    st.sampled_from(["yesterday", "2x", "1y", "-5m", "h", "1.5.5h", "5 hours ago"]),
    st.sampled_from(["0", "0s", "0m0s", "0d", " 0h "]),
    st.floats(min_value=-1e9, max_value=0),
    st.integers(min_value=-(10**6), max_value=0),
    st.timedeltas(max_value=dt.timedelta(0)),
    st.booleans(),
    st.lists(st.integers(), max_size=1),
)
bad_selector_ids = st.one_of(
    st.just([]),
    bad_instance_ids.filter(lambda v: isinstance(v, str)),  # one text, not a list
    st.lists(bad_instance_ids, min_size=1, max_size=3).map(lambda bad: [ID, *bad]),
)
bad_booleans = st.one_of(st.integers(), st.text(max_size=4), st.none(), st.floats())

# Name patterns that cannot name N copies: no {n}, malformed, unknown fields, too long names,
# the same name twice, names padded with space. (Fields indexing or reading attributes of n
# or name, such as {n[0]} or {name.x}: see REGRESSIONS.)
_LITERAL = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", max_size=6)
bad_patterns = st.one_of(
    _LITERAL,  # no field at all
    st.builds("{}{{name}}{}".format, _LITERAL, _LITERAL),  # the name alone
    st.builds("{}{{{}}}{{n}}".format, _LITERAL, st.sampled_from(["zone", "0", "", "n2", "N"])),
    st.builds("{}{{n{}".format, _LITERAL, st.sampled_from(["", ":", "!", ":0"])),  # unclosed
    st.builds("{}{{n}}}}{}".format, _LITERAL, _LITERAL),  # a single }
    st.builds("{{n:{}}}".format, st.sampled_from([".0", "q", "s", ",x"])),
    st.builds("{{n!{}}}".format, st.sampled_from(["x", "", "rr"])),
    st.just("{n!s:.1}"),  # 10 to 12 share their first digit
    st.builds("{}{{n}}".format, st.text(alphabet="x", min_size=30, max_size=35)),
    st.builds("{}{{n}}".format, _WHITE),
)

# --------------------------------------------------------------------------- the SDK table

BAD: dict[str, st.SearchStrategy[Any]] = {
    "name": bad_names(),
    "text": bad_text,
    "instance_id": bad_instance_ids,
    "path_id": bad_path_ids,
    "size": bad_sizes,
    "type": bad_enum(InstanceType),
    "cloud": bad_enum(CloudProvider),
    "cdc": bad_enum(CdcEnrichmentMode),
    "flag": bad_flags,
    "count": bad_counts,
    "timeout": bad_timeouts,
    "fleet_timeout": bad_fleet_timeouts,
    "date": bad_dates,
    "ttl": bad_ttls,
    "strings": bad_string_lists,
    "operation": bad_operations,
    "policy": bad_policies,
    "targets": bad_targets,
    "fleet_count": bad_fleet_counts,
    "attempts": bad_attempts,
    "moment": bad_moments,
    "specs": bad_spec_lists,
    "pattern": bad_patterns,
    "age": bad_ages,
    "selector_ids": bad_selector_ids,
    "nonempty_text": st.one_of(st.just(""), _NOT_TEXT),
    "boolean": bad_booleans,
}


@attrs.frozen
class Slot:
    """One argument of one entry point, to be filled with invalid values of ``kind``.

    ``call(aura, value)`` makes the call; the error must name ``field`` (one of ``fields``
    when the refusal may come from either of two checks) and its message one of ``words``.
    """

    entry: str
    label: str
    kind: str
    call: Callable[[AuraClient, Any], Any]
    fields: tuple[str | None, ...]
    words: tuple[str, ...]
    optional: bool = True  # None means "not given": not an invalid value here

    @property
    def id(self) -> str:
        return f"{self.entry}:{self.label}"


def _method(aura: AuraClient, entry: str) -> Callable[..., Any]:
    group, name = entry.split(".")
    method: Callable[..., Any] = getattr(getattr(aura, group), name)
    return method


def slot(
    entry: str,
    param: str | int,
    kind: str,
    *args: Any,
    field: str | None = None,
    fields: Sequence[str | None] = (),
    words: Sequence[str] = (),
    optional: bool | None = None,
    label: str = "",
    **kwargs: Any,
) -> Slot:
    """Put the value in ``param`` (a keyword, or a position among ``args``) of ``entry``."""
    named = field or (param if isinstance(param, str) else "?")

    def call(aura: AuraClient, value: Any) -> Any:
        call_args, call_kwargs = list(args), dict(kwargs)
        if isinstance(param, int):
            call_args.insert(param, value)
        else:
            call_kwargs[param] = value
        return _method(aura, entry)(*call_args, **call_kwargs)

    return Slot(
        entry,
        label or str(named),
        kind,
        call,
        tuple(fields) or (named,),
        tuple(words) or (str(named),),
        optional=isinstance(param, str) if optional is None else optional,
    )


def fixed(
    entry: str,
    label: str,
    call: Callable[[AuraClient], Any],
    *,
    field: str | None,
    words: Sequence[str],
) -> Slot:
    """A refusal that is one call, not a kind of value (no argument, or a missing one)."""
    return Slot(entry, label, "fixed", lambda aura, _: call(aura), (field,), tuple(words))


def _spec_with(field_name: str) -> Callable[[AuraClient, Any], Any]:
    base = PRO | ({"source_instance_id": ID} if field_name == "source_snapshot_id" else {})

    def call(aura: AuraClient, value: Any) -> Any:
        spec = InstanceSpec(**(base | {field_name: value}))
        return aura.fleet.create(spec, store=MemoryStore(), wait=False)

    return call


def _selector_with(entry: str, param: str, base: dict[str, Any]) -> Callable[..., Any]:
    def call(aura: AuraClient, value: Any) -> Any:
        selector = Selector(**(base | {param: value}))
        return _method(aura, entry)(selector)

    return call


_SPEC_KINDS = {
    "name": "spec_name",
    "type": "type",
    "region": "text",
    "memory": "size",
    "cloud_provider": "cloud",
    "version": "text",
    "tenant_id": "path_id",
    "storage": "size",
    "source_instance_id": "instance_id",
    "source_snapshot_id": "path_id",
    "customer_managed_key_id": "path_id",
    "vector_optimized": "flag",
    "graph_analytics_plugin": "flag",
}
BAD["spec_name"] = bad_names(hashable=True)  # unhashable names: see REGRESSIONS


def _wait_slots(entry: str, first: tuple[Any, ...], kinds: Sequence[tuple[str, str]]) -> list[Slot]:
    """A wait's ids (positional) and its timeout."""
    slots = [
        slot(entry, index, kind, *first[:index], *first[index + 1 :], field=field)
        for index, (field, kind) in enumerate(kinds)
    ]
    slots.append(slot(entry, "timeout", "timeout", *first))
    return slots


TIMEOUTS = [
    ("instances.create", (), PRO),
    ("instances.update", (ID,), {"name": "x"}),
    ("instances.delete", (ID,), {}),
    ("instances.pause", (ID,), {}),
    ("instances.resume", (ID,), {}),
    ("instances.overwrite", (ID,), {"source_instance_id": ID}),
    ("snapshots.create", (ID,), {}),
    ("snapshots.restore", (ID, SNAP), {}),
    ("customer_managed_keys.create", (), KEY),
    ("graph_analytics.create", (), SESSION),
]

# (No "no project" slots: with none configured the SDK uses the account's only project, after
# one listing; tests/client/test_default_project.py holds those cases.)
SLOTS: list[Slot] = [
    # ------------------------------------------------------------------------- tenants
    slot("tenants.get", 0, "path_id", field="tenant_id"),
    slot("tenants.metrics_integration", 0, "path_id", field="tenant_id"),
    # ----------------------------------------------------------------------- instances
    slot("instances.list", "tenant_id", "path_id"),
    slot("instances.get", 0, "instance_id", field="instance_id"),
    *(
        slot(
            "instances.create",
            key,
            kind,
            **{k: v for k, v in PRO.items() if k != key},
            optional=key != "type" and key not in PRO,
        )
        for key, kind in [
            ("name", "name"),
            ("type", "type"),
            ("region", "text"),
            ("memory", "size"),
            ("cloud_provider", "cloud"),
            ("version", "text"),
            ("tenant_id", "path_id"),
            ("storage", "size"),
            ("source_instance_id", "instance_id"),
            ("customer_managed_key_id", "path_id"),
            ("vector_optimized", "flag"),
            ("graph_analytics_plugin", "flag"),
        ]
    ),
    slot("instances.create", "source_snapshot_id", "path_id", **PRO, source_instance_id=ID),
    *(
        fixed(
            "instances.create",
            f"{kind}-without-{key}",
            (lambda kw: lambda a: a.instances.create(**kw))(
                {k: v for k, v in PRO.items() if k != key} | {"type": kind}
            ),
            field=key,
            words=[key],
        )
        for kind in ("professional-db", "business-critical", "enterprise-db")
        for key in ("region", "memory", "cloud_provider")
    ),
    # check_create is the same check, synchronous: fleets use it on every spec.
    slot(
        "instances.check_create",
        "name",
        "name",
        **{k: v for k, v in PRO.items() if k != "name"},
        optional=False,
    ),
    slot(
        "instances.check_create",
        "memory",
        "size",
        **{k: v for k, v in PRO.items() if k != "memory"},
    ),
    slot("instances.check_create", "type", "type", name="x", optional=False),
    # validate_create: check_create, then the project's catalogue (never read for these).
    slot(
        "instances.validate_create",
        "name",
        "name",
        **{k: v for k, v in PRO.items() if k != "name"},
        optional=False,
    ),
    slot(
        "instances.validate_create",
        "memory",
        "size",
        **{k: v for k, v in PRO.items() if k != "memory"},
    ),
    fixed(
        "instances.validate_create",
        "project-not-a-uuid",
        lambda a: a.instances.validate_create(**PRO, tenant_id="not-a-uuid"),
        field="tenant_id",
        words=["UUID"],
    ),
    slot("instances.validate_resize", "memory", "size", storage=None),
    slot("instances.validate_resize", "storage", "size", memory=None),
    fixed(
        "instances.validate_resize",
        "project-not-a-uuid",
        lambda a: a.instances.validate_resize(memory="4GB", storage=None, tenant_id="not-a-uuid"),
        field="tenant_id",
        words=["UUID"],
    ),
    slot("instances.update", 0, "instance_id", name="x", field="instance_id"),
    slot("instances.update", "name", "name", ID),
    slot("instances.update", "memory", "size", ID),
    slot("instances.update", "storage", "size", ID),
    slot("instances.update", "vector_optimized", "flag", ID),
    slot("instances.update", "graph_analytics_plugin", "flag", ID),
    slot("instances.update", "secondaries_count", "count", ID, words=["secondaries_count"]),
    slot("instances.update", "cdc_enrichment_mode", "cdc", ID),
    fixed(
        "instances.update",
        "nothing",
        lambda a: a.instances.update(ID),
        field=None,
        words=["at least one thing to change"],
    ),
    slot("instances.delete", 0, "instance_id", field="instance_id"),
    slot("instances.ensure_deleted", 0, "instance_id", field="instance_id"),
    slot("instances.not_found_counts_from", 0, "instance_id", field="instance_id"),
    slot("instances.ensure_deleted", "timeout", "timeout", ID),
    slot("instances.verify", "timeout", "timeout", LOGIN),
    slot("instances.list", "sent_after", "moment"),
    slot("instances.pause", 0, "instance_id", field="instance_id"),
    slot("instances.resume", 0, "instance_id", field="instance_id"),
    slot("instances.overwrite", 0, "instance_id", source_instance_id=ID, field="instance_id"),
    slot("instances.overwrite", "source_instance_id", "instance_id", ID, optional=False),
    slot("instances.overwrite", "source_snapshot_id", "path_id", ID, source_instance_id=ID),
    slot("instances.upgrade", 0, "instance_id", field="instance_id"),
    slot("instances.upgrade", "memory", "size", ID, storage="16GB", optional=False),
    slot("instances.upgrade", "storage", "size", ID, memory="8GB", optional=False),
    fixed(
        "instances.upgrade",
        "memory-alone",
        lambda a: a.instances.upgrade(ID, memory="8GB"),
        field="storage",
        words=["storage"],
    ),
    slot("instances.sizing", "node_count", "count", relationship_count=1, optional=False),
    slot("instances.sizing", "relationship_count", "count", node_count=1, optional=False),
    slot("instances.sizing", "instance_type", "type", **GRAPH),
    slot("instances.sizing", "algorithm_categories", "strings", **GRAPH, optional=False),
    *_wait_slots("instances.wait", (ID,), [("instance_id", "instance_id")]),
    slot("instances.wait", 1, "operation", ID, field="operation", optional=False),
    slot("instances.wait", "memory", "size", ID, "resize"),
    slot("instances.wait", "storage", "size", ID, "resize"),
    fixed(
        "instances.wait",
        "resize-without-size",
        lambda a: a.instances.wait(ID, "resize"),
        field="memory",
        words=["memory"],
    ),
    # ----------------------------------------------------------------------- snapshots
    slot("snapshots.list", 0, "instance_id", field="instance_id"),
    slot("snapshots.list", "date", "date", ID),
    slot("snapshots.get", 0, "instance_id", SNAP, field="instance_id"),
    slot("snapshots.get", 1, "path_id", ID, field="snapshot_id"),
    slot("snapshots.create", 0, "instance_id", field="instance_id"),
    slot("snapshots.restore", 0, "instance_id", SNAP, field="instance_id"),
    slot("snapshots.restore", 1, "path_id", ID, field="snapshot_id"),
    *_wait_slots(
        "snapshots.wait", (ID, SNAP), [("instance_id", "instance_id"), ("snapshot_id", "path_id")]
    ),
    # ----------------------------------------------------------- customer managed keys
    slot("customer_managed_keys.list", "tenant_id", "path_id"),
    slot("customer_managed_keys.get", 0, "path_id", field="key_id"),
    slot("customer_managed_keys.delete", 0, "path_id", field="key_id"),
    *(
        slot(
            "customer_managed_keys.create",
            key,
            kind,
            **{k: v for k, v in KEY.items() if k != key},
            optional=key == "tenant_id",
        )
        for key, kind in [
            ("name", "name"),
            ("key_id", "text"),
            ("region", "text"),
            ("cloud_provider", "cloud"),
            ("instance_type", "type"),
            ("tenant_id", "path_id"),
        ]
    ),
    *_wait_slots("customer_managed_keys.wait", (SNAP,), [("key_id", "path_id")]),
    # ---------------------------------------------------------------- graph analytics
    slot("graph_analytics.list", "instance_id", "instance_id"),
    slot("graph_analytics.list", "tenant_id", "path_id"),
    slot("graph_analytics.list", "organization_id", "path_id"),
    slot("graph_analytics.get", 0, "path_id", field="session_id"),
    slot("graph_analytics.delete", 0, "path_id", field="session_id"),
    *(
        slot(
            "graph_analytics.create",
            key,
            kind,
            **{k: v for k, v in SESSION.items() if k != key},
            optional=key in ("ttl", "tenant_id"),
        )
        for key, kind in [
            ("name", "text"),  # a session's name has no length limit
            ("memory", "size"),
            ("ttl", "ttl"),
            ("cloud_provider", "cloud"),
            ("region", "text"),
            ("tenant_id", "path_id"),
        ]
    ),
    slot(
        "graph_analytics.create",
        "instance_id",
        "instance_id",
        name="s",
        memory="4GB",
        label="attached-instance_id",
    ),
    slot("graph_analytics.create", "database_uuid", "text", **ATTACHED),
    slot("graph_analytics.create", "tenant_id", "path_id", **ATTACHED, label="attached-tenant"),
    fixed(
        "graph_analytics.create",
        "standalone-without-region",
        lambda a: a.graph_analytics.create(name="s", memory="4GB", cloud_provider="gcp"),
        field="region",
        words=["region"],
    ),
    *(
        slot(
            "graph_analytics.sizing",
            key,
            "count",
            **{k: v for k, v in GRAPH.items() if k != key},
            optional=key not in GRAPH,
        )
        for key in (
            "node_count",
            "relationship_count",
            "node_property_count",
            "node_label_count",
            "relationship_property_count",
        )
    ),
    slot("graph_analytics.sizing", "algorithm_categories", "strings", **GRAPH, optional=False),
    *_wait_slots("graph_analytics.wait", (SNAP,), [("session_id", "path_id")]),
    # ------------------------------------------------------------------------ timeouts
    *(
        slot(entry, "timeout", "timeout", *args, **kwargs, label="timeout")
        for entry, args, kwargs in TIMEOUTS
    ),
    # --------------------------------------------------------------------------- fleet
    *(
        Slot("fleet.create", f"spec-{key}", kind, _spec_with(key), (key,), (key,))
        for key, kind in _SPEC_KINDS.items()  # None: see REGRESSIONS
    ),
    slot(
        "fleet.create",
        0,
        "specs",
        store=MemoryStore(),
        field="specs",
        words=["spec"],
        optional=False,
    ),
    slot("fleet.create", "count", "fleet_count", InstanceSpec(**PRO), store=MemoryStore()),
    slot(
        "fleet.create",
        "pattern",
        "pattern",
        InstanceSpec(**PRO),
        count=12,
        store=MemoryStore(),
        fields=["pattern", "name"],
        words=["pattern", "name"],
        optional=False,
    ),
    slot(
        "fleet.create",
        "on_error",
        "policy",
        InstanceSpec(**PRO),
        store=MemoryStore(),
        optional=False,
    ),
    slot("fleet.create", "timeout", "fleet_timeout", InstanceSpec(**PRO), store=MemoryStore()),
    slot(
        "fleet.create", "adopt", "boolean", InstanceSpec(**PRO), store=MemoryStore(), optional=False
    ),
    slot(
        "fleet.create",
        "verify",
        "boolean",
        InstanceSpec(**PRO),
        store=MemoryStore(),
        optional=False,
    ),
    slot(
        "fleet.create",
        "attempts",
        "attempts",
        InstanceSpec(**PRO),
        store=MemoryStore(),
        optional=False,
    ),
    *(
        slot(
            f"fleet.{verb}",
            0,
            "targets",
            field="targets",
            words=["instance", "targets"],
            optional=False,
            **extra,
        )
        for verb, extra in [
            ("pause", {}),
            ("resume", {}),
            ("snapshot", {}),
            ("delete", {}),
            ("resize", {"memory": "4GB"}),
        ]
    ),
    *(
        slot(f"fleet.{verb}", "timeout", "fleet_timeout", IDS, **extra)
        for verb, extra in [
            ("pause", {}),
            ("resume", {}),
            ("snapshot", {}),
            ("delete", {}),
            ("resize", {"memory": "4GB"}),
        ]
    ),
    *(
        slot(f"fleet.{verb}", "on_error", "policy", IDS, **extra, optional=False)
        for verb, extra in [("pause", {}), ("resume", {}), ("delete", {})]
    ),
    *(
        fixed(
            f"fleet.{verb}",
            "rollback",
            (lambda v: lambda a: getattr(a.fleet, v)(IDS, on_error="rollback"))(verb),
            field="on_error",
            words=["on_error"],
        )
        for verb in ("pause", "resume", "snapshot", "delete")
    ),
    slot("fleet.resize", "memory", "size", IDS),
    slot("fleet.resize", "storage", "size", IDS, memory="4GB"),
    fixed(
        "fleet.resize", "no-size", lambda a: a.fleet.resize(IDS), field="memory", words=["memory"]
    ),
    # Selectors: built inside the call, so a refusal by the constructor counts as the call's.
    *(
        Slot(
            entry,
            f"selector-{param}",
            kind,
            _selector_with(entry, param, base),
            (field,),
            tuple(words),
            optional=optional,
        )
        for entry in ("fleet.select", "fleet.delete")
        for param, kind, base, field, words, optional in [
            ("ids", "selector_ids", {}, "ids", ["ids"], True),
            ("prefix", "nonempty_text", {}, "prefix", ["prefix"], True),
            ("glob", "nonempty_text", {}, "glob", ["glob"], True),
            ("older_than", "age", {}, "older_than", ["age"], True),
            ("everything", "boolean", {"prefix": "ci-"}, "everything", ["everything"], False),
            ("tenant_id", "path_id", {"prefix": "ci-"}, "tenant_id", ["tenant_id"], True),
        ]
    ),
    fixed(
        "fleet.select",
        "no-criterion",
        lambda a: a.fleet.select(Selector()),
        field="selector",
        words=["choose instances"],
    ),
    slot("fleet.recover", "tenant_id", "path_id", MemoryStore()),
]


# --------------------------------------------------------------------------- SDK fixtures


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@attrs.define
class Rig:
    """An in-process emulator, two clients of it, and its counters."""

    control: httpx.AsyncClient
    aura: AuraClient  # the project is its default tenant

    async def counted(self) -> tuple[int, int]:
        """(requests answered, tokens issued) so far, from ``/_emulator/counters``."""
        response = await self.control.get("/_emulator/counters")
        assert response.status_code == 200, response.text
        data = response.json()
        return data["requests_total"], data["tokens_issued"]

    async def invoke(self, call: Callable[[AuraClient], Any]) -> object:
        """Make the call (awaited if it is a coroutine), in 5 seconds at the most."""
        with anyio.fail_after(5):
            result = call(self.aura)
            if inspect.isawaitable(result):
                return await result
            return result

    async def refuses(self, call: Callable[[AuraClient], Any]) -> ValidationError:
        """Make the call; return the ValidationError it raised, having sent nothing."""
        before = await self.counted()
        with pytest.raises(ValidationError) as caught:
            await self.invoke(call)
        after = await self.counted()
        assert after == before, f"sent {after[0] - before[0]} requests: {caught.value}"
        text = str(caught.value)
        assert "\n" not in text, text
        assert len(text) < 2000, text
        return caught.value


@pytest.fixture(scope="module")
async def rig() -> AsyncIterator[Rig]:
    transport = httpx.ASGITransport(app=create_app(EmulatorConfig(seed=3)))
    control = httpx.AsyncClient(transport=transport, base_url="http://emulator.test")

    def client(tenant: str | None) -> AuraClient:
        return AuraClient(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            tenant_id=tenant,
            base_url="http://emulator.test",
            transport=transport,
            rate_limit=None,
        )

    async with client(DEFAULT_PROJECT_ID) as aura:
        yield Rig(control, aura)
    await control.aclose()


# ------------------------------------------------------------------------------- SDK tests


def test_every_public_entry_point_is_in_the_campaign() -> None:
    """A new public method must come with its bad input here (tenants.list takes none)."""
    client = AuraClient("id", "secret")
    public = set()
    for group in (
        "tenants",
        "instances",
        "snapshots",
        "customer_managed_keys",
        "graph_analytics",
        "fleet",
    ):
        for name, _ in inspect.getmembers(type(getattr(client, group)), inspect.isfunction):
            if not name.startswith("_"):
                public.add(f"{group}.{name}")
    covered = {s.entry for s in SLOTS}
    assert covered == public - {"tenants.list"}
    assert len(public) >= 39  # 26 API operations, 5 waits, check_create, 8 fleet verbs


@pytest.mark.parametrize("case", [s for s in SLOTS if s.kind == "fixed"], ids=lambda s: s.id)
async def test_missing_and_contradictory_arguments_are_refused(rig: Rig, case: Slot) -> None:
    error = await rig.refuses(lambda aura: case.call(aura, None))
    assert error.field in case.fields, (error.field, str(error))
    assert any(word in str(error) for word in case.words), str(error)


def _fuzzed(case: Slot) -> Callable[..., Awaitable[None]]:
    """The test of one slot: hypothesis draws its bad values before the event loop runs.

    (One test per slot rather than ``st.data()`` in a parametrized test: a draw inside the
    coroutine that hypothesis rejects would stop the test from within anyio's runner.)
    """
    values = BAD[case.kind]
    if case.optional:
        values = values.filter(lambda v: v is not None)  # None is "not given" there

    @FUZZ
    @given(value=values)
    async def test(rig: Rig, value: object) -> None:
        error = await rig.refuses(lambda aura: case.call(aura, value))
        assert error.field in case.fields, (error.field, str(error))
        assert any(word in str(error) for word in case.words), str(error)

    test.__doc__ = f"{case.entry}: a bad {case.label} ({case.kind}) is refused, nothing sent."
    return test


def _register_fuzzed() -> None:
    for case in SLOTS:
        if case.kind == "fixed":
            continue
        name = "test_bad_" + re.sub(r"\W+", "_", case.id)
        while name in globals():
            name += "_"
        test = _fuzzed(case)
        test.__name__ = test.__qualname__ = name
        globals()[name] = test


_register_fuzzed()


async def test_the_witness_counts_what_is_sent(rig: Rig) -> None:
    """The control: the same client and counters DO see a valid call."""
    before = await rig.counted()
    await rig.aura.instances.list()
    sent, tokens = await rig.counted()
    assert sent > before[0]
    assert tokens >= before[1]


# ----------------------------------------------------------------- specs, ages, patterns

# Specs as a spec file's tables give them: every key of InstanceSpec, strings and booleans.
_SPEC_KEYS = tuple(field.name for field in attrs.fields(InstanceSpec))
_BOOL_KEYS = ("vector_optimized", "graph_analytics_plugin")
_TOML_SCALARS = st.one_of(
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(min_size=1, max_size=3), st.integers(), max_size=2),
)


@FUZZ_MORE
@given(
    key=st.sampled_from(_SPEC_KEYS),
    value=_TOML_SCALARS,
    unknown=st.from_regex(r"[a-z][a-z_]{0,14}", fullmatch=True),
    defect=st.sampled_from(["wrong type", "unknown key", "missing name", "missing type"]),
)
def test_spec_mappings_with_one_defect_are_refused_naming_the_key(
    key: str, value: object, unknown: str, defect: str
) -> None:
    data: dict[str, Any] = dict(PRO)
    if defect == "wrong type":
        if key in _BOOL_KEYS:
            assume(not isinstance(value, bool))
        elif isinstance(value, bool):
            pass  # a boolean is no string either
        data[key] = value
        expected = key
    elif defect == "unknown key":
        assume(unknown not in _SPEC_KEYS)
        data[unknown] = "x"
        expected = unknown
    else:
        expected = defect.split()[1]
        del data[expected]
    with pytest.raises(ValidationError) as caught:
        InstanceSpec.from_mapping(data, where="fleet.toml: [[instance]] #1")
    assert caught.value.field == expected
    assert repr(expected) in str(caught.value)
    assert str(caught.value).startswith("fleet.toml: [[instance]] #1:")


@FUZZ_MORE
@given(age=bad_ages)
def test_unreadable_or_not_positive_ages_are_refused(age: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_age(age)  # type: ignore[arg-type]
    assert caught.value.field == "older_than"
    assert "age" in str(caught.value)


@FUZZ_MORE
@given(pattern=bad_patterns, count=st.integers(11, 12))  # {n!s:.1} repeats from 11
def test_name_patterns_that_cannot_name_the_copies_are_refused(pattern: str, count: int) -> None:
    """expand() refuses the pattern, or makes names that check_create then refuses."""
    copies = _refused(lambda: expand(InstanceSpec(**PRO), count, pattern))
    if isinstance(copies, ValidationError):
        assert copies.field == "pattern"
        assert "pattern" in str(copies)
        return
    assert len({c.name for c in copies}) == count
    client = AuraClient("id", "secret", tenant_id=DEFAULT_PROJECT_ID)
    refused = [
        _refused(lambda c=copy: client.instances.check_create(**c.create_arguments()))
        for copy in copies
    ]
    fields = {r.field for r in refused if isinstance(r, ValidationError)}
    assert fields == {"name"}, (pattern, [c.name for c in copies])


def _refused(call: Callable[[], T]) -> T | ValidationError:
    """What ``call`` returns, or the ValidationError it raised."""
    try:
        return call()
    except ValidationError as error:
        return error


# --------------------------------------------------------------------------- regressions
# Each of these once escaped as a crash (or sent requests) and was fixed; the key says how.


def _pause_with_ledger_text(aura: AuraClient) -> Awaitable[object]:
    return aura.fleet.pause(Selector(ids=[ID], ledger="./aura-credentials"))  # type: ignore[arg-type]


REGRESSIONS: dict[str, Callable[[AuraClient], Any]] = {
    # Resource waits compare the timeout with 0 without checking its type (the fleet does).
    "timeout as text: TypeError (instances.pause)": lambda a: a.instances.pause(ID, timeout="60"),
    "timeout as text: TypeError (instances.create)": lambda a: a.instances.create(
        **PRO, timeout="60"
    ),
    "timeout as list: TypeError (snapshots.wait)": lambda a: a.snapshots.wait(
        ID, SNAP, timeout=[1]
    ),
    "timeout as text: TypeError (graph_analytics.create)": lambda a: a.graph_analytics.create(
        **SESSION, timeout="1"
    ),
    # parse_age makes a timedelta of any float: huge, infinite or NaN ages escape.
    "age infinite: OverflowError": lambda a: Selector(older_than=math.inf),
    "age NaN: ValueError": lambda a: Selector(older_than=math.nan),
    "age 1e300 s: OverflowError": lambda a: Selector(older_than=1e300),
    "age '99999999999999999999w': OverflowError": lambda a: parse_age("99999999999999999999w"),
    # Selector(ids=...) calls tuple() on anything that is not text.
    "selector ids not iterable: TypeError": lambda a: Selector(ids=5),  # type: ignore[arg-type]
    # expand() catches KeyError/IndexError/ValueError from str.format, not these.
    "pattern '{n[0]}': TypeError": lambda a: a.fleet.create(
        InstanceSpec(**PRO), count=2, pattern="{n[0]}", store=MemoryStore()
    ),
    "pattern '{n.x}': AttributeError": lambda a: a.fleet.create(
        InstanceSpec(**PRO), count=2, pattern="{n.x}", store=MemoryStore()
    ),
    "pattern '{name.x}-{n}': AttributeError": lambda a: a.fleet.create(
        InstanceSpec(**PRO), count=2, pattern="{name.x}-{n}", store=MemoryStore()
    ),
    # check_distinct puts names in a set before check_create looks at their type.
    "spec name a list: TypeError (unhashable)": lambda a: a.fleet.create(
        InstanceSpec(**(PRO | {"name": ["db"]})), store=MemoryStore()
    ),
    # A selector's ledger is not checked: the listing is SENT, then AttributeError.
    "selector ledger not a store: requests sent, then AttributeError": _pause_with_ledger_text,
    # recover() asserts on a missing store; any other object fails later.
    "recover(None): AssertionError": lambda a: a.fleet.recover(None),  # type: ignore[arg-type]
    "recover('dir'): AttributeError": lambda a: a.fleet.recover("dir"),  # type: ignore[arg-type]
    "from_mapping(None): TypeError": lambda a: InstanceSpec.from_mapping(None),  # type: ignore[arg-type]
    # create_arguments() drops None, so check_create misses a required argument.
    "spec type None: TypeError (missing argument)": lambda a: a.fleet.create(
        InstanceSpec(**(PRO | {"type": None})), store=MemoryStore()
    ),
    "spec name None: TypeError (missing argument)": lambda a: a.fleet.create(
        InstanceSpec(**(PRO | {"name": None})), store=MemoryStore()
    ),
}


@pytest.mark.parametrize("case", list(REGRESSIONS))
async def test_once_a_crash_now_refused(rig: Rig, case: str) -> None:
    await rig.refuses(REGRESSIONS[case])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5min", 300), ("2hrs", 7200), ("1day", 86400), ("2days", 172800), ("10secs", 10)],
)
def test_age_units_it_lists_are_read(text: str, seconds: int) -> None:
    """parse_age's own unit list has sec, min, hr, day(s): "5min" is 5 minutes (once refused)."""
    assert parse_age(text) == dt.timedelta(seconds=seconds)


# =========================================================================== command line

CLI_PRO = (
    "--type",
    "professional-db",
    "--memory",
    "2GB",
    "--region",
    "europe-west1",
    "--cloud-provider",
    "gcp",
)


def _cli_text(min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    return st.text(_LINE, min_size=min_size, max_size=max_size)


def _one_line(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[str]:
    """The text values of a strategy that print on one line (as a shell passes them)."""
    return strategy.filter(
        lambda v: (
            isinstance(v, str)
            and len(v.splitlines()) <= 1
            and "\n" not in v
            and all(c.isprintable() or c == " " for c in v)
        )
    ).map(str)


CLI_BAD: dict[str, st.SearchStrategy[str]] = {
    "instance_id_given": _one_line(bad_instance_ids).filter(bool),
    "name": st.one_of(
        st.just(""),
        _cli_text(31, 40),
        _cli_text(0, 20).map(lambda s: f" {s}"),
        _cli_text(0, 20).map(lambda s: f"{s} "),
    ),
    "text": st.sampled_from(["", " ", "  ", "\u2003"]),
    "instance_id": _one_line(bad_instance_ids),
    "path_id": _one_line(bad_path_ids),
    "size": _one_line(bad_sizes.map(lambda v: v if isinstance(v, str) else str(v))),
    "type": _one_line(bad_enum(InstanceType).map(str)),
    "cloud": _one_line(bad_enum(CloudProvider).map(str)),
    "cdc": _one_line(bad_enum(CdcEnrichmentMode).map(str)),
    "date": _one_line(bad_dates.map(str)),
    "ttl": _one_line(
        bad_ttls.filter(lambda v: isinstance(v, str | int | float) and not isinstance(v, bool))
        .map(str)
        .filter(lambda s: not _DURATION.fullmatch(s))
    ),
    "age": _one_line(
        bad_ages.filter(
            lambda v: isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool))
        ).map(str)
    ),
    "negative": st.integers(max_value=-1).map(str),
    "not_int": _cli_text(1, 6).filter(lambda s: not _is_int(s)),
    "not_positive": st.one_of(st.integers(max_value=0).map(str), st.just("x")),
    # Invalid as seconds, as a duration (10m) and as an age (2h) alike.
    "duration": st.one_of(
        st.sampled_from(["-1", "-0.5", "x", "forever", "5y", "soon", "nan", "-inf", "1h-5m"]),
        st.integers(max_value=-1).map(str),
        st.text("abcefgijklnopqrtuvxyz", min_size=1, max_size=6),
    ),
    "choice": _cli_text(0, 8).filter(
        lambda s: (
            s
            not in (
                "table",
                "json",
                "jsonl",
                "running",
                "paused",
                "deleted",
                "continue",
                "stop",
                "rollback",
            )
        )
    ),
    "pattern": bad_patterns.filter(bool),  # "": see CLI_REGRESSIONS
    "categories": st.sampled_from([",", "a,,b", " ,x", "x, ", ",,"]),
    "rate": st.sampled_from(["0", "-5", "fast", "5/0", "5/-1", "1/x", "nan/60", "125/inf"]),
    "scale": st.sampled_from(["0", "-1", "nan", "inf", "x", "-inf"]),
}


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


@attrs.frozen
class CliCase:
    """A command with one bad value: ``argv`` with ``"?"`` where the value goes."""

    argv: tuple[str, ...]
    kind: str
    words: tuple[str, ...]

    @property
    def id(self) -> str:
        return " ".join(self.argv) + f" <{self.kind}>"

    def args(self, value: str) -> list[str]:
        return [value if a == "?" else a.replace("=?", f"={value}") for a in self.argv]


def flag(*argv: str, kind: str, words: Sequence[str]) -> CliCase:
    """A case; the error line may name the flag taking the value instead of ``words``."""
    options = [a.split("=", 1)[0] for a in argv if a.endswith("=?")]
    return CliCase(tuple(argv), kind, (*words, *options))


def _plain(text: str) -> str:
    """Lower case, ``-`` as ``_``: ``--cloud-provider``, ``cloud_provider`` and
    ``INSTANCE_ID`` compare as the same name."""
    return text.lower().replace("-", "_")


def _named(option: str) -> tuple[str, ...]:
    """An option and the SDK field it becomes: either may name it in the error."""
    bare = option.lstrip("-")
    return (option, bare, bare.replace("-", "_"))


_KEY_FLAGS = {
    "name": "--name",
    "key_id": "--key-id",
    "region": "--region",
    "cloud_provider": "--cloud-provider",
    "instance_type": "--type",
}

CLI_CASES: list[CliCase] = [
    # ------------------------------------------------------------------------ global
    flag("--output=?", "tenant", "list", kind="choice", words=_named("--output")),
    flag("--rate-limit=?", "tenant", "list", kind="rate", words=_named("--rate-limit")),
    flag("--time-scale=?", "tenant", "list", kind="scale", words=_named("--time-scale")),
    # ---------------------------------------------------------------------- instance
    *(
        flag("instance", verb, "--", "?", kind="instance_id", words=["instance_id", "ID must be"])
        for verb in ("get", "pause", "resume", "delete", "wait", "upgrade")
    ),
    flag("instance", "update", "--name=x", "--", "?", kind="instance_id", words=["instance_id"]),
    flag(
        "instance",
        "overwrite",
        f"--source-instance-id={ID}",
        "--",
        "?",
        kind="instance_id",
        words=["instance_id"],
    ),
    flag(
        "instance",
        "overwrite",
        "--source-instance-id=?",
        ID,
        kind="instance_id_given",  # "": see CLI_REGRESSIONS
        words=["source_instance_id"],
    ),
    flag(
        "instance",
        "overwrite",
        f"--source-instance-id={ID}",
        "--source-snapshot-id=?",
        ID,
        kind="path_id",
        words=["source_snapshot_id"],
    ),
    flag("instance", "create", "--name=?", *CLI_PRO, kind="name", words=["name"]),
    flag(
        "instance",
        "create",
        "--name=x",
        "--type=?",
        "--memory=2GB",
        "--region=europe-west1",
        "--cloud-provider=gcp",
        kind="type",
        words=["type"],
    ),
    flag("instance", "create", "--name=x", *CLI_PRO, "--memory=?", kind="size", words=["memory"]),
    flag("instance", "create", "--name=x", *CLI_PRO, "--storage=?", kind="size", words=["storage"]),
    flag("instance", "create", "--name=x", *CLI_PRO, "--region=?", kind="text", words=["region"]),
    flag(
        "instance",
        "create",
        "--name=x",
        *CLI_PRO,
        "--cloud-provider=?",
        kind="cloud",
        words=["cloud_provider"],
    ),
    flag("instance", "create", "--name=x", *CLI_PRO, "--version=?", kind="text", words=["version"]),
    flag(
        "instance",
        "create",
        "--name=x",
        *CLI_PRO,
        "--tenant-id=?",
        kind="path_id",
        words=["tenant_id"],
    ),
    flag(
        "instance",
        "create",
        "--name=x",
        *CLI_PRO,
        "--source-instance-id=?",
        kind="instance_id",
        words=["source_instance_id"],
    ),
    flag(
        "instance",
        "create",
        "--name=x",
        *CLI_PRO,
        "--customer-managed-key-id=?",
        kind="path_id",
        words=["customer_managed_key_id"],
    ),
    flag(
        "instance",
        "create",
        "--name=x",
        *CLI_PRO,
        "--timeout=?",
        kind="duration",
        words=_named("--timeout"),
    ),
    flag("instance", "update", ID, "--name=?", kind="name", words=["name"]),
    flag("instance", "update", ID, "--memory=?", kind="size", words=["memory"]),
    flag("instance", "update", ID, "--storage=?", kind="size", words=["storage"]),
    flag(
        "instance",
        "update",
        ID,
        "--cdc-enrichment-mode=?",
        kind="cdc",
        words=["cdc_enrichment_mode"],
    ),
    flag(
        "instance",
        "update",
        ID,
        "--secondaries-count=?",
        kind="negative",
        words=["secondaries_count"],
    ),
    flag(
        "instance",
        "update",
        ID,
        "--secondaries-count=?",
        kind="not_int",
        words=_named("--secondaries-count"),
    ),
    flag("instance", "pause", ID, "--timeout=?", kind="duration", words=_named("--timeout")),
    flag("instance", "upgrade", ID, "--memory=?", "--storage=16GB", kind="size", words=["memory"]),
    flag("instance", "upgrade", ID, "--memory=8GB", "--storage=?", kind="size", words=["storage"]),
    flag(
        "instance",
        "sizing",
        "--node-count=?",
        "--relationship-count=1",
        kind="negative",
        words=["node_count"],
    ),
    flag(
        "instance",
        "sizing",
        "--node-count=1",
        "--relationship-count=?",
        kind="not_int",
        words=_named("--relationship-count"),
    ),
    flag(
        "instance",
        "sizing",
        "--node-count=1",
        "--relationship-count=1",
        "--instance-type=?",
        kind="type",
        words=["instance_type"],
    ),
    flag(
        "instance",
        "sizing",
        "--node-count=1",
        "--relationship-count=1",
        "--algorithm-categories=?",
        kind="categories",
        words=["algorithm_categories"],
    ),
    flag("instance", "wait", ID, "--status=?", kind="choice", words=_named("--status")),
    flag("instance", "wait", ID, "--timeout=?", kind="duration", words=_named("--timeout")),
    # --------------------------------------------------------------------- snapshots
    flag(
        "instance", "snapshot", "list", "--instance-id=?", kind="instance_id", words=["instance_id"]
    ),
    flag(
        "instance",
        "snapshot",
        "list",
        f"--instance-id={ID}",
        "--date=?",
        kind="date",
        words=["date"],
    ),
    flag(
        "instance",
        "snapshot",
        "get",
        "--instance-id=?",
        SNAP,
        kind="instance_id",
        words=["instance_id"],
    ),
    flag(
        "instance",
        "snapshot",
        "get",
        f"--instance-id={ID}",
        "--",
        "?",
        kind="path_id",
        words=["snapshot_id"],
    ),
    flag(
        "instance",
        "snapshot",
        "create",
        "--instance-id=?",
        kind="instance_id",
        words=["instance_id"],
    ),
    flag(
        "instance",
        "snapshot",
        "restore",
        f"--instance-id={ID}",
        "--",
        "?",
        kind="path_id",
        words=["snapshot_id"],
    ),
    # ------------------------------------------------------------------------ tenant
    flag("tenant", "get", "--", "?", kind="path_id", words=["tenant_id"]),
    # --------------------------------------------------------- customer managed keys
    flag("cmk", "list", "--tenant-id=?", kind="path_id", words=["tenant_id"]),
    flag("cmk", "get", "--", "?", kind="path_id", words=["key_id"]),
    flag("cmk", "delete", "--", "?", kind="path_id", words=["key_id"]),
    *(
        flag(
            "customer-managed-key",
            "create",
            *(
                f"{option}=?" if field == key else f"{option}={KEY[field]}"
                for field, option in _KEY_FLAGS.items()
            ),
            kind=kind,
            words=[key],
        )
        for key, kind in [
            ("name", "name"),
            ("key_id", "text"),
            ("region", "text"),
            ("cloud_provider", "cloud"),
            ("instance_type", "type"),
        ]
    ),
    # ------------------------------------------------------------- graph analytics
    flag(
        "graph-analytics",
        "session",
        "list",
        "--instance-id=?",
        kind="instance_id",
        words=["instance_id"],
    ),
    flag(
        "graph-analytics", "session", "list", "--tenant-id=?", kind="path_id", words=["tenant_id"]
    ),
    flag(
        "graph-analytics",
        "session",
        "list",
        "--organization-id=?",
        kind="path_id",
        words=["organization_id"],
    ),
    flag("graph-analytics", "session", "get", "--", "?", kind="path_id", words=["session_id"]),
    flag("graph-analytics", "session", "delete", "--", "?", kind="path_id", words=["session_id"]),
    *(
        flag(
            "graph-analytics",
            "session",
            "create",
            *[f"--{k.replace('_', '-')}={v}" for k, v in SESSION.items() if k != key],
            f"--{key.replace('_', '-')}=?",
            kind=kind,
            words=[key],
        )
        for key, kind in [
            ("name", "text"),
            ("memory", "size"),
            ("cloud_provider", "cloud"),
            ("region", "text"),
            ("ttl", "ttl"),
            ("tenant_id", "path_id"),
        ]
    ),
    flag(
        "graph-analytics",
        "session",
        "create",
        "--name=s",
        "--memory=4GB",
        "--instance-id=?",
        kind="instance_id",
        words=["instance_id"],
    ),
    flag(
        "graph-analytics",
        "session",
        "sizing",
        "--node-count=1",
        "--relationship-count=?",
        kind="negative",
        words=["relationship_count"],
    ),
    flag(
        "graph-analytics",
        "session",
        "sizing",
        "--node-count=1",
        "--relationship-count=1",
        "--node-label-count=?",
        kind="negative",
        words=["node_label_count"],
    ),
    # ------------------------------------------------------------------------- fleet
    flag(
        "fleet",
        "up",
        "--count=?",
        "--name=x",
        *CLI_PRO,
        kind="not_positive",
        words=_named("--count"),
    ),
    flag(
        "fleet",
        "up",
        "--count=12",
        "--name=x",
        "--name-pattern=?",
        *CLI_PRO,
        kind="pattern",
        words=["pattern", "name"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        "--type=?",
        "--memory=2GB",
        "--region=europe-west1",
        "--cloud-provider=gcp",
        kind="type",
        words=["type"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--memory=?",
        kind="size",
        words=["memory"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--storage=?",
        kind="size",
        words=["storage"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--region=?",
        kind="text",
        words=["region"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--cloud-provider=?",
        kind="cloud",
        words=["cloud_provider"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--source-instance-id=?",
        kind="instance_id",
        words=["source_instance_id"],
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--timeout=?",
        kind="duration",
        words=_named("--timeout"),
    ),
    flag(
        "fleet",
        "up",
        "--count=2",
        "--name=x",
        *CLI_PRO,
        "--on-error=?",
        kind="choice",
        words=_named("--on-error"),
    ),
    *(
        flag("fleet", verb, *extra, "--id=?", kind="instance_id", words=["ids"])
        for verb, extra in [
            ("down", ()),
            ("pause", ()),
            ("resume", ()),
            ("snapshot", ()),
            ("status", ()),
            ("resize", ("--memory=4GB",)),
        ]
    ),
    *(
        flag("fleet", verb, *extra, "--older-than=?", kind="age", words=_named("--older-than"))
        for verb, extra in [("down", ()), ("pause", ()), ("status", ())]
    ),
    *(
        flag(
            "fleet",
            verb,
            "--prefix=ci-",
            *extra,
            "--timeout=?",
            kind="duration",
            words=_named("--timeout"),
        )
        for verb, extra in [("down", ()), ("resume", ()), ("resize", ("--memory=4GB",))]
    ),
    flag(
        "fleet",
        "snapshot",
        "--prefix=ci-",
        "--on-error=?",
        kind="choice",
        words=_named("--on-error"),
    ),
    flag("fleet", "resize", "--prefix=ci-", "--memory=?", kind="size", words=["memory"]),
    flag("fleet", "resize", "--prefix=ci-", "--storage=?", kind="size", words=["storage"]),
]

# One call each: no value to fuzz.
CLI_FIXED: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "fleet down without a criterion": (("fleet", "down"), ("--id", "--prefix", "--all")),
    "fleet status with an empty prefix only": (("fleet", "status", "--prefix="), ("--prefix",)),
    "fleet resize without a size": (("fleet", "resize", "--prefix=ci-"), ("--memory",)),
    "fleet up without count or file": (("fleet", "up", *CLI_PRO), ("--count", "--spec-file")),
    "fleet up --count without --type": (("fleet", "up", "--count=2", "--name=x"), ("--type",)),
    "fleet up pattern with {name} and no --name": (
        ("fleet", "up", "--count=2", *CLI_PRO),
        ("--name",),
    ),
    "fleet up --rollback against --on-error": (
        ("fleet", "up", "--count=2", "--name=x", *CLI_PRO, "--rollback", "--on-error=stop"),
        ("--rollback",),
    ),
    "fleet up --spec-file with flags": (
        ("fleet", "up", "--spec-file=fleet.toml", "--count=2"),
        ("--spec-file",),
    ),
    "fleet up --spec-file missing": (("fleet", "up", "--spec-file=missing.toml"), ("--spec-file",)),
    "instance update with nothing": (("instance", "update", ID), ("change",)),
    "instance upgrade with memory alone": (
        ("instance", "upgrade", ID, "--memory=8GB"),
        ("storage",),
    ),
    "instance create without --type": (("instance", "create", "--name=x"), ("--type",)),
    "instance create paid without region": (
        (
            "instance",
            "create",
            "--name=x",
            "--type=professional-db",
            "--memory=2GB",
            "--cloud-provider=gcp",
        ),
        ("region",),
    ),
    "instance overwrite without source": (("instance", "overwrite", ID), ("--source-instance-id",)),
    "instance sizing without counts": (
        (
            "instance",
            "sizing",
        ),
        ("--node-count",),
    ),
    "instance wait without ids": (("instance", "wait"), ("ID",)),
    "session create standalone without region": (
        (
            "graph-analytics",
            "session",
            "create",
            "--name=s",
            "--memory=4GB",
            "--cloud-provider=gcp",
        ),
        ("region",),
    ),
    "cmk create for a paid tier": (
        (
            "cmk",
            "create",
            "--name=k",
            "--key-id=k",
            "--region=r",
            "--cloud-provider=aws",
            "--type=professional-db",
        ),
        ("enterprise-db",),
    ),
    "unknown command": (("instances", "list"), ("instances",)),
    "unknown option": (("instance", "list", "--colour=red"), ("--colour",)),
}


@attrs.define
class Cli:
    """The command, run in process against an emulator on loopback."""

    server: EmulatorServer
    directory: Path
    http: httpx.Client
    runner: CliRunner = attrs.Factory(CliRunner)

    def sent(self) -> int:
        """Requests the emulator answered on /v1 and /oauth so far."""
        response = self.http.get("/_emulator/counters")
        response.raise_for_status()
        return sum(
            sum(statuses.values())
            for route, statuses in response.json()["requests"].items()
            if not route.split(" ", 1)[1].startswith("/_emulator")
        )

    def run(self, *args: str) -> Result:
        return self.runner.invoke(cli, list(args), catch_exceptions=True)

    def refuses(self, args: Sequence[str], words: Sequence[str]) -> str:
        """Run; check exit 2, one error line naming one of ``words``, nothing sent."""
        before = self.sent()
        result = self.run(*args)
        sent = self.sent() - before
        shown = f"{list(args)} -> exit {result.exit_code}\n{result.output}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"crashed: {result.exception!r}\n{shown}") from result.exception
        assert result.exit_code == 2, shown
        assert "Traceback" not in result.output, shown
        assert result.stdout == "", shown
        errors = [line for line in result.stderr.splitlines() if line.lower().startswith("error")]
        assert len(errors) == 1, shown
        # One line in all: click's Usage/Try lines are gone too (issue 12).
        assert result.stderr.count("\n") == 1, shown
        tail = result.stderr[result.stderr.lower().index("error") :]
        assert tail.rstrip("\n").count("\n") == 0, f"the error is not the last line: {shown}"
        named = any(_plain(word) in _plain(errors[0]) for word in words)
        assert named, f"does not name {list(words)}: {shown}"
        assert sent == 0, f"sent {sent} requests: {shown}"
        return errors[0]


@pytest.fixture(scope="module")
def command(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    directory = tmp_path_factory.mktemp("cli")
    register(cli)
    with (
        EmulatorServer(EmulatorConfig(time_scale=600.0, seed=11)) as server,
        httpx.Client(base_url=server.base_url) as http,
        pytest.MonkeyPatch.context() as patch,
    ):
        # Every command builds a client, and httpx a TLS context for it (25 ms of reading
        # certificates) that plain HTTP to the emulator never uses: build it once.
        default_context = functools.cache(httpx_transports.create_ssl_context)
        patch.setattr(httpx_transports, "create_ssl_context", default_context)
        patch.chdir(directory)
        for name in ("AURA_RATE_LIMIT", "AURA_CONFIG", "CI", "AURA_LEDGER_DIR"):
            patch.delenv(name, raising=False)
        patch.setenv("AURA_CLIENT_ID", server.client_id)
        patch.setenv("AURA_CLIENT_SECRET", server.client_secret)
        patch.setenv("AURA_TENANT_ID", server.project_id)
        patch.setenv("AURA_BASE_URL", server.base_url)
        patch.setenv("AURA_TIME_SCALE", "600")
        patch.setenv("XDG_CONFIG_HOME", str(directory / "xdg"))
        (directory / "fleet.toml").write_text('[[instance]]\nname = "a"\ntype = "free-db"\n')
        yield Cli(server, directory, http)


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
@FUZZ
@given(data=st.data())
def test_cli_bad_value_exits_2_naming_it(command: Cli, case: CliCase, data: st.DataObject) -> None:
    value = data.draw(CLI_BAD[case.kind], label=case.kind)
    command.refuses(case.args(value), case.words)


@pytest.mark.parametrize("case", list(CLI_FIXED))
def test_cli_usage_errors_exit_2_naming_the_flag(command: Cli, case: str) -> None:
    args, words = CLI_FIXED[case]
    command.refuses(args, words)


def test_cli_witness_counts_what_is_sent(command: Cli) -> None:
    """The control: the same runner and counters DO see a valid command."""
    before = command.sent()
    result = command.run("tenant", "list")
    assert result.exit_code == 0, result.output
    assert command.sent() - before == 2  # the token, the listing


# ------------------------------------------------------------------------------ spec files

_SIMPLE = string.ascii_lowercase + string.digits + "-"
_spec_names = st.text(_SIMPLE, min_size=1, max_size=12)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def _toml(defaults: dict[str, object], instances: list[dict[str, object]]) -> str:
    lines = []
    if defaults:
        lines.append("[defaults]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in defaults.items()]
    for entry in instances:
        lines.append("[[instance]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
    return "\n".join(lines) + "\n"


_DEFAULTS = {k: v for k, v in PRO.items() if k != "name"}
_TOML_VALUES = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.dates(),
    st.lists(st.integers(0, 9), max_size=2),
    st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
)
_STRING_KEYS = [k for k in _SPEC_KEYS if k not in _BOOL_KEYS]


@st.composite
def bad_spec_files(draw: st.DrawFn) -> tuple[str | bytes, tuple[str, ...]]:
    """A spec file with one defect, and the words its error line must hold."""
    names = draw(st.lists(_spec_names, min_size=1, max_size=4, unique=True))
    instances: list[dict[str, object]] = [{"name": n} for n in names]
    defaults: dict[str, object] = dict(_DEFAULTS)
    where = draw(st.integers(0, len(instances) - 1))
    defect = draw(
        st.sampled_from(
            [
                "unknown key",
                "unknown default",
                "wrong type",
                "wrong flag type",
                "missing name",
                "missing type",
                "same name",
                "name as default",
                "top-level table",
                "single table",
                "no instances",
                "empty instance list",
                "defaults not a table",
                "invalid TOML",
                "not UTF-8",
                "invalid value",
            ]
        )
    )
    if defect == "unknown key":
        key = draw(
            st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
                lambda k: k not in _SPEC_KEYS
            )
        )
        instances[where][key] = "x"
        return _toml(defaults, instances), (key,)
    if defect == "unknown default":
        key = draw(
            st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
                lambda k: k not in _SPEC_KEYS
            )
        )
        defaults[key] = "x"
        return _toml(defaults, instances), (key,)
    if defect == "wrong type":
        key = draw(st.sampled_from(_STRING_KEYS))
        instances[where][key] = draw(_TOML_VALUES)
        return _toml(defaults, instances), (f"'{key}'",)
    if defect == "wrong flag type":
        key = draw(st.sampled_from(_BOOL_KEYS))
        instances[where][key] = draw(st.one_of(st.integers(0, 1), st.sampled_from(["true", "no"])))
        return _toml(defaults, instances), (f"'{key}'",)
    if defect == "missing name":
        del instances[where]["name"]
        instances[where]["memory"] = "4GB"  # the table must not be empty
        return _toml(defaults, instances), ("'name'",)
    if defect == "missing type":
        del defaults["type"]
        return _toml(defaults, instances), ("'type'",)
    if defect == "same name":
        instances.append({"name": names[where]})
        return _toml(defaults, instances), ("twice",)
    if defect == "name as default":
        defaults["name"] = names[0]
        return _toml(defaults, instances), ("'name'",)
    if defect == "top-level table":
        table = draw(st.sampled_from(["instances", "default", "spec", "fleet"]))
        return _toml(defaults, instances) + f"[{table}]\nx = 1\n", (table,)
    if defect == "single table":
        return _toml(defaults, []) + f'[instance]\nname = "{names[0]}"\n', ("[[instance]]",)
    if defect == "no instances":
        return _toml(defaults, []), ("[[instance]]",)
    if defect == "empty instance list":
        return "instance = []\n" + _toml(defaults, []), ("[[instance]]",)
    if defect == "defaults not a table":
        return 'defaults = "pro"\n' + _toml({}, instances), ("defaults",)
    if defect == "invalid TOML":
        text = _toml(defaults, instances)
        broken = draw(
            st.sampled_from(
                [
                    text.replace("[[instance]]", "[[instance]", 1),
                    text.replace('"', "", 1),
                    text + 'name = "again"\n',  # a key twice in one table
                    text + "= 5\n",
                    text.replace(" = ", " ", 1),
                ]
            )
        )
        return broken, ("not valid TOML",)
    if defect == "not UTF-8":
        return _toml(defaults, instances).encode() + b'note = "\xff\xfe"\n', ("UTF-8",)
    # A value of the right type the API would refuse: named by its key.
    key, value = draw(
        st.sampled_from(
            [
                ("memory", "2G"),
                ("memory", "0GB"),
                ("type", "mega-db"),
                ("cloud_provider", "ibm"),
                ("region", " "),
                ("name", "x" * 31),
                ("name", " padded"),
                ("storage", "-1GB"),
                ("source_instance_id", "XYZ"),
                ("tenant_id", "a/b"),
            ]
        )
    )
    instances[where][key] = value
    return _toml(defaults, instances), (key,)


@FUZZ_MORE
@given(spec=bad_spec_files())
def test_bad_spec_files_exit_2_naming_the_file_and_key(
    command: Cli, spec: tuple[str | bytes, tuple[str, ...]]
) -> None:
    text, words = spec
    path = command.directory / "bad.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    line = command.refuses(["fleet", "up", "--spec-file", "bad.toml"], words)
    assert "bad.toml" in line, line
    # The same file through the SDK: load_spec_file, then check_create, refuse it too.
    with pytest.raises(ValidationError) as caught:
        _load_and_check(path)
    assert any(word in str(caught.value) for word in words), str(caught.value)


def _load_and_check(path: Path) -> None:
    client = AuraClient("id", "secret", tenant_id=DEFAULT_PROJECT_ID)
    for spec in load_spec_file(path):
        client.instances.check_create(**spec.create_arguments())


def test_the_generated_spec_files_are_valid_but_for_their_defect() -> None:
    """The generator's control: without a defect, its TOML loads and checks."""
    text = _toml(_DEFAULTS, [{"name": "a"}, {"name": "b", "memory": "4GB"}])
    assert tomllib.loads(text)["instance"][1]["memory"] == "4GB"


# --------------------------------------------------------------------------- CLI regressions

CLI_REGRESSIONS: dict[str, tuple[str, ...]] = {
    # parse_age overflows (see REGRESSIONS): OverflowError escapes the option's callback.
    "--older-than 99999999999999999999w: OverflowError, exit 1, traceback": (
        "fleet",
        "down",
        "--older-than",
        "99999999999999999999w",
    ),
    # expand() lets TypeError/AttributeError out of str.format.
    "--name-pattern {n[0]}: TypeError, exit 1, traceback": (
        "fleet",
        "up",
        "--count",
        "2",
        "--name",
        "x",
        "--name-pattern",
        "{n[0]}",
        *CLI_PRO,
    ),
    "--name-pattern {name.x}-{n}: AttributeError, exit 1, traceback": (
        "fleet",
        "up",
        "--count",
        "2",
        "--name",
        "x",
        "--name-pattern",
        "{name.x}-{n}",
        *CLI_PRO,
    ),
    # `source_instance_id or instance_id`: an empty source is taken for none, and the
    # instance is overwritten with ITSELF (the request is sent; the SDK refuses "").
    "overwrite --source-instance-id '': the instance's own data, request sent": (
        "instance",
        "overwrite",
        "--source-instance-id",
        "",
        ID,
    ),
    # `pattern or DEFAULT_PATTERN`: an empty pattern is taken for none, and instances are
    # CREATED by the default pattern (the SDK refuses pattern="").
    "--name-pattern '': the default pattern is used, requests sent": (
        "fleet",
        "up",
        "--count",
        "1",
        "--no-wait",
        "--name",
        "x",
        "--name-pattern",
        "",
        *CLI_PRO,
    ),
}


@pytest.mark.parametrize("case", list(CLI_REGRESSIONS))
def test_cli_once_a_crash_now_refused(command: Cli, case: str) -> None:
    command.refuses(
        CLI_REGRESSIONS[case],
        ("--older-than", "--timeout", "pattern", "age", "--source-instance-id"),
    )

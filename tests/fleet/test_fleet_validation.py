"""Every fleet verb checks all its input before sending anything.

Each case calls a verb with one thing wrong on a fresh client and checks the error (its class,
field and message) and that the emulator answered nothing at all: not even a token request.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from aura_async import AuraClient, ValidationError
from aura_async.fleet import InstanceSpec, MemoryStore, Selector

from .conftest import Rig, spec

pytestmark = pytest.mark.timeout(30)

Call = Callable[[AuraClient], Coroutine[Any, Any, Any]]
STORE = MemoryStore()
IDS = ["0a1b2c3d", "4e5f6a7b"]

CREATE_CASES: dict[str, tuple[Call, str, str]] = {
    "bad memory": (
        lambda a: a.fleet.create(spec("db", memory="two gigs"), count=2, store=STORE),
        "memory",
        "spec 'db-1'",
    ),
    "unknown type": (
        lambda a: a.fleet.create([spec("ok"), spec("db", type="mega-db")], store=STORE),
        "type",
        "type must be one of",
    ),
    "name over 30 characters": (
        lambda a: a.fleet.create([spec("ok"), spec("n" * 31)], store=STORE),
        "name",
        "1 to 30 characters",
    ),
    "pattern makes a long name": (
        lambda a: a.fleet.create(spec("x" * 28), count=10, store=STORE),
        "name",
        "1 to 30 characters",
    ),
    "duplicate names": (
        lambda a: a.fleet.create([spec("twin"), spec("other"), spec("twin")], store=STORE),
        "name",
        "'twin' appears twice",
    ),
    "count zero": (
        lambda a: a.fleet.create(spec("db"), count=0, store=STORE),
        "count",
        "count must be a whole number",
    ),
    "count as text": (
        lambda a: a.fleet.create(spec("db"), count="3", store=STORE),  # type: ignore[arg-type]
        "count",
        "count must be a whole number",
    ),
    "count True": (
        lambda a: a.fleet.create(spec("db"), count=True, store=STORE),
        "count",
        "count must be a whole number",
    ),
    "count with a list": (
        lambda a: a.fleet.create([spec("a"), spec("b")], count=2, store=STORE),
        "count",
        "count applies to one spec",
    ),
    "pattern without n": (
        lambda a: a.fleet.create(spec("db"), count=2, pattern="{name}-x", store=STORE),
        "pattern",
        "must contain {n}",
    ),
    "pattern of the name alone": (
        lambda a: a.fleet.create(spec("db"), count=1, pattern="{name}", store=STORE),
        "pattern",
        "must contain {n}",
    ),
    "pattern with an unknown field": (
        lambda a: a.fleet.create(spec("db"), count=2, pattern="{name}-{n}-{zone}", store=STORE),
        "pattern",
        "malformed",
    ),
    "pattern repeats a name": (
        lambda a: a.fleet.create(spec("db"), count=12, pattern="{name}-{n!s:.1}", store=STORE),
        "pattern",
        "makes the same name twice",
    ),
    "no specs": (lambda a: a.fleet.create([], store=STORE), "specs", "no specs given"),
    "not a spec": (
        lambda a: a.fleet.create([spec("a"), {"name": "b"}], store=STORE),  # type: ignore[list-item]
        "specs",
        "must be an InstanceSpec",
    ),
    "bad policy": (
        lambda a: a.fleet.create(spec("db"), count=2, on_error="retry", store=STORE),
        "on_error",
        "on_error must be one of continue, stop, rollback",
    ),
    "negative timeout": (
        lambda a: a.fleet.create(spec("db"), count=2, timeout=-1, store=STORE),
        "timeout",
        "timeout must be seconds",
    ),
    "timeout as text": (
        lambda a: a.fleet.create(spec("db"), count=2, timeout="60", store=STORE),  # type: ignore[arg-type]
        "timeout",
        "timeout must be seconds",
    ),
    "timeout NaN": (
        lambda a: a.fleet.create(spec("db"), count=2, timeout=float("nan"), store=STORE),
        "timeout",
        "timeout must be seconds",
    ),
}

CHANGE_CASES: dict[str, tuple[Call, str, str]] = {
    "no targets": (lambda a: a.fleet.pause([]), "targets", "no instances given"),
    "ids as one string": (
        lambda a: a.fleet.delete("0a1b2c3d"),  # a str is a Sequence[str]: refused at run time
        "targets",
        "list of instance ids or a Selector",
    ),
    "malformed id": (
        lambda a: a.fleet.resume(["0a1b2c3d", "not-an-id"]),
        "targets",
        "8 hex characters",
    ),
    "resize without a size": (lambda a: a.fleet.resize(IDS), "memory", "memory or storage"),
    "resize to a bad size": (lambda a: a.fleet.resize(IDS, memory="huge"), "memory", "memory"),
    "pause with a bad timeout": (
        lambda a: a.fleet.pause(IDS, timeout=-5),
        "timeout",
        "timeout must be seconds",
    ),
    "snapshot with a bad policy": (
        lambda a: a.fleet.snapshot(IDS, on_error="ignore"),
        "on_error",
        "on_error must be one of",
    ),
    **{
        f"rollback on {verb}": (
            (lambda v: lambda a: getattr(a.fleet, v)(IDS, on_error="rollback"))(verb),
            "on_error",
            "applies to create only",
        )
        for verb in ("pause", "resume", "snapshot", "delete")
    },
    "rollback on resize": (
        lambda a: a.fleet.resize(IDS, memory="4GB", on_error="rollback"),
        "on_error",
        "applies to create only",
    ),
}

SELECTOR_CASES: dict[str, tuple[Callable[[], Selector], str, str]] = {
    "no criterion": (lambda: Selector(), "selector", "choose instances by ids, prefix"),
    "ids as one string": (
        lambda: Selector(ids="0a1b2c3d"),  # a str is a Collection[str]: refused at run time
        "ids",
        "write ['0a1b2c3d']",
    ),
    "empty ids": (lambda: Selector(ids=[]), "ids", "non-empty list"),
    "malformed id": (lambda: Selector(ids=["0a1b2c3d", "XYZ"]), "ids", "8 hex characters"),
    "unreadable age": (lambda: Selector(older_than="yesterday"), "older_than", "cannot read"),
    "zero age": (lambda: Selector(older_than="0s"), "older_than", "must be positive"),
    "negative age": (lambda: Selector(older_than=-60), "older_than", "must be positive"),
    "empty prefix": (lambda: Selector(prefix=""), "prefix", "non-empty text"),
    "everything as text": (
        lambda: Selector(prefix="x", everything="yes"),  # type: ignore[arg-type]
        "everything",
        "True or False",
    ),
}


async def _nothing_sent(rig: Rig) -> None:
    counters = await rig.counters()
    assert counters["requests_total"] == 0, counters["requests"]
    assert counters["tokens_issued"] == 0
    assert rig.statuses() == {}


@pytest.mark.parametrize("case", list(CREATE_CASES) + list(CHANGE_CASES))
async def test_invalid_call_sends_nothing(
    rig: Rig, case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_LEDGER_DIR", str(tmp_path / "default-ledger"))
    call, field, words = {**CREATE_CASES, **CHANGE_CASES}[case]
    aura = rig.client()
    with pytest.raises(ValidationError) as caught:
        await call(aura)
    assert caught.value.field == field, caught.value
    assert words in str(caught.value), str(caught.value)
    await _nothing_sent(rig)
    assert not (tmp_path / "default-ledger").exists()


@pytest.mark.parametrize("case", list(SELECTOR_CASES))
async def test_invalid_selector_is_refused_before_anything_is_sent(rig: Rig, case: str) -> None:
    build, field, words = SELECTOR_CASES[case]
    with pytest.raises(ValidationError) as caught:
        build()
    assert caught.value.field == field
    assert words in str(caught.value), str(caught.value)
    await _nothing_sent(rig)


async def test_a_valid_selector_with_nothing_to_choose_sends_only_the_listing(rig: Rig) -> None:
    aura = rig.client()
    report = await aura.fleet.pause(Selector(prefix="nothing-"))
    assert report.items == ()
    assert report.ok
    requests = (await rig.counters())["requests"]
    assert set(requests) == {"POST /oauth/token", "GET /v1/instances"}
    assert requests["GET /v1/instances"] == {"200": 1}


def test_spec_from_mapping_names_the_bad_key() -> None:
    with pytest.raises(ValidationError, match=r"fleet\.toml#2: unknown key"):
        InstanceSpec.from_mapping(
            {"name": "a", "type": "free-db", "colour": "red"}, where="fleet.toml#2"
        )
    with pytest.raises(ValidationError, match="'memory' must be a string"):
        InstanceSpec.from_mapping({"name": "a", "type": "free-db", "memory": 2})

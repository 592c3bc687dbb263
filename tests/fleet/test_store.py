"""The credential store: no one-time password is lost, no created instance is unknown.

Shared behaviour (intent -> credentials -> mark, the joined ledger, lookup, concurrency, no
password anywhere) runs against both stores. The file store is also checked for what makes it
safe on disk: private modes (files are created 0600, never briefly readable by others),
atomic replacement (a failed rename or fsync leaves the previous version and no partial file),
fsync of the file and its directory before a call returns, corrupt files skipped on recovery,
and a cancelled caller that still waits for its write. Then the ``.env`` writer (read back with
python-dotenv) and the ``.gitignore`` keeper, with git and with the fallback pattern check.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import attrs
import pytest
from dotenv import dotenv_values

from aura_async.errors import CredentialStoreError
from aura_async.fleet import store as store_module
from aura_async.fleet.store import (
    Credentials,
    CredentialStore,
    EntryState,
    FileStore,
    Intent,
    LedgerEntry,
    MemoryStore,
    default_store_directory,
    ensure_gitignored,
    new_intent_id,
    write_env_file,
)
from aura_async.models import CloudProvider, CreatedInstance, InstanceType

# Quotes, a backslash, a $VAR, a comment sign and '=': all must survive JSON and .env.
PASSWORD = "zq7-SECRET-pw 'single' \"double\" back\\slash $HOME #not-a-comment a=b"
T0 = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def intent(name: str = "app-1", *, at: dt.datetime = T0, **spec: Any) -> Intent:
    return Intent(
        intent_id=new_intent_id(),
        name=name,
        spec={"memory": "2GB", "region": "europe-west1", **spec},
        tenant_id="tenant-1",
        started_at=at,
    )


def credentials(
    instance_id: str = "a1b2c3d4", name: str = "app-1", password: str = PASSWORD
) -> Credentials:
    return Credentials(
        instance_id=instance_id,
        name=name,
        username="neo4j",
        password=password,
        connection_url=f"neo4j+s://{instance_id}.databases.neo4j.io",
        tenant_id="tenant-1",
        created_at=T0,
    )


def no_secret(*texts: object) -> None:
    for text in texts:
        assert PASSWORD not in str(text)
        assert "SECRET" not in str(text)


def error_text(error: BaseException) -> str:
    """Everything an error shows: message, repr, args, and the whole chained traceback."""
    return "\n".join(
        [str(error), repr(error), repr(error.args), *traceback.format_exception(error)]
    )


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> FileStore | MemoryStore:
    if request.param == "file":
        return FileStore(tmp_path / "ledger")
    return MemoryStore()


@pytest.fixture
def file_store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "state" / "aura-async" / "ledger")


@pytest.fixture
def umask_zero() -> Iterator[None]:
    """No umask: any mode the store does not set itself explicitly would show as 0644/0755."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


async def only_entry(store: CredentialStore) -> LedgerEntry:
    (entry,) = await store.entries()
    return entry


# --------------------------------------------------------------------------- both stores


async def test_intent_then_credentials_then_mark(store: CredentialStore) -> None:
    wanted = intent(memory="4GB", tags={"team": "graph", "n": [1, 2]})
    await store.record_intent(wanted)
    entry = await only_entry(store)
    assert (entry.intent_id, entry.name, entry.state) == (wanted.intent_id, "app-1", "intended")
    assert entry.intent == wanted
    assert entry.intent is not None
    assert entry.intent.started_at.tzinfo is not None
    assert (entry.instance_id, entry.credentials) == (None, None)

    saved = credentials()
    await store.save_credentials(saved, intent_id=wanted.intent_id)
    entry = await only_entry(store)
    assert entry.state is EntryState.CREATED
    assert (entry.instance_id, entry.credentials, entry.intent) == ("a1b2c3d4", saved, wanted)
    assert entry.credentials is not None
    assert entry.credentials.password == PASSWORD
    created_at = entry.updated_at

    await store.mark(wanted.intent_id, EntryState.DELETED)
    entry = await only_entry(store)
    assert entry.state is EntryState.DELETED
    assert (entry.instance_id, entry.credentials) == ("a1b2c3d4", saved)
    assert entry.updated_at >= created_at
    assert entry.updated_at.tzinfo is not None


@pytest.mark.parametrize("state", [EntryState.NOT_CREATED, EntryState.LOST, EntryState.ADOPTED])
async def test_reconciled_states(store: CredentialStore, state: EntryState) -> None:
    wanted = intent()
    await store.record_intent(wanted)
    instance_id = None if state is EntryState.NOT_CREATED else "f00dcafe"
    await store.mark(wanted.intent_id, state, instance_id=instance_id)
    entry = await only_entry(store)
    assert (entry.state, entry.instance_id, entry.credentials) == (state, instance_id, None)
    assert entry.intent == wanted


async def test_mark_keeps_the_instance_id_when_none_is_given(store: CredentialStore) -> None:
    wanted = intent()
    await store.record_intent(wanted)
    await store.mark(wanted.intent_id, EntryState.ADOPTED, instance_id="f00dcafe")
    await store.mark(wanted.intent_id, EntryState.DELETED)
    entry = await only_entry(store)
    assert (entry.state, entry.instance_id) == (EntryState.DELETED, "f00dcafe")


async def test_marking_an_unknown_intent_fails(store: CredentialStore) -> None:
    with pytest.raises(CredentialStoreError, match="no readable intent") as caught:
        await store.mark(new_intent_id(), EntryState.DELETED)
    assert caught.value.location == store.location
    assert await store.entries() == []


@pytest.mark.parametrize("intent_id", [None, "never-recorded"])
async def test_credentials_without_a_recorded_intent_are_created_entries(
    store: CredentialStore, intent_id: str | None
) -> None:
    saved = credentials()
    await store.save_credentials(saved, intent_id=intent_id)
    entry = await only_entry(store)
    assert (entry.state, entry.intent, entry.credentials) == (EntryState.CREATED, None, saved)
    assert (entry.name, entry.instance_id) == ("app-1", "a1b2c3d4")
    if intent_id is not None:
        assert entry.intent_id == intent_id
    # Every entry can be marked by its intent id, even one that never had an intent.
    await store.mark(entry.intent_id, EntryState.DELETED)
    assert (await only_entry(store)).state is EntryState.DELETED


async def test_entries_are_ordered_by_when_they_started(store: CredentialStore) -> None:
    late, early = intent("late", at=T0), intent("early", at=T0 - dt.timedelta(hours=1))
    await store.record_intent(late)
    await store.record_intent(early)
    await store.save_credentials(credentials("0rphan00", "orphan"), intent_id=None)
    names = [entry.name for entry in await store.entries()]
    assert names == ["early", "late", "orphan"]


async def test_lookup(store: CredentialStore) -> None:
    # The newer one sorts first by id, so "the last one read" would be the wrong answer.
    first, second = credentials("1111aaaa", "shared"), credentials("0000bbbb", "shared")
    other = credentials("3333cccc", "other")
    for saved in (first, second, other):
        await store.save_credentials(saved, intent_id=None)
    assert await store.lookup(instance_id="1111aaaa") == first
    assert await store.lookup(name="shared") == second  # the newest saved for the name
    assert await store.lookup(name="other") == other
    assert await store.lookup(name="shared", instance_id="1111aaaa") == first
    assert await store.lookup(name="other", instance_id="1111aaaa") is None
    assert await store.lookup(instance_id="99999999") is None
    assert await store.lookup(instance_id="../../etc/passwd") is None
    assert await store.lookup(name="nobody") is None
    with pytest.raises(TypeError):
        await store.lookup()


async def test_a_spec_that_is_not_json_is_refused_before_anything_is_written(
    store: CredentialStore,
) -> None:
    with pytest.raises(CredentialStoreError, match="not JSON"):
        await store.record_intent(intent(when=dt.datetime.now()))
    assert await store.entries() == []


@pytest.mark.parametrize("bad", ["../escape", ".hidden", "a/b", ""])
async def test_ids_that_cannot_name_a_file_are_refused(store: CredentialStore, bad: str) -> None:
    with pytest.raises(CredentialStoreError, match="cannot name a ledger file"):
        await store.record_intent(attrs.evolve(intent(), intent_id=bad))
    with pytest.raises(CredentialStoreError, match="cannot name a ledger file"):
        await store.save_credentials(credentials(instance_id=bad), intent_id=None)
    with pytest.raises(CredentialStoreError, match="cannot name a ledger file"):
        await store.mark(bad, EntryState.DELETED)


async def test_a_bad_intent_id_does_not_keep_the_password_from_being_saved(
    store: CredentialStore,
) -> None:
    with pytest.raises(CredentialStoreError, match="cannot name a ledger file"):
        await store.save_credentials(credentials(), intent_id="../bad")
    assert await store.lookup(instance_id="a1b2c3d4") == credentials()


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory in memory (tmpfs) when there is one: a thousand creates of files on a busy
    disk take seconds, and this is about concurrency, not the disk."""
    shm = Path("/dev/shm")  # noqa: S108 (only a private TemporaryDirectory is made in it)
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm) as directory:
        yield Path(directory)


@pytest.mark.parametrize("kind", ["file", "memory"])
async def test_hundreds_of_concurrent_saves_all_land(kind: str, fast_dir: Path) -> None:
    store = FileStore(fast_dir / "ledger") if kind == "file" else MemoryStore()
    count = 500
    intents = [intent(f"app-{i}") for i in range(count)]
    async with anyio.create_task_group() as group:
        for wanted in intents[::2]:
            group.start_soon(store.record_intent, wanted)

    async def save(i: int) -> None:
        # Half of them belong to a recorded intent, half were saved without one.
        intent_id = intents[i].intent_id if i % 2 == 0 else None
        saved = credentials(f"i{i:07x}", f"app-{i}", password=f"{PASSWORD}-{i}")
        await store.save_credentials(saved, intent_id=intent_id)

    async with anyio.create_task_group() as group:
        for i in range(count):
            group.start_soon(save, i)

    entries = await store.entries()
    assert len(entries) == count
    assert {entry.state for entry in entries} == {EntryState.CREATED}
    by_name = {entry.name: entry for entry in entries}
    for i in range(count):
        entry = by_name[f"app-{i}"]
        assert entry.instance_id == f"i{i:07x}"
        assert entry.credentials is not None
        assert entry.credentials.password == f"{PASSWORD}-{i}"
        assert (entry.intent is not None) == (i % 2 == 0)
    assert await store.lookup(name="app-321") == credentials(
        "i0000141", "app-321", f"{PASSWORD}-321"
    )


async def test_no_password_in_any_repr_str_or_log(
    store: CredentialStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wanted = intent()
    await store.record_intent(wanted)
    await store.save_credentials(credentials(), intent_id=wanted.intent_id)
    await store.mark(wanted.intent_id, EntryState.DELETED)
    entries = await store.entries()
    found = await store.lookup(name="app-1")
    assert found is not None
    assert found.password == PASSWORD  # it is there, just never shown
    with pytest.raises(CredentialStoreError) as caught:
        await store.mark("missing", EntryState.DELETED)
    no_secret(
        repr(store), str(store), repr(entries), str(entries), repr(found), str(found),
        error_text(caught.value), caplog.text,
    )  # fmt: skip


async def test_both_stores_are_credential_stores(tmp_path: Path) -> None:
    file_store, memory = FileStore(tmp_path), MemoryStore()
    assert isinstance(file_store, CredentialStore)
    assert isinstance(memory, CredentialStore)
    assert file_store.location == str(tmp_path)
    assert repr(file_store) == f"FileStore({str(tmp_path)!r})"
    assert memory.location == "memory"


def test_credentials_from_a_create_answer() -> None:
    created = CreatedInstance(
        id="a1b2c3d4",
        connection_url="neo4j+s://a1b2c3d4.databases.neo4j.io",
        username="neo4j",
        password=PASSWORD,
        tenant_id="tenant-1",
        cloud_provider=CloudProvider.GCP,
        region="europe-west1",
        type=InstanceType.PROFESSIONAL_DB,
        name="app-1",
        created_at=T0,
    )
    assert Credentials.from_created(created) == credentials()
    no_secret(repr(Credentials.from_created(created)))


def test_intent_ids_are_unique_hex() -> None:
    ids = {new_intent_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)


# --------------------------------------------------------------------------- on disk


@pytest.mark.usefixtures("umask_zero")
async def test_directory_and_files_are_private(file_store: FileStore, tmp_path: Path) -> None:
    wanted = intent()
    await file_store.record_intent(wanted)
    await file_store.save_credentials(credentials(), intent_id=wanted.intent_id)
    ledger = file_store.directory
    for directory in (tmp_path / "state", tmp_path / "state" / "aura-async", ledger):
        assert mode(directory) == 0o700, directory
    assert mode(ledger / "intents") == mode(ledger / "credentials") == 0o700
    written = files_under(ledger)
    assert [p.relative_to(ledger).as_posix() for p in written] == [
        ".gitignore",
        "credentials/a1b2c3d4.json",
        f"intents/{wanted.intent_id}.json",
    ]
    assert all(mode(path) == 0o600 for path in written)
    assert "*" in (ledger / ".gitignore").read_text().splitlines()


async def test_an_existing_directory_others_can_read_is_tightened(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    ledger.chmod(0o755)
    parent_mode = mode(tmp_path)
    await FileStore(ledger).save_credentials(credentials(), intent_id=None)
    assert mode(ledger) == 0o700
    assert mode(tmp_path) == parent_mode  # what the store did not create is left alone


async def test_files_are_readable_json_with_zoned_times(file_store: FileStore) -> None:
    wanted = intent()
    await file_store.record_intent(wanted)
    await file_store.save_credentials(credentials(), intent_id=wanted.intent_id)
    path = file_store.directory / "credentials" / "a1b2c3d4.json"
    text = path.read_text()
    assert text.startswith('{\n  "format": 1,\n  "instance_id": "a1b2c3d4",')
    document = json.loads(text)
    assert document["password"] == PASSWORD
    assert document["intent_id"] == wanted.intent_id
    assert dt.datetime.fromisoformat(document["saved_at"]).tzinfo is not None
    record = json.loads((file_store.directory / "intents" / f"{wanted.intent_id}.json").read_text())
    assert (record["state"], record["instance_id"]) == ("created", "a1b2c3d4")
    assert record["intent"]["started_at"] == "2025-01-02T03:04:05+00:00"
    assert record["intent"]["spec"] == dict(wanted.spec)


def fail_for(
    monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[..., bool], seen: list[Any]
) -> None:
    """Make ``os.<name>`` fail with ENOSPC for the calls ``when`` picks (noting them in seen)."""
    real = getattr(os, name)

    def fake(*args: Any) -> Any:
        if when(*args):
            seen.append(args)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args)

    monkeypatch.setattr(os, name, fake)


@pytest.mark.usefixtures("umask_zero")
async def test_a_failed_rename_leaves_no_readable_or_partial_file(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await file_store.record_intent(intent())  # the directory exists
    temporary_modes: list[int] = []

    def at_our_rename(source: Any, target: Any) -> bool:
        if "credentials" not in str(target):
            return False
        temporary_modes.append(mode(Path(source)))
        assert json.loads(Path(source).read_text())["password"] == PASSWORD  # fully written
        return True

    fail_for(monkeypatch, "replace", at_our_rename, [])
    with pytest.raises(CredentialStoreError) as caught:
        await file_store.save_credentials(credentials(), intent_id=None)
    assert temporary_modes == [0o600]
    assert files_under(file_store.directory / "credentials") == []
    assert caught.value.location == str(file_store.directory)
    assert "a1b2c3d4" in str(caught.value)
    assert "No space left on device" in str(caught.value)
    assert isinstance(caught.value.__cause__, OSError)
    no_secret(error_text(caught.value))


@pytest.mark.parametrize("failing", ["fsync", "replace"])
async def test_a_failed_write_keeps_the_previous_version(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    wanted = intent()
    await file_store.record_intent(wanted)
    await file_store.save_credentials(credentials(), intent_id=wanted.intent_id)
    before = {path: path.read_bytes() for path in files_under(file_store.directory)}

    def regular_file(*args: Any) -> bool:
        if failing == "replace":
            return True
        return stat.S_ISREG(os.fstat(args[0]).st_mode)

    seen: list[Any] = []
    fail_for(monkeypatch, failing, regular_file, seen)
    with pytest.raises(CredentialStoreError) as caught:
        await file_store.save_credentials(credentials(password="new-one"), intent_id=None)
    no_secret(error_text(caught.value))
    with pytest.raises(CredentialStoreError, match=f"mark intent {wanted.intent_id}"):
        await file_store.mark(wanted.intent_id, EntryState.DELETED)
    assert len(seen) == 2
    monkeypatch.undo()
    assert {path: path.read_bytes() for path in files_under(file_store.directory)} == before
    entry = await only_entry(file_store)
    assert entry.state is EntryState.CREATED
    assert entry.credentials == credentials()


async def test_every_write_is_fsynced_file_then_directory(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await file_store.record_intent(intent("warm-up"))  # the directory exists
    calls: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        info = os.fstat(fd)
        calls.append(("dir" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    ledger = file_store.directory

    def inode(path: Path) -> int:
        return path.stat().st_ino

    wanted = intent()
    await file_store.record_intent(wanted)
    intent_file = ledger / "intents" / f"{wanted.intent_id}.json"
    assert calls == [("file", inode(intent_file)), ("dir", inode(ledger / "intents"))]

    calls.clear()
    await file_store.save_credentials(credentials(), intent_id=wanted.intent_id)
    # The password reaches the disk first, then the intent's new state.
    assert calls == [
        ("file", inode(ledger / "credentials" / "a1b2c3d4.json")),
        ("dir", inode(ledger / "credentials")),
        ("file", inode(intent_file)),
        ("dir", inode(ledger / "intents")),
    ]

    calls.clear()
    await file_store.mark(wanted.intent_id, EntryState.DELETED)
    assert calls == [("file", inode(intent_file)), ("dir", inode(ledger / "intents"))]


async def test_credentials_saved_before_a_crash_are_joined_to_their_intent(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = intent()
    await file_store.record_intent(wanted)
    # The intent update fails (as if the process died between the two writes).
    fail_for(monkeypatch, "replace", lambda _s, target: "intents" in str(target), [])
    with pytest.raises(CredentialStoreError, match="Saved the credentials of instance a1b2c3d4"):
        await file_store.save_credentials(credentials(), intent_id=wanted.intent_id)
    monkeypatch.undo()
    entry = await only_entry(file_store)
    assert (entry.intent, entry.state, entry.instance_id) == (wanted, "created", "a1b2c3d4")
    assert entry.credentials == credentials()


async def test_a_cancelled_caller_still_waits_for_its_write(
    file_store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = intent()
    await file_store.record_intent(wanted)
    real_fsync = os.fsync
    scope = anyio.CancelScope()

    def cancel_mid_write(fd: int) -> None:
        anyio.from_thread.run_sync(scope.cancel)  # while the credentials are being written
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", cancel_mid_write)
    with scope:
        await file_store.save_credentials(credentials(), intent_id=wanted.intent_id)
    monkeypatch.undo()
    assert scope.cancel_called
    # Both halves happened: the credentials and the intent's own record (not just the join).
    record = json.loads((file_store.directory / "intents" / f"{wanted.intent_id}.json").read_text())
    assert (record["state"], record["instance_id"]) == ("created", "a1b2c3d4")
    assert await file_store.lookup(instance_id="a1b2c3d4") == credentials()


async def test_corrupt_files_are_skipped_and_reported(
    file_store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    good = intent("good")
    await file_store.record_intent(good)
    await file_store.save_credentials(credentials("0000good", "good"), intent_id=good.intent_id)
    ledger = file_store.directory
    whole = (ledger / "credentials" / "0000good.json").read_text()
    truncated = ledger / "credentials" / "5eadbeef.json"
    truncated.write_text(whole.replace("0000good", "5eadbeef")[: whole.index('"password"') + 20])
    wrong_shape = ledger / "intents" / "broken.json"
    wrong_shape.write_text('{"intent_id": "broken", "state": "exploded"}')
    not_utf8 = ledger / "intents" / "binary.json"
    not_utf8.write_bytes(b"\xff\xfe\x00")
    leftover = ledger / "credentials" / ".0000good.json.abc123.tmp"  # a crashed write
    leftover.write_text(whole[:20])

    caplog.set_level(logging.WARNING, logger="aura_async")
    entries = await file_store.entries()
    assert [(e.name, e.state) for e in entries] == [("good", EntryState.CREATED)]
    assert sorted(file_store.unreadable) == sorted(map(str, [truncated, wrong_shape, not_utf8]))
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "aura_async"]
    assert {str(path) for path in (truncated, wrong_shape, not_utf8)} <= {
        str(r.args[0]) for r in warned if r.args
    }
    assert "not valid JSON" in caplog.text
    no_secret(caplog.text)
    assert await file_store.lookup(name="good") == credentials("0000good", "good")
    assert await file_store.lookup(instance_id="5eadbeef") is None


async def test_a_removed_directory_is_made_again(file_store: FileStore) -> None:
    await file_store.record_intent(intent())
    shutil.rmtree(file_store.directory)
    await file_store.save_credentials(credentials(), intent_id=None)
    assert (await only_entry(file_store)).credentials == credentials()
    assert (file_store.directory / ".gitignore").exists()


async def test_reading_a_ledger_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "nothing-yet")
    assert await store.entries() == []
    assert await store.lookup(name="app-1") is None
    assert not (tmp_path / "nothing-yet").exists()


async def test_a_directory_that_cannot_be_made_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    store = FileStore(tmp_path / "a-file" / "ledger")
    with pytest.raises(CredentialStoreError, match="Could not record the intent") as caught:
        await store.record_intent(intent())
    assert caught.value.location == str(tmp_path / "a-file" / "ledger")
    with pytest.raises(CredentialStoreError, match="Could not save the credentials") as caught:
        await store.save_credentials(credentials(), intent_id=None)
    no_secret(error_text(caught.value))


async def test_a_second_store_on_the_directory_reads_everything_back(tmp_path: Path) -> None:
    wanted = intent()
    await FileStore(tmp_path).record_intent(wanted)
    await FileStore(tmp_path).save_credentials(credentials(), intent_id=wanted.intent_id)
    entry = await only_entry(FileStore(tmp_path))
    assert (entry.intent, entry.credentials, entry.state) == (wanted, credentials(), "created")


# A ledger as the first version wrote it: offsets other than UTC, microseconds, non-ASCII text,
# a nested spec. It must read back, and be rewritten byte for byte but for what changed.
INTENT_V1 = """{
  "format": 1,
  "intent_id": "0123456789abcdef0123456789abcdef",
  "name": "app-ü",
  "state": "intended",
  "instance_id": null,
  "updated_at": "2025-01-02T05:04:06.123456+02:00",
  "intent": {
    "tenant_id": "tenant-1",
    "started_at": "2025-01-02T05:04:05+02:00",
    "spec": {
      "memory": "2GB",
      "tags": {
        "team": "graph",
        "n": [
          1,
          2.5,
          null,
          true
        ]
      }
    }
  }
}
"""
CREDENTIALS_V1 = r"""{
  "format": 1,
  "instance_id": "a1b2c3d4",
  "name": "app-ü",
  "username": "neo4j",
  "password": "pw 'q' \"d\" \\ ü",
  "connection_url": "neo4j+s://a1b2c3d4.databases.neo4j.io",
  "tenant_id": "tenant-1",
  "created_at": "2025-01-02T05:04:07+02:00",
  "intent_id": "0123456789abcdef0123456789abcdef",
  "saved_at": "2025-01-02T03:04:08+00:00"
}
"""


async def test_a_ledger_written_before_reads_back_and_is_rewritten_byte_for_byte(
    file_store: FileStore,
) -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    await file_store.prepare()
    intent_file = file_store.directory / "intents" / "0123456789abcdef0123456789abcdef.json"
    intent_file.write_text(INTENT_V1, encoding="utf-8")
    entry = await only_entry(file_store)
    assert entry.intent == Intent(
        intent_id="0123456789abcdef0123456789abcdef",
        name="app-ü",
        spec={"memory": "2GB", "tags": {"team": "graph", "n": [1, 2.5, None, True]}},
        tenant_id="tenant-1",
        started_at=dt.datetime(2025, 1, 2, 5, 4, 5, tzinfo=plus_two),
    )
    assert (entry.state, entry.instance_id) == (EntryState.INTENDED, None)
    assert entry.updated_at == dt.datetime(2025, 1, 2, 5, 4, 6, 123456, tzinfo=plus_two)

    await file_store.mark(entry.intent_id, EntryState.ADOPTED, instance_id="a1b2c3d4")
    rewritten = intent_file.read_text(encoding="utf-8")
    assert rewritten == (
        INTENT_V1.replace('"intended"', '"adopted"')
        .replace('"instance_id": null', '"instance_id": "a1b2c3d4"')
        .replace("2025-01-02T05:04:06.123456+02:00", json.loads(rewritten)["updated_at"])
    )

    credentials_file = file_store.directory / "credentials" / "a1b2c3d4.json"
    credentials_file.write_text(CREDENTIALS_V1, encoding="utf-8")
    found = await file_store.lookup(instance_id="a1b2c3d4")
    assert found == Credentials(
        instance_id="a1b2c3d4",
        name="app-ü",
        username="neo4j",
        password="pw 'q' \"d\" \\ ü",
        connection_url="neo4j+s://a1b2c3d4.databases.neo4j.io",
        tenant_id="tenant-1",
        created_at=dt.datetime(2025, 1, 2, 5, 4, 7, tzinfo=plus_two),
    )
    await file_store.save_credentials(found, intent_id=entry.intent_id)
    rewritten = credentials_file.read_text(encoding="utf-8")
    assert rewritten == CREDENTIALS_V1.replace(
        "2025-01-02T03:04:08+00:00", json.loads(rewritten)["saved_at"]
    )


def corrupt_credentials(**changes: object) -> dict[str, object]:
    return {**json.loads(CREDENTIALS_V1), "instance_id": "5eadbeef", **changes}


def corrupt_intent(**changes: object) -> dict[str, object]:
    return {**json.loads(INTENT_V1), "intent_id": "5eadbeef", **changes}


@pytest.mark.parametrize(
    ("document", "where"),
    [
        (corrupt_credentials(password=[PASSWORD]), "$.password"),
        (corrupt_credentials(password=PASSWORD, username={PASSWORD: PASSWORD}), "$.username"),
        (corrupt_credentials(password=PASSWORD, saved_at=PASSWORD), "$.saved_at"),
        (corrupt_credentials(password=PASSWORD, created_at=PASSWORD), "$.created_at"),
        (corrupt_credentials(password=PASSWORD, name=None), "$.name"),
        (corrupt_intent(state=PASSWORD), "$.state"),
        (corrupt_intent(intent=PASSWORD), "$.intent"),
        (corrupt_intent(intent={"started_at": PASSWORD, "spec": {}}), "$.intent.started_at"),
        (corrupt_intent(intent={"started_at": T0.isoformat(), "spec": [PASSWORD]}), "$.intent"),
        (corrupt_intent(updated_at=[PASSWORD]), "$.updated_at"),
    ],
)
async def test_corrupt_documents_name_the_field_never_its_value(
    file_store: FileStore,
    caplog: pytest.LogCaptureFixture,
    document: dict[str, object],
    where: str,
) -> None:
    await file_store.prepare()
    kind = "credentials" if "password" in document else "intents"
    path = file_store.directory / kind / "5eadbeef.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    caplog.set_level(logging.WARNING, logger="aura_async")
    assert await file_store.entries() == []
    assert file_store.unreadable == (str(path),)
    assert await file_store.lookup(instance_id="5eadbeef") is None
    assert await file_store.lookup(name="app-ü") is None
    assert where in caplog.text
    no_secret(caplog.text, file_store.unreadable)


# --------------------------------------------------------------------------- default directory


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"AURA_LEDGER_DIR": "/srv/ledger", "XDG_STATE_HOME": "/x"}, "/srv/ledger"),
        ({"AURA_LEDGER_DIR": "~/ledger", "HOME": "/home/ann"}, "/home/ann/ledger"),
        ({"XDG_STATE_HOME": "/state", "HOME": "/home/ann"}, "/state/aura-async/ledger"),
        # The XDG spec says relative paths are invalid and must be ignored.
        (
            {"XDG_STATE_HOME": "rel", "HOME": "/home/ann"},
            "/home/ann/.local/state/aura-async/ledger",
        ),
        ({"AURA_LEDGER_DIR": "", "HOME": "/home/ann"}, "/home/ann/.local/state/aura-async/ledger"),
    ],
)
def test_default_store_directory(environ: dict[str, str], expected: str) -> None:
    assert default_store_directory(environ) == Path(expected)


def test_default_store_directory_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AURA_LEDGER_DIR", "/from/env")
    assert default_store_directory() == Path("/from/env")


# --------------------------------------------------------------------------- .env files


@pytest.mark.usefixtures("umask_zero")
def test_env_file_reads_back_with_python_dotenv(tmp_path: Path) -> None:
    written = write_env_file(tmp_path, credentials(), database="movies")
    assert written == tmp_path / ".env"
    assert mode(written) == 0o600
    assert dotenv_values(written) == {
        "NEO4J_URI": "neo4j+s://a1b2c3d4.databases.neo4j.io",
        "NEO4J_USERNAME": "neo4j",
        "NEO4J_PASSWORD": PASSWORD,
        "NEO4J_DATABASE": "movies",
        "AURA_INSTANCE_ID": "a1b2c3d4",
    }
    assert [p.name for p in tmp_path.iterdir()] == [".env"]  # no temporary file left


@pytest.mark.parametrize(
    "password", ["ends-with\\", "a\\'b", "\\\\two", "'", "new\nline\ttab", "ünï €"]
)
def test_env_file_round_trips_awkward_passwords(tmp_path: Path, password: str) -> None:
    written = write_env_file(tmp_path, credentials(password=password))
    assert dotenv_values(written)["NEO4J_PASSWORD"] == password


def test_env_file_keeps_other_lines_and_replaces_its_own(tmp_path: Path) -> None:
    target = tmp_path / "neo4j.env"
    target.write_text('# mine\nAURA_CLIENT_ID=abc\nNEO4J_PASSWORD=old\nMULTI="a\nb"\nTAIL=1')
    target.chmod(0o644)
    write_env_file(target, credentials(password="first"))
    assert write_env_file(target, credentials()) == target
    values = dotenv_values(target)
    assert values == {
        "AURA_CLIENT_ID": "abc",
        "MULTI": "a\nb",
        "TAIL": "1",
        "NEO4J_URI": "neo4j+s://a1b2c3d4.databases.neo4j.io",
        "NEO4J_USERNAME": "neo4j",
        "NEO4J_PASSWORD": PASSWORD,
        "NEO4J_DATABASE": "neo4j",
        "AURA_INSTANCE_ID": "a1b2c3d4",
    }
    text = target.read_text()
    assert text.startswith("# mine\n")
    assert text.count("NEO4J_PASSWORD") == 1
    assert text.count("written by aura-async") == 1
    assert mode(target) == 0o600


def test_env_file_without_a_connection_url(tmp_path: Path) -> None:
    written = write_env_file(tmp_path / "x.env", attrs.evolve(credentials(), connection_url=None))
    assert dotenv_values(written)["NEO4J_URI"] == ""


def test_env_file_refuses_what_python_dotenv_would_expand(tmp_path: Path) -> None:
    with pytest.raises(CredentialStoreError, match="NEO4J_PASSWORD") as caught:
        write_env_file(tmp_path, credentials(password=PASSWORD + "${HOME}"))
    assert list(tmp_path.iterdir()) == []
    no_secret(error_text(caught.value))


def test_env_file_io_failure_is_a_store_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / ".env"
    with pytest.raises(CredentialStoreError, match="Could not write the credentials") as caught:
        write_env_file(target, credentials())
    assert caught.value.location == str(target)
    assert isinstance(caught.value.__cause__, OSError)
    no_secret(error_text(caught.value))


# --------------------------------------------------------------------------- .gitignore

GIT = shutil.which("git")


@pytest.fixture(params=["git", "fallback"])
def work_tree(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A git work tree; asked of git itself, or of the pattern check when git is not found."""
    root = tmp_path / "repo"
    root.mkdir()
    if request.param == "git":
        if GIT is None:
            pytest.skip("git is not installed")
        # Keep the user's own global excludes (which may well list .env) out of the answer.
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
        subprocess.run([GIT, "init", "-q", str(root)], check=True)
    else:
        (root / ".git").mkdir()
        monkeypatch.setattr(shutil, "which", lambda *_args, **_kwargs: None)
    return root


def git_ignores(root: Path, relative: str) -> bool | None:
    if GIT is None:
        return None
    result = subprocess.run(
        [GIT, "-C", str(root), "check-ignore", "-q", "--no-index", relative],
        capture_output=True,
        check=False,
    )
    return {0: True, 1: False}.get(result.returncode)  # 128: not a real repository


def test_a_dot_env_file_is_added_once(work_tree: Path) -> None:
    gitignore = work_tree / ".gitignore"
    gitignore.write_text("node_modules")  # no final newline
    (work_tree / "sub").mkdir()
    assert ensure_gitignored(work_tree / "sub" / ".env") == gitignore
    assert gitignore.read_text() == "node_modules\n.env\n"
    assert ensure_gitignored(work_tree / "sub" / ".env") is None
    assert ensure_gitignored(work_tree / ".env") is None
    assert gitignore.read_text() == "node_modules\n.env\n"


def test_another_file_is_added_by_its_path(work_tree: Path) -> None:
    (work_tree / "config").mkdir()
    assert ensure_gitignored(work_tree / "config" / "prod[1].env") == work_tree / ".gitignore"
    assert (work_tree / ".gitignore").read_text() == "/config/prod\\[1\\].env\n"
    assert ensure_gitignored(work_tree / "config" / "prod[1].env") is None
    assert git_ignores(work_tree, "config/prod[1].env") in (True, None)
    assert git_ignores(work_tree, "prod[1].env") in (False, None)  # only that file


@pytest.mark.parametrize(
    ("patterns", "relative"),
    [
        ("*.env\n", "deploy/prod.env"),
        (".env\n", "a/b/.env"),
        ("/.env\n", ".env"),
        ("# comment\nsecrets/\n", "app/secrets/neo4j.env"),
        ("/config/\n", "config/x/.env"),
        ("**/creds/*.env\n", "x/y/creds/a.env"),
        ("creds/\n!creds/keep.env\n", "creds/keep.env"),  # no re-including below an ignored dir
        ("[z-a]\n!\n\\\n.env\n", "a/.env"),  # lines that cannot be patterns are skipped
    ],
)
def test_nothing_changes_when_a_pattern_already_ignores_it(
    work_tree: Path, patterns: str, relative: str
) -> None:
    (work_tree / ".gitignore").write_text(patterns)
    assert ensure_gitignored(work_tree / relative) is None
    assert (work_tree / ".gitignore").read_text() == patterns


def test_nested_gitignore_and_info_exclude_count(work_tree: Path) -> None:
    (work_tree / "app").mkdir()
    (work_tree / "app" / ".gitignore").write_text("local.env\n")
    (work_tree / ".git" / "info").mkdir(exist_ok=True)
    (work_tree / ".git" / "info" / "exclude").write_text("*.secret\n")
    assert ensure_gitignored(work_tree / "app" / "local.env") is None
    assert ensure_gitignored(work_tree / "x.secret") is None
    assert not (work_tree / ".gitignore").exists()


def test_a_negated_pattern_is_overridden_by_appending(work_tree: Path) -> None:
    (work_tree / ".gitignore").write_text(".env\n!.env\n")
    assert ensure_gitignored(work_tree / ".env") == work_tree / ".gitignore"
    assert (work_tree / ".gitignore").read_text() == ".env\n!.env\n.env\n"
    assert ensure_gitignored(work_tree / ".env") is None


def test_a_file_re_included_below_a_directory_rule_is_added(work_tree: Path) -> None:
    # "config/**" ignores what is inside config/, not config/ itself, so "!" re-includes.
    (work_tree / "config").mkdir()
    (work_tree / ".gitignore").write_text("config/**\n!config/keep.env\n")
    assert ensure_gitignored(work_tree / "config" / "other.env") is None
    assert ensure_gitignored(work_tree / "config" / "keep.env") == work_tree / ".gitignore"
    assert (work_tree / ".gitignore").read_text().endswith("\n/config/keep.env\n")
    assert ensure_gitignored(work_tree / "config" / "keep.env") is None


def test_git_own_excludes_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if GIT is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    subprocess.run([GIT, "init", "-q", str(root)], check=True)
    (tmp_path / "excludes").write_text("*.env\n")
    (tmp_path / "gitconfig").write_text(f"[core]\n\texcludesFile = {tmp_path / 'excludes'}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    assert ensure_gitignored(root / "prod.env") is None
    assert not (root / ".gitignore").exists()


def test_no_work_tree_no_change(tmp_path: Path) -> None:
    if any((parent / ".git").exists() for parent in tmp_path.parents):
        pytest.skip("the temporary directory is inside a git work tree")
    assert ensure_gitignored(tmp_path / ".env") is None
    assert list(tmp_path.iterdir()) == []


def test_env_file_in_a_work_tree_is_gitignored(work_tree: Path) -> None:
    written = write_env_file(work_tree, credentials())
    assert (work_tree / ".gitignore").read_text() == ".env\n"
    assert git_ignores(work_tree, ".env") in (True, None)
    assert dotenv_values(written)["NEO4J_PASSWORD"] == PASSWORD


def test_store_module_exports() -> None:
    assert set(store_module.__all__) == {
        "CredentialStore", "Credentials", "EntryState", "FileStore", "Intent", "LedgerEntry",
        "MemoryStore", "default_store_directory", "ensure_gitignored", "new_intent_id",
        "write_env_file",
    }  # fmt: skip
    assert [state.value for state in EntryState] == [
        "intended", "created", "credentials-lost", "not-created", "adopted", "deleted",
    ]  # fmt: skip

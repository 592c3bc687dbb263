"""Verifying that databases accept connections, with the real ``neo4j`` driver, on the emulator.

The emulator runs on loopback with its Bolt listener on (``bolt=True``): connection URLs point
at it, it accepts a running instance's own password, refuses (resets) connections to an
instance not running, or running for less than ``bolt_delay`` emulated seconds, and counts what
it saw per instance (``BoltStats``), the witness of how many connections and logons the SDK
made. Nothing of the driver is mocked: ``instances.verify`` drives the unmodified driver.
"""

from __future__ import annotations

import datetime as dt
import socket
import sys
from typing import Any

import anyio
import attrs
import neo4j
import pytest

from aura_async import (
    ConfigurationError,
    Connectable,
    Credentials,
    MemoryStore,
    Outcome,
    ValidationError,
    VerifyAuthError,
    VerifyError,
    VerifyFailed,
    VerifyUnreachableError,
)
from aura_async.emulator import BoltListener, Durations
from aura_async.fleet.store import EntryState, Intent, new_intent_id
from aura_async.lifecycle import PollPolicy
from tests.fleet.conftest import POLICY, Recorder, Rig, config, loopback, spec

pytestmark = pytest.mark.anyio


def listener(rig: Rig) -> BoltListener:
    assert rig.bolt is not None, "the emulator serves no Bolt"
    return rig.bolt


def login(url: str) -> Credentials:
    """Credentials of no instance the emulator has, for an address of the test's choosing."""
    return Credentials(
        instance_id="0123abcd",
        name="elsewhere",
        username="neo4j",
        password="pw",
        connection_url=url,
    )


async def run_query(credentials: Credentials) -> Any:
    """Connect as a user's own code would, with the saved credentials, and RETURN 1."""
    assert credentials.connection_url
    auth = (credentials.username, credentials.password)
    async with neo4j.AsyncGraphDatabase.driver(credentials.connection_url, auth=auth) as driver:
        records, _, _ = await driver.execute_query("RETURN 1 AS one")
    return records[0]["one"]


async def created(rig: Rig, name: str, store: MemoryStore) -> Credentials:
    """One instance created and running, its credentials from the store."""
    report = await rig.client().fleet.create(spec(name), store=store, adopt=False)
    assert report.ok, report.summary()
    credentials = report.items[0].credentials
    assert credentials is not None
    return credentials


async def test_a_fleet_of_20_created_with_verify_is_connectable_with_its_saved_passwords() -> None:
    events = Recorder()
    store = MemoryStore()
    # Each address accepts half a real second (1800 emulated) after its instance runs: every
    # verification meets refusals first and waits them out.
    async with loopback(config(bolt=True, bolt_delay=1800.0)) as rig:
        aura = rig.client(on_event=events.append, policy=attrs.evolve(POLICY, verify_timeout=30.0))
        report = await aura.fleet.create(
            spec("verified"), count=20, store=store, adopt=False, verify=True
        )
        assert report.ok, report.summary()
        waited = [item.connectable_after for item in report.items]
        assert all(seconds is not None for seconds in waited)
        spread = report.connectable_after
        assert spread is not None
        assert spread[2] == max(s for s in waited if s is not None)
        assert spread[2] >= 0.3  # the lag was waited out, not missed
        refused = [listener(rig).stats(item.instance_id).refused for item in report.items]
        assert sum(refused) >= 20, refused
        assert "connectable" in report.summary()
        assert report.to_json()["items"][0]["connectable_after"] is not None
        connectable = events.of(Connectable)
        assert {e.resource_id for e in connectable} == {i.instance_id for i in report.items}
        assert all(e.server.startswith("Neo4j/") for e in connectable)
        # The passwords in the ledger open the databases, for code that is not ours too.
        entries = [e for e in await store.entries() if e.state is EntryState.CREATED]
        assert len(entries) == 20
        for entry in entries:
            assert entry.credentials is not None
            assert await run_query(entry.credentials) == 1
            seen = listener(rig).stats(entry.instance_id)
            assert seen.auth_failures == 0
            assert seen.logons >= 2
            assert seen.queries >= 2


async def test_a_wrong_password_fails_at_once_with_no_retry() -> None:
    events = Recorder()
    async with loopback(config(bolt=True, bolt_delay=0.0)) as rig:
        credentials = await created(rig, "stale", MemoryStore())
        stale = attrs.evolve(credentials, password="not-the-password")
        aura = rig.client(on_event=events.append)
        began = anyio.current_time()
        with pytest.raises(VerifyAuthError) as failed:
            await aura.instances.verify(stale, timeout=30.0)
        assert anyio.current_time() - began < 5.0  # not the 30 s a retry loop would take
        error = failed.value
        assert error.attempts == 1
        assert "Neo.ClientError.Security.Unauthorized" in str(error)
        assert "stale" in str(error)
        assert stale.password not in str(error) + repr(error)
        seen = listener(rig).stats(credentials.instance_id)
        assert seen.auth_failures == 1
        assert seen.logons == 0
        (failure,) = events.of(VerifyFailed)
        assert failure.reason == "auth"
        assert failure.attempts == 1
        # The right password still works: nothing was locked by the one refusal.
        assert (await aura.instances.verify(credentials)).attempts == 1


async def test_a_locked_out_user_is_an_auth_failure_without_retries_too() -> None:
    # Real time, for the lock's 5 s: three wrong passwords lock the user (as Neo4j does), and
    # the right one is then refused with AuthenticationRateLimit, which the driver raises as
    # a plain ClientError; verify still says "the password", and still tries only once.
    cfg = config(time_scale=1.0, token_lifetime=None, durations=Durations(create=0.1))
    async with loopback(attrs.evolve(cfg, bolt=True, bolt_delay=0.0)) as rig:
        aura = rig.client(policy=PollPolicy(min_interval=0.1))
        report = await aura.fleet.create(spec("locked"), store=MemoryStore(), adopt=False)
        credentials = report.items[0].credentials
        assert credentials is not None
        stale = attrs.evolve(credentials, password="not-the-password")
        for _ in range(3):
            with pytest.raises(VerifyAuthError, match="Unauthorized"):
                await aura.instances.verify(stale, timeout=30.0)
        with pytest.raises(VerifyAuthError, match="AuthenticationRateLimit") as locked:
            await aura.instances.verify(credentials, timeout=30.0)
        assert locked.value.attempts == 1
        assert listener(rig).stats(credentials.instance_id).auth_failures == 4


async def test_a_listener_delayed_5s_after_running_is_waited_out() -> None:
    # Real time (time_scale 1): the instance runs after 0.2 s, its address accepts 5 s later.
    cfg = config(
        time_scale=1.0,
        token_lifetime=None,
        durations=Durations(create=0.2),
        bolt=True,
        bolt_delay=5.0,
    )
    async with loopback(cfg) as rig:
        aura = rig.client(policy=PollPolicy(min_interval=0.2))
        report = await aura.fleet.create(
            spec("late"), store=MemoryStore(), adopt=False, verify=True
        )
        assert report.ok, report.summary()
        (item,) = report.items
        assert item.connectable_after is not None
        assert 4.0 <= item.connectable_after < 15.0
        seen = listener(rig).stats(item.instance_id)
        assert seen.refused >= 2  # tried again while the address lagged
        assert seen.logons >= 1
        assert seen.auth_failures == 0


async def test_a_paused_instance_refuses_and_accepts_again_once_resumed() -> None:
    async with loopback(config(bolt=True, bolt_delay=0.0)) as rig:
        credentials = await created(rig, "sleepy", MemoryStore())
        aura = rig.client()
        assert (await aura.instances.verify(credentials)).attempts == 1
        await aura.instances.pause(credentials.instance_id, wait=True)
        before = listener(rig).stats(credentials.instance_id)
        with pytest.raises(VerifyUnreachableError) as failed:
            await aura.instances.verify(credentials, timeout=0.3)
        error = failed.value
        assert error.attempts >= 2  # a refusal is tried again
        assert "refused" in str(error)
        after = listener(rig).stats(credentials.instance_id)
        assert after.refused - before.refused >= error.attempts
        assert after.logons == before.logons
        await aura.instances.resume(credentials.instance_id, wait=True)
        assert (await aura.instances.verify(credentials)).server.startswith("Neo4j/")


async def test_a_deleted_instance_refuses() -> None:
    async with loopback(config(bolt=True, bolt_delay=0.0)) as rig:
        credentials = await created(rig, "gone", MemoryStore())
        aura = rig.client()
        await aura.instances.delete(credentials.instance_id, wait=True)
        with pytest.raises(VerifyUnreachableError):
            await aura.instances.verify(credentials, timeout=0.2)


async def test_an_address_that_does_not_resolve_is_tried_again_until_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The name fails to resolve as a new instance's does while its DNS record is missing,
    # whatever resolver the machine has (a slow one would time out instead).
    resolve = socket.getaddrinfo

    def missing(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", missing)
    async with loopback(config(bolt=True)) as rig:
        aura = rig.client(policy=PollPolicy(min_interval=0.1, max_interval=0.6))
        nowhere = login("neo4j://aura-async-verify.invalid:7687")
        with pytest.raises(VerifyUnreachableError) as failed:
            await aura.instances.verify(nowhere, timeout=1.0)
        assert failed.value.attempts >= 2
        assert "does not resolve" in str(failed.value)
        assert "allow-list" in str(failed.value)  # the hint


async def test_credentials_without_an_address_take_it_from_the_instance() -> None:
    async with loopback(config(bolt=True, bolt_delay=0.0)) as rig:
        credentials = await created(rig, "no-url", MemoryStore())
        aura = rig.client()
        found = await aura.instances.verify(attrs.evolve(credentials, connection_url=None))
        assert found.instance_id == credentials.instance_id
        assert found.connection_url == credentials.connection_url


async def test_a_stale_ledger_entry_fails_the_adopting_fleet_item_and_keeps_the_instance() -> None:
    async with loopback(config(bolt=True, bolt_delay=0.0)) as rig:
        data = await rig.raw_create("adopted")
        await rig.client().instances.wait(data["id"])
        store = MemoryStore()
        intent = Intent(
            intent_id=new_intent_id(),
            name="adopted",
            spec={},
            tenant_id=data["tenant_id"],
            started_at=dt.datetime.now(dt.UTC),
        )
        await store.record_intent(intent)
        await store.save_credentials(
            Credentials(
                instance_id=data["id"],
                name="adopted",
                username="neo4j",
                password="an-old-password",
                connection_url=data["connection_url"],
            ),
            intent_id=intent.intent_id,
        )
        report = await rig.client().fleet.create(spec("adopted"), store=store, verify=True)
        (item,) = report.items
        assert item.outcome is Outcome.FAILED
        assert isinstance(item.error, VerifyAuthError)
        assert not report.ok
        assert data["id"] in rig.statuses()  # kept: only its saved password is wrong


async def test_verify_needs_the_driver_and_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with loopback(config(bolt=True)) as rig:
        monkeypatch.setitem(sys.modules, "neo4j", None)  # as if the extra were not installed
        aura = rig.client()
        with pytest.raises(ConfigurationError) as missing:
            await aura.instances.verify(login("neo4j://127.0.0.1:1"))
        assert "aura-async[verify]" in str(missing.value)
        before = (await rig.counters())["requests_total"]
        with pytest.raises(ConfigurationError):
            await aura.fleet.create(spec("never"), store=MemoryStore(), verify=True)
        assert (await rig.counters())["requests_total"] == before  # nothing was sent


async def test_verify_needs_a_wait() -> None:
    async with loopback(config(bolt=True)) as rig:
        aura = rig.client()
        for kwargs in ({"wait": False}, {"timeout": 0}):
            with pytest.raises(ValidationError, match="verify needs wait"):
                await aura.fleet.create(spec("no-wait"), store=MemoryStore(), verify=True, **kwargs)
        assert rig.names() == {}


async def test_verify_fails_an_adopted_instance_that_is_paused() -> None:
    async with loopback(config(bolt=True, bolt_delay=0.0)) as rig:
        store = MemoryStore()
        credentials = await created(rig, "napping", store)
        aura = rig.client()
        await aura.instances.pause(credentials.instance_id, wait=True)
        report = await aura.fleet.create(spec("napping"), store=store, verify=True)
        (item,) = report.items
        assert item.outcome is Outcome.FAILED
        assert isinstance(item.error, VerifyError)
        assert "is paused: it accepts no connections" in str(item.error)
        assert f"instance resume {credentials.instance_id}" in str(item.error)
        assert rig.statuses()[credentials.instance_id] == "paused"  # left as it was

"""Hazards found in review, each reproduced: a network that breaks in a chosen place, a token
that ages while requests queue, a store that fails in odd ways, a cancel at a bad moment.

The network faults are made by a proxy transport in front of the emulator (the emulator does
the work; the proxy then loses or mangles the answer), which is what a flaky network does.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio
import httpx
import pytest

from aura_async import RateLimit, RetryPolicy
from aura_async.errors import CreateOutcomeUnknownError, CredentialStoreError
from aura_async.events import CredentialsSaved
from aura_async.fleet import Credentials, EntryState, Intent, MemoryStore, Outcome

from .conftest import POST_INSTANCES, PRO, Rig, RigFactory, config, spec

pytestmark = pytest.mark.timeout(30)


class Proxy(httpx.AsyncBaseTransport):
    """Forwards to the emulator; ``mangle`` may replace an answer after the work was done."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        mangle: Callable[[httpx.Request, httpx.Response], httpx.Response],
    ) -> None:
        self.inner = inner
        self.mangle = mangle

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        await response.aread()
        return self.mangle(request, response)


def is_create(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path == "/v1/instances"


def is_listing(request: httpx.Request) -> bool:
    return request.method == "GET" and request.url.path == "/v1/instances"


async def test_a_create_and_a_token_fetch_cannot_deadlock_on_one_slot(rig: Rig) -> None:
    # One request per period: the list fetches the token under the auth lock and needs the
    # only slot for it; the create must not hold that slot while it waits for the lock.
    aura = rig.client(rate_limit=RateLimit(1, 0.05))
    results: dict[str, object] = {}

    async def listing() -> None:
        results["list"] = await aura.instances.list()

    async def create() -> None:
        results["create"] = await aura.instances.create(name="solo", **PRO)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(listing)
            tg.start_soon(create)
    assert set(results) == {"list", "create"}


async def test_creates_queued_longer_than_a_token_lives_still_go_through(
    make_rig: RigFactory,
) -> None:
    # Tokens live one real second; 20 creates at one per 50 ms queue for a second or more.
    rig = await make_rig(config(token_lifetime=3600.0))
    aura = rig.client(rate_limit=RateLimit(1, 0.05))
    report = await aura.fleet.create(spec("aged"), count=20, store=MemoryStore())
    assert report.totals == {Outcome.SUCCEEDED: 20}, [str(i.error) for i in report.items][:3]
    assert await rig.creates_per_name() == {f"aged-{n}": 1 for n in range(1, 21)}


async def test_a_create_answered_without_a_body_is_reconciled_not_failed(rig: Rig) -> None:
    def html(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if is_create(request):  # a proxy's page instead of the JSON answer
            return httpx.Response(202, text="<html>ok</html>", request=request)
        return response

    aura = rig.client(transport=Proxy(rig.transport() or httpx.ASGITransport(app=None), html))
    with pytest.raises(CreateOutcomeUnknownError):
        await aura.instances.create(name="plain", **PRO)

    store = MemoryStore()
    report = await aura.fleet.create(spec("html"), store=store, on_error="rollback")
    (item,) = report.items
    # The instance was made: the fleet found it by listing and rolled it back.
    assert item.instance_id is not None
    assert item.outcome is Outcome.ROLLED_BACK
    assert await rig.creates_per_name() == {"plain": 1, "html": 1}
    rig.settle()
    assert set(rig.names().values()) == {"plain"}


async def test_a_failed_listing_leaves_the_intent_for_recovery(rig: Rig) -> None:
    def lossy(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if is_create(request) or is_listing(request):
            raise httpx.ReadError("connection reset", request=request)
        return response

    store = MemoryStore()
    aura = rig.client(
        transport=Proxy(rig.transport() or httpx.ASGITransport(app=None), lossy),
        retry=RetryPolicy(base_delay=0.001, max_delay=0.01),
    )
    report = await aura.fleet.create(spec("lost"), store=store, adopt=False)
    (item,) = report.items
    assert item.outcome is Outcome.FAILED
    assert isinstance(item.error, CreateOutcomeUnknownError)
    # Nothing could be concluded: not "not-created" (the instance exists), but "intended".
    (entry,) = await store.entries()
    assert entry.state is EntryState.INTENDED
    recovered = await rig.client().fleet.recover(store)
    (found,) = recovered.entries
    assert found.state is EntryState.LOST
    assert found.exists


class FailsFor(MemoryStore):
    """Cannot save the credentials of one name; ``once``: only the first time."""

    def __init__(self, name: str, *, once: bool) -> None:
        super().__init__()
        self.name, self.once, self.failed = name, once, 0

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        if credentials.name == self.name and not (self.once and self.failed):
            self.failed += 1
            raise CredentialStoreError("no space left on device", location="/full")
        await super().save_credentials(credentials, intent_id=intent_id)


async def cancel_once_saved(rig: Rig, store: MemoryStore, name: str) -> None:
    """Run a fleet of two and cancel it once ``name``'s credentials were saved."""
    with anyio.CancelScope() as scope:

        def watch(event: object) -> None:
            if isinstance(event, CredentialsSaved) and event.name == name:
                scope.cancel()

        aura = rig.client(on_event=watch)
        await aura.fleet.create(spec("c"), count=2, store=store, on_error="continue")
    assert scope.cancelled_caught


async def test_a_cancelled_call_saves_again_what_it_could_not_save(rig: Rig) -> None:
    store = FailsFor("c-1", once=True)
    await cancel_once_saved(rig, store, "c-2")
    entries = {e.name: e for e in await store.entries()}
    assert entries["c-1"].state is EntryState.CREATED
    assert entries["c-1"].credentials is not None
    assert set(rig.names().values()) == {"c-1", "c-2"}


async def test_unsaved_credentials_do_not_outlive_a_cancelled_call(rig: Rig) -> None:
    # The report that holds them never reaches the caller: the instance is deleted rather
    # than left running with nobody able to connect.
    # c-1 may still be creating (a delete then gets 409): the ledger then marks it
    # credentials-lost, and recovery deletes it.
    store = FailsFor("c-1", once=False)
    await cancel_once_saved(rig, store, "c-2")
    entries = {e.name: e for e in await store.entries()}
    assert entries["c-1"].state in (EntryState.DELETED, EntryState.LOST)
    assert entries["c-2"].state is EntryState.CREATED
    rig.settle(60)  # c-1 is running now
    await rig.client().fleet.recover(store, delete_lost=True)
    rig.settle()
    assert set(rig.names().values()) == {"c-2"}
    assert {e.name: e.state for e in await store.entries()}["c-1"] is EntryState.DELETED


class Odd(MemoryStore):
    """A third-party store that raises what it likes."""

    async def record_intent(self, intent: Intent) -> None:
        raise OSError("odd")


async def test_any_store_failure_fails_its_item_not_the_call(rig: Rig) -> None:
    aura = rig.client()
    report = await aura.fleet.create(spec("odd"), count=2, store=Odd(), on_error="continue")
    assert report.totals == {Outcome.FAILED: 2}
    for item in report.items:
        assert isinstance(item.error, CredentialStoreError)
        assert "record an intent" in str(item.error)
    assert not [r for r in await rig.requests() if r.startswith(POST_INSTANCES)]

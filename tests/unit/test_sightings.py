"""What a client has seen of instances, and the listings its callers share (no HTTP)."""

from __future__ import annotations

import datetime as dt
import math

import anyio

from aura_async.errors import ServerError
from aura_async.models import CloudProvider, InstanceSummary
from aura_async.resources._sightings import CLOCK_SKEW, Listings, Sightings


def _summary(instance_id: str, created_at: dt.datetime | None = None) -> InstanceSummary:
    return InstanceSummary(
        id=instance_id,
        name=instance_id,
        tenant_id="t",
        cloud_provider=CloudProvider.GCP,
        created_at=created_at,
    )


class Fetches:
    """A listing that takes ``delay`` seconds and counts how often it was sent."""

    def __init__(self, delay: float = 0.02, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.sent: list[float] = []

    async def __call__(self, tenant_id: str | None) -> list[InstanceSummary]:
        self.sent.append(anyio.current_time())
        await anyio.sleep(self.delay)
        if self.fail:
            raise ServerError(503, ())
        return [_summary("2f49c2b3")]


# ----------------------------------------------------------------------------- sightings


def test_a_404_counts_a_window_after_the_first_sighting() -> None:
    now = [100.0]
    sightings = Sightings(clock=lambda: now[0])
    sightings.saw("2f49c2b3")
    now[0] = 130.0
    sightings.saw("2f49c2b3")  # a later sighting does not move the first
    assert sightings.trusted_from("2f49c2b3", window=60.0, otherwise=0.0) == 160.0
    # Never seen: a window after the caller first asked about it.
    assert sightings.trusted_from("0badc0de", window=60.0, otherwise=130.0) == 190.0


def test_a_creation_time_older_than_the_window_and_any_skew_counts_at_once() -> None:
    sightings = Sightings(clock=lambda: 100.0)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60) - CLOCK_SKEW - dt.timedelta(seconds=5)
    sightings.saw("2f49c2b3", created_at=old)
    assert sightings.trusted_from("2f49c2b3", window=60.0, otherwise=0.0) == -math.inf
    # Within the skew allowed, the stated time is not trusted: the first sighting is.
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=120)
    sightings.saw("f2a74de4", created_at=recent)
    assert sightings.trusted_from("f2a74de4", window=60.0, otherwise=0.0) == 160.0


def test_listed_instances_are_seen_with_their_facts() -> None:
    sightings = Sightings(clock=lambda: 5.0)
    stated = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sightings.saw_listed([_summary("2f49c2b3", stated)])
    seen = sightings.get("2f49c2b3")
    assert seen is not None
    assert (seen.first_seen, seen.created_at, seen.tenant_id) == (5.0, stated, "t")


# ------------------------------------------------------------------------------ listings


async def test_callers_that_need_no_newer_listing_share_one() -> None:
    fetches = Fetches()
    listings = Listings(fetches)
    before = anyio.current_time()
    results: list[list[InstanceSummary]] = []

    async def ask() -> None:
        results.append(await listings.sent_after("t", before))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(ask)
    assert len(fetches.sent) == 1
    assert len(results) == 5
    # Answered since: still good for anyone who needs a listing sent after ``before``.
    await listings.sent_after("t", before)
    assert len(fetches.sent) == 1


async def test_a_caller_that_needs_a_newer_listing_gets_its_own() -> None:
    fetches = Fetches()
    listings = Listings(fetches)
    await listings.sent_after("t", anyio.current_time())
    later = anyio.current_time() + 0.001
    await anyio.sleep(0.002)
    await listings.sent_after("t", later)
    assert len(fetches.sent) == 2
    assert fetches.sent[1] >= later


async def test_a_gathering_listing_takes_the_callers_that_come_meanwhile() -> None:
    fetches = Fetches(delay=0.0)
    listings = Listings(fetches)

    async def ask(delay: float) -> None:
        await anyio.sleep(delay)
        await listings.sent_after("t", anyio.current_time(), gather=0.05)

    async with anyio.create_task_group() as tg:
        for delay in (0.0, 0.01, 0.02, 0.03):
            tg.start_soon(ask, delay)
    assert len(fetches.sent) == 1


async def test_a_failed_listing_fails_every_sharer_and_is_not_kept() -> None:
    fetches = Fetches(fail=True)
    listings = Listings(fetches)
    before = anyio.current_time()
    errors: list[BaseException] = []

    async def ask() -> None:
        try:
            await listings.sent_after("t", before)
        except ServerError as error:
            errors.append(error)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(ask)
    assert len(errors) == 3
    assert len(fetches.sent) == 1
    fetches.fail = False
    assert await listings.sent_after("t", before)
    assert len(fetches.sent) == 2


async def test_a_cancelled_sender_leaves_no_one_waiting() -> None:
    fetches = Fetches(delay=0.05)
    listings = Listings(fetches)
    before = anyio.current_time()
    got: list[list[InstanceSummary]] = []

    async def joiner() -> None:
        await anyio.sleep(0.01)
        got.append(await listings.sent_after("t", before))

    with anyio.fail_after(2):
        async with anyio.create_task_group() as tg:
            tg.start_soon(joiner)
            with anyio.move_on_after(0.02) as cut:
                await listings.sent_after("t", before)  # the sender, cut short mid-fetch
            assert cut.cancelled_caught
    assert len(got) == 1  # the joiner asked again and got its own answer
    assert len(fetches.sent) == 2

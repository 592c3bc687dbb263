"""A credential store that fails: the credentials are never lost, and nothing is created blind."""

from __future__ import annotations

import pytest

from aura_async.errors import CredentialStoreError
from aura_async.fleet import Credentials, Intent, MemoryStore, Outcome

from .conftest import POST_INSTANCES, Rig, spec

pytestmark = pytest.mark.timeout(30)


class FullDisk(MemoryStore):
    """Records intents, then cannot write credentials (a full disk, say)."""

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        raise CredentialStoreError("no space left on device", location="/full")


class ReadOnly(MemoryStore):
    """Cannot even record an intent."""

    async def record_intent(self, intent: Intent) -> None:
        raise CredentialStoreError("read-only file system", location="/ro")


async def test_credentials_that_cannot_be_saved_stay_in_the_report(rig: Rig) -> None:
    aura = rig.client()
    report = await aura.fleet.create(spec("disk"), count=2, store=FullDisk(), on_error="continue")

    assert report.totals == {Outcome.FAILED: 2}
    for item in report.items:
        assert item.credentials is not None
        assert item.credentials.password  # the only copy, handed back in memory
        assert item.credentials.instance_id == item.instance_id
        assert isinstance(item.error, CredentialStoreError)
        message = str(item.error)
        assert "could not be saved" in message
        assert "item.credentials" in message
        assert item.credentials.password not in message
        assert item.saved_to is None
    assert not report.ok


async def test_rollback_deletes_what_could_not_be_recorded(rig: Rig) -> None:
    aura = rig.client()
    report = await aura.fleet.create(spec("disk"), count=2, store=FullDisk(), on_error="rollback")
    # The first failure stops the call: what was created is deleted, the rest never sent.
    for item in report.items:
        expected = Outcome.ROLLED_BACK if item.instance_id else Outcome.SKIPPED
        assert item.outcome is expected
    assert report.totals.get(Outcome.ROLLED_BACK, 0) >= 1
    rig.settle()
    assert rig.statuses() == {}


async def test_no_create_is_sent_without_an_intent_on_record(rig: Rig) -> None:
    aura = rig.client()
    report = await aura.fleet.create(spec("ro"), count=3, store=ReadOnly(), on_error="continue")
    assert report.totals == {Outcome.FAILED: 3}
    assert all(isinstance(item.error, CredentialStoreError) for item in report.items)
    requests = await rig.requests()
    assert not [route for route in requests if route.startswith(POST_INSTANCES)]


class FlakyDisk(MemoryStore):
    """Cannot write credentials the first time for each instance, then can."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        if credentials.instance_id not in self.refused:
            self.refused.add(credentials.instance_id)
            raise CredentialStoreError("disk busy", location="/flaky")
        await super().save_credentials(credentials, intent_id=intent_id)


async def test_salvage_saves_again_what_the_store_missed(rig: Rig) -> None:
    store = FlakyDisk()
    report = await rig.client().fleet.create(
        spec("flaky"), count=2, store=store, on_error="continue", salvage=True
    )
    for item in report.items:
        assert item.saved_to == store.location
        assert item.instance_id is not None
        saved = await store.lookup(instance_id=item.instance_id)
        assert saved is not None
        assert saved.password
    assert len(rig.names()) == 2  # kept: their passwords are in the ledger


async def test_salvage_deletes_what_could_not_be_saved_and_keeps_no_password(rig: Rig) -> None:
    report = await rig.client().fleet.create(
        spec("lost"), count=2, store=FullDisk(), on_error="continue", salvage=True
    )
    assert report.totals == {Outcome.FAILED: 2}
    for item in report.items:
        assert item.credentials is None  # nothing left that only the report would hold
        assert "it was deleted" in str(item.error)
    rig.settle()
    assert rig.names() == {}
    sent = await rig.requests()
    assert sent["DELETE /v1/instances/{instanceId} 202"] == 2

"""Creates that failed ambiguously: did they make an instance?

A create answered by a timeout, a dropped connection or a 5xx may or may not have made its
instance. :class:`Reconciler` finds out by listing the project and matching the name and the
creation time (:func:`match_created`, which recovery uses too): found, the instance is marked
credentials-lost and never created again; not found by a listing sent once the window in
which a new instance may still be missing has passed, it was not created and may be sent
again. Reconciliations a stop or a cancel cut short are finished by :meth:`Reconciler.settle`.
See DESIGN.md, "Credentials are never lost" and "Deleted means absent".
"""

from __future__ import annotations

import datetime as dt

import anyio
import attrs

from aura_async.errors import (
    AuraError,
    CreateFailedError,
    CreateOutcomeUnknownError,
    ResponseValidationError,
)
from aura_async.fleet.context import FleetContext
from aura_async.fleet.guarded import keep_credentials, mark
from aura_async.fleet.report import FleetItem, Outcome
from aura_async.fleet.specs import InstanceSpec
from aura_async.fleet.store import Credentials, CredentialStore, EntryState, Intent
from aura_async.models import InstanceSummary
from aura_async.resources._sightings import CLOCK_SKEW

__all__ = ["Ambiguous", "Reconciler", "match_created"]


@attrs.define(eq=False)
class Ambiguous:
    """A create that failed ambiguously, while it is being reconciled."""

    item: FleetItem
    spec: InstanceSpec
    intent: Intent
    error: CreateOutcomeUnknownError
    known_before: set[str]
    answered: float  # when the ambiguous answer came (a new instance was made before it)
    attempt: int = 1  # which create request of the item this was


class Reconciler:
    """Reconciles the ambiguous creates of one fleet call.

    ``created`` is the call's list of items whose instance it made, with their intents
    (what a rollback deletes): an instance found here is added to it.
    """

    def __init__(
        self,
        context: FleetContext,
        store: CredentialStore,
        created: list[tuple[FleetItem, str]],
    ) -> None:
        self._context = context
        self._store = store
        self._created = created
        # Ambiguous creates whose reconciliation has not finished (a stop or cancel cut it
        # short): what settle() finishes.
        self.unsettled: list[Ambiguous] = []

    async def reconcile(self, pending: Ambiguous) -> EntryState | None:
        """Find out whether an ambiguous create made an instance; return the state concluded.

        Until it is done the create counts as unsettled: not shielded, a cancel from outside
        leaves its intent "intended", for recover() to match, and a stop of the call (or a
        rollback) finishes it with :meth:`settle`.
        """
        self.unsettled.append(pending)
        state = await self._reconcile(pending)
        self.unsettled.remove(pending)
        return state

    async def _reconcile(self, pending: Ambiguous) -> EntryState | None:
        """Reconcile one ambiguous create (see :meth:`reconcile`).

        A listing shows a new instance only after a while (live Aura answers 404 for a
        just-created instance, and may not list it yet): "not created" is concluded only from
        a listing sent once the not-found window has passed since the ambiguous answer.
        Returns None when the listing failed (the intent stays "intended" for recover()).
        """
        context, store = self._context, self._store
        item, spec, intent, error = pending.item, pending.spec, pending.intent, pending.error
        item.error = error
        if error.instance_id and error.password:
            # The answer arrived but could not be parsed: what could be read is kept (Aura's
            # user is always neo4j, should that be what was unreadable).
            recovered = Credentials(
                instance_id=error.instance_id,
                name=spec.name,
                username=error.username or "neo4j",
                password=error.password,
                tenant_id=intent.tenant_id,
            )
            with anyio.CancelScope(shield=True):
                await keep_credentials(item, recovered, intent.intent_id, store, context.publish)
            self._created.append((item, intent.intent_id))
            item.outcome = Outcome.FAILED if item.error is not error else Outcome.SUCCEEDED
            if item.outcome is Outcome.SUCCEEDED:
                item.error = None
            return EntryState.CREATED
        # A 2xx whose body could not be read, or an answer that named the instance: the
        # service made it, whatever a listing says.
        made = error.instance_id is not None or isinstance(error.cause, ResponseValidationError)
        if error.instance_id is not None:
            return await self._lost(pending, error.instance_id)
        while True:
            # (Recomputed each time: the fleet's other items may have learnt a longer one.)
            trusted = pending.answered + context.watcher.not_found_window()
            asked = context.clock()
            try:
                listed = await context.instances.list(tenant_id=spec.tenant_id, sent_after=asked)
            except AuraError:
                # Nothing can be concluded: the intent stays "intended" for recover().
                item.outcome = Outcome.FAILED
                return None
            match = match_created(listed, spec.name, intent.started_at, pending.known_before)
            if match is not None:
                return await self._lost(pending, match.id)
            if asked >= trusted:
                break
            # Too soon to tell: a new instance may not be listed yet. Look once more when
            # it would be.
            await anyio.sleep(trusted - asked)
        if made:
            # Made, yet not listed: nothing to conclude; the intent stays "intended".
            item.outcome = Outcome.FAILED
            return None
        await mark(store, intent.intent_id, EntryState.NOT_CREATED)
        item.outcome = Outcome.FAILED
        return EntryState.NOT_CREATED

    async def _lost(self, pending: Ambiguous, instance_id: str) -> EntryState:
        """The ambiguous create made ``instance_id``, whose password never arrived."""
        item, intent = pending.item, pending.intent
        item.instance_id = instance_id
        item.credentials_known = False
        self._created.append((item, intent.intent_id))
        await mark(self._store, intent.intent_id, EntryState.LOST, instance_id=instance_id)
        item.outcome = Outcome.FAILED
        item.error = CreateFailedError(
            pending.spec.name, pending.attempt, pending.error, instance_id=instance_id
        )
        return EntryState.LOST

    async def settle(self) -> None:
        """Finish the reconciliations a stop or a cancel cut short (call it shielded).

        Their items keep the outcome they were given when cut short (``cancelled``); what
        changes is that the ledger and the report say whether an instance came of them,
        and a rollback knows what to delete.
        """

        async def finish(pending: Ambiguous) -> None:
            item = pending.item
            outcome = item.outcome
            if item.instance_id is None:
                state = await self._reconcile(pending)
                if state is EntryState.NOT_CREATED:
                    item.error = CreateFailedError(item.name, pending.attempt, pending.error)
            elif item.credentials is None:  # matched, perhaps not yet marked
                await mark(
                    self._store,
                    pending.intent.intent_id,
                    EntryState.LOST,
                    instance_id=item.instance_id,
                )
            item.outcome = outcome if outcome is not None else item.outcome
            self.unsettled.remove(pending)

        async with anyio.create_task_group() as tg:
            for pending in list(self.unsettled):
                tg.start_soon(finish, pending)


def match_created(
    listed: list[InstanceSummary],
    name: str,
    started_at: dt.datetime,
    known_before: set[str],
) -> InstanceSummary | None:
    """The instance an ambiguous create of ``name`` made, if one is listed.

    A server's clock may run behind ours: an instance created "before" a create was started,
    by less than ``CLOCK_SKEW``, may still be that create's.
    """
    candidates = [
        s
        for s in listed
        if s.name == name
        and s.id not in known_before
        and (s.created_at is None or s.created_at >= started_at - CLOCK_SKEW)
    ]
    if not candidates:
        return None
    # The one created closest to when the create was sent: an older twin within the clock
    # skew allowed, or one made by someone else later, is less likely to be this create's.
    return min(
        candidates, key=lambda s: abs(((s.created_at or started_at) - started_at).total_seconds())
    )

"""One fleet create call: adopt, or create under a recorded intent, and see each item through.

:class:`Creation` holds what a create call shares across its items (the guarded store, the
listing of what exists, the instances it made) and gives the engine its ``before`` (list the
projects once, read the ledger), its per-item ``work`` and its ``after`` (finish the
reconciliations a stop cut short, roll back, or on a cancel save again what could not be
saved). Names are the idempotency key: a name already present is adopted, an intent is
recorded before each create request and the credentials are saved from inside the create's
shielded commit; a create that fails ambiguously is reconciled (:mod:`.reconciling`) and
sent again only once proven not created. See DESIGN.md, "Credentials are never lost".
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Sequence

import anyio
import attrs

from aura_async._http.transport import counting_requests
from aura_async.errors import (
    APIError,
    AuraError,
    CreateFailedError,
    CreateOutcomeUnknownError,
    CredentialStoreError,
    NotFoundError,
    RateLimitBackendError,
    ValidationError,
    VerifyError,
)
from aura_async.fleet.claims import Changed, NameClaim
from aura_async.fleet.context import FleetContext, delete_instance, now
from aura_async.fleet.engine import Engine, Run
from aura_async.fleet.guarded import keep_credentials, mark
from aura_async.fleet.reconciling import Ambiguous, Reconciler
from aura_async.fleet.report import FleetItem, Outcome
from aura_async.fleet.specs import InstanceSpec
from aura_async.fleet.store import (
    Credentials,
    CredentialStore,
    EntryState,
    Intent,
    LedgerEntry,
    new_intent_id,
)
from aura_async.lifecycle.operations import Operation
from aura_async.models import (
    CloudProvider,
    CreatedInstance,
    Instance,
    InstanceStatus,
    InstanceSummary,
)
from aura_async.resources._sightings import CLOCK_SKEW

__all__ = ["CreateOptions", "Creation", "verify"]

logger = logging.getLogger("aura_async")

_GOING = (InstanceStatus.DESTROYING, InstanceStatus.DELETING)
# Statuses in which an instance accepts no connection for certain: a verification fails at
# once rather than trying until its timeout. The first three come back with a resume.
_RESUMABLE = (InstanceStatus.PAUSED, InstanceStatus.PAUSING, InstanceStatus.SUSPENDED)
_DOWN = (
    *_RESUMABLE,
    InstanceStatus.DESTROYING,
    InstanceStatus.DELETING,
    InstanceStatus.LOADING_FAILED,
)


@attrs.frozen(kw_only=True)
class CreateOptions:
    """How a create call treats its items (checked by :meth:`Fleet.create`)."""

    wait: bool
    timeout: float | None
    adopt: bool
    attempts: int
    verify: bool
    rollback: bool
    salvage: bool = False


class Creation:
    """One create call: its items, its store, and what it made.

    Args:
        context: the client's parts.
        engine: the engine that runs the call (a rollback ends items with it).
        specs: one per item, checked and distinct.
        store: where intents and credentials go, guarded.
        options: wait, timeout, adopt, attempts, verify and whether to roll back.
    """

    def __init__(
        self,
        context: FleetContext,
        engine: Engine,
        specs: Sequence[InstanceSpec],
        store: CredentialStore,
        options: CreateOptions,
    ) -> None:
        self._context = context
        self._engine = engine
        self._store = store
        self._options = options
        self._specs = list(specs)
        self.items = [FleetItem(name=spec.name) for spec in self._specs]
        self._by_item = dict(zip((id(item) for item in self.items), self._specs, strict=True))
        # What exists already, per project (listed once, before any create), and the
        # ledger's entries by instance id (read once, when a name is to be adopted).
        self._existing: dict[str | None, list[InstanceSummary]] = {}
        self._ledger: dict[str, LedgerEntry] = {}
        # Items whose instance this call created, with their intents: what a rollback deletes.
        self._created: list[tuple[FleetItem, str]] = []
        self._reconciler = Reconciler(context, store, self._created)
        # The listing this call opened (see fleet/claims.py), while it is open.
        self._listing: int | None = None

    # ------------------------------------------------------------------ the engine's hooks

    async def before(self, run: Run) -> None:
        """List the projects once; read the ledger once if a name is to be adopted."""
        if not self._options.adopt:
            return
        # Opened before the listing is sent: a create another call sends from now on is
        # one this listing may not show.
        self._listing = self._context.names.open_listing()
        tenants = {spec.tenant_id for spec in self._specs}
        try:
            self._existing.update(
                {
                    tenant: await self._context.instances.list(tenant_id=tenant)
                    for tenant in sorted(tenants, key=lambda t: t or "")
                }
            )
            names = {spec.name for spec in self._specs}
            if any(s.name in names for listed in self._existing.values() for s in listed):
                # Read once for the whole call: the credentials of what will be adopted.
                await self._read_ledger()
        except BaseException:
            self._close_listing()  # (after() does not run when before() fails)
            raise

    async def _read_ledger(self) -> None:
        entries = await self._store.entries()
        self._ledger.update({e.instance_id: e for e in entries if e.instance_id is not None})

    async def work(self, item: FleetItem, run: Run) -> None:
        """Adopt or create one item's instance (and verify it, when asked)."""
        await self._create_one(item, self._by_item[id(item)], run)
        if self._options.verify:
            await verify(self._context, item)

    async def after(self, run: Run, cancelled: bool) -> None:
        """Once the items ended (shielded): settle, roll back, or save again what was not saved.

        After a stop, the reconciliations it cut short are finished. Under the rollback
        policy, what this call created is deleted when an item failed or was cut short, and
        always when the call was cancelled. A cancelled call without rollback hands no report
        to its caller: credentials only the report holds are saved again, or their instance
        deleted (:meth:`_salvage`); so does every call whose caller cannot keep them
        (``salvage``).
        """
        try:
            if cancelled:
                if self._options.rollback:
                    await self._roll_back(run)
                else:
                    await self._salvage()
                return
            if self._reconciler.unsettled:
                await self._reconciler.settle()
            if self._options.rollback and any(
                item.outcome in (Outcome.FAILED, Outcome.CANCELLED) for item in run.items
            ):
                await self._roll_back(run)
            elif self._options.salvage:
                await self._salvage(patient=True)
        finally:
            self._close_listing()

    def _close_listing(self) -> None:
        if self._listing is not None:
            self._context.names.close_listing(self._listing)
            self._listing = None

    # ------------------------------------------------------------------ one item

    async def _create_one(self, item: FleetItem, spec: InstanceSpec, run: Run) -> None:
        if self._listing is None:  # adopt=False: every spec is created, twin or not
            await self._decide_and_create(item, spec, run, None)
            return
        # (Keyed as the intent is: a spec naming the client's own project and one naming
        # none are the same name.)
        claim = self._context.names.claim(spec.tenant_id or self._context.tenant_id, spec.name)
        changed = await claim.take(self._listing, self._context.watcher.not_found_window())
        try:
            await self._decide_and_create(item, spec, run, claim, changed)
        finally:
            claim.release()  # (if a create's answer has not released it already)

    async def _decide_and_create(
        self,
        item: FleetItem,
        spec: InstanceSpec,
        run: Run,
        claim: NameClaim | None,
        changed: Changed | None = None,
    ) -> None:
        """Adopt the instance under the item's name, or create it (sent again while proven
        not created), holding the name's claim until the create is answered."""
        existing = self._existing.get(spec.tenant_id, [])
        if changed is not None and (changed.touched or changed.made):
            existing = await self._look_again(spec, changed)
        present = [s for s in existing if s.name == spec.name]
        if present and await self._adopt(item, present, claim):
            return
        known_before = {s.id for s in existing}
        attempts = self._options.attempts
        for attempt in range(1, attempts + 1):
            intent = Intent(
                intent_id=new_intent_id(),
                name=spec.name,
                spec=spec.to_json(),
                tenant_id=spec.tenant_id or self._context.tenant_id,
                started_at=now(),
            )
            with anyio.CancelScope(shield=True):
                try:
                    await self._store.record_intent(intent)
                except CredentialStoreError as error:
                    # Without an intent on disk a crash could leave an instance nobody knows
                    # of: do not create it.
                    item.outcome, item.error = Outcome.FAILED, error
                    return
            refused = await self._attempt(item, spec, intent, known_before, attempt, claim)
            if refused is None:
                return
            # Proven not created: send it again, unless this was the last try. (The error
            # says so meanwhile, should a stop cut the backoff short.)
            item.error = CreateFailedError(spec.name, attempt, refused)
            if attempt == attempts or not await self._before_resend(refused, attempt, run):
                item.outcome = Outcome.FAILED
                return
            item.outcome = item.error = None

    async def _attempt(
        self,
        item: FleetItem,
        spec: InstanceSpec,
        intent: Intent,
        known_before: set[str],
        attempt: int,
        claim: NameClaim | None,
    ) -> CreateOutcomeUnknownError | None:
        """Send one create under a recorded intent and see it through.

        Returns the error of an ambiguous failure proven to have created nothing (the
        caller may send the create again), else None with the item's outcome set. The
        name's ``claim`` is let go once the create is answered, before its wait.
        """
        clock, store = self._context.clock, self._store
        submitted = clock()

        async def save(created: CreatedInstance) -> None:
            nonlocal submitted
            submitted = clock()  # accepted now: its wait counts from here
            credentials = Credentials.from_created(created)
            await keep_credentials(
                item, credentials, intent.intent_id, store, self._context.publish
            )

        if claim is not None:
            claim.sending()
        with counting_requests() as tally:
            try:
                created = await self._context.instances.create(
                    **spec.create_arguments(), on_created=save
                )
            except CreateOutcomeUnknownError as error:
                answered = clock()  # answered (ambiguously) now
                pending = Ambiguous(item, spec, intent, error, known_before, answered, attempt)
                return await self._reconcile(pending, claim)
            except anyio.get_cancelled_exc_class():
                if tally.sent == 0:
                    # Cancelled while waiting for the rate limiter: nothing left.
                    with anyio.CancelScope(shield=True):
                        await mark(store, intent.intent_id, EntryState.NOT_CREATED)
                raise
            except AuraError as error:
                if (isinstance(error, APIError) and error.status < 500) or isinstance(
                    error, RateLimitBackendError
                ):
                    # A refusal, or a shared budget that could not vouch for the request:
                    # the server did no work.
                    with anyio.CancelScope(shield=True):
                        await mark(store, intent.intent_id, EntryState.NOT_CREATED)
                item.outcome, item.error = Outcome.FAILED, error
                return None
        item.submitted = submitted
        self._created.append((item, intent.intent_id))
        if claim is not None:
            claim.release(made=_summary(created))
        if item.error is not None:  # the credentials could not be saved
            item.outcome = Outcome.FAILED
            return None
        if self._waits:
            item.instance = await self._wait_created(created.id, spec.name, submitted)
            await self._complete_address(item, intent.intent_id)
        item.outcome = Outcome.SUCCEEDED
        return None

    async def _reconcile(
        self, pending: Ambiguous, claim: NameClaim | None
    ) -> CreateOutcomeUnknownError | None:
        """Reconcile an ambiguous create; its error when proven not created, else None.

        An answer that could not be parsed but whose credentials could is a success: its
        instance is waited for as asked. The name's ``claim`` is kept for a create sent
        again, else let go (saying a create was sent: it may have made an instance).
        """
        item = pending.item
        state = await self._reconciler.reconcile(pending)
        if state is EntryState.NOT_CREATED:
            return pending.error
        if claim is not None:
            claim.release(made=_recovered_summary(pending))
        if item.outcome is not Outcome.SUCCEEDED or not self._waits:
            return None
        item.submitted, item.outcome = pending.answered, None
        item.instance = await self._wait_created(
            item.instance_id or "", pending.spec.name, pending.answered
        )
        item.outcome = Outcome.SUCCEEDED
        return None

    @property
    def _waits(self) -> bool:
        return self._options.wait and self._options.timeout != 0

    async def _wait_created(self, instance_id: str, name: str, submitted: float) -> Instance | None:
        return await self._context.instances.wait(
            instance_id,
            Operation.CREATE,
            name=name,
            submitted=submitted,
            timeout=self._options.timeout,
            cohort=True,
        )

    async def _complete_address(self, item: FleetItem, intent_id: str) -> None:
        """Fill in the connection URL a create's answer left null, from the running instance.

        The live service sends ``connection_url: null`` for some instances; saved as it came,
        the ledger and every ``.env`` written from it would hold no address. Never raises:
        the credentials are saved already, and a failure here only leaves the URL out.
        """
        credentials, seen = item.credentials, item.instance
        if credentials is None or credentials.connection_url or seen is None:
            return
        if not seen.connection_url:
            return
        item.credentials = attrs.evolve(credentials, connection_url=seen.connection_url)
        try:
            await self._store.save_credentials(item.credentials, intent_id=intent_id)
        except Exception as error:  # any store's failure: the saved copy stays as it was
            logger.warning(
                "could not add the connection URL of %s to %s: %s",
                credentials.instance_id,
                self._store.location,
                type(error).__name__,
            )

    async def _before_resend(
        self, error: CreateOutcomeUnknownError, attempt: int, run: Run
    ) -> bool:
        """Back off before sending a create again; False when the item's time would run out.

        Exponential with jitter from the policy's shortest interval, and never sooner than
        a ``Retry-After`` the failed answer carried.
        """
        policy = self._context.watcher.policy
        delay = min(policy.max_interval, policy.min_interval * 2 ** (attempt - 1))
        delay *= random.uniform(1.0, 1.5)
        asked = getattr(error.cause, "retry_after", None)
        if isinstance(asked, int | float) and asked > delay:
            delay = float(asked)
        if self._context.clock() + delay > run.deadline:
            return False
        await anyio.sleep(delay)
        return True

    # ------------------------------------------------------------------ adopting

    async def _look_again(self, spec: InstanceSpec, changed: Changed) -> list[InstanceSummary]:
        """What exists under the item's name, another call having made or sent a create of
        it: the project listed again (when the create was sent since this call listed it),
        and what was made that the listing does not show yet (a new instance may be missing
        from listings for a while).

        Raises:
            AuraError: the listing failed (the item fails; nothing was created).
            CredentialStoreError: the ledger could not be read.
        """
        listed = self._existing.get(spec.tenant_id, [])
        if changed.touched:
            listed = await self._context.instances.list(tenant_id=spec.tenant_id)
        shown = {summary.id for summary in listed}
        existing = [*listed, *(made for made in changed.made if made.id not in shown)]
        if any(s.name == spec.name and s.id not in self._ledger for s in existing):
            # The other call's entry, if it shares this store (read once for the items
            # whose instances it shows).
            await self._read_ledger()
        return existing

    async def _adopt(
        self,
        item: FleetItem,
        present: list[InstanceSummary],
        claim: NameClaim | None = None,
    ) -> bool:
        """Take over an instance already under the item's name; False if all are going away.

        The name's ``claim`` is let go once the instance is chosen, before its wait. The
        choice is noted (:meth:`NameClaims.adopted`), so that a call that made it and rolls
        back leaves it to this one's caller.
        """
        found = await self._adoptable(present)
        if found is None:
            return False
        chosen, instance = found
        item.instance_id = chosen.id
        item.instance = instance
        # Another call may have made it and may still roll it back: it is this call's now.
        self._context.names.adopted(chosen.id)
        entry = self._ledger.get(chosen.id)
        credentials = entry.credentials if entry is not None else None
        if credentials is None:
            credentials = await self._store.lookup(instance_id=chosen.id)
        item.credentials = credentials
        item.credentials_known = credentials is not None
        if entry is None:
            await self._record_adoption(item, chosen)
        if claim is not None:
            claim.release()
        if self._waits and (instance is None or instance.status is InstanceStatus.CREATING):
            item.instance = await self._context.instances.wait(
                chosen.id,
                Operation.CREATE,
                name=chosen.name,
                timeout=self._options.timeout,
                cohort=True,
            )
        item.outcome = Outcome.ADOPTED
        return True

    async def _adoptable(
        self, present: list[InstanceSummary]
    ) -> tuple[InstanceSummary, Instance | None] | None:
        """The instance to adopt and its state; None when every one is going away.

        The instance the ledger knows comes first (it has the password), else the oldest. A
        listed instance that answers 404 may be inside its creation's 404 window: it is
        taken over as it is (creating, as far as anyone can tell, so its state is None), not
        created a second time.
        """
        latest = dt.datetime.max.replace(tzinfo=dt.UTC)
        window = self._context.watcher.not_found_window()
        young = now() - dt.timedelta(seconds=window) - CLOCK_SKEW
        ours = self._ledger
        for chosen in sorted(present, key=lambda s: (s.id not in ours, s.created_at or latest)):
            if self._context.names.deleted(chosen.id):
                continue  # a fleet of this client deleted it: the name is free again
            try:
                instance = await self._context.instances.get(chosen.id)
            except NotFoundError:
                if chosen.created_at is None or chosen.created_at > young:
                    return chosen, None  # listed, and perhaps too new to be found yet
                continue
            if instance.status in _GOING:
                continue  # being deleted: the name is free again
            return chosen, instance
        return None

    async def _record_adoption(self, item: FleetItem, chosen: InstanceSummary) -> None:
        """Give an adopted instance the ledger knew nothing of an entry, marked adopted."""
        intent = Intent(
            intent_id=new_intent_id(),
            name=chosen.name,
            spec={"adopted": True},
            tenant_id=chosen.tenant_id,
            started_at=now(),
        )
        with anyio.CancelScope(shield=True):
            try:
                await self._store.record_intent(intent)
                await self._store.mark(intent.intent_id, EntryState.ADOPTED, instance_id=chosen.id)
            except CredentialStoreError as error:
                item.error = error

    # ------------------------------------------------------------------ undoing

    async def _roll_back(self, run: Run) -> None:
        """Delete every instance this call created (its items end ``rolled back``), but for
        one another call adopted meanwhile (it belongs to that call's caller now)."""
        if self._reconciler.unsettled:
            await self._reconciler.settle()

        async def undo(item: FleetItem, intent_id: str) -> None:
            instance_id = item.instance_id or ""
            spec = self._by_item[id(item)]
            # Held while it decides and deletes: no call adopts it meanwhile.
            async with self._context.names.holding(
                spec.tenant_id or self._context.tenant_id, spec.name
            ):
                if self._context.names.taken_over(instance_id):
                    # Another call adopted it and handed it to its own caller.
                    logger.warning(
                        "not rolling back %s (%s): another create call adopted it",
                        item.name,
                        instance_id,
                    )
                    return
                try:
                    await delete_instance(self._context, instance_id)
                except AuraError as error:
                    item.error = error
                    return
            item.outcome = Outcome.ROLLED_BACK
            self._engine.end(item, run)  # its earlier FleetItemFinished said cancelled or failed
            await mark(self._store, intent_id, EntryState.DELETED, instance_id=instance_id)

        async with anyio.create_task_group() as tg:
            for item, intent_id in dict.fromkeys(self._created):
                if item.instance_id is not None:
                    tg.start_soon(undo, item, intent_id)

    async def _salvage(self, *, patient: bool = False) -> None:
        """Save again credentials that could not be saved, or delete their instance.

        After a cancel the report will not reach the caller (and with ``salvage`` the caller
        cannot keep it), so credentials held only in it would be lost with it: an instance
        nobody can connect to is deleted rather than left running, and its item says so
        without the password. ``patient`` (a call not cancelled) waits out a delete refused
        while the instance is still being created; a cancel sends one DELETE only.
        """
        store = self._store
        for item, intent_id in self._created:
            if item.credentials is None or item.saved_to is not None:
                continue
            try:
                await store.save_credentials(item.credentials, intent_id=intent_id)
            except CredentialStoreError as error:
                logger.error(
                    "instance %s (%s) was created but its credentials could not be saved (%s): "
                    "deleting it, since nobody could connect to it",
                    item.instance_id,
                    item.name,
                    error.message,
                )
                deleted = await self._delete_unsaved(item, intent_id, patient=patient)
                item.credentials = None
                what = (
                    "it was deleted"
                    if deleted
                    else "deleting it failed: fleet.recover(delete_lost=True) deletes it"
                )
                item.error = CredentialStoreError(
                    f"the credentials of instance {item.instance_id} could not be saved "
                    f"({error.message}); {what}, as nobody could connect to it",
                    location=store.location,
                )
            else:
                item.saved_to = store.location

    async def _delete_unsaved(self, item: FleetItem, intent_id: str, *, patient: bool) -> bool:
        """Delete an instance whose credentials are lost; mark what came of it; True if the
        service took the delete (its entry is then ``deleted``, else ``lost``)."""
        # (A cancel must not wait minutes for a create to finish, nor a window for a 404 to
        # mean something: what one DELETE does not settle, recovery deletes later, once the
        # ledger says its password is lost.)
        instance_id = item.instance_id or ""
        why = "a resend met a 404, which proves nothing yet"
        try:
            if patient:
                await delete_instance(self._context, instance_id)
                going: object | None = True
            else:
                going = await self._context.instances.delete(instance_id)
        except AuraError as failure:
            going, why = None, str(failure)
        if going is None:
            logger.error(
                "could not delete instance %s (%s); run fleet.recover(delete_lost=True)",
                instance_id,
                why,
            )
            await mark(self._store, intent_id, EntryState.LOST, instance_id=instance_id)
            return False
        await mark(self._store, intent_id, EntryState.DELETED, instance_id=instance_id)
        return True


async def verify(context: FleetContext, item: FleetItem) -> None:
    """Connect to a created or adopted instance that runs; fail the item if it refuses.

    An item that failed, or an instance adopted without its password, is left as it is:
    its outcome already says why. An adopted instance that is down (paused, being
    deleted, failed) fails at once: asked to verify, the caller counts on connecting to
    it. Any other status (running, or an online change: updating, resizing) is tried.
    """
    if (
        item.outcome not in (Outcome.SUCCEEDED, Outcome.ADOPTED)
        or item.error is not None
        or item.credentials is None
        or item.instance is None
    ):
        return
    status = item.instance.status
    if status in _DOWN:
        item.outcome = Outcome.FAILED
        hint = (
            f"Resume it (aura-async instance resume {item.instance_id}) and verify again"
            if status in _RESUMABLE
            else "It cannot accept connections in this state"
        )
        item.error = VerifyError(
            f"instance {item.instance_id} ({item.name}) is {status}: it accepts no connections",
            instance_id=item.instance_id or "",
            hint=hint,
        )
        return
    running = context.clock()
    try:
        await context.instances.verify(item.credentials)
    except (VerifyError, ValidationError) as error:
        item.outcome, item.error = Outcome.FAILED, error
        return
    item.connectable_after = context.clock() - running


def _summary(created: CreatedInstance) -> InstanceSummary:
    """The listing's view of an instance just created (for a call that may not list it yet)."""
    return InstanceSummary(
        id=created.id,
        name=created.name,
        tenant_id=created.tenant_id,
        cloud_provider=created.cloud_provider,
        created_at=created.created_at,
    )


def _recovered_summary(pending: Ambiguous) -> InstanceSummary | None:
    """What an ambiguous create is known to have made (its id recovered or found), if known."""
    item, spec = pending.item, pending.spec
    instance = item.instance
    if item.instance_id is None:
        return None
    if instance is not None:
        cloud = instance.cloud_provider
    elif spec.cloud_provider is not None:
        cloud = CloudProvider(spec.cloud_provider)
    else:
        return None  # (a free instance's cloud is not in its spec: the name stays touched)
    return InstanceSummary(
        id=item.instance_id,
        name=spec.name,
        tenant_id=pending.intent.tenant_id or "",
        cloud_provider=cloud,
    )

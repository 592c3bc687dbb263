"""``aura.fleet``: many instances created, paused, resumed, resized, snapshotted, deleted at once.

Every item runs as its own task on the client's one rate budget and one poller: there is no
concurrency number to tune, the limiter paces the requests (mutations ahead of polls) and the
watcher shares and spaces the polls. Only resource methods are called here; nothing in this
module builds a request.

Creates are idempotent by name: the project's instances are listed once before any create, a
name already present is adopted, an intent is recorded in the credential store before each
create request, and the credentials are saved from inside the create's shielded commit, so
neither a crash nor a cancel between the answer and the write can lose them. A create that
fails ambiguously is reconciled by listing, and sent again only once proven not created.
Teardowns count an instance deleted once the service took its delete, or it is proven absent
(a 404 alone is not proof: see ``Instances.ensure_deleted``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import anyio
import attrs

from aura_async._http.limiter import RateLimit
from aura_async._http.transport import RequestTally, counting_requests
from aura_async._validation import check_instance_id, check_size
from aura_async.errors import (
    APIError,
    AuraError,
    CreateFailedError,
    CreateOutcomeUnknownError,
    CredentialStoreError,
    NotFoundError,
    OngoingOperationError,
    RateLimitBackendError,
    ResponseValidationError,
    TransportError,
    ValidationError,
    VerifyError,
)
from aura_async.events import CredentialsSaved
from aura_async.fleet.events import FleetFinished, FleetItemFinished, FleetStarted
from aura_async.fleet.report import ErrorPolicy, FleetItem, FleetReport, Outcome
from aura_async.fleet.selectors import Selector
from aura_async.fleet.specs import DEFAULT_PATTERN, InstanceSpec, check_distinct, expand
from aura_async.fleet.store import (
    Credentials,
    CredentialStore,
    EntryState,
    FileStore,
    Intent,
    LedgerEntry,
    default_store_directory,
    new_intent_id,
)
from aura_async.lifecycle.connectivity import load_driver
from aura_async.lifecycle.operations import Operation
from aura_async.lifecycle.watcher import Watcher
from aura_async.models import CreatedInstance, Instance, InstanceStatus, InstanceSummary
from aura_async.resources import Instances, Snapshots
from aura_async.resources._base import check_timeout
from aura_async.resources._sightings import CLOCK_SKEW

__all__ = ["Fleet", "RecoveredEntry", "RecoveryReport"]

logger = logging.getLogger("aura_async")

T = TypeVar("T")
Targets = Sequence[str] | Selector

# A server's clock may run behind ours: an instance created "before" a create was started,
# by less than CLOCK_SKEW, may still be that create's.
_INVALID_STATUS = "invalid-instance-status"
_GOING = (InstanceStatus.DESTROYING, InstanceStatus.DELETING)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.define(eq=False)
class _Run:
    """The shared state of one fleet call."""

    operation: str
    policy: ErrorPolicy
    deadline: float
    scope: anyio.CancelScope = attrs.Factory(anyio.CancelScope)
    stopped: bool = False
    # Items whose instance this call created, with their intents: what a rollback deletes.
    created: list[tuple[FleetItem, str]] = attrs.Factory(list)
    # Ambiguous creates whose reconciliation has not finished (a stop or cancel cut it short).
    unsettled: list[_Ambiguous] = attrs.Factory(list)
    # Why the call stopped (the failure that stopped it): what the items it cut short say.
    stopped_by: AuraError | None = None

    def fail(self, item: FleetItem | None = None) -> None:
        """An item failed: under STOP or ROLLBACK nothing more starts and waits end."""
        if self.policy is not ErrorPolicy.CONTINUE and not self.stopped:
            self.stopped = True
            if item is not None:
                self.stopped_by = _stop_reason(item)
            self.scope.cancel()


@attrs.define(eq=False)
class _Ambiguous:
    """A create that failed ambiguously, while it is being reconciled."""

    item: FleetItem
    spec: InstanceSpec
    intent: Intent
    error: CreateOutcomeUnknownError
    known_before: set[str]
    answered: float  # when the ambiguous answer came (a new instance was made before it)
    attempt: int = 1  # which create request of the item this was


@attrs.frozen
class RecoveredEntry:
    """One ledger entry as :meth:`Fleet.recover` found it.

    Attributes:
        name: the instance's name.
        intent_id: the ledger entry.
        state: the entry's state after recovery.
        instance_id: the instance matched to it (None when none exists).
        exists: whether that instance exists on the server now.
        credentials_known: whether the ledger holds its password.
        deleted: whether recovery deleted it (only credential-less ones, when asked).
        error: what went wrong while deleting it, if anything.
    """

    name: str
    intent_id: str
    state: EntryState
    instance_id: str | None
    exists: bool
    credentials_known: bool
    deleted: bool = False
    error: str | None = None


@attrs.frozen
class RecoveryReport:
    """What :meth:`Fleet.recover` found: every ledger entry, matched against the server.

    Attributes:
        entries: one per ledger entry that had (or may have had) an instance.
        unknown: instances on the server that look like the ledger's (same name) but match
            no entry; always empty when the ledger was written by this package.
        requests: HTTP requests recovery sent.
    """

    entries: tuple[RecoveredEntry, ...]
    unknown: tuple[InstanceSummary, ...]
    requests: int

    @property
    def lost(self) -> list[RecoveredEntry]:
        """Entries whose instance exists (or existed) without a known password."""
        return [e for e in self.entries if e.state is EntryState.LOST]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values (no passwords)."""
        return {
            "entries": [
                {
                    "name": e.name,
                    "intent_id": e.intent_id,
                    "state": e.state.value,
                    "instance_id": e.instance_id,
                    "exists": e.exists,
                    "credentials_known": e.credentials_known,
                    "deleted": e.deleted,
                    "error": e.error,
                }
                for e in self.entries
            ],
            "unknown": [{"id": s.id, "name": s.name} for s in self.unknown],
            "requests": self.requests,
        }


class Fleet:
    """Fleet operations over one client (``aura.fleet``).

    Every verb checks all its input before sending anything, runs every item concurrently
    under the client's rate budget, streams events (:mod:`aura_async.fleet.events` and the
    lifecycle events of the waits), and returns a :class:`FleetReport`. Items never raise on
    their own: read the report (or call ``report.raise_for_failures()``).
    """

    def __init__(
        self,
        instances: Instances,
        snapshots: Snapshots,
        watcher: Watcher,
        publish: Callable[[object], None],
        *,
        tenant_id: str | None = None,
        rate: Callable[[], RateLimit | None] = lambda: None,
        clock: Callable[[], float] = anyio.current_time,
        server_now: Callable[[], dt.datetime] = _now,
    ) -> None:
        self._tenant_id = tenant_id
        # Ages are the server's created_at against the server's clock (the Date headers'),
        # not the local one, which may be off (or an emulator's may run faster).
        self._server_now = server_now
        self._rate = rate
        self._instances = instances
        self._snapshots = snapshots
        self._watcher = watcher
        self._publish = publish
        self._clock = clock

    # ------------------------------------------------------------------ create

    async def create(
        self,
        specs: InstanceSpec | Sequence[InstanceSpec],
        *,
        count: int | None = None,
        pattern: str = DEFAULT_PATTERN,
        wait: bool = True,
        timeout: float | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.STOP,
        store: CredentialStore | None = None,
        adopt: bool = True,
        attempts: int = 10,
        verify: bool = False,
    ) -> FleetReport:
        """Create many instances: a list of specs, or ``count`` copies of one named by ``pattern``.

        Names identify instances: an instance already present under a spec's name is adopted
        (with its credentials when the store has them), never created twice. Before each
        create request an intent is recorded in ``store``; the credentials are saved the
        moment the answer is parsed, before anything else happens. A create that fails
        ambiguously (5xx, dropped connection, timeout) is reconciled by listing the project
        (matching name and creation time): an instance found that way has no known password
        and is reported failed with ``credentials_known=False``; when none is listed once
        the window in which a new instance may still be missing has passed, it was not
        created, and the create is sent again (with backoff, under a fresh intent), up to
        ``attempts`` requests in all. The error policy applies to what fails after that.

        Args:
            specs: one spec, or one per instance.
            count: with one spec, how many copies to create.
            pattern: how copies are named (``{name}`` and ``{n}``, 1-based).
            wait: wait until every created or adopted instance runs.
            timeout: seconds per wait (the policy's default when None).
            on_error: ``stop`` (default): start nothing more after a failure; ``continue``;
                ``rollback``: stop, then delete every instance this call created (also when
                the call is cancelled).
            store: where intents and credentials go; default a :class:`FileStore` in
                :func:`default_store_directory` (``AURA_LEDGER_DIR``).
            adopt: list the project first and adopt names already present (one request).
                False skips the listing, for names known to be new (a CI run id in them):
                an instance already under such a name then gets a twin.
            attempts: how many create requests an item may send, each after the last was
                proven to have created nothing (1: never resend).
            verify: once an instance runs, connect to it with the official driver and its
                saved password (:meth:`Instances.verify`; needs ``aura-async[verify]``): an
                item succeeds only once its database answered, and its
                ``connectable_after`` says how long after running that was. A refused
                password or an address still unreachable at the policy's verify timeout
                fails the item (the instance and its credentials are kept, unless the
                policy rolls back). Needs ``wait``.

        Raises:
            ValidationError: any spec, the count, the pattern, a repeated name or the
                policy is invalid, ``verify`` without ``wait``, or a spec asks for what the
                project does not offer; nothing was sent (but the read of the project's
                offer, once per client).
            ConfigurationError: ``verify`` without the driver installed; nothing was sent.
            CredentialStoreError: the ledger could not be read to adopt what exists;
                nothing was created.
            AuraError: listing the project's instances failed; nothing was created.
        """
        policy = _policy(on_error)
        chosen = _specs(specs, count, pattern)
        for spec in chosen:
            with _naming(spec):
                self._instances.check_create(**spec.create_arguments())
        check_distinct(chosen)  # (names checked above: each is text)
        check_timeout(timeout)
        if adopt is not True and adopt is not False:
            raise ValidationError("adopt must be True or False", field="adopt")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValidationError(
                f"attempts must be a whole number, 1 or more; got {attempts!r}", field="attempts"
            )
        _check_store(store)
        if verify is not True and verify is not False:
            raise ValidationError("verify must be True or False", field="verify")
        if verify and (not wait or timeout == 0):
            raise ValidationError(
                "verify needs wait: an instance is verified once it runs", field="verify"
            )
        if verify:
            load_driver()  # a missing extra stops the call before anything is created
        # Then against what the project offers (one read of it per client, shared).
        with counting_requests() as checking:
            for spec in chosen:
                with _naming(spec):
                    await self._instances.validate_create(**spec.create_arguments())
        guarded = _guarded(store if store is not None else FileStore(default_store_directory()))
        assert guarded is not None
        store = guarded
        timeout = self._wait_timeout(timeout, Operation.CREATE, len(chosen))
        items = [FleetItem(name=spec.name) for spec in chosen]
        by_item = dict(zip((id(item) for item in items), chosen, strict=True))

        async def prepare() -> dict[str | None, list[InstanceSummary]]:
            tenants = {spec.tenant_id for spec in chosen}
            return {
                tenant: await self._instances.list(tenant_id=tenant)
                for tenant in sorted(tenants, key=lambda t: t or "")
            }

        existing: dict[str | None, list[InstanceSummary]] = {}
        ledger: dict[str, LedgerEntry] = {}

        async def work(item: FleetItem, run: _Run) -> None:
            spec = by_item[id(item)]
            await self._create_one(
                item, spec, run, existing, ledger, store, wait, timeout, attempts
            )
            if verify:
                await self._verify(item)

        async def before(run: _Run) -> None:
            if not adopt:
                return
            existing.update(await prepare())
            names = {spec.name for spec in chosen}
            if any(s.name in names for listed in existing.values() for s in listed):
                # Read once for the whole call: the credentials of what will be adopted.
                entries = await store.entries()
                ledger.update({e.instance_id: e for e in entries if e.instance_id is not None})

        return await self._execute(
            "create",
            items,
            work,
            policy,
            timeout,
            before=before,
            rollback=self._rollback if policy is ErrorPolicy.ROLLBACK else None,
            settle=self._settle_ambiguous,
            store=store,
            spent=checking,
        )

    async def _create_one(
        self,
        item: FleetItem,
        spec: InstanceSpec,
        run: _Run,
        existing: dict[str | None, list[InstanceSummary]],
        ledger: dict[str, LedgerEntry],
        store: CredentialStore,
        wait: bool,
        timeout: float | None,
        attempts: int,
    ) -> None:
        present = [s for s in existing.get(spec.tenant_id, []) if s.name == spec.name]
        if present and await self._adopt(item, present, ledger, store, wait, timeout):
            return
        known_before = {s.id for s in existing.get(spec.tenant_id, [])}
        for attempt in range(1, attempts + 1):
            intent = Intent(
                intent_id=new_intent_id(),
                name=spec.name,
                spec=spec.to_json(),
                tenant_id=spec.tenant_id or self._tenant_id,
                started_at=_now(),
            )
            with anyio.CancelScope(shield=True):
                try:
                    await store.record_intent(intent)
                except CredentialStoreError as error:
                    # Without an intent on disk a crash could leave an instance nobody knows
                    # of: do not create it.
                    item.outcome, item.error = Outcome.FAILED, error
                    return
            refused = await self._create_attempt(
                item, spec, intent, run, store, wait, timeout, known_before, attempt
            )
            if refused is None:
                return
            # Proven not created: send it again, unless this was the last try. (The error
            # says so meanwhile, should a stop cut the backoff short.)
            item.error = CreateFailedError(spec.name, attempt, refused)
            if attempt == attempts or not await self._before_resend(refused, attempt, run):
                item.outcome = Outcome.FAILED
                return
            item.outcome = item.error = None

    async def _create_attempt(
        self,
        item: FleetItem,
        spec: InstanceSpec,
        intent: Intent,
        run: _Run,
        store: CredentialStore,
        wait: bool,
        timeout: float | None,
        known_before: set[str],
        attempt: int,
    ) -> CreateOutcomeUnknownError | None:
        """Send one create under a recorded intent and see it through.

        Returns the error of an ambiguous failure proven to have created nothing (the
        caller may send the create again), else None with the item's outcome set.
        """
        submitted = self._clock()

        async def save(created: CreatedInstance) -> None:
            nonlocal submitted
            submitted = self._clock()  # accepted now: its wait counts from here
            await self._save(item, Credentials.from_created(created), intent.intent_id, store)

        with counting_requests() as tally:
            try:
                created = await self._instances.create(**spec.create_arguments(), on_created=save)
            except CreateOutcomeUnknownError as error:
                submitted = self._clock()  # answered (ambiguously) now
                # Not shielded: a cancel from outside leaves the intent "intended", for
                # recover() to match; a stop of the call (or a rollback) finishes it after.
                pending = _Ambiguous(item, spec, intent, error, known_before, submitted, attempt)
                run.unsettled.append(pending)
                state = await self._reconcile(pending, store, run)
                run.unsettled.remove(pending)
                if state is EntryState.NOT_CREATED:
                    return error
                if item.outcome is not Outcome.SUCCEEDED or not wait or timeout == 0:
                    return None
                # The answer could not be parsed but its credentials were: wait as asked.
                item.submitted, item.outcome = submitted, None
                item.instance = await self._instances.wait(
                    item.instance_id or "",
                    Operation.CREATE,
                    name=spec.name,
                    submitted=submitted,
                    timeout=timeout,
                    cohort=True,
                )
                item.outcome = Outcome.SUCCEEDED
                return None
            except anyio.get_cancelled_exc_class():
                if tally.sent == 0:
                    # Cancelled while waiting for the rate limiter: nothing left.
                    with anyio.CancelScope(shield=True):
                        await _mark(store, intent.intent_id, EntryState.NOT_CREATED)
                raise
            except AuraError as error:
                if (isinstance(error, APIError) and error.status < 500) or isinstance(
                    error, RateLimitBackendError
                ):
                    # A refusal, or a shared budget that could not vouch for the request:
                    # the server did no work.
                    with anyio.CancelScope(shield=True):
                        await _mark(store, intent.intent_id, EntryState.NOT_CREATED)
                item.outcome, item.error = Outcome.FAILED, error
                return None
        item.submitted = submitted
        run.created.append((item, intent.intent_id))
        if item.error is not None:  # the credentials could not be saved
            item.outcome = Outcome.FAILED
            return None
        if wait and timeout != 0:
            item.instance = await self._instances.wait(
                created.id,
                Operation.CREATE,
                name=spec.name,
                submitted=submitted,
                timeout=timeout,
                cohort=True,
            )
            await self._complete_address(item, intent.intent_id, store)
        item.outcome = Outcome.SUCCEEDED
        return None

    async def _verify(self, item: FleetItem) -> None:
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
        running = self._clock()
        try:
            await self._instances.verify(item.credentials)
        except (VerifyError, ValidationError) as error:
            item.outcome, item.error = Outcome.FAILED, error
            return
        item.connectable_after = self._clock() - running

    async def _complete_address(
        self, item: FleetItem, intent_id: str, store: CredentialStore
    ) -> None:
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
            await store.save_credentials(item.credentials, intent_id=intent_id)
        except Exception as error:  # any store's failure: the saved copy stays as it was
            logger.warning(
                "could not add the connection URL of %s to %s: %s",
                credentials.instance_id,
                store.location,
                type(error).__name__,
            )

    async def _before_resend(
        self, error: CreateOutcomeUnknownError, attempt: int, run: _Run
    ) -> bool:
        """Back off before sending a create again; False when the item's time would run out.

        Exponential with jitter from the policy's shortest interval, and never sooner than
        a ``Retry-After`` the failed answer carried.
        """
        policy = self._watcher.policy
        delay = min(policy.max_interval, policy.min_interval * 2 ** (attempt - 1))
        delay *= random.uniform(1.0, 1.5)
        asked = getattr(error.cause, "retry_after", None)
        if isinstance(asked, int | float) and asked > delay:
            delay = float(asked)
        if self._clock() + delay > run.deadline:
            return False
        await anyio.sleep(delay)
        return True

    async def _save(
        self,
        item: FleetItem,
        credentials: Credentials,
        intent_id: str | None,
        store: CredentialStore,
    ) -> None:
        """Keep the credentials on the item, then in the (guarded) store; never raise."""
        item.instance_id = credentials.instance_id
        item.credentials = credentials
        try:
            await store.save_credentials(credentials, intent_id=intent_id)
        except Exception as error:  # any store's failure: the credentials must not be lost
            cause = (
                error.message if isinstance(error, CredentialStoreError) else type(error).__name__
            )
            failure = CredentialStoreError(
                f"instance {credentials.instance_id} ({item.name}) was created but its "
                f"credentials could not be saved to {store.location} ({cause}); they are "
                "only in this report's item.credentials",
                location=store.location,
            )
            failure.__cause__ = error
            item.error = failure
            return
        item.saved_to = store.location
        self._publish(
            CredentialsSaved(
                resource_id=credentials.instance_id, name=item.name, location=item.saved_to
            )
        )

    async def _adopt(
        self,
        item: FleetItem,
        present: list[InstanceSummary],
        ours: dict[str, LedgerEntry],
        store: CredentialStore,
        wait: bool,
        timeout: float | None,
    ) -> bool:
        """Take over an instance already under the item's name; False if all are going away.

        A listed instance that answers 404 may be inside its creation's 404 window: it is
        taken over as it is (creating, as far as anyone can tell), not created a second time.
        """
        latest = dt.datetime.max.replace(tzinfo=dt.UTC)
        young = _now() - dt.timedelta(seconds=self._watcher.not_found_window()) - CLOCK_SKEW
        instance: Instance | None
        # Prefer the instance the ledger knows (it has the password), else the oldest.
        for chosen in sorted(present, key=lambda s: (s.id not in ours, s.created_at or latest)):
            try:
                instance = await self._instances.get(chosen.id)
            except NotFoundError:
                if chosen.created_at is None or chosen.created_at > young:
                    instance = None  # listed, and perhaps too new to be found yet
                    break
                continue
            if instance.status in _GOING:
                continue  # being deleted: the name is free again
            break
        else:
            return False
        item.instance_id = chosen.id
        item.instance = instance
        entry = ours.get(chosen.id)
        credentials = entry.credentials if entry is not None else None
        if credentials is None:
            credentials = await store.lookup(instance_id=chosen.id)
        item.credentials = credentials
        item.credentials_known = credentials is not None
        if entry is None:
            intent = Intent(
                intent_id=new_intent_id(),
                name=chosen.name,
                spec={"adopted": True},
                tenant_id=chosen.tenant_id,
                started_at=_now(),
            )
            with anyio.CancelScope(shield=True):
                try:
                    await store.record_intent(intent)
                    await store.mark(intent.intent_id, EntryState.ADOPTED, instance_id=chosen.id)
                except CredentialStoreError as error:
                    item.error = error
        if (
            wait
            and timeout != 0
            and (instance is None or instance.status is InstanceStatus.CREATING)
        ):
            item.instance = await self._instances.wait(
                chosen.id, Operation.CREATE, name=chosen.name, timeout=timeout, cohort=True
            )
        item.outcome = Outcome.ADOPTED
        return True

    async def _reconcile(
        self, pending: _Ambiguous, store: CredentialStore, run: _Run
    ) -> EntryState | None:
        """Find out whether an ambiguous create made an instance; return the state concluded.

        A listing shows a new instance only after a while (live Aura answers 404 for a
        just-created instance, and may not list it yet): "not created" is concluded only from
        a listing sent once the not-found window has passed since the ambiguous answer.
        Returns None when the listing failed (the intent stays "intended" for recover()).
        """
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
                await self._save(item, recovered, intent.intent_id, store)
            run.created.append((item, intent.intent_id))
            item.outcome = Outcome.FAILED if item.error is not error else Outcome.SUCCEEDED
            if item.outcome is Outcome.SUCCEEDED:
                item.error = None
            return EntryState.CREATED
        # A 2xx whose body could not be read, or an answer that named the instance: the
        # service made it, whatever a listing says.
        made = error.instance_id is not None or isinstance(error.cause, ResponseValidationError)
        if error.instance_id is not None:
            return await self._lost(pending, store, run, error.instance_id)
        while True:
            # (Recomputed each time: the fleet's other items may have learnt a longer one.)
            trusted = pending.answered + self._watcher.not_found_window()
            asked = self._clock()
            try:
                listed = await self._instances.list(tenant_id=spec.tenant_id, sent_after=asked)
            except AuraError:
                # Nothing can be concluded: the intent stays "intended" for recover().
                item.outcome = Outcome.FAILED
                return None
            match = _match(listed, spec.name, intent.started_at, pending.known_before)
            if match is not None:
                return await self._lost(pending, store, run, match.id)
            if asked >= trusted:
                break
            # Too soon to tell: a new instance may not be listed yet. Look once more when
            # it would be.
            await anyio.sleep(trusted - asked)
        if made:
            # Made, yet not listed: nothing to conclude; the intent stays "intended".
            item.outcome = Outcome.FAILED
            return None
        await _mark(store, intent.intent_id, EntryState.NOT_CREATED)
        item.outcome = Outcome.FAILED
        return EntryState.NOT_CREATED

    async def _lost(
        self, pending: _Ambiguous, store: CredentialStore, run: _Run, instance_id: str
    ) -> EntryState:
        """The ambiguous create made ``instance_id``, whose password never arrived."""
        item, intent = pending.item, pending.intent
        item.instance_id = instance_id
        item.credentials_known = False
        run.created.append((item, intent.intent_id))
        await _mark(store, intent.intent_id, EntryState.LOST, instance_id=instance_id)
        item.outcome = Outcome.FAILED
        item.error = CreateFailedError(
            pending.spec.name, pending.attempt, pending.error, instance_id=instance_id
        )
        return EntryState.LOST

    async def _settle_ambiguous(self, run: _Run, store: CredentialStore) -> None:
        """Finish the reconciliations a stop or a cancel cut short (call it shielded).

        Their items keep the outcome they were given when cut short (``cancelled``); what
        changes is that the ledger and the report say whether an instance came of them,
        and a rollback knows what to delete.
        """

        async def finish(pending: _Ambiguous) -> None:
            item = pending.item
            outcome = item.outcome
            if item.instance_id is None:
                state = await self._reconcile(pending, store, run)
                if state is EntryState.NOT_CREATED:
                    item.error = CreateFailedError(item.name, pending.attempt, pending.error)
            elif item.credentials is None:  # matched, perhaps not yet marked
                await _mark(
                    store, pending.intent.intent_id, EntryState.LOST, instance_id=item.instance_id
                )
            item.outcome = outcome if outcome is not None else item.outcome
            run.unsettled.remove(pending)

        async with anyio.create_task_group() as tg:
            for pending in list(run.unsettled):
                tg.start_soon(finish, pending)

    async def _rollback(self, run: _Run, store: CredentialStore | None) -> None:
        """Delete every instance this call created (its items end ``rolled back``)."""
        if store is not None and run.unsettled:
            await self._settle_ambiguous(run, store)

        async def undo(item: FleetItem, intent_id: str) -> None:
            instance_id = item.instance_id or ""
            try:
                await self._delete(instance_id)
            except AuraError as error:
                item.error = error
                return
            item.outcome = Outcome.ROLLED_BACK
            self._end(item, run)  # its earlier FleetItemFinished said cancelled or failed
            if store is not None:
                await _mark(store, intent_id, EntryState.DELETED, instance_id=instance_id)

        async with anyio.create_task_group() as tg:
            for item, intent_id in dict.fromkeys(run.created):
                if item.instance_id is not None:
                    tg.start_soon(undo, item, intent_id)

    # ------------------------------------------------------------------ changes

    async def pause(
        self,
        targets: Targets,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.CONTINUE,
    ) -> FleetReport:
        """Pause many instances (ids or a :class:`Selector`); already paused ones are skipped.

        Raises:
            ValidationError: malformed ids, selector, timeout or policy; nothing was sent.
            AuraError: resolving a selector failed; nothing was changed.
        """
        return await self._change(
            "pause",
            targets,
            Operation.PAUSE,
            lambda i: self._instances.pause(i),
            done=InstanceStatus.PAUSED,
            underway=InstanceStatus.PAUSING,
            wait=wait,
            timeout=timeout,
            on_error=on_error,
        )

    async def resume(
        self,
        targets: Targets,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.CONTINUE,
    ) -> FleetReport:
        """Resume many paused instances; running ones are skipped.

        Raises:
            ValidationError: malformed ids, selector, timeout or policy; nothing was sent.
            AuraError: resolving a selector failed; nothing was changed.
        """
        return await self._change(
            "resume",
            targets,
            Operation.RESUME,
            lambda i: self._instances.resume(i),
            done=InstanceStatus.RUNNING,
            underway=InstanceStatus.RESUMING,
            wait=wait,
            timeout=timeout,
            on_error=on_error,
        )

    async def resize(
        self,
        targets: Targets,
        *,
        memory: str | None = None,
        storage: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.CONTINUE,
    ) -> FleetReport:
        """Change the memory (and/or storage) of many instances.

        Raises:
            ValidationError: no size given, malformed sizes or sizes the project does not
                offer, ids, selector, timeout or policy; nothing was sent (but the read of
                the project's offer, once per client).
            AuraError: resolving a selector failed; nothing was changed.
        """
        if memory is None and storage is None:
            raise ValidationError("resize needs memory or storage", field="memory")
        if memory is not None:
            check_size(memory, "memory")
        if storage is not None:
            check_size(storage, "storage")
        if _policy(on_error) is ErrorPolicy.ROLLBACK:
            raise ValidationError("on_error='rollback' applies to create only", field="on_error")
        check_timeout(timeout)
        _check_targets(targets)
        with counting_requests() as checking:
            await self._instances.validate_resize(
                memory=memory,
                storage=storage,
                tenant_id=targets.tenant_id if isinstance(targets, Selector) else None,
            )
        return await self._change(
            "resize",
            targets,
            Operation.RESIZE,
            lambda i: self._instances.update(i, memory=memory, storage=storage),
            wait=wait,
            timeout=timeout,
            on_error=on_error,
            memory=memory,
            storage=storage,
            spent=checking,
        )

    async def snapshot(
        self,
        targets: Targets,
        *,
        wait: bool = True,
        timeout: float | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.CONTINUE,
    ) -> FleetReport:
        """Take an on-demand snapshot of many instances (``item.snapshot_id`` says which).

        Raises:
            ValidationError: malformed ids, selector, timeout or policy; nothing was sent.
            AuraError: resolving a selector failed; nothing was changed.
        """
        policy = _policy(on_error)
        check_timeout(timeout)
        if policy is ErrorPolicy.ROLLBACK:
            raise ValidationError("on_error='rollback' applies to create only", field="on_error")
        with counting_requests() as listing:
            items = await self._items(targets)
        timeout = self._wait_timeout(timeout, Operation.SNAPSHOT, len(items))

        async def work(item: FleetItem, run: _Run) -> None:
            instance_id = item.instance_id or ""
            taken = await self._retry_conflicts(
                lambda: self._snapshots.create(instance_id), run, instance_id
            )
            submitted = self._clock()
            item.snapshot_id = taken.snapshot_id
            item.snapshot_status = "Pending"  # the create's answer holds the id alone
            item.submitted = submitted
            if wait and timeout != 0:
                snapshot = await self._snapshots.wait(
                    instance_id,
                    taken.snapshot_id,
                    submitted=submitted,
                    timeout=timeout,
                    cohort=True,
                )
                item.snapshot_status = str(snapshot.status)
            item.outcome = Outcome.SUCCEEDED

        return await self._execute("snapshot", items, work, policy, timeout, spent=listing)

    async def delete(
        self,
        targets: Targets,
        *,
        dry_run: bool = False,
        wait: bool = True,
        timeout: float | None = None,
        on_error: ErrorPolicy | str = ErrorPolicy.CONTINUE,
        store: CredentialStore | None = None,
    ) -> FleetReport:
        """Delete many instances; safe to run again (an instance already gone counts as deleted).

        A paused or still-creating instance is deleted too: while another operation is in
        flight (409) the item waits and tries again. An item succeeds once the service
        accepted its delete (and, with ``wait``, once the instance is gone), or once the
        instance is proven absent: a 404 alone is not proof, since live Aura answers 404 for
        a just-created instance for a while (see :meth:`Instances.delete`). With ``dry_run``
        nothing is sent but the listing, and every chosen instance is reported ``skipped``.
        Deleted instances are marked in ``store`` (the selector's ledger by default) only
        then.

        Raises:
            ValidationError: malformed ids, selector, timeout or policy; nothing was sent.
            AuraError: resolving a selector failed; nothing was deleted.
        """
        policy = _policy(on_error)
        check_timeout(timeout)
        if policy is ErrorPolicy.ROLLBACK:
            raise ValidationError("on_error='rollback' applies to create only", field="on_error")
        _check_store(store)
        if store is None and isinstance(targets, Selector):
            store = targets.ledger
        store = _guarded(store)
        with counting_requests() as listing:
            items = await self._items(targets, unlisted=True)
            intents = await _ledger_index(store) if store is not None and not dry_run else {}
        timeout = self._wait_timeout(timeout, Operation.DELETE, len(items))
        if dry_run:
            for item in items:
                item.outcome = Outcome.SKIPPED
            return FleetReport(
                "delete", tuple(items), listing.sent, listing.rate_limited, 0.0, dry_run=True
            )

        async def work(item: FleetItem, run: _Run) -> None:
            instance_id = item.instance_id or ""
            await self._delete(instance_id, item=item, wait=wait, timeout=timeout)
            item.instance = None
            item.outcome = Outcome.SUCCEEDED
            if store is not None:
                with anyio.CancelScope(shield=True):
                    for intent_id in intents.get(instance_id, ()):
                        await _mark(store, intent_id, EntryState.DELETED, instance_id=instance_id)

        return await self._execute("delete", items, work, policy, timeout, spent=listing)

    async def select(self, selector: Selector) -> list[InstanceSummary]:
        """List the instances a selector chooses (one listing request).

        Raises:
            AuraError: the listing failed.
        """
        listed = await self._instances.list(tenant_id=selector.tenant_id)
        in_ledger: set[str] | None = None
        if selector.ledger is not None:
            entries = await selector.ledger.entries()
            live = (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST, EntryState.INTENDED)
            in_ledger = {e.instance_id for e in entries if e.state in live and e.instance_id}
            # An intent never matched to an instance (a crash mid-create) still names what
            # may exist: recover() matches those; here only known ids count.
        now = self._server_now()
        return [s for s in listed if selector.matches(s, now=now, in_ledger=in_ledger)]

    async def _items(self, targets: Targets, *, unlisted: bool = False) -> list[FleetItem]:
        """The items a call works on: ids as given, or what a selector chooses.

        With ``unlisted`` (a teardown), a selector also chooses what it names that the
        listing may not show yet: its ids, and its ledger's instances recorded within the
        window in which a new instance may be missing from listings.
        """
        if isinstance(targets, Selector):
            chosen = [FleetItem(name=s.name, instance_id=s.id) for s in await self.select(targets)]
            if unlisted:
                listed = {item.instance_id for item in chosen}
                chosen += [
                    FleetItem(name=name, instance_id=instance_id)
                    for instance_id, name in await self._unlisted(targets)
                    if instance_id not in listed
                ]
            return chosen
        return [FleetItem(name=i, instance_id=i) for i in _check_targets(targets)]

    async def _unlisted(self, selector: Selector) -> list[tuple[str, str]]:
        """(id, name) of what a selector names that may be too new to be listed.

        Raises:
            CredentialStoreError: the selector's ledger cannot be read.
        """
        found: dict[str, str] = {}
        if selector.older_than is not None:
            return []  # what is too new to be listed is not old
        if selector.ids is not None and selector.ledger is None:
            found.update((i, i) for i in selector.ids)
        if selector.ledger is not None:
            recent = _now() - dt.timedelta(seconds=self._watcher.not_found_window())
            live = (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST)
            for entry in await selector.ledger.entries():
                if (
                    entry.instance_id is not None
                    and entry.state in live
                    and entry.updated_at >= recent
                    and (selector.ids is None or entry.instance_id in selector.ids)
                    and selector.matches_name(entry.name)
                    and _in_project(entry, selector.tenant_id)
                ):
                    found[entry.instance_id] = entry.name
        return sorted(found.items())

    async def _change(
        self,
        operation: str,
        targets: Targets,
        kind: Operation,
        send: Callable[[str], Awaitable[Any]],
        *,
        wait: bool,
        timeout: float | None,
        on_error: ErrorPolicy | str,
        done: InstanceStatus | None = None,
        underway: InstanceStatus | None = None,
        memory: str | None = None,
        storage: str | None = None,
        spent: RequestTally | None = None,
    ) -> FleetReport:
        policy = _policy(on_error)
        check_timeout(timeout)
        if policy is ErrorPolicy.ROLLBACK:
            raise ValidationError("on_error='rollback' applies to create only", field="on_error")
        with counting_requests() as listing:
            items = await self._items(targets)
        if spent is not None:  # (what was sent before: checking the sizes offered)
            listing.sent += spent.sent
            listing.rate_limited += spent.rate_limited
        timeout = self._wait_timeout(timeout, kind, len(items))

        async def work(item: FleetItem, run: _Run) -> None:
            instance_id = item.instance_id or ""
            try:
                accepted = await self._retry_conflicts(lambda: send(instance_id), run, instance_id)
            except APIError as error:
                if error.reason != _INVALID_STATUS or done is None:
                    raise
                # Not in the state the change starts from: maybe already where it should be.
                current = await self._instances.get(instance_id)
                item.instance = current
                if current.status is done:
                    item.outcome = Outcome.SKIPPED
                    return
                if current.status is not underway:
                    raise
                accepted = current
            submitted = self._clock()  # accepted now: waits count from here
            item.submitted = submitted
            item.instance = accepted
            if getattr(accepted, "name", None):
                item.name = accepted.name
            if wait and timeout != 0:
                item.instance = await self._instances.wait(
                    instance_id,
                    kind,
                    memory=memory,
                    storage=storage,
                    name=item.name,
                    submitted=submitted,
                    timeout=timeout,
                    cohort=True,
                )
            item.outcome = Outcome.SUCCEEDED

        return await self._execute(operation, items, work, policy, timeout, spent=listing)

    def _wait_timeout(self, timeout: float | None, operation: Operation, items: int) -> float:
        """A fleet item's wait timeout: as given, else the policy's plus the fleet's queue.

        A fleet's own requests queue behind one another at the rate limit (1000 creates at
        25 a minute take 40 minutes to send), and an item's polls wait behind the others'
        creates: that time must not count against its operation.
        """
        if timeout is not None:
            return timeout
        queued = 0.0
        rate = self._rate()
        if rate is not None:
            queued = math.ceil((2 * items + 1) / rate.limit) * rate.period
        return self._watcher.policy.timeout(operation) + queued

    async def _retry_conflicts(
        self, call: Callable[[], Awaitable[T]], run: _Run, instance_id: str
    ) -> T:
        """Call; while another operation is in flight (409), wait and call again.

        A 404 from an instance young enough to be inside the service's not-found window
        after a create proves nothing either: the call goes again once the window is past.
        """
        policy = self._watcher.policy
        attempt = 0
        while True:
            try:
                return await call()
            except NotFoundError:
                counts_from = self._instances.not_found_counts_from(instance_id)
                if not self._clock() < counts_from <= run.deadline:
                    raise
                await anyio.sleep(counts_from - self._clock())
            except OngoingOperationError:
                attempt += 1
                delay = min(policy.max_interval, policy.min_interval * 2**attempt)
                delay *= random.uniform(1.0, 1.25)
                if self._clock() + delay > run.deadline:
                    raise
                await anyio.sleep(delay)

    async def _delete(
        self,
        instance_id: str,
        *,
        item: FleetItem | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Delete an instance; return once the service took the delete, or it is proven gone.

        A 202 is the service's word that it is deleting the instance (with ``wait``, the
        instance is then waited for until gone). A 404 is not: a just-created instance
        answers 404 for a while (see :meth:`Instances.ensure_deleted`).

        Raises:
            WaitTimeoutError: not proven gone (or, with ``wait``, not gone) in time.
            AuraError: the delete failed.
        """
        if item is not None:
            item.submitted = self._clock()
        deleted = await self._instances.ensure_deleted(
            instance_id, wait=wait and timeout != 0, timeout=timeout or None, cohort=True
        )
        if item is not None and not deleted:
            item.already_gone = True

    # ------------------------------------------------------------------ recovery

    async def recover(
        self,
        store: CredentialStore,
        *,
        delete_lost: bool = False,
        tenant_id: str | None = None,
    ) -> RecoveryReport:
        """Account for every instance a ledger's intents may have made (after a crash, say).

        Each intent without credentials is matched against the project's instances by name
        and creation time: a match is marked ``credentials-lost`` (and deleted when
        ``delete_lost``), no match ``not-created``. Entries whose instance is gone are marked
        ``deleted``. Afterwards no instance the fleet created is unknown to the ledger.
        Absence is concluded only from a listing sent once the window in which a new
        instance may still be missing has passed (so recovery right after a crash waits
        that long before it concludes "not created" or "deleted").

        Raises:
            ValidationError: ``store`` is not a credential store; nothing was sent.
            CredentialStoreError: the ledger cannot be read or written.
            AuraError: listing the project's instances failed.
        """
        if store is None:
            raise ValidationError("recover needs the credential store to read", field="store")
        _check_store(store)
        guarded = _guarded(store)
        assert guarded is not None
        store = guarded
        with counting_requests() as tally:
            entries = await store.entries()
            # Every project the ledger names: an instance of another project than the
            # client's default must not be taken for gone.
            named: set[str] = {
                e.intent.tenant_id for e in entries if e.intent and e.intent.tenant_id
            }
            named |= {
                e.credentials.tenant_id
                for e in entries
                if e.credentials and e.credentials.tenant_id
            }
            if self._tenant_id is not None:
                named.add(self._tenant_id)
            projects: list[str | None] = (
                [tenant_id] if tenant_id is not None else [*sorted(named)] or [None]
            )
            began = self._clock()
            listed = await self._list_projects(projects, began)
            if _absence_unproven(entries, listed, self._watcher.not_found_window()):
                # What is missing from the listing may be too new to be listed: look again
                # once the window in which a new instance may be missing has passed (any
                # instance of these entries was made before this call began).
                pause = max(0.0, began + self._watcher.not_found_window() - self._clock())
                logger.info(
                    "recover: some ledger entries are missing from the listing; looking "
                    "again in %.0f s, since a new instance may not be listed yet",
                    pause,
                )
                await anyio.sleep(pause)
                listed = await self._list_projects(projects, self._clock())
            by_id = {s.id: s for s in listed}
            claimed = {e.instance_id for e in entries if e.instance_id is not None}
            # Oldest intents first: of two intents with one name, the earlier gets the
            # earlier instance.
            results = [
                await self._recover_one(entry, store, by_id, claimed, listed)
                for entry in sorted(entries, key=_started)
            ]
            if delete_lost:
                results = await self._delete_lost(results, store)
            names = {e.name for e in entries}
            unknown = tuple(s for s in listed if s.name in names and s.id not in claimed)
        return RecoveryReport(tuple(results), unknown, tally.sent)

    async def _list_projects(
        self, projects: list[str | None], after: float
    ) -> list[InstanceSummary]:
        listed: list[InstanceSummary] = []
        for project in projects:
            listed.extend(await self._instances.list(tenant_id=project, sent_after=after))
        return listed

    async def _recover_one(
        self,
        entry: LedgerEntry,
        store: CredentialStore,
        by_id: dict[str, InstanceSummary],
        claimed: set[str],
        listed: list[InstanceSummary],
    ) -> RecoveredEntry:
        known = entry.credentials is not None
        state = entry.state
        instance_id = entry.instance_id
        if state is EntryState.INTENDED and instance_id is None:
            started = entry.intent.started_at if entry.intent is not None else entry.updated_at
            candidates = [s for s in listed if s.id not in claimed]
            match = _match(candidates, entry.name, started, set())
            if match is None:
                await store.mark(entry.intent_id, EntryState.NOT_CREATED)
                state = EntryState.NOT_CREATED
            else:
                claimed.add(match.id)
                instance_id = match.id
                state = EntryState.LOST
                await store.mark(entry.intent_id, state, instance_id=match.id)
        exists = instance_id is not None and instance_id in by_id
        if (
            instance_id is not None
            and not exists
            and state in (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST)
        ):
            await store.mark(entry.intent_id, EntryState.DELETED, instance_id=instance_id)
            state = EntryState.DELETED
        return RecoveredEntry(
            name=entry.name,
            intent_id=entry.intent_id,
            state=state,
            instance_id=instance_id,
            exists=exists,
            credentials_known=known,
        )

    async def _delete_lost(
        self, results: list[RecoveredEntry], store: CredentialStore
    ) -> list[RecoveredEntry]:
        out = list(results)

        async def drop(index: int, entry: RecoveredEntry) -> None:
            assert entry.instance_id is not None
            instance_id = entry.instance_id
            try:
                await self._delete(instance_id)
            except AuraError as error:
                out[index] = attrs.evolve(entry, error=str(error))
                return
            await store.mark(entry.intent_id, EntryState.DELETED, instance_id=instance_id)
            out[index] = attrs.evolve(entry, state=EntryState.DELETED, deleted=True, exists=False)

        async with anyio.create_task_group() as tg:
            for index, entry in enumerate(results):
                if entry.state is EntryState.LOST and entry.exists:
                    tg.start_soon(drop, index, entry)
        return out

    # ------------------------------------------------------------------ the engine

    async def _execute(
        self,
        operation: str,
        items: list[FleetItem],
        work: Callable[[FleetItem, _Run], Awaitable[None]],
        policy: ErrorPolicy,
        timeout: float | None,
        *,
        before: Callable[[_Run], Awaitable[None]] | None = None,
        rollback: Callable[[_Run, CredentialStore | None], Awaitable[None]] | None = None,
        settle: Callable[[_Run, CredentialStore], Awaitable[None]] | None = None,
        store: CredentialStore | None = None,
        spent: RequestTally | None = None,
    ) -> FleetReport:
        """Run ``work`` for every item concurrently and report; see the class docstring.

        ``spent`` counts requests already made for this call (resolving a selector).
        ``settle`` finishes, after a stop, what the stop cut short in items (not after a
        cancel from outside: that is left to ``rollback``, or to :meth:`recover`).
        """
        began = self._clock()
        run = _Run(operation, policy, began + _deadline(self, timeout, operation))
        with counting_requests() as tally:
            if before is not None:
                await before(run)
            self._publish(
                FleetStarted(operation=operation, items=len(items), at=_now(), monotonic=began)
            )
            try:
                with run.scope:
                    async with anyio.create_task_group() as tg:
                        for item in items:
                            tg.start_soon(self._item, item, work, run)
            except BaseException:
                # Cancelled from outside: what was created is recorded; undo it when asked.
                with anyio.CancelScope(shield=True):
                    self._settle(items)
                    if rollback is not None:
                        await rollback(run, store)
                    elif store is not None:
                        await self._salvage(run, store)
                    self._finished(operation, items, tally.sent, tally.rate_limited, began)
                raise
            if spent is not None:
                tally.sent += spent.sent
                tally.rate_limited += spent.rate_limited
            self._settle(items)
            if settle is not None and store is not None and run.unsettled:
                with anyio.CancelScope(shield=True):
                    await settle(run, store)
            if rollback is not None and any(
                item.outcome in (Outcome.FAILED, Outcome.CANCELLED) for item in items
            ):
                with anyio.CancelScope(shield=True):
                    await rollback(run, store)
        return self._finished(operation, items, tally.sent, tally.rate_limited, began)

    async def _item(
        self, item: FleetItem, work: Callable[[FleetItem, _Run], Awaitable[None]], run: _Run
    ) -> None:
        item.started = self._clock()
        try:
            await work(item, run)
        except anyio.get_cancelled_exc_class():
            self._end(item, run)
            raise
        except AuraError as error:
            item.outcome, item.error = Outcome.FAILED, error
        if item.outcome is None:
            item.outcome = Outcome.FAILED
        if item.outcome is Outcome.FAILED:
            run.fail(item)
        self._end(item, run)

    def _end(self, item: FleetItem, run: _Run) -> None:
        item.finished = self._clock()
        if item.outcome is None:
            item.outcome = _cut_short(item)
            if item.outcome is Outcome.CANCELLED and item.error is None:
                # Sent and then cut short by another item's failure: say which, so no
                # cancelled item is left without a reason.
                item.error = run.stopped_by
        self._publish(
            FleetItemFinished(
                operation=run.operation,
                name=item.name,
                resource_id=item.instance_id,
                outcome=item.outcome.value,
                error=None if item.error is None else str(item.error),
                elapsed=item.elapsed,
                at=_now(),
                monotonic=item.finished,
            )
        )

    def _settle(self, items: list[FleetItem]) -> None:
        """Give every item that never ended (cut short by a stop or a cancel) its outcome."""
        for item in items:
            if item.outcome is None:
                item.outcome = _cut_short(item)

    async def _salvage(self, run: _Run, store: CredentialStore) -> None:
        """On a cancel: save again credentials that could not be saved, or delete their instance.

        The report will not reach the caller, so credentials held only in it would be lost
        with it: an instance nobody can connect to is deleted rather than left running.
        """
        for item, intent_id in run.created:
            if item.credentials is None or item.saved_to is not None:
                continue
            try:
                await store.save_credentials(item.credentials, intent_id=intent_id)
            except CredentialStoreError as error:
                logger.error(
                    "instance %s (%s) was created but its credentials could not be saved (%s) "
                    "and the call was cancelled: deleting it, since nobody could connect to it",
                    item.instance_id,
                    item.name,
                    error.message,
                )
                # (A cancel must not wait minutes for a create to finish, nor a window for
                # a 404 to mean something: what one DELETE does not settle, recovery deletes
                # later, once the ledger says its password is lost.)
                try:
                    going = await self._instances.delete(item.instance_id or "")
                except AuraError as failure:
                    going, why = None, str(failure)
                else:
                    why = "a resend met a 404, which proves nothing yet"
                if going is None:
                    logger.error(
                        "could not delete instance %s (%s); run fleet.recover(delete_lost=True)",
                        item.instance_id,
                        why,
                    )
                    await _mark(store, intent_id, EntryState.LOST, instance_id=item.instance_id)
                    continue
                await _mark(store, intent_id, EntryState.DELETED, instance_id=item.instance_id)
            else:
                item.saved_to = store.location

    def _finished(
        self, operation: str, items: list[FleetItem], sent: int, limited: int, began: float
    ) -> FleetReport:
        report = FleetReport(operation, tuple(items), sent, limited, self._clock() - began)
        self._publish(
            FleetFinished(
                operation=operation,
                totals={k.value: v for k, v in report.totals.items()},
                requests=sent,
                rate_limited=limited,
                elapsed=report.elapsed,
                at=_now(),
                monotonic=self._clock(),
            )
        )
        return report


# ---------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _naming(spec: InstanceSpec) -> Iterator[None]:
    """Name the spec in a validation error raised inside."""
    try:
        yield
    except ValidationError as error:
        raise ValidationError(
            f"spec {spec.name!r}: {error.message}", field=error.field, hint=error.hint
        ) from None


# Statuses in which an instance accepts no connection for certain: a verification fails at
# once rather than trying until its timeout. The first three come back with a resume.
_RESUMABLE = (InstanceStatus.PAUSED, InstanceStatus.PAUSING, InstanceStatus.SUSPENDED)
_DOWN = (
    *_RESUMABLE,
    InstanceStatus.DESTROYING,
    InstanceStatus.DELETING,
    InstanceStatus.LOADING_FAILED,
)


def _stop_reason(item: FleetItem) -> AuraError:
    """Why a failed item stopped the call, as the items it cut short say it."""
    error = item.error
    while isinstance(error, CreateFailedError | CreateOutcomeUnknownError):
        # Their cause says what went wrong on the way (a refused connection, a 503).
        error = error.cause
    # The message without its hint: this line is said once per item cut short.
    said = error.message if isinstance(error, AuraError) else str(error or "no reason given")
    if isinstance(error, TransportError):
        why = f"the API became unreachable: {said}"
    else:
        why = f"{item.name} failed: {said}"
    return AuraError(f"Cut short when the call stopped ({why})")


def _cut_short(item: FleetItem) -> Outcome:
    """The outcome of an item a stop or a cancel ended: cancelled if it was sent, else skipped."""
    return Outcome.CANCELLED if _under_way(item) else Outcome.SKIPPED


def _under_way(item: FleetItem) -> bool:
    """Whether the item's change may have reached the server."""
    return (
        item.submitted is not None
        or (item.instance_id is not None and item.credentials is not None)
        or isinstance(item.error, CreateOutcomeUnknownError | CreateFailedError)
    )


def _absence_unproven(
    entries: list[LedgerEntry], listed: list[InstanceSummary], window: float
) -> bool:
    """Whether some entry would be concluded from an instance's absence it cannot yet prove.

    An intent never matched to an instance may have made one just now; an instance named
    in the ledger and not listed may be too new to be listed, unless the ledger has known
    it for longer than the window.
    """
    ids = {s.id for s in listed}
    claimed = {e.instance_id for e in entries if e.instance_id is not None}
    unclaimed = [s for s in listed if s.id not in claimed]
    settled = _now() - dt.timedelta(seconds=window)  # (the ledger's times are this machine's)
    for entry in entries:
        if entry.state is EntryState.INTENDED and entry.instance_id is None:
            # (An instance of that name made before the intent is no proof either way.)
            if _match(unclaimed, entry.name, _started(entry), set()) is None:
                return True
        elif (
            entry.instance_id is not None
            and entry.instance_id not in ids
            and entry.state in (EntryState.CREATED, EntryState.ADOPTED, EntryState.LOST)
            and entry.updated_at > settled
        ):
            return True
    return False


def _in_project(entry: LedgerEntry, tenant_id: str | None) -> bool:
    """Whether a ledger entry may be of the project (any, when ``tenant_id`` is None)."""
    if tenant_id is None:
        return True
    known = (entry.intent.tenant_id if entry.intent else None) or (
        entry.credentials.tenant_id if entry.credentials else None
    )
    return known is None or known == tenant_id


def _started(entry: LedgerEntry) -> dt.datetime:
    return entry.intent.started_at if entry.intent is not None else entry.updated_at


def _match(
    listed: list[InstanceSummary],
    name: str,
    started_at: dt.datetime,
    known_before: set[str],
) -> InstanceSummary | None:
    """The instance an ambiguous create of ``name`` made, if one is listed."""
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


async def _mark(
    store: CredentialStore, intent_id: str, state: EntryState, *, instance_id: str | None = None
) -> None:
    """Record a state; a store failure is logged (WARNING), not raised.

    The entry then keeps its earlier state, which errs on the safe side: "intended" sends
    :meth:`Fleet.recover` to look at it again, "created" keeps it in teardowns by ledger.
    """
    try:
        await store.mark(intent_id, state, instance_id=instance_id)
    except CredentialStoreError as error:
        logger.warning(
            "could not mark ledger entry %s as %s (%s)", intent_id, state.value, error.message
        )


class _Guarded:
    """A credential store whose every failure is a :class:`CredentialStoreError`.

    The fleet's guarantees rest on store failures being caught where they happen; a
    third-party store may raise anything, which would otherwise tear the whole call down.
    """

    def __init__(self, inner: CredentialStore) -> None:
        self._inner = inner

    @property
    def location(self) -> str:
        try:
            return str(self._inner.location)
        except Exception:
            return type(self._inner).__name__

    async def _call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except CredentialStoreError:
            raise
        except Exception as error:
            raise CredentialStoreError(
                f"the credential store failed to {what} ({type(error).__name__})",
                location=self.location,
            ) from error

    async def record_intent(self, intent: Intent) -> None:
        await self._call("record an intent", lambda: self._inner.record_intent(intent))

    async def save_credentials(self, credentials: Credentials, *, intent_id: str | None) -> None:
        await self._call(
            "save credentials",
            lambda: self._inner.save_credentials(credentials, intent_id=intent_id),
        )

    async def mark(
        self, intent_id: str, state: EntryState, *, instance_id: str | None = None
    ) -> None:
        await self._call(
            "mark an entry", lambda: self._inner.mark(intent_id, state, instance_id=instance_id)
        )

    async def entries(self) -> list[LedgerEntry]:
        return await self._call("read the ledger", self._inner.entries)

    async def lookup(
        self, *, name: str | None = None, instance_id: str | None = None
    ) -> Credentials | None:
        return await self._call(
            "look up credentials", lambda: self._inner.lookup(name=name, instance_id=instance_id)
        )


def _guarded(store: CredentialStore | None) -> CredentialStore | None:
    return None if store is None or isinstance(store, _Guarded) else _Guarded(store)


async def _ledger_index(store: CredentialStore) -> dict[str, list[str]]:
    """Instance id -> the ledger entries (intent ids) that name it and are not yet deleted.

    Raises:
        CredentialStoreError: the ledger cannot be read.
    """
    index: dict[str, list[str]] = {}
    for entry in await store.entries():
        if entry.instance_id is not None and entry.state is not EntryState.DELETED:
            index.setdefault(entry.instance_id, []).append(entry.intent_id)
    return index


def _check_targets(targets: Targets) -> list[str]:
    """The distinct ids of a list of targets (none for a selector), checked; nothing is sent.

    Raises:
        ValidationError: not a list of well-formed instance ids, or an empty one.
    """
    if isinstance(targets, Selector):
        return []
    if isinstance(targets, str) or not isinstance(targets, Sequence):
        raise ValidationError(
            "targets must be a list of instance ids or a Selector", field="targets"
        )
    if not targets:
        raise ValidationError("no instances given", field="targets")
    unique: dict[str, None] = {}
    for instance_id in targets:
        unique[check_instance_id(instance_id, "targets")] = None
    return list(unique)


def _check_store(store: object) -> None:
    if store is not None and not isinstance(store, CredentialStore):
        raise ValidationError(
            f"store must be a credential store (FileStore(directory)), got {type(store).__name__}",
            field="store",
        )


def _policy(value: ErrorPolicy | str) -> ErrorPolicy:
    try:
        return ErrorPolicy(value)
    except ValueError:
        raise ValidationError(
            f"on_error must be one of {', '.join(p.value for p in ErrorPolicy)}; got {value!r}",
            field="on_error",
        ) from None


def _deadline(fleet: Fleet, timeout: float | None, operation: str = "delete") -> float:
    """How long an item may keep retrying conflicts: its wait's timeout, or the policy's."""
    if timeout:
        return timeout
    try:
        return fleet._watcher.policy.timeout(Operation(operation))
    except ValueError:
        return fleet._watcher.policy.timeout(Operation.DELETE)


def _specs(
    specs: InstanceSpec | Sequence[InstanceSpec], count: int | None, pattern: str
) -> list[InstanceSpec]:
    if isinstance(specs, InstanceSpec):
        chosen = expand(specs, count, pattern) if count is not None else [specs]
    elif isinstance(specs, Sequence):
        if count is not None:
            raise ValidationError("count applies to one spec, not a list", field="count")
        chosen = list(specs)
        if not chosen:
            raise ValidationError("no specs given", field="specs")
        for spec in chosen:
            if not isinstance(spec, InstanceSpec):
                raise ValidationError(
                    f"each spec must be an InstanceSpec, got {type(spec).__name__}",
                    field="specs",
                )
    else:
        raise ValidationError("specs must be an InstanceSpec or a list of them", field="specs")
    return chosen

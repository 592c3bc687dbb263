"""``aura.fleet``: many instances created, paused, resumed, resized, snapshotted, deleted at once.

Every item runs as its own task on the client's one rate budget and one poller: there is no
concurrency number to tune, the limiter paces the requests (mutations ahead of polls) and the
watcher shares and spaces the polls. Only resource methods are called; nothing in this
package builds a request.

This module is the facade: :class:`Fleet`'s verbs check all their input before anything is
sent, then hand the call to the parts that carry it out, each in its own module:

- :mod:`.engine`: the run (one task per item, error policies, events, the report);
- :mod:`.creating` and :mod:`.reconciling`: creates with the ledger (adopt, intent, shielded
  save, ambiguous answers reconciled, resend, rollback, verify);
- :mod:`.changes` and :mod:`.targets`: pause, resume, resize, snapshot and delete, on ids or
  on what a selector chooses;
- :mod:`.recovery`: accounting for every intent after a crash;
- :mod:`.guarded`: a store whose failures never escape; :mod:`.context`: the client's parts
  they share.

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
from collections.abc import Callable, Iterator, Sequence

import anyio

from aura_async._http.transport import RequestTally, counting_requests
from aura_async._validation import check_size
from aura_async.errors import ValidationError
from aura_async.fleet.changes import Change, change_item, delete_item, ledger_index, snapshot_item
from aura_async.fleet.context import FleetContext, now
from aura_async.fleet.creating import CreateOptions, Creation
from aura_async.fleet.engine import Engine, Run, wait_timeout
from aura_async.fleet.guarded import guarded
from aura_async.fleet.recovery import RecoveredEntry, RecoveryReport, recover
from aura_async.fleet.report import ErrorPolicy, FleetItem, FleetReport, Outcome
from aura_async.fleet.selectors import Selector
from aura_async.fleet.specs import DEFAULT_PATTERN, InstanceSpec, check_distinct, expand
from aura_async.fleet.store import CredentialStore, FileStore, default_store_directory
from aura_async.fleet.targets import Targets, check_targets, resolve, select
from aura_async.lifecycle.connectivity import load_driver
from aura_async.lifecycle.operations import Operation
from aura_async.lifecycle.watcher import Watcher
from aura_async.models import InstanceStatus, InstanceSummary
from aura_async.policies import RateLimit
from aura_async.resources import Instances, Snapshots
from aura_async.resources._base import check_timeout

# RecoveredEntry and RecoveryReport live in .recovery; they are imported from here too.
__all__ = ["Fleet", "RecoveredEntry", "RecoveryReport"]


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
        server_now: Callable[[], dt.datetime] = now,
    ) -> None:
        # Ages are the server's created_at against the server's clock (the Date headers'),
        # not the local one, which may be off (or an emulator's may run faster).
        self._context = FleetContext(
            instances=instances,
            snapshots=snapshots,
            watcher=watcher,
            publish=publish,
            clock=clock,
            server_now=server_now,
            tenant_id=tenant_id,
            rate=rate,
        )
        self._engine = Engine(self._context)

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
        salvage: bool = False,
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
            salvage: for a caller that cannot keep credentials the store failed to save
                (an agent, which must never see a password): before returning, save them
                again, or else delete their instance, as a cancelled call does; the item
                then holds no password. False (default): the report's item holds the only
                copy.

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
        instances = self._context.instances
        for spec in chosen:
            with _naming(spec):
                instances.check_create(**spec.create_arguments())
        check_distinct(chosen)  # (names checked above: each is text)
        check_timeout(timeout)
        _check_create_options(adopt=adopt, attempts=attempts, salvage=salvage)
        _check_store(store)
        _check_verify(verify, wait=wait, timeout=timeout)
        # Then against what the project offers (one read of it per client, shared).
        with counting_requests() as checking:
            for spec in chosen:
                with _naming(spec):
                    await instances.validate_create(**spec.create_arguments())
        store = guarded(store if store is not None else FileStore(default_store_directory()))
        timeout = wait_timeout(self._context, timeout, Operation.CREATE, len(chosen))
        options = CreateOptions(
            wait=wait,
            timeout=timeout,
            adopt=adopt,
            attempts=attempts,
            verify=verify,
            rollback=policy is ErrorPolicy.ROLLBACK,
            salvage=salvage,
        )
        creation = Creation(self._context, self._engine, chosen, store, options)
        return await self._engine.execute(
            "create",
            creation.items,
            creation.work,
            policy,
            timeout,
            before=creation.before,
            after=creation.after,
            spent=checking,
        )

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
        instances = self._context.instances
        pausing = Change(
            kind=Operation.PAUSE,
            send=lambda i: instances.pause(i),
            done=InstanceStatus.PAUSED,
            underway=InstanceStatus.PAUSING,
        )
        return await self._change(
            "pause",
            targets,
            pausing,
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
        instances = self._context.instances
        resuming = Change(
            kind=Operation.RESUME,
            send=lambda i: instances.resume(i),
            done=InstanceStatus.RUNNING,
            underway=InstanceStatus.RESUMING,
        )
        return await self._change(
            "resume",
            targets,
            resuming,
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
        _refuse_rollback(_policy(on_error))
        check_timeout(timeout)
        check_targets(targets)
        instances = self._context.instances
        with counting_requests() as checking:
            await instances.validate_resize(
                memory=memory,
                storage=storage,
                tenant_id=targets.tenant_id if isinstance(targets, Selector) else None,
            )
        resizing = Change(
            kind=Operation.RESIZE,
            send=lambda i: instances.update(i, memory=memory, storage=storage),
            memory=memory,
            storage=storage,
        )
        return await self._change(
            "resize",
            targets,
            resizing,
            wait=wait,
            timeout=timeout,
            on_error=on_error,
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
        _refuse_rollback(policy)
        with counting_requests() as listing:
            items = await resolve(self._context, targets)
        timeout = wait_timeout(self._context, timeout, Operation.SNAPSHOT, len(items))

        async def work(item: FleetItem, run: Run) -> None:
            await snapshot_item(self._context, item, run, wait=wait, timeout=timeout)

        return await self._engine.execute("snapshot", items, work, policy, timeout, spent=listing)

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
        _refuse_rollback(policy)
        _check_store(store)
        if store is None and isinstance(targets, Selector):
            store = targets.ledger
        store = guarded(store)
        with counting_requests() as listing:
            items = await resolve(self._context, targets, unlisted=True)
            intents = await ledger_index(store) if store is not None and not dry_run else {}
        timeout = wait_timeout(self._context, timeout, Operation.DELETE, len(items))
        if dry_run:
            for item in items:
                item.outcome = Outcome.SKIPPED
            return FleetReport(
                "delete", tuple(items), listing.sent, listing.rate_limited, 0.0, dry_run=True
            )

        async def work(item: FleetItem, run: Run) -> None:
            await delete_item(
                self._context, item, store=store, intents=intents, wait=wait, timeout=timeout
            )

        return await self._engine.execute("delete", items, work, policy, timeout, spent=listing)

    async def select(self, selector: Selector) -> list[InstanceSummary]:
        """List the instances a selector chooses (one listing request).

        Raises:
            AuraError: the listing failed.
        """
        return await select(self._context, selector)

    async def _change(
        self,
        operation: str,
        targets: Targets,
        change: Change,
        *,
        wait: bool,
        timeout: float | None,
        on_error: ErrorPolicy | str,
        spent: RequestTally | None = None,
    ) -> FleetReport:
        """Send ``change`` to every instance of ``targets`` (see :meth:`pause`)."""
        policy = _policy(on_error)
        check_timeout(timeout)
        _refuse_rollback(policy)
        with counting_requests() as listing:
            items = await resolve(self._context, targets)
        if spent is not None:  # (what was sent before: checking the sizes offered)
            listing.sent += spent.sent
            listing.rate_limited += spent.rate_limited
        timeout = wait_timeout(self._context, timeout, change.kind, len(items))

        async def work(item: FleetItem, run: Run) -> None:
            await change_item(self._context, change, item, run, wait=wait, timeout=timeout)

        return await self._engine.execute(operation, items, work, policy, timeout, spent=listing)

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
        return await recover(
            self._context, guarded(store), delete_lost=delete_lost, tenant_id=tenant_id
        )


# ---------------------------------------------------------------------- checks


@contextlib.contextmanager
def _naming(spec: InstanceSpec) -> Iterator[None]:
    """Name the spec in a validation error raised inside."""
    try:
        yield
    except ValidationError as error:
        raise ValidationError(
            f"spec {spec.name!r}: {error.message}", field=error.field, hint=error.hint
        ) from None


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


def _refuse_rollback(policy: ErrorPolicy) -> None:
    if policy is ErrorPolicy.ROLLBACK:
        raise ValidationError("on_error='rollback' applies to create only", field="on_error")


def _check_create_options(*, adopt: object, attempts: object, salvage: object = False) -> None:
    """Check a create's ``adopt``, ``attempts`` and ``salvage``.

    Raises:
        ValidationError: naming the one that is wrong.
    """
    for field, value in (("adopt", adopt), ("salvage", salvage)):
        if value is not True and value is not False:
            raise ValidationError(f"{field} must be True or False", field=field)
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValidationError(
            f"attempts must be a whole number, 1 or more; got {attempts!r}", field="attempts"
        )


def _check_verify(verify: object, *, wait: bool, timeout: float | None) -> None:
    """Check that a create can verify what it makes: it waits, and the driver is installed.

    Raises:
        ValidationError: ``verify`` is not a bool, or the create does not wait.
        ConfigurationError: the driver is not installed (the ``[verify]`` extra).
    """
    if verify is not True and verify is not False:
        raise ValidationError("verify must be True or False", field="verify")
    if verify and (not wait or timeout == 0):
        raise ValidationError(
            "verify needs wait: an instance is verified once it runs", field="verify"
        )
    if verify:
        load_driver()  # a missing extra stops the call before anything is created

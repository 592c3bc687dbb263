"""``aura.instances``: list, inspect, create, change, pause, resume, overwrite, upgrade, delete,
and verify (connect with the official driver).

:class:`Instances` is composed of one part per concern: the reads and the not-found window
(:mod:`~aura_async.resources.instance_reads`), the deletes and their proof of absence
(:mod:`~aura_async.resources.instance_deletes`), the create and resize checks
(:mod:`~aura_async.resources.instance_checks`); here are the create, the changes, the waits
and ``verify`` (whose connection check is :mod:`~aura_async.resources.instance_verify`'s).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from aura_async._validation import (
    check_count,
    check_enum,
    check_id,
    check_instance_id,
    check_size,
    check_strings,
)
from aura_async.errors import (
    BadRequestError,
    ConflictError,
    CredentialStoreError,
    ValidationError,
    WaitError,
)
from aura_async.lifecycle.connectivity import QUERY, Connectivity, Login, check_login
from aura_async.lifecycle.operations import Operation
from aura_async.models import (
    CdcEnrichmentMode,
    CloudProvider,
    CreatedInstance,
    Instance,
    InstanceSizing,
    InstanceStatus,
    InstanceType,
)
from aura_async.resources._base import ACTION, body, check_timeout
from aura_async.resources.instance_checks import InstanceChecks, create_fields, update_body
from aura_async.resources.instance_deletes import InstanceDeletes
from aura_async.resources.instance_verify import connect_and_report

__all__ = ["Instances"]


class Instances(InstanceDeletes, InstanceChecks):
    """Database instances. Every change is asynchronous: the answer comes when it starts."""

    async def create(
        self,
        *,
        name: str,
        type: InstanceType | str,
        region: str | None = None,
        memory: str | None = None,
        cloud_provider: CloudProvider | str | None = None,
        version: str = "5",
        tenant_id: str | None = None,
        storage: str | None = None,
        source_instance_id: str | None = None,
        source_snapshot_id: str | None = None,
        customer_managed_key_id: str | None = None,
        vector_optimized: bool | None = None,
        graph_analytics_plugin: bool | None = None,
        wait: bool = False,
        timeout: float | None = None,
        on_created: Callable[[CreatedInstance], Awaitable[None]] | None = None,
    ) -> CreatedInstance:
        """Start creating an instance; the answer holds its only copy of the password.

        AuraDB Free (``type="free-db"``) needs no region, memory or cloud: it has one
        configuration (GCP, 1GB). Other types need all three; the project's configurations
        (``aura.tenants.get()``) list what it offers.

        A create is never resent after it may have reached the server: an ambiguous failure
        raises :class:`~aura_async.errors.CreateOutcomeUnknownError` so the caller can look
        the name up instead of creating a duplicate.

        With ``wait=True`` it returns once the instance is running (``timeout`` seconds at the
        most, the policy's default when None, not at all when 0).

        Cancelling the call while the create waits for the rate limiter sends nothing; once
        the request has its slot it is carried through to the answer, and ``on_created`` (an
        async callable, the place to persist the password) is awaited with that answer under
        the same shield, before anything else happens. The cancellation is delivered after.

        Before anything is sent the configuration is checked against the project's own
        (:meth:`validate_create`: one GET of the project per client, or offline rules when it
        cannot be read).

        Raises:
            ValidationError: invalid input, or a configuration the project does not offer
                (the message names the field and what is offered); nothing was sent.
            WaitError: waiting failed (the instance broke), timed out or was cancelled by
                closing the client; its ``created`` holds the answer with the password.
                (A cancel from outside the call loses it: wait separately to be safe.)
            CreateOutcomeUnknownError: the create failed after it may have been carried out.
            CredentialStoreError: ``on_created`` raised; its ``created`` holds the answer.
            BadRequestError: the project does not offer the configuration.
            NotAllowedError: the project's instance quota is reached.
            AuraError: on any other failure.
        """
        check_timeout(timeout)
        payload = await self.validate_create(**create_fields(locals()))
        commit = self._committer(on_created)
        created = await self._create(
            "/instances", payload, name=name, what="instance", commit=commit
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if wait and timeout != 0:
            try:
                await self.wait(
                    created.id, Operation.CREATE, name=name, submitted=submitted, timeout=timeout
                )
            except WaitError as error:
                error.created = created  # the only copy of the password rides on the error
                raise
        return created

    def _committer(
        self, on_created: Callable[[CreatedInstance], Awaitable[None]] | None
    ) -> Callable[[Any], Awaitable[CreatedInstance]]:
        """What a create's answer goes through, under the pipeline's shield: parsed (or, when
        it cannot be, what can be read of it rides on the ambiguous verdict), seen, and handed
        to ``on_created``.
        """

        async def commit(data: Any) -> CreatedInstance:
            # The instance exists and this answer may hold its only password: when it does
            # not parse, what can be read of it is recovered rather than lost.
            created = self._parse_created(data, CreatedInstance, "/instances", recover=True)
            self._sightings.saw_one(created)
            if on_created is not None:
                await _run_hook(on_created, created)
            return created

        return commit

    async def wait(
        self,
        instance_id: str,
        operation: Operation | str = Operation.CREATE,
        *,
        memory: str | None = None,
        storage: str | None = None,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Instance | None:
        """Wait until an operation on an instance is done, wherever it was started.

        Each operation has its own rule: ``create`` and ``resume`` wait for running, ``pause``
        for paused, ``delete`` for the instance to be gone (then None is returned), ``resize``
        for running with the given ``memory``/``storage``, ``overwrite``, ``restore`` and
        ``update`` for running after the operation was seen (or after long enough). A
        destroyed or failed instance ends the wait with an error; a brief 404 after a create
        is tolerated. Cancel it like any awaitable (a cancel scope, or its task).

        Args:
            instance_id: the instance.
            operation: what to wait for.
            memory: for ``resize``, the memory it must reach.
            storage: for ``resize``, the storage it must reach.
            name: the instance's name, for events.
            submitted: when the operation was submitted (``anyio.current_time()``); now
                when None.
            timeout: seconds at the most (the policy's default per operation when None).
            cohort: this wait is one of many like it (a fleet's): poll for the time the
                slowest of them is seen done, not for this one's own lag.

        Raises:
            ValidationError: an unknown operation, a resize without a well-formed memory or
                storage, a malformed id, or a negative timeout; nothing was sent.
            WaitFailedError: the instance reached a state the operation cannot recover from.
            WaitTimeoutError: the timeout passed; the operation may still finish.
            WaitCancelledError: the client was closed.
        """
        check_instance_id(instance_id)
        op = _instance_operation(operation)
        if op is Operation.RESIZE and memory is None and storage is None:
            raise ValidationError(
                "a resize wait needs the memory or storage to reach", field="memory"
            )
        if memory is not None:
            check_size(memory, "memory")
        if storage is not None:
            check_size(storage, "storage")
        if op is Operation.DELETE:
            check_timeout(timeout)
            await self._until_gone(
                instance_id,
                send=False,
                name=name,
                submitted=submitted,
                timeout=timeout,
                cohort=cohort,
            )
            return None
        result = await self._wait_for(
            instance_id,
            op,
            memory=memory,
            storage=storage,
            name=name,
            submitted=submitted,
            timeout=timeout,
            cohort=cohort,
        )
        return result if isinstance(result, Instance) else None

    async def verify(
        self,
        credentials: Login,
        *,
        timeout: float | None = None,
        query: str = QUERY,
    ) -> Connectivity:
        """Prove that an instance accepts connections: connect with the official driver and
        run ``query`` (``RETURN 1``) with its saved user name and password.

        ``credentials`` is a create's answer (:class:`~aura_async.models.CreatedInstance`),
        the ledger's :class:`~aura_async.fleet.Credentials`, or anything with
        ``connection_url``, ``username`` and ``password``. Without a URL (the live service
        may send none at first) the instance is read for it. Refused connections and names
        that do not resolve yet are tried again, pausing from the policy's
        ``min_interval`` up to a third of its ``max_interval``, until ``timeout`` seconds
        (the policy's ``verify_timeout`` when None); a refused password is tried once.
        Publishes :class:`~aura_async.lifecycle.events.Connectable` or
        :class:`~aura_async.lifecycle.events.VerifyFailed`. Needs ``aura-async[verify]``
        and asyncio.

        Raises:
            ConfigurationError: the driver (``neo4j``) is not installed.
            ValidationError: no URL, user name or password, or a negative timeout.
            VerifyAuthError: the password was refused: the saved copy is stale.
            VerifyUnreachableError: nothing accepted a connection before the timeout.
            VerifyError: the driver refused the URL, or the server refused the query.
            AuraError: reading the instance for its URL failed.
        """
        check_timeout(timeout)
        instance_id = str(
            getattr(credentials, "instance_id", None) or getattr(credentials, "id", "") or ""
        )
        name = getattr(credentials, "name", None)
        check_login(credentials.username, credentials.password, instance_id)
        url = credentials.connection_url
        if not url and instance_id:
            url = (await self.get(instance_id)).connection_url
        return await connect_and_report(
            self._watcher,
            credentials,
            url,
            instance_id=instance_id,
            name=name,
            timeout=timeout,
            query=query,
        )

    async def update(
        self,
        instance_id: str,
        *,
        name: str | None = None,
        memory: str | None = None,
        storage: str | None = None,
        vector_optimized: bool | None = None,
        graph_analytics_plugin: bool | None = None,
        secondaries_count: int | None = None,
        cdc_enrichment_mode: CdcEnrichmentMode | str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Instance:
        """Rename, resize or reconfigure an instance.

        A rename is immediate; anything else starts an operation, and the instance reports
        its OLD memory until it is done. With ``wait=True`` it returns once the new values
        show and the instance runs again.

        A new memory or storage is first checked against the sizes the project offers
        (:meth:`validate_resize`).

        Raises:
            ValidationError: invalid input, a size the project does not offer, or nothing
                to change; nothing was sent.
            OngoingOperationError: another operation is in flight.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        payload = update_body(
            name=name,
            memory=memory,
            storage=storage,
            vector_optimized=vector_optimized,
            graph_analytics_plugin=graph_analytics_plugin,
            secondaries_count=secondaries_count,
            cdc_enrichment_mode=cdc_enrichment_mode,
        )
        await self.validate_resize(memory=memory, storage=storage)
        resizing = (InstanceStatus.RESIZING, InstanceStatus.UPDATING)
        result = await self._send(
            instance_id,
            "PATCH",
            "",
            payload,
            lambda i: i.status in resizing,
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        if not wait or timeout == 0 or set(payload) == {"name"}:
            return result
        op = Operation.RESIZE if memory is not None or storage is not None else Operation.UPDATE
        waited = await self.wait(
            instance_id,
            op,
            memory=memory,
            storage=storage,
            name=result.name,
            submitted=submitted,
            timeout=timeout,
        )
        return waited or result

    async def pause(
        self, instance_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> Instance:
        """Start pausing a running instance; return it as it starts ``pausing``.

        A resend that finds the instance already pausing (its first attempt's answer was
        lost) returns it too.

        Raises:
            OngoingOperationError: another operation is in flight.
            BadRequestError: the instance is not running.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        underway = (InstanceStatus.PAUSING, InstanceStatus.PAUSED)
        result = await self._send(
            instance_id, "POST", "/pause", None, lambda i: i.status in underway
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        return await self._then_wait(result, Operation.PAUSE, submitted, wait, timeout)

    async def resume(
        self, instance_id: str, *, wait: bool = False, timeout: float | None = None
    ) -> Instance:
        """Start resuming a paused instance; return it as it starts ``resuming``.

        A resend that finds the instance already resuming (its first attempt's answer was
        lost) returns it too.

        Raises:
            ConflictError: the instance is not paused, or another operation is in flight.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_timeout(timeout)
        underway = (InstanceStatus.RESUMING, InstanceStatus.RUNNING)
        result = await self._send(
            instance_id, "POST", "/resume", None, lambda i: i.status in underway
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        return await self._then_wait(result, Operation.RESUME, submitted, wait, timeout)

    async def _then_wait(
        self,
        accepted: Instance,
        operation: Operation,
        submitted: float,
        wait: bool,
        timeout: float | None,
    ) -> Instance:
        if not wait or timeout == 0:
            return accepted
        waited = await self.wait(
            accepted.id, operation, name=accepted.name, submitted=submitted, timeout=timeout
        )
        return waited or accepted

    async def _send(
        self,
        instance_id: str,
        method: str,
        action: str,
        payload: dict[str, object] | None,
        started: Callable[[Instance], bool],
    ) -> Instance:
        """Send an instance change; after a lost answer, accept the change already under way.

        A resend whose first attempt did the work meets that very work: a 409 (an operation
        in flight, or an upgrade already done), or for a pause a 400 (no longer running).
        Then the instance is read, and if ``started`` says it is doing or has done what was
        asked, that is success, not an error.
        """
        try:
            return await self._call(
                method, f"/instances/{instance_id}{action}", Instance, kind=ACTION, json=payload
            )
        except (ConflictError, BadRequestError) as error:
            # (A resent pause meets 400 "not running", a resend of the others 409.)
            if not error.after_lost_answer:
                raise
            current = await self.get(instance_id)
            if started(current):
                return current
            raise

    async def overwrite(
        self,
        instance_id: str,
        *,
        source_instance_id: str,
        source_snapshot_id: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Instance:
        """Start replacing an instance's data with another's (a new snapshot of it, or one given).

        The instance is ``overwriting`` and then ``running`` again: it starts and ends running.

        Raises:
            UnsupportedForTierError: AuraDB Free cannot be overwritten (420).
            ServerError: the source is larger than the target.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        check_instance_id(source_instance_id, "source_instance_id")
        check_timeout(timeout)
        if source_snapshot_id is not None:
            check_id(source_snapshot_id, "source_snapshot_id")
        payload = body(source_instance_id=source_instance_id, source_snapshot_id=source_snapshot_id)
        result = await self._send(
            instance_id,
            "POST",
            "/overwrite",
            payload,
            lambda i: i.status == InstanceStatus.OVERWRITING,
        )
        # Waits count from acceptance, not from a queue behind the rate limit.
        submitted = anyio.current_time()
        return await self._then_wait(result, Operation.OVERWRITE, submitted, wait, timeout)

    async def upgrade(
        self, instance_id: str, *, memory: str | None = None, storage: str | None = None
    ) -> Instance:
        """Upgrade AuraDB Professional to Business Critical, optionally resizing it.

        Raises:
            ValidationError: only one of memory and storage given; nothing was sent.
            ConflictError: not a Professional instance, or not running.
            AuraError: on any other failure.
        """
        check_instance_id(instance_id)
        if (memory is None) != (storage is None):
            raise ValidationError(
                "give memory and storage together, or neither",
                field="memory" if memory is None else "storage",
            )
        if memory is not None and storage is not None:
            check_size(memory, "memory")
            check_size(storage, "storage")
        return await self._send(
            instance_id,
            "POST",
            "/upgrade",
            body(memory=memory, storage=storage) or None,
            lambda i: i.type == InstanceType.BUSINESS_CRITICAL,
        )

    async def sizing(
        self,
        *,
        node_count: int,
        relationship_count: int,
        instance_type: InstanceType | str | None = None,
        algorithm_categories: Sequence[str] = (),
    ) -> InstanceSizing:
        """Estimate the memory an AuraDS instance needs for a graph of this size.

        Raises:
            ValidationError: negative or non-integer counts; nothing was sent.
            AuraError: on any other failure.
        """
        payload = body(
            node_count=check_count(node_count, "node_count"),
            relationship_count=check_count(relationship_count, "relationship_count"),
            instance_type=(
                check_enum(instance_type, InstanceType, "instance_type").value
                if instance_type is not None
                else None
            ),
            algorithm_categories=check_strings(algorithm_categories, "algorithm_categories")
            or None,
        )
        return await self._call(
            "POST", "/instances/sizing", InstanceSizing, kind=ACTION, json=payload
        )


async def _run_hook(
    hook: Callable[[CreatedInstance], Awaitable[None]], created: CreatedInstance
) -> None:
    """Await ``on_created``; if it fails, raise an error that still carries the answer."""
    try:
        await hook(created)
    except Exception as error:
        failure = CredentialStoreError(
            f"on_created failed for instance {created.id} ({type(error).__name__}); its "
            "credentials are in this error's `created` only",
            location="on_created",
        )
        failure.created = created
        raise failure from error


_INSTANCE_OPERATIONS = (
    Operation.CREATE,
    Operation.PAUSE,
    Operation.RESUME,
    Operation.DELETE,
    Operation.RESIZE,
    Operation.UPDATE,
    Operation.OVERWRITE,
    Operation.RESTORE,
)


def _instance_operation(value: Operation | str) -> Operation:
    operation = next((o for o in _INSTANCE_OPERATIONS if o.value == value), None)
    if operation is None:
        names = ", ".join(o.value for o in _INSTANCE_OPERATIONS)
        raise ValidationError(f"operation must be one of {names}; got {value!r}", field="operation")
    return operation

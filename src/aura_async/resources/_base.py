"""What every resource shares: the pipeline, the default project, and parsing answers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aura_async._http.pipeline import Pipeline
from aura_async._http.retry import AmbiguousOutcome, Recovered, RequestKind
from aura_async._serde import ResponseShapeError, structure
from aura_async._validation import check_id, check_timeout
from aura_async.errors import CreateOutcomeUnknownError, ResponseValidationError, ValidationError
from aura_async.lifecycle.operations import Operation, Target
from aura_async.lifecycle.watcher import Watcher
from aura_async.resources._project import DefaultProject

# check_timeout lives in _validation; re-exported here, where the resources and the fleet
# import it from.
__all__ = ["Resource", "check_timeout"]

T = TypeVar("T")

_UNDERWAY = {
    Operation.OVERWRITE: "overwriting",
    Operation.RESTORE: "restoring",
    Operation.UPDATE: "updating",
}

# Operations that create what is waited for: only these may briefly answer 404.
_CREATES = (Operation.CREATE, Operation.SNAPSHOT, Operation.KEY, Operation.SESSION)

READ = RequestKind.READ
ACTION = RequestKind.ACTION
CREATE = RequestKind.CREATE


class Resource:
    """Base of the resource groups (``aura.instances`` and the rest)."""

    def __init__(self, pipeline: Pipeline, watcher: Watcher) -> None:
        self._pipeline = pipeline
        self._watcher = watcher

    def _target(self, operation: Operation, **conditions: Any) -> Target:
        """The target of ``operation``, with the policy's grace and settle times."""
        policy = self._watcher.policy
        if operation in _UNDERWAY:
            # These start and end in running: done once the operation was seen, or once it
            # has taken as long as it usually does (a poll may miss the transient status).
            conditions.setdefault("underway", _UNDERWAY[operation])
            conditions.setdefault("settle_after", self._watcher.expected(operation))
        if operation in _CREATES:
            # The not-found window (added as each poll is judged, as learnt by then) counted
            # from the first poll, which itself comes part of the expected duration after
            # the create: a grace counted from the create could be over before any poll.
            # (The policy's delay, not the watcher's learnt one: the grace may only be longer.)
            conditions.setdefault(
                "not_found_grace", policy.first_delay(self._watcher.expected(operation))
            )
            conditions.setdefault("within_window", True)
        return Target(operation, **conditions)

    def _await(
        self,
        resource_id: str,
        fetch: Callable[[], Awaitable[Any]],
        target: Target,
        *,
        name: str | None = None,
        submitted: float | None = None,
        timeout: float | None = None,
        cohort: bool = False,
    ) -> Awaitable[object]:
        """Return the wait on the client's poller until ``target`` is met (await it).

        A plain function handing back the watcher's coroutine, not a coroutine of its own:
        thousands of parked waits each keep one frame less.

        Raises:
            ValidationError: a negative timeout (at once, before anything is awaited).
            WaitError: (when awaited) failed, timed out or cancelled by closing the client.
        """
        check_timeout(timeout)
        return self._watcher.wait(
            resource_id,
            fetch,
            target,
            name=name,
            submitted=submitted,
            timeout=timeout,
            cohort=cohort,
        )

    # The client's default-project finder (the account's only project), shared by its
    # resources; None on a resource built alone, which then needs a project named.
    _project: DefaultProject | None = None

    def _tenant(self, tenant_id: str | None) -> str:
        """Return the given project id, the client's, or the account's only one if known.

        Nothing is sent: the account's only project counts once it has been listed
        (:meth:`_resolve_tenant`).

        Raises:
            ValidationError: when none is known, or the id is malformed.
        """
        chosen = self._known_tenant(tenant_id)
        if chosen is None:
            raise ValidationError(
                "No project (tenant) id: pass tenant_id or set AURA_TENANT_ID",
                field="tenant_id",
                hint="List your projects with aura.tenants.list()",
            )
        return chosen

    def _known_tenant(self, tenant_id: str | None) -> str | None:
        """The given project id (checked), else the client's, else the account's only one
        if already listed, else None (to be resolved). Nothing is sent.

        Raises:
            ValidationError: a malformed id.
        """
        # An explicit value is checked, never replaced: tenant_id="" is a mistake to report,
        # not a request for the default.
        chosen = self._pipeline.settings.tenant_id if tenant_id is None else tenant_id
        if chosen is None and self._project is not None:
            chosen = self._project.known
        return None if chosen is None else check_id(chosen, "tenant_id")

    async def _resolve_tenant(self, tenant_id: str | None) -> str:
        """Return the given project id, the client's, or the account's only project.

        Call it after every local check: finding the only project lists the projects
        (``GET /tenants``, once per client).

        Raises:
            ValidationError: a malformed id, or none given and the account has no project
                or several (listed, with how to choose).
            AuraError: listing the projects failed.
        """
        chosen = self._known_tenant(tenant_id)
        if chosen is not None:
            return chosen
        if self._project is None:
            return self._tenant(tenant_id)  # raises: nothing to resolve with
        return check_id(await self._project.resolve(), "tenant_id")

    def _default_tenant(self, tenant_id: str | None) -> str | None:
        """Return the given project id, else the default one, else None (all projects)."""
        chosen = self._pipeline.settings.tenant_id if tenant_id is None else tenant_id
        return None if chosen is None else check_id(chosen, "tenant_id")

    async def _call(
        self,
        method: str,
        path: str,
        model: type[T],
        *,
        kind: RequestKind,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> T:
        """Send a request and parse its ``data`` into ``model``.

        Raises:
            ResponseValidationError: when the data does not fit the model.
            AuraError: whatever the pipeline raises.
        """
        kwargs: dict[str, Any] = {"kind": kind, "params": params}
        if json is not None:
            kwargs["json"] = json
        data = await self._pipeline.request(method, path, **kwargs)
        return self._parse(data, model, method, path)

    async def _create(
        self,
        path: str,
        payload: dict[str, Any],
        *,
        name: str,
        what: str,
        commit: Callable[[Any], Awaitable[T]],
    ) -> T:
        """POST a create and return what ``commit`` made of its answer's data.

        ``commit`` runs under the pipeline's shield (see :meth:`Pipeline.request`); it parses
        the answer, raising :class:`AmbiguousOutcome` when it cannot (see
        :meth:`_parse_created`). This is the one place an ambiguous create becomes a
        :class:`~aura_async.errors.CreateOutcomeUnknownError`, named after ``name`` and
        ``what``.

        Raises:
            CreateOutcomeUnknownError: the create failed after it may have been carried out.
            AuraError: whatever else the pipeline or ``commit`` raises.
        """
        started = dt.datetime.now(dt.UTC)
        try:
            created: T = await self._pipeline.request(
                "POST", path, kind=CREATE, json=payload, commit=commit
            )
        except AmbiguousOutcome as unknown:
            found = unknown.recovered
            raise CreateOutcomeUnknownError(
                name,
                started,
                unknown.cause,
                resource=what,
                instance_id=found.instance_id,
                username=found.username,
                password=found.password,
            ) from unknown.__cause__
        return created

    def _parse_created(self, data: Any, model: type[T], path: str, *, recover: bool = False) -> T:
        """Parse a create's answer; one that does not fit is an ambiguous create.

        With ``recover``, what can be read of an answer that does not fit (its id, username
        and password) rides on the verdict: the answer may hold a password's only copy.

        Raises:
            AmbiguousOutcome: the answer does not fit ``model`` (the work was done).
        """
        try:
            return self._parse(data, model, "POST", path)
        except ResponseValidationError as error:
            raw = data if recover and isinstance(data, dict) else {}
            text = {k: v for k, v in raw.items() if isinstance(v, str) and v}
            found = Recovered(text.get("id"), text.get("username"), text.get("password"))
            raise AmbiguousOutcome(error, found) from None

    def _parse(self, data: Any, model: type[T], method: str, path: str) -> T:
        """Parse an answer's ``data`` into ``model``.

        Raises:
            ResponseValidationError: when it does not fit (the message names fields and
                types, never values).
        """
        try:
            return structure(data, model)
        except ResponseShapeError as exc:
            shown = self._pipeline.wire_path(path)
            raise ResponseValidationError(
                f"{method} {shown} answered with an unexpected shape: {exc}",
                method=method,
                path=shown,
            ) from None


def body(**fields: Any) -> dict[str, Any]:
    """Build a request body from the fields that were given (None means not given)."""
    return {key: value for key, value in fields.items() if value is not None}

"""One exception tree for the whole package; every error says what to do next.

``AuraError`` is the root. API answers that are not successes become :class:`APIError`
subclasses chosen by status and reason code, carrying everything the body said (both the
``{"errors": [...]}`` list and the gateway's ``{"error": ...}``), the request id, method and
path, and a ``hint``. Problems found before anything is sent are :class:`ValidationError`;
network trouble is :class:`TransportError`. ``str(error)`` reads as one actionable sentence,
and no error ever carries a secret.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = [
    "APIError",
    "AuraError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "CreateFailedError",
    "CreateOutcomeUnknownError",
    "CredentialStoreError",
    "ErrorDetail",
    "FleetError",
    "NotAllowedError",
    "NotFoundError",
    "OngoingOperationError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "RateLimitBackendError",
    "RateLimitedError",
    "ResponseValidationError",
    "ServerError",
    "TimeoutError",
    "TokenError",
    "TransportError",
    "UnsupportedForTierError",
    "ValidationError",
    "VerifyAuthError",
    "VerifyError",
    "VerifyUnreachableError",
    "WaitCancelledError",
    "WaitError",
    "WaitFailedError",
    "WaitTimeoutError",
    "error_for_response",
]


class AuraError(Exception):
    """The root of every error this package raises.

    Attributes:
        hint: what to do about it, in one sentence (may be empty).
    """

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        """The message and the hint as one sentence: ``<what happened>; <what to do>.``"""
        hint = self.hint.strip().rstrip(".")
        if not hint:
            return self.message
        message = self.message.rstrip(" .:;")
        if hint[1:2].islower():  # "Check the id" -> "check the id", but "AURA_..." stays
            hint = hint[0].lower() + hint[1:]
        return f"{message}; {hint}." if message else f"{hint[0].upper()}{hint[1:]}."

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments than ``args``: rebuild from the state,
        # so errors survive copy.copy, pickle and crossing to another process.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: type[AuraError], args: tuple[Any, ...], state: dict[str, Any]) -> AuraError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConfigurationError(AuraError):
    """The client cannot be set up: credentials or settings are missing or invalid."""


class RateLimitBackendError(AuraError):
    """The shared rate-limit store (Redis) cannot be reached or answered wrongly.

    Raised when the client starts (``async with AuraClient(...)``) and the store does not
    answer, and mid-run under ``on_unavailable="fail"``. A request that meets it was not sent.
    """

    hint = (
        "Start or repair the Redis server named by AURA_RATE_LIMIT_REDIS_URL (or "
        "rate_limit_backend=), or unset it to use the in-process limiter"
    )


class ValidationError(AuraError, ValueError):
    """Input was rejected locally; no request was sent.

    Attributes:
        field: the argument or body property at fault, if one.
    """

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.field = field


class TransportError(AuraError):
    """The request could not be completed over the network (connect, read, protocol)."""

    hint = "Check the network and the base URL; the request may be retried"

    def __init__(
        self, message: str, *, method: str = "", path: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.method = method
        self.path = path


class TimeoutError(TransportError):
    """The request timed out."""

    hint = "The service was slow to answer; retry, or raise the client's timeout"


class ResponseValidationError(AuraError):
    """The service answered with something that is not the documented shape."""

    hint = "The API may have changed; report it with the request id"

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.method = method
        self.path = path


class CreateOutcomeUnknownError(AuraError):
    """A create failed in a way that may have left something behind.

    The API has no idempotency key, so the client does not resend the create: look it up
    by ``name`` (created at or after ``started_at``) instead. The fleet layer reconciles
    these, and sends a create again only once a listing proves it made nothing.

    Attributes:
        name: the name the resource was requested with.
        started_at: when the request was started (UTC).
        cause: the underlying error (transport error, 5xx, unreadable answer, ...).
        resource: what was being created (``instance``, ``customer managed key``).
        instance_id: the new instance's id, when the answer arrived but could not be parsed.
        username: its user name, likewise.
        password: its one-time password, likewise: never shown in a message or repr.
    """

    hint = (
        "It may exist: list them and match the name before creating it again; an instance "
        "that exists without its password must be deleted and created again"
    )

    def __init__(
        self,
        name: str,
        started_at: dt.datetime,
        cause: AuraError,
        *,
        resource: str = "instance",
        instance_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        recovered = " (its id and credentials were recovered)" if password else ""
        super().__init__(
            f"Creating {resource} {name!r} failed ambiguously ({cause.message}){recovered}, so "
            "it may or may not exist"
        )
        self.name = name
        self.started_at = started_at
        self.cause = cause
        self.resource = resource
        self.instance_id = instance_id
        self.username = username
        self.password = password


class CreateFailedError(AuraError):
    """A create failed, and what came of it is known: nothing, or an instance without password.

    The fleet raises no such error itself: it is what a fleet item's ``error`` says once the
    project was listed after an ambiguous failure (see :class:`CreateOutcomeUnknownError`).

    Attributes:
        name: the name the instance was requested with.
        attempts: how many create requests were sent for it.
        instance_id: the instance that was created without its password reaching the
            client, or None when nothing was created.
        cause: the last attempt's error.
    """

    def __init__(
        self, name: str, attempts: int, cause: AuraError, *, instance_id: str | None = None
    ) -> None:
        why = cause.cause.message if isinstance(cause, CreateOutcomeUnknownError) else cause.message
        tries = "once" if attempts == 1 else f"{attempts} times"
        if instance_id is None:
            message = (
                f"Creating instance {name!r} failed {tries} ({why}); it was not created (no "
                "instance of that name was listed after the window in which a new one may be "
                "missing)"
            )
            hint = "Nothing to clean up: create it again, or retry later"
        else:
            message = (
                f"Creating instance {name!r} failed ({why}) after the service had created it "
                f"as {instance_id}: its one-time password never arrived"
            )
            hint = (
                "Delete it and create it again (fleet.recover(store, delete_lost=True), or "
                "aura-async fleet recover --delete-lost)"
            )
        super().__init__(message, hint=hint)
        self.name = name
        self.attempts = attempts
        self.instance_id = instance_id
        self.cause = cause


class CredentialStoreError(AuraError):
    """The credential store could not record something (an intent, credentials, a state).

    When credentials could not be written, they are not lost: the fleet item that raised
    this still holds them in memory (``FleetItem.credentials``).

    Attributes:
        location: the store (a directory path) that failed.
        created: the create's answer with its password, when that is what could not be
            saved (its repr hides the password).
    """

    hint = "Check that the ledger directory is writable and has space; save the credentials now"
    created: object | None = None

    def __init__(self, message: str, *, location: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.location = location


class FleetError(AuraError):
    """Some items of a fleet call failed or were cancelled.

    Attributes:
        report: the whole :class:`~aura_async.fleet.report.FleetReport`.
    """

    hint = "See the report's failed items; a teardown can be run again safely"

    def __init__(self, message: str, *, report: object, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report

    @classmethod
    def from_report(cls, report: Any) -> FleetError:
        """Make the error for a report whose items did not all succeed."""
        bad = [item for item in report.items if item.error is not None or item.outcome is None]
        first = next((item for item in bad if item.error is not None), None)
        detail = f"; first: {first.name}: {first.error}" if first is not None else ""
        return cls(f"{report.summary()}{detail}", report=report)


class WaitError(AuraError):
    """A wait for an operation ended without the operation being seen done.

    Attributes:
        resource_id: the instance, snapshot, key or session waited for.
        operation: the operation waited for (``create``, ``pause``, ...).
        last_status: the last status seen ("" if none, "not found" after a 404).
        elapsed: seconds since the operation was submitted.
        history: every (seconds since submission, status) the wait observed, in order.
        created: for ``create(wait=True)``, the create's answer with its one-time password
            (its repr hides the password): a failed wait must not lose the credentials.
    """

    created: object | None = None

    def __init__(
        self,
        message: str,
        *,
        resource_id: str,
        operation: str,
        last_status: str,
        elapsed: float,
        history: tuple[tuple[float, str], ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.resource_id = resource_id
        self.operation = operation
        self.last_status = last_status
        self.elapsed = elapsed
        self.history = history


class WaitFailedError(WaitError):
    """The resource reached a state its operation cannot come back from."""

    hint = "Look at the instance in the console; it may need to be deleted and created again"


class WaitTimeoutError(WaitError):
    """The wait gave up; the operation may still finish later."""

    hint = "Wait again with a longer timeout, or check the instance's status later"


class WaitCancelledError(WaitError):
    """The wait was cancelled because its client was closed."""

    hint = "Keep the client open for as long as something waits on it"


class VerifyError(AuraError):
    """A database did not prove that it accepts connections (``instances.verify``).

    Raised as is when the driver failed in a way neither retried nor about the password (a
    URI the driver refuses, a query error); its subclasses say which of the two it was.

    Attributes:
        instance_id: the instance verified ("" when the credentials did not say).
        connection_url: the address tried (None when there was none).
        attempts: how many connections were tried.
        elapsed: seconds from the first attempt to the verdict.
    """

    hint = (
        "Check the instance's status and its connection URL; the message names the "
        "driver's own error"
    )

    def __init__(
        self,
        message: str,
        *,
        instance_id: str = "",
        connection_url: str | None = None,
        attempts: int = 0,
        elapsed: float = 0.0,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.instance_id = instance_id
        self.connection_url = connection_url
        self.attempts = attempts
        self.elapsed = elapsed


class VerifyAuthError(VerifyError):
    """The database refused the user name and password: never retried.

    A password that worked once and is refused now means the saved copy is stale: the
    instance was overwritten from another one, restored, or its password was reset.
    """

    hint = (
        "The saved password is stale (the instance was overwritten, restored or had its "
        "password reset): reset it in the Aura console and save it again, or delete the "
        "instance and create it again"
    )


class VerifyUnreachableError(VerifyError):
    """No connection could be made before the timeout: refused, unresolved or silent."""

    hint = (
        "Check the network, a proxy or firewall, and the project's IP allow-list in the "
        "Aura console; a new instance's address can lag its running status, so try a longer "
        "--timeout"
    )


@attrs.frozen
class ErrorDetail:
    """One item of an error body: message, reason code and the body field it concerns."""

    message: str
    reason: str = ""
    field: str | None = None


class APIError(AuraError):
    """The API answered with an error status.

    Attributes:
        status: the HTTP status.
        details: every item of the body (message, reason, field), in order.
        request_id: the ``X-Request-Id`` of the answer, for support.
        method: the request's method.
        path: the request's path (no query string, no host).
        after_lost_answer: an earlier attempt of the same call failed after it may have been
            carried out (a dropped connection, a 5xx), so this answer may be about the work
            that attempt did (a 404 after a delete, a 409 after a pause).
    """

    default_hint = ""
    after_lost_answer = False

    def __init__(
        self,
        status: int,
        details: tuple[ErrorDetail, ...],
        *,
        request_id: str | None = None,
        method: str = "",
        path: str = "",
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.details = details
        self.request_id = request_id
        self.method = method
        self.path = path
        text = "; ".join(
            f"{d.field}: {d.message.rstrip(' .')}" if d.field else d.message.rstrip(" .")
            for d in details
            if d.message
        )
        where = f"{method} {path}".strip() or "The request"
        message = f"{where} failed with {status}" + (f": {text}" if text else "")
        super().__init__(message, hint=hint if hint is not None else self.default_hint)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Every reason code in the body (empty strings left out)."""
        return tuple(d.reason for d in self.details if d.reason)

    @property
    def reason(self) -> str:
        """The first reason code, or an empty string."""
        return next(iter(self.reasons), "")

    @property
    def fields(self) -> tuple[str, ...]:
        """Every body field the errors concern."""
        return tuple(d.field for d in self.details if d.field)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, reasons={self.reasons!r}, "
            f"request_id={self.request_id!r})"
        )


class BadRequestError(APIError):
    """400: the request was invalid."""

    default_hint = "Fix the request: check the field named and the project's configurations"


class AuthenticationError(APIError):
    """401: the request could not be tied to a client (no or malformed credentials)."""

    default_hint = "Check the client id and secret (AURA_CLIENT_ID, AURA_CLIENT_SECRET)"


class TokenError(AuthenticationError):
    """The token endpoint refused to issue a token."""

    default_hint = (
        "Check the client id and secret; create new API credentials in the Aura console if "
        "they were revoked"
    )


class PermissionDeniedError(APIError):
    """403: the token expired or was revoked, or the client lacks permission."""

    default_hint = (
        "The token was refreshed and the request resent once; if it still fails, the "
        "credentials lack permission for this project"
    )


class PaymentRequiredError(APIError):
    """402: the action needs a paid tier (e.g. on-demand snapshots of AuraDB Free)."""

    default_hint = "This needs a paid tier; upgrade the instance or the project"


class NotFoundError(APIError):
    """404: no such instance, project, snapshot, key or session."""

    default_hint = "Check the id; a deleted or just-created instance may briefly not be found"


class NotAllowedError(APIError):
    """405: the action is not permitted now, usually an instance quota reached."""

    default_hint = "Delete instances you no longer need or raise the project's quota"


class ConflictError(APIError):
    """409: the request conflicts with the resource's current state."""

    default_hint = "Wait until the resource is in the state the action needs, then retry"


class OngoingOperationError(ConflictError):
    """409 ``ongoing-database-operation``: another operation is in flight on the instance."""

    default_hint = "Wait for the operation in flight to finish (the instance to be running)"


class UnsupportedForTierError(APIError):
    """420 (or 400 ``unsupported-for-tier``): the action is not available for this tier."""

    default_hint = "This tier does not support it: use a Professional or higher instance"


class _AskedToWait(APIError):
    """An error whose answer may say how long to wait before trying again.

    Attributes:
        retry_after: seconds the server asked to wait (its ``Retry-After``), if it said.
    """

    def __init__(
        self,
        status: int,
        details: tuple[ErrorDetail, ...],
        *,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(status, details, **kwargs)
        self.retry_after = retry_after


class RateLimitedError(_AskedToWait):
    """429: too many requests.

    Attributes:
        retry_after: seconds the server asked to wait, if it said.
    """

    default_hint = "Slow down: lower the client's rate limit or wait before retrying"


class ServerError(_AskedToWait):
    """5xx: the service failed; it may or may not have done the work.

    Attributes:
        retry_after: seconds the server asked to wait before trying again, if it said.
    """

    default_hint = "The service had a problem; retry later (reads and safe actions are retried)"


_BY_STATUS: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: NotAllowedError,
    409: ConflictError,
    420: UnsupportedForTierError,
    429: RateLimitedError,
}

_BY_REASON: Mapping[str, type[APIError]] = {
    "ongoing-database-operation": OngoingOperationError,
    "unsupported-for-tier": UnsupportedForTierError,
}

_REASON_HINTS: Mapping[str, str] = {
    "missing-billing-details": "Add billing details in the Aura console, then create again",
    "tenant-not-found": "Check the project (tenant) id: list them with aura.tenants.list()",
    "db-not-found": "Check the instance id; a deleted instance is gone for good",
    "instance-limit-reached": "Delete instances you no longer need, or raise the quota",
    "encryption-key-is-active": "Delete the instances that use the key first",
    "invalid-instance-status": (
        "Wait until the instance is in the state the action needs: pause needs running, "
        "resume needs paused"
    ),
    "tenant-incapable-of-action": (
        "Metrics integration needs a Business Critical or Virtual Dedicated Cloud instance"
    ),
}


_OFFERED = "the project's instance configurations (aura.tenants.get()) list what it offers"
_FIELD_HINTS: Mapping[str, str] = {
    "region": f"Pick a region the tier supports: {_OFFERED}",
    "memory": f"Pick a memory size the tier offers in that region: {_OFFERED}",
    "storage": f"Pick a storage size the tier offers: {_OFFERED}",
    "cloud_provider": f"Pick a cloud the tier runs on: {_OFFERED}",
    "type": f"Pick an instance type the project offers: {_OFFERED}",
    "version": f"Pick a Neo4j version the project offers: {_OFFERED}",
}


_MAX_SERVER_TEXT = 300


def _one_line(text: object) -> str:
    """Server text as one short line: a message is read in a terminal and a log line."""
    flat = " ".join(str(text or "").split())
    if len(flat) > _MAX_SERVER_TEXT:
        flat = flat[: _MAX_SERVER_TEXT - 1] + "…"
    return flat


def _details(body: object) -> tuple[ErrorDetail, ...]:
    if not isinstance(body, Mapping):
        return ()
    items = body.get("errors")
    if isinstance(items, list):
        return tuple(
            ErrorDetail(
                message=_one_line(item.get("message")),
                reason=_one_line(item.get("reason")),
                field=_one_line(item["field"]) if item.get("field") else None,
            )
            for item in items
            if isinstance(item, Mapping)
        )
    single = body.get("error")
    if isinstance(single, str):
        description = body.get("error_description")
        message = f"{single}: {description}" if isinstance(description, str) else single
        return (
            ErrorDetail(
                message=_one_line(message), reason=_one_line(single) if description else ""
            ),
        )
    bare = body.get("message")
    if isinstance(bare, str):
        return (ErrorDetail(message=_one_line(bare), reason=_one_line(body.get("reason"))),)
    return ()


def error_for_response(
    status: int,
    body: object,
    *,
    request_id: str | None = None,
    method: str = "",
    path: str = "",
    retry_after: float | None = None,
    token_endpoint: bool = False,
) -> APIError:
    """Build the error that fits an answer's status, reason codes and body.

    Args:
        status: the HTTP status (>= 400).
        body: the decoded JSON body, or None when it was not JSON.
        request_id: the answer's ``X-Request-Id``.
        method: the request's method.
        path: the request's path.
        retry_after: the parsed ``Retry-After``, for 429s and 5xx.
        token_endpoint: whether the answer came from ``/oauth/token``.
    """
    details = _details(body)
    cls: type[APIError]
    if token_endpoint and status < 500 and status != 429:
        cls = TokenError
    elif status >= 500:
        cls = ServerError
    else:
        cls = next(
            (_BY_REASON[d.reason] for d in details if d.reason in _BY_REASON),
            _BY_STATUS.get(status, BadRequestError if status < 500 else ServerError),
        )
    hint = next((_REASON_HINTS[d.reason] for d in details if d.reason in _REASON_HINTS), None)
    if hint is None and status == 400:
        hint = next(
            (_FIELD_HINTS[d.field] for d in details if d.field and d.field in _FIELD_HINTS), None
        )
    kwargs: dict[str, Any] = {"request_id": request_id, "method": method, "path": path}
    if hint is not None:
        kwargs["hint"] = hint
    if issubclass(cls, _AskedToWait):
        return cls(status, details, retry_after=retry_after, **kwargs)
    return cls(status, details, **kwargs)

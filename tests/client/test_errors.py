"""The error tree: classes by status and reason, both body shapes, hints, one-sentence strs."""

from __future__ import annotations

import copy
import datetime as dt
import pickle
import re
from typing import Any

import pytest

from aura_async.errors import (
    APIError,
    AuraError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    CreateOutcomeUnknownError,
    ErrorDetail,
    NotAllowedError,
    NotFoundError,
    OngoingOperationError,
    PaymentRequiredError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TimeoutError,
    TokenError,
    TransportError,
    UnsupportedForTierError,
    ValidationError,
    error_for_response,
)

WHERE: dict[str, Any] = {
    "request_id": "4f1c0e/0042",
    "method": "POST",
    "path": "/v1/instances",
}


def errors(*items: dict[str, str]) -> dict[str, Any]:
    return {"errors": list(items)}


def assert_one_sentence(text: str) -> None:
    """A single line ending in one full stop, with no sentence break before it."""
    assert "\n" not in text
    assert text.endswith(".")
    assert not text.endswith("..")
    assert not re.search(r"[.!?]\s+\S", text), f"more than one sentence: {text!r}"
    assert text[0].isupper()


# --------------------------------------------------------------------------- body shapes


def test_errors_list_keeps_every_item_in_order() -> None:
    body = errors(
        {
            "message": "Region mars-1 is not available.",
            "reason": "invalid-input",
            "field": "region",
        },
        {"message": "Memory must look like 2GB", "reason": "invalid-memory", "field": "memory"},
        {"message": "Something else", "reason": ""},
    )
    error = error_for_response(400, body, **WHERE)
    assert type(error) is BadRequestError
    assert error.status == 400
    assert error.details == (
        ErrorDetail("Region mars-1 is not available.", "invalid-input", "region"),
        ErrorDetail("Memory must look like 2GB", "invalid-memory", "memory"),
        ErrorDetail("Something else", "", None),
    )
    assert error.reasons == ("invalid-input", "invalid-memory")
    assert error.reason == "invalid-input"
    assert error.fields == ("region", "memory")
    assert (error.request_id, error.method, error.path) == ("4f1c0e/0042", "POST", "/v1/instances")
    assert error.message == (
        "POST /v1/instances failed with 400: region: Region mars-1 is not available; "
        "memory: Memory must look like 2GB; Something else"
    )


def test_gateway_error_shape() -> None:
    body = {"error": "Forbidden: the access token is invalid or has expired"}
    error = error_for_response(403, body, **WHERE)
    assert type(error) is PermissionDeniedError
    assert error.details == (ErrorDetail(body["error"], "", None),)
    assert error.reasons == ()
    assert error.reason == ""
    assert body["error"] in error.message


def test_oauth_error_shape() -> None:
    body = {"error": "invalid_client", "error_description": "The credentials are revoked"}
    error = error_for_response(401, body, token_endpoint=True, **WHERE)
    assert type(error) is TokenError
    assert isinstance(error, AuthenticationError)
    assert error.reason == "invalid_client"
    assert "invalid_client: The credentials are revoked" in error.message


def test_bare_message_shape() -> None:
    error = error_for_response(404, {"message": "Not here", "reason": "db-not-found"}, **WHERE)
    assert error.details == (ErrorDetail("Not here", "db-not-found", None),)


@pytest.mark.parametrize(
    "body",
    [None, "Bad Gateway", [], {}, {"errors": "nope"}, {"errors": [1, "x", None]}, {"error": 7}],
)
def test_bodies_without_details(body: object) -> None:
    error = error_for_response(502, body, **WHERE)
    assert type(error) is ServerError
    assert error.details == ()
    assert error.message == "POST /v1/instances failed with 502"


def test_missing_item_fields_are_empty() -> None:
    error = error_for_response(400, errors({"reason": "x"}, {"message": "m", "field": ""}))
    assert error.details == (ErrorDetail("", "x", None), ErrorDetail("m", "", None))
    assert error.message == "The request failed with 400: m"


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, PaymentRequiredError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (405, NotAllowedError),
        (409, ConflictError),
        (420, UnsupportedForTierError),
        (429, RateLimitedError),
        (418, BadRequestError),
        (422, BadRequestError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (599, ServerError),
    ],
)
def test_class_by_status(status: int, cls: type[APIError]) -> None:
    error = error_for_response(status, errors({"message": "m", "reason": "some-reason"}))
    assert type(error) is cls
    assert isinstance(error, APIError)
    assert isinstance(error, AuraError)
    assert error.status == status
    assert error.hint == cls.default_hint != ""


@pytest.mark.parametrize(
    ("status", "reason", "cls"),
    [
        (409, "ongoing-database-operation", OngoingOperationError),
        (400, "unsupported-for-tier", UnsupportedForTierError),
        (420, "unsupported-for-tier", UnsupportedForTierError),
        (409, "invalid-instance-status", ConflictError),
    ],
)
def test_class_by_reason(status: int, reason: str, cls: type[APIError]) -> None:
    body = errors({"message": "first", "reason": "other"}, {"message": "m", "reason": reason})
    error = error_for_response(status, body)
    assert type(error) is cls


def test_ongoing_operation_is_a_conflict() -> None:
    error = error_for_response(
        409, errors({"message": "m", "reason": "ongoing-database-operation"})
    )
    assert isinstance(error, ConflictError)
    assert "operation in flight" in error.hint


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, TokenError),
        (401, TokenError),
        (403, TokenError),
        (429, RateLimitedError),
        (503, ServerError),
    ],
)
def test_token_endpoint(status: int, cls: type[APIError]) -> None:
    body = {"error": "invalid_client", "error_description": "The credentials are revoked"}
    error = error_for_response(status, body, token_endpoint=True)
    assert type(error) is cls


def test_rate_limited_carries_retry_after() -> None:
    error = error_for_response(429, {"error": "Too Many Requests"}, retry_after=1.25, **WHERE)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 1.25
    unsaid = error_for_response(429, None)
    assert isinstance(unsaid, RateLimitedError)
    assert unsaid.retry_after is None
    # A 5xx carries it too (a create proven not created is resent no sooner); others not.
    unavailable = error_for_response(503, None, retry_after=3.0)
    assert isinstance(unavailable, ServerError)
    assert unavailable.retry_after == 3.0
    assert error_for_response(502, None).retry_after is None  # type: ignore[attr-defined]
    assert not hasattr(error_for_response(400, None, retry_after=3.0), "retry_after")


# --------------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    ("status", "reason", "words"),
    [
        (400, "missing-billing-details", "billing details"),
        (404, "tenant-not-found", "aura.tenants.list()"),
        (404, "db-not-found", "instance id"),
        (405, "instance-limit-reached", "quota"),
        (409, "encryption-key-is-active", "instances that use the key"),
        (409, "invalid-instance-status", "pause needs running"),
        (400, "tenant-incapable-of-action", "Business Critical"),
    ],
)
def test_reason_hints_win_over_class_hints(status: int, reason: str, words: str) -> None:
    error = error_for_response(status, errors({"message": "m", "reason": reason}))
    assert words in error.hint
    assert error.hint != type(error).default_hint
    assert words.lower() in str(error).lower()


@pytest.mark.parametrize(
    ("cls", "words"),
    [
        (AuthenticationError, "AURA_CLIENT_ID"),
        (TokenError, "client id and secret"),
        (PermissionDeniedError, "refreshed"),
        (PaymentRequiredError, "paid tier"),
        (NotFoundError, "Check the id"),
        (NotAllowedError, "quota"),
        (ConflictError, "Wait"),
        (OngoingOperationError, "operation in flight"),
        (UnsupportedForTierError, "Professional"),
        (RateLimitedError, "Slow down"),
        (ServerError, "retry later"),
    ],
)
def test_class_hints_say_what_to_do(cls: type[APIError], words: str) -> None:
    assert words in cls.default_hint


def test_explicit_hint_wins() -> None:
    error = NotFoundError(404, (), hint="Look elsewhere")
    assert error.hint == "Look elsewhere"
    assert str(error) == "The request failed with 404; look elsewhere."


# --------------------------------------------------------------------------- str and repr


@pytest.mark.parametrize(
    ("status", "body", "extra"),
    [
        (404, errors({"message": "Instance 0000abcd not found.", "reason": "db-not-found"}), {}),
        (
            400,
            errors(
                {"message": "Region mars is not available.", "field": "region"},
                {"message": "Bad memory.", "reason": "invalid-input", "field": "memory"},
            ),
            {},
        ),
        (403, {"error": "Forbidden: the access token is invalid or has expired"}, {}),
        (
            401,
            {"error": "invalid_client", "error_description": "Revoked."},
            {"token_endpoint": True},
        ),
        (429, {"error": "Too Many Requests: rate limit exceeded"}, {"retry_after": 1.0}),
        (409, errors({"message": "Busy.", "reason": "ongoing-database-operation"}), {}),
        (503, None, {}),
    ],
)
def test_str_is_one_actionable_sentence(status: int, body: object, extra: dict[str, Any]) -> None:
    error = error_for_response(status, body, **WHERE, **extra)
    text = str(error)
    assert_one_sentence(text)
    assert text.startswith(f"POST /v1/instances failed with {status}")
    for detail in error.details:
        assert detail.message.rstrip(".") in text
    hint = error.hint
    assert (hint[0].lower() + hint[1:]) in text


def test_str_without_hint_is_the_message() -> None:
    assert str(AuraError("Plain")) == "Plain"
    assert str(ConfigurationError("Missing API credentials: set AURA_CLIENT_ID")) == (
        "Missing API credentials: set AURA_CLIENT_ID"
    )


def test_str_keeps_a_hint_that_starts_with_a_name() -> None:
    error = ValidationError("No project id", hint="AURA_TENANT_ID is not set.")
    assert str(error) == "No project id; AURA_TENANT_ID is not set."


def test_repr_shows_status_reasons_and_request_id_only() -> None:
    # Bodies may echo what was sent (names, URLs, sometimes credentials); repr leaves them out.
    body = errors({"message": "password hunter2 rejected", "reason": "invalid-input"})
    error = error_for_response(400, body, **WHERE)
    assert repr(error) == (
        "BadRequestError(status=400, reasons=('invalid-input',), request_id='4f1c0e/0042')"
    )
    assert "hunter2" not in repr(error)
    limited = error_for_response(429, {"error": "slow"}, retry_after=2.0)
    assert repr(limited) == "RateLimitedError(status=429, reasons=(), request_id=None)"


def test_transport_errors() -> None:
    error = TimeoutError("GET /v1/instances failed: ReadTimeout: ", method="GET", path="/x")
    assert isinstance(error, TransportError)
    assert isinstance(error, AuraError)
    assert (error.method, error.path) == ("GET", "/x")
    assert_one_sentence(str(error))
    assert "timeout" in str(error)
    assert "network" in TransportError("boom").hint


def test_validation_error() -> None:
    error = ValidationError("name must be 1 to 30 characters long, got 31", field="name")
    assert isinstance(error, ValueError)
    assert isinstance(error, AuraError)
    assert error.field == "name"
    assert str(error) == "name must be 1 to 30 characters long, got 31"


# --------------------------------------------------------------------------- create outcome


def test_create_outcome_unknown_fields() -> None:
    started = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    cause = TimeoutError("POST /v1/instances failed: ReadTimeout: timed out", method="POST")
    error = CreateOutcomeUnknownError("fleet-db-07", started, cause)
    assert isinstance(error, AuraError)
    assert not isinstance(error, APIError)
    assert error.name == "fleet-db-07"
    assert error.started_at == started
    assert error.cause is cause
    assert "'fleet-db-07'" in error.message
    assert "ReadTimeout: timed out" in error.message
    assert "may or may not exist" in error.message
    text = str(error)
    assert_one_sentence(text)
    assert "list them and match the name" in text
    assert "deleted and created again" in text
    assert "timeout" not in text.split("(")[0]  # the cause's message, not its hint, is quoted
    assert cause.hint.lower() not in text.lower()


def test_create_outcome_unknown_from_a_server_error() -> None:
    cause = error_for_response(503, {"error": "Service Unavailable"}, **WHERE)
    error = CreateOutcomeUnknownError("db", dt.datetime.now(dt.UTC), cause)
    assert "failed with 503: Service Unavailable" in error.message
    assert_one_sentence(str(error))


# --------------------------------------------------------------------------- copies


@pytest.mark.parametrize(
    "clone",
    [copy.copy, lambda e: pickle.loads(pickle.dumps(e))],  # noqa: S301  (our own bytes)
)
def test_errors_survive_copy_and_pickle(clone: Any) -> None:
    api = error_for_response(
        429, errors({"message": "m", "reason": "r", "field": "f"}), retry_after=3.0, **WHERE
    )
    again = clone(api)
    assert type(again) is RateLimitedError
    assert (again.status, again.details, again.retry_after, again.request_id) == (
        429,
        api.details,
        3.0,
        "4f1c0e/0042",
    )
    assert str(again) == str(api)
    assert again.hint == api.hint

    started = dt.datetime.now(dt.UTC)
    create = clone(CreateOutcomeUnknownError("db", started, api))
    assert (create.name, create.started_at, create.cause.status) == ("db", started, 429)
    assert str(create) == str(CreateOutcomeUnknownError("db", started, api))
    validation = clone(ValidationError("bad", field="name"))
    assert (validation.field, str(validation)) == ("name", "bad")

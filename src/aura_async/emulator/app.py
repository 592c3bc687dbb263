"""The HTTP face of the emulator: an ASGI app (Starlette) over :class:`AuraBackend`.

Each API request passes the same gateway the live service has in front of it, in this order:
bearer token (401 without one, 403 for an unknown or expired one), rate limit (429 with
``Retry-After``), injected latency and 5xx faults (before any work), media type (415), JSON
body (400), request validation against the official spec's schemas (400 ``invalid-request``,
one item per bad field; see :mod:`aura_async.emulator.validation`, off with
``EmulatorConfig(validate_requests=False)``), then the backend does the work, and a "drop"
fault may cut the connection after it. A refused request changes nothing. Every answer is
JSON; every ``/v1`` answer carries ``X-Request-Id``.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import json
import math
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import attrs
import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from aura_async.emulator import views
from aura_async.emulator.backend import AuraBackend
from aura_async.emulator.clock import Clock, ScaledClock
from aura_async.emulator.config import RATE_MODELS, Durations, EmulatorConfig, RateLimitSettings
from aura_async.emulator.errors import ApiError
from aura_async.emulator.faults import FaultPlan
from aura_async.emulator.ratelimit import Limiter, make_limiter
from aura_async.emulator.tokens import TokenStore
from aura_async.emulator.validation import RequestValidator, request_validator

__all__ = ["ConnectionDropped", "EmulatorState", "create_app"]

Handler = Callable[["ApiRequest"], Awaitable[Response] | Response]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app to cut a connection after the work was done (the "drop" fault).

    Over a real server, uvicorn then closes the socket mid-answer; in process, through
    ``httpx.ASGITransport``, the client sees this exception, which is the transport error
    httpx raises for a peer that closed the connection.
    """


class _DroppedResponse(Response):
    """Starts an answer, then breaks off: the client never gets a complete response."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionDropped("the emulator dropped the connection after doing the work")


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers=headers)


def _gateway_error(
    status: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    # The gateway in front of Aura answers with the spec's MiddlewareError shape.
    return _json({"error": message}, status, headers)


@attrs.define
class ApiRequest:
    """What an API handler gets: the request, its parsed body and the backend."""

    request: Request
    body: Any
    backend: AuraBackend
    client_id: str

    def path(self, name: str) -> str:
        """Return a path parameter."""
        return str(self.request.path_params[name])

    def query(self, name: str) -> str | None:
        """Return a query parameter, or None when absent or empty."""
        return self.request.query_params.get(name) or None


class EmulatorState:
    """Everything the app holds: the backend, tokens, per-credential limiters, settings."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.backend = AuraBackend(config, clock)
        self.tokens = TokenStore(config.token_seconds(clock.time_scale))
        self.rate = config.rate_limit
        self.secrets = {c.client_id: c.client_secret for c in config.credentials}
        self.limits = {c.client_id: c.rate_limit for c in config.credentials}
        self.limiters: dict[str, Limiter] = {}
        # Compiled once per process and shared by every app (it holds no state).
        self.validator: RequestValidator | None = (
            request_validator() if config.validate_requests else None
        )

    @property
    def lock(self) -> Any:
        """The lock that serialises every change of state."""
        return self.backend.lock

    def set_rate_limit(self, settings: RateLimitSettings) -> None:
        """Apply new rate-limit settings; counting starts afresh."""
        self.rate = settings
        self.limiters.clear()
        self.backend.counters.window = settings.window
        self.backend.counters.accepted.clear()

    def set_durations(self, durations: Durations) -> None:
        """Draw the operations started from now on by ``durations``; ``config`` shows them.

        Raises:
            ValueError: if the configuration with them is inconsistent.
        """
        self.backend.set_durations(durations)
        self.config = self.backend.config

    def reset(self, *, state: bool) -> None:
        """Clear counters and limiter windows, and with ``state`` every resource too."""
        self.backend.counters.reset()
        self.limiters.clear()
        if state:
            self.backend.reset_state()

    def admit(self, client_id: str) -> float | None:
        """Pass one request of ``client_id`` through its limiter.

        Returns None if accepted, else the emulated seconds until it would be.
        """
        now = self.clock.now()
        if not self.rate.enabled:
            # Still witnessed: a client's own pacing is measured with the server's limit off.
            self.backend.counters.record_accepted(client_id, now)
            return None
        limiter = self.limiters.get(client_id)
        if limiter is None:
            limit = self.limits.get(client_id) or self.rate.limit
            limiter = make_limiter(
                self.rate.model, limit, self.rate.window, count_rejected=self.rate.count_rejected
            )
            self.limiters[client_id] = limiter
        wait = limiter.try_acquire(now)
        if wait is None:
            self.backend.counters.record_accepted(client_id, now)
        return wait

    def retry_after(self, emulated_seconds: float, style: str) -> str:
        """Render a wait for the ``Retry-After`` header, in the CLIENT's real time.

        ``integer`` (the default) is whole seconds rounded up, the only delta form HTTP
        allows; ``date`` an HTTP date (second resolution, rounded up); ``seconds`` keeps
        millisecond precision under a compressed clock, where a scaled window may last well
        under a second (not a valid HTTP value: opt in for fast tests only).
        """
        real = max(emulated_seconds, 0.0) / self.clock.time_scale
        if style == "integer":
            # For clients that only parse whole seconds (urllib3, Go's strconv.Atoi).
            return str(max(1, math.ceil(round(real, 6))))
        if style == "date":
            return email.utils.formatdate(math.ceil(time.time() + real), usegmt=True)
        # Round off float noise (a wait of 1.0000000000000009 s is 1 s) before rounding up.
        if self.clock.time_scale == 1:
            return str(math.ceil(round(real, 6)))
        return f"{math.ceil(round(real * 1000, 3)) / 1000:.3f}"


def _http_date(emulated: float) -> str:
    """An HTTP ``Date`` of the emulated clock: the server's clock, whose ``created_at``
    values a client compares ages with (under a compressed clock it runs ahead of real time).
    """
    return email.utils.formatdate(emulated, usegmt=True)


def _request_id() -> str:
    return f"{secrets.token_hex(16)}/{secrets.randbelow(10**20):020d}"


async def _read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON", "invalid-request") from None


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _api(state: EmulatorState, template: str, handlers: dict[str, Handler]) -> Route:
    """Build the route of one path that runs each method's handler behind the gateway.

    One route per path (not per method) lets a wrong method answer 405 with an ``Allow``
    header that lists every method the path serves.
    """

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        handler = handlers[method]
        route_name = f"{method} {template}"
        headers = {"X-Request-Id": _request_id(), "Date": _http_date(state.clock.now())}
        if state.config.deprecation_date:
            headers["X-Tyk-Api-Expires"] = state.config.deprecation_date
        response, drop = await _through_gateway(state, request, method, route_name, handler)
        response.headers.update(headers)
        state.backend.counters.record_request(route_name, response.status_code)
        if drop and response.status_code < 400:  # only work that was done is dropped
            state.backend.counters.faults["drop"] += 1
            return _DroppedResponse(response.body, response.status_code, dict(response.headers))
        return response

    return Route(template, endpoint, methods=list(handlers))


async def _through_gateway(
    state: EmulatorState, request: Request, method: str, route: str, handler: Handler
) -> tuple[Response, bool]:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _gateway_error(401, "Unauthorized: no bearer token was given"), False
    with state.lock:
        client_id = state.tokens.client_for(token.strip(), state.clock.now())
        if client_id is None:
            return _gateway_error(
                403, "Forbidden: the access token is invalid or has expired"
            ), False
        wait = state.admit(client_id)
        if wait is not None:
            header = state.retry_after(wait, state.rate.retry_after)
            return _gateway_error(
                429, "Too Many Requests: rate limit exceeded", {"Retry-After": header}
            ), False
        rng = state.backend.fault_rng
        plan = state.backend.faults
        delay = plan.choose_latency(rng, method, route)
        error = plan.choose_error(rng, method, route)
        drop = plan.choose_drop(rng, method, route)
    if delay > 0:
        state.backend.counters.faults["latency"] += 1
        await anyio.sleep(delay)
    if error is not None:
        state.backend.counters.faults[f"error_{error.status}"] += 1
        error_headers = {}
        if error.retry_after is not None:
            error_headers["Retry-After"] = state.retry_after(
                error.retry_after, state.rate.retry_after
            )
        return _gateway_error(
            error.status,
            "The service is temporarily unable to handle the request (injected fault)",
            error_headers,
        ), False
    raw = await request.body()
    if raw.strip() and not _is_json(request.headers.get("content-type", "")):
        return _gateway_error(
            415, 'Unsupported Media Type: send "Content-Type: application/json"'
        ), False
    try:
        body = await _read_json(request)
        if state.validator is not None:
            # Before the backend, so a refused request changes nothing.
            state.validator.validate(
                route,
                path_params=request.path_params,
                query_params=request.query_params,
                body=body,
                body_sent=bool(raw.strip()),
            )
        api_request = ApiRequest(request, body, state.backend, client_id)
        with state.lock:
            result = handler(api_request)
            if not isinstance(result, Response):
                result = await result
        return result, drop
    except ApiError as exc:
        # A refused request did no work, so there is nothing to drop the connection after.
        return _json(exc.to_json(), exc.status), False


# ------------------------------------------------------------------ handlers


def _data(payload: Any, status: int = 200) -> JSONResponse:
    return _json({"data": payload}, status)


def _list_instances(r: ApiRequest) -> Response:
    found = r.backend.list_instances(r.query("tenantId"))
    return _data([views.instance_summary(i) for i in found])


def _create_instance(r: ApiRequest) -> Response:
    return _data(
        views.created_instance(r.backend.create_instance(r.body), r.backend.bolt_address), 202
    )


def _instance_sizing(r: ApiRequest) -> Response:
    return _data(r.backend.instance_sizing(r.body))


def _get_instance(r: ApiRequest) -> Response:
    return _data(
        views.instance(r.backend.get_instance(r.path("instanceId")), r.backend.bolt_address)
    )


def _update_instance(r: ApiRequest) -> Response:
    status, record = r.backend.update_instance(r.path("instanceId"), r.body)
    return _data(views.instance(record, r.backend.bolt_address), status)


def _delete_instance(r: ApiRequest) -> Response:
    return _data(
        views.instance(r.backend.delete_instance(r.path("instanceId")), r.backend.bolt_address), 202
    )


def _pause_resume_status(r: ApiRequest) -> int:
    return 200 if r.backend.draw(r.backend.faults.pause_resume_200) else 202


def _pause_instance(r: ApiRequest) -> Response:
    record = r.backend.pause_instance(r.path("instanceId"))
    return _data(views.instance(record, r.backend.bolt_address), _pause_resume_status(r))


def _resume_instance(r: ApiRequest) -> Response:
    record = r.backend.resume_instance(r.path("instanceId"))
    return _data(views.instance(record, r.backend.bolt_address), _pause_resume_status(r))


def _overwrite_instance(r: ApiRequest) -> Response:
    record = r.backend.overwrite_instance(r.path("instanceId"), r.body)
    return _data(views.instance(record, r.backend.bolt_address), 202)


def _upgrade_instance(r: ApiRequest) -> Response:
    return _data(
        views.instance(
            r.backend.upgrade_instance(r.path("instanceId"), r.body), r.backend.bolt_address
        )
    )


def _list_snapshots(r: ApiRequest) -> Response:
    now = r.backend.now()
    found = r.backend.list_snapshots(r.path("instanceId"), r.query("date"))
    return _data([views.snapshot(s, now) for s in found])


def _create_snapshot(r: ApiRequest) -> Response:
    snapshot = r.backend.create_snapshot(r.path("instanceId"))
    return _data({"snapshot_id": snapshot.snapshot_id}, 202)


def _get_snapshot(r: ApiRequest) -> Response:
    snapshot = r.backend.get_snapshot(r.path("instanceId"), r.path("snapshotId"))
    return _data(views.snapshot(snapshot, r.backend.now()))


def _restore_snapshot(r: ApiRequest) -> Response:
    record = r.backend.restore_snapshot(r.path("instanceId"), r.path("snapshotId"))
    return _data(views.instance(record, r.backend.bolt_address), 202)


def _list_projects(r: ApiRequest) -> Response:
    return _data([views.project_summary(p) for p in r.backend.list_projects()])


def _get_project(r: ApiRequest) -> Response:
    return _data(views.project(r.backend.get_project(r.path("tenantId"))))


def _metrics_integration(r: ApiRequest) -> Response:
    return _data({"endpoint": r.backend.metrics_integration(r.path("tenantId"))})


def _list_keys(r: ApiRequest) -> Response:
    return _data([views.key_summary(k) for k in r.backend.list_keys(r.query("tenantId"))])


def _create_key(r: ApiRequest) -> Response:
    return _data(views.key(r.backend.create_key(r.body), r.backend.now()), 202)


def _get_key(r: ApiRequest) -> Response:
    return _data(views.key(r.backend.get_key(r.path("customerManagedKeyId")), r.backend.now()))


def _delete_key(r: ApiRequest) -> Response:
    r.backend.delete_key(r.path("customerManagedKeyId"))
    return Response(status_code=204)


def _list_sessions(r: ApiRequest) -> Response:
    found = r.backend.list_sessions(
        r.query("instanceId"), r.query("tenantId"), r.query("organizationId")
    )
    now = r.backend.now()
    return _data([views.session(s, now) for s in found])


def _create_session(r: ApiRequest) -> Response:
    created, session = r.backend.create_session(r.body)
    rendered = views.session(session, r.backend.now(), just_created=created)
    return _data(rendered, 202 if created else 200)


def _session_sizing(r: ApiRequest) -> Response:
    return _data(r.backend.session_sizing(r.body))


def _session_not_found(exc: ApiError) -> Response:
    # The sessions service wraps its errors with a null data and an empty error id.
    body = exc.to_json()
    for item in body["errors"]:
        item["id"] = ""
    return _json({"data": None, **body}, exc.status)


def _get_session(r: ApiRequest) -> Response:
    try:
        session = r.backend.get_session(r.path("sessionId"))
    except ApiError as exc:
        return _session_not_found(exc)
    return _data(views.session(session, r.backend.now()))


def _delete_session(r: ApiRequest) -> Response:
    try:
        session_id = r.backend.delete_session(r.path("sessionId"))
    except ApiError as exc:
        return _session_not_found(exc)
    return _data({"id": session_id}, 202)


API_ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/instances", _list_instances),
    ("POST", "/instances", _create_instance),
    ("POST", "/instances/sizing", _instance_sizing),
    ("GET", "/instances/{instanceId}", _get_instance),
    ("PATCH", "/instances/{instanceId}", _update_instance),
    ("DELETE", "/instances/{instanceId}", _delete_instance),
    ("POST", "/instances/{instanceId}/pause", _pause_instance),
    ("POST", "/instances/{instanceId}/resume", _resume_instance),
    ("POST", "/instances/{instanceId}/overwrite", _overwrite_instance),
    ("POST", "/instances/{instanceId}/upgrade", _upgrade_instance),
    ("GET", "/instances/{instanceId}/snapshots", _list_snapshots),
    ("POST", "/instances/{instanceId}/snapshots", _create_snapshot),
    ("GET", "/instances/{instanceId}/snapshots/{snapshotId}", _get_snapshot),
    ("POST", "/instances/{instanceId}/snapshots/{snapshotId}/restore", _restore_snapshot),
    ("GET", "/tenants", _list_projects),
    ("GET", "/tenants/{tenantId}", _get_project),
    ("GET", "/tenants/{tenantId}/metrics-integration", _metrics_integration),
    ("GET", "/customer-managed-keys", _list_keys),
    ("POST", "/customer-managed-keys", _create_key),
    ("GET", "/customer-managed-keys/{customerManagedKeyId}", _get_key),
    ("DELETE", "/customer-managed-keys/{customerManagedKeyId}", _delete_key),
    ("GET", "/graph-analytics/sessions", _list_sessions),
    ("POST", "/graph-analytics/sessions", _create_session),
    ("POST", "/graph-analytics/sessions/sizing", _session_sizing),
    ("GET", "/graph-analytics/sessions/{sessionId}", _get_session),
    ("DELETE", "/graph-analytics/sessions/{sessionId}", _delete_session),
)


# ------------------------------------------------------------- token endpoint


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return _json({"error": error, "error_description": description}, status)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def _token_endpoint(state: EmulatorState) -> Route:
    route_name = "POST /oauth/token"

    async def endpoint(request: Request) -> Response:
        response = await _issue_token(state, request)
        response.headers["Date"] = _http_date(state.clock.now())
        state.backend.counters.record_request(route_name, response.status_code)
        return response

    return Route("/oauth/token", endpoint, methods=["POST"])


async def _issue_token(state: EmulatorState, request: Request) -> Response:
    credentials = _basic_credentials(request)
    if credentials is None:
        return _oauth_error(
            401,
            "invalid_client",
            "Client authentication with HTTP Basic credentials (client id and secret) is required",
        )
    client_id, secret = credentials
    expected = state.secrets.get(client_id)
    if expected is None or not secrets.compare_digest(expected, secret):
        return _oauth_error(
            401, "invalid_client", "The provided credentials are invalid, expired, or revoked"
        )
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        return _oauth_error(
            400, "invalid_request", "The body must be form encoded: grant_type=client_credentials"
        )
    # A urlencoded form is all this endpoint takes; parsing it needs no multipart library.
    form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"))
    grant = (form.get("grant_type") or [""])[0]
    if not grant:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant != "client_credentials":
        return _oauth_error(
            400, "unsupported_grant_type", "Only grant_type=client_credentials is supported"
        )
    with state.lock:
        if state.rate.count_token_requests:
            wait = state.admit(client_id)
            if wait is not None:
                header = state.retry_after(wait, state.rate.retry_after)
                return _gateway_error(
                    429, "Too Many Requests: rate limit exceeded", {"Retry-After": header}
                )
        token = state.tokens.issue(client_id, state.clock.now())
        state.backend.counters.tokens_issued += 1
    expires_in = max(1, math.floor(state.tokens.lifetime / state.clock.time_scale))
    return _json({"access_token": token.value, "expires_in": expires_in, "token_type": "bearer"})


# ----------------------------------------------------------- control endpoints


def _merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7396): objects merge, ``null`` removes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _control_routes(state: EmulatorState) -> list[Route]:
    async def counters(request: Request) -> Response:
        with state.lock:
            by_status = state.backend.instances_by_status()
            return _json(state.backend.counters.to_json(by_status))

    async def reset(request: Request) -> Response:
        body = await request.body()
        try:
            options = json.loads(body) if body.strip() else {}
            if not isinstance(options, dict) or not isinstance(options.get("state", False), bool):
                raise ValueError('the body must be a JSON object such as {"state": true}')
        except ValueError as exc:
            return _json({"errors": [{"message": str(exc), "reason": "invalid-request"}]}, 400)
        with state.lock:
            state.reset(state=bool(options.get("state", False)))
        return _json({"reset": True, "state": bool(options.get("state", False))})

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                plan = FaultPlan.from_json(json.loads(await request.body() or b"{}"))
            except (TypeError, ValueError) as exc:
                return _json({"errors": [{"message": str(exc), "reason": "invalid-request"}]}, 400)
            with state.lock:
                state.backend.faults = plan
        return _json(state.backend.faults.to_json())

    async def rate_limit(request: Request) -> Response:
        if request.method == "PATCH":
            try:
                changes = json.loads(await request.body() or b"{}")
                settings = attrs.evolve(state.rate, **changes)
                if settings.model not in RATE_MODELS or settings.limit < 1 or settings.window <= 0:
                    raise ValueError("model must be fixed, sliding or bucket; limit and window > 0")
            except (TypeError, ValueError) as exc:
                return _json({"errors": [{"message": str(exc), "reason": "invalid-request"}]}, 400)
            with state.lock:
                state.set_rate_limit(settings)
        return _json(attrs.asdict(state.rate))

    async def durations(request: Request) -> Response:
        if request.method in ("PUT", "PATCH"):
            try:
                body = json.loads(await request.body() or b"{}")
                if request.method == "PATCH":
                    if not isinstance(body, dict):
                        raise ValueError("the body must be a JSON object (a JSON merge patch)")
                    body = _merge_patch(state.backend.config.durations.to_json(), body)
                settings = Durations.from_json(body)
                with state.lock:
                    state.set_durations(settings)
            except (TypeError, ValueError) as exc:
                return _json({"errors": [{"message": str(exc), "reason": "invalid-request"}]}, 400)
        return _json(state.backend.config.durations.to_json())

    async def advance(request: Request) -> Response:
        try:
            seconds = float(json.loads(await request.body() or b"{}").get("seconds", 0))
            state.clock.advance(seconds)
        except (TypeError, ValueError, AttributeError) as exc:
            return _json({"errors": [{"message": str(exc), "reason": "invalid-request"}]}, 400)
        return _json({"now": state.clock.now()})

    async def info(request: Request) -> Response:
        return _json(
            {
                "default_project_id": state.backend.default_project_id,
                "organization_id": state.backend.organization_id,
                "client_ids": sorted(state.secrets),
                "time_scale": state.clock.time_scale,
                "seed": state.backend.seed,
                "token_lifetime": state.tokens.lifetime,
                "rate_limit": attrs.asdict(state.rate),
                "now": state.clock.now(),
            }
        )

    return [
        Route("/_emulator/counters", counters, methods=["GET"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/faults", faults, methods=["GET", "PUT"]),
        Route("/_emulator/rate-limit", rate_limit, methods=["GET", "PATCH"]),
        Route("/_emulator/durations", durations, methods=["GET", "PUT", "PATCH"]),
        Route("/_emulator/clock/advance", advance, methods=["POST"]),
        Route("/_emulator/info", info, methods=["GET"]),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "invalid-request")
    headers = dict(exc.headers or {})
    if request.url.path == "/v1" or request.url.path.startswith("/v1/"):
        headers["X-Request-Id"] = _request_id()
        headers["Date"] = _http_date(request.app.state.emulator.clock.now())
        config = request.app.state.emulator.config
        if config.deprecation_date:
            headers["X-Tyk-Api-Expires"] = config.deprecation_date
    return _json(
        {"errors": [{"message": str(exc.detail), "reason": reason}]}, exc.status_code, headers
    )


def create_app(config: EmulatorConfig | None = None, *, clock: Clock | None = None) -> Starlette:
    """Build the emulator's ASGI app.

    Args:
        config: the run's settings; the defaults emulate one project at real speed.
        clock: the source of emulated time; by default a :class:`ScaledClock` at
            ``config.time_scale``.

    The app's ``state.emulator`` is the :class:`EmulatorState`, whose ``backend`` tests may
    inspect directly. Pass the app to ``httpx.ASGITransport`` to use it in process.

    Raises:
        ValueError: if the configuration is inconsistent.
    """
    config = config or EmulatorConfig()
    clock = clock or ScaledClock(config.time_scale)
    state = EmulatorState(config, clock)
    by_path: dict[str, dict[str, Handler]] = {}
    for method, path, handler in API_ROUTES:
        by_path.setdefault("/v1" + path, {})[method] = handler
    routes = [_api(state, path, handlers) for path, handlers in by_path.items()]
    routes.append(_token_endpoint(state))
    routes.extend(_control_routes(state))
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.emulator = state
    return app

"""Client settings: explicit arguments > environment (AURA_*) > a ``.env`` file > defaults."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

import attrs
import httpx
from dotenv import dotenv_values

from aura_async.backends import RedisBackend
from aura_async.errors import ConfigurationError
from aura_async.policies import RateLimit, RetryPolicy

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_TIMEOUT",
    "ENV_VARIABLES",
    "ClientSettings",
]

DEFAULT_BASE_URL = "https://api.neo4j.io"
# A whole request may take 30 s; connecting 10 s. Waiting for a pooled connection gets longer,
# because a fleet fans out wider than the pool and queues on it by design.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=120.0)
# Enough connections for the API's whole per-minute budget to be in flight at once.
DEFAULT_LIMITS = httpx.Limits(max_connections=64, max_keepalive_connections=32)

ENV_VARIABLES = {
    "client_id": "AURA_CLIENT_ID",
    "client_secret": "AURA_CLIENT_SECRET",
    "tenant_id": "AURA_TENANT_ID",
    "base_url": "AURA_BASE_URL",
    "auth_url": "AURA_AUTH_URL",
    "rate_limit": "AURA_RATE_LIMIT",
    "rate_limit_backend": "AURA_RATE_LIMIT_REDIS_URL",
}
# How a shared budget behaves, read only with AURA_RATE_LIMIT_REDIS_URL.
FALLBACK_VARIABLE = "AURA_RATE_LIMIT_REDIS_FALLBACK"
SHARE_TOKEN_VARIABLE = "AURA_RATE_LIMIT_REDIS_SHARE_TOKEN"  # noqa: S105 - a variable's name


def _base_url(value: object) -> str:
    # Like the official CLI, accept the URL with or without /v1: the client appends it.
    if not isinstance(value, str):
        raise ConfigurationError(
            f"base_url must be a URL such as {DEFAULT_BASE_URL}; got {type(value).__name__}"
        )
    url = value.strip().rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def _url_problem(value: str) -> str | None:
    """What makes ``value`` unusable as the API's or the token endpoint's URL, if anything."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        return str(exc)
    if url.scheme not in ("http", "https") or not url.host:
        return "it needs http:// or https:// and a host"
    if url.port is not None and not 0 < url.port < 65536:
        return f"port {url.port} is out of range"
    if any(character.isspace() for character in value):
        return "it contains white space"
    if url.query or url.fragment:
        return "it must not have a query or a fragment"
    return None


def _check_url(name: str, value: str) -> None:
    """Raise :class:`ConfigurationError` naming the setting if ``value`` is not a usable URL."""
    try:
        userinfo = bool(httpx.URL(value).userinfo)
    except httpx.InvalidURL:
        userinfo = False
    if userinfo:
        # Never echo the URL: what precedes the @ may be a password.
        problem: str | None = "it must not carry credentials (user:password@)"
        shown = "a URL with credentials"
    else:
        problem = _url_problem(value)
        shown = repr(value)
    if problem is not None:
        example = DEFAULT_BASE_URL + ("/oauth/token" if name == "auth_url" else "")
        raise ConfigurationError(
            f"{name} ({ENV_VARIABLES[name]}) must be an http(s) URL such as {example}; "
            f"got {shown}: {problem}"
        )


def _check_base_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    _check_url("base_url", value)


def _rate_limit(value: object) -> RateLimit | None:
    """Accept a :class:`RateLimit`, None (no limit), or text as ``AURA_RATE_LIMIT`` takes it."""
    if value is None or isinstance(value, RateLimit):
        return value
    if isinstance(value, str):
        try:
            return RateLimit.parse(value)
        except ValueError as exc:
            raise ConfigurationError(f"rate_limit (AURA_RATE_LIMIT): {exc}") from None
    raise ConfigurationError(
        "rate_limit must be a RateLimit, text such as '25/60' or 'free', or None; got "
        f"{type(value).__name__}"
    )


def _backend(value: object) -> RedisBackend | None:
    """Accept a :class:`RedisBackend`, a Redis URL, or None (the in-process limiter)."""
    if value is None or isinstance(value, RedisBackend):
        return value
    if isinstance(value, str):
        try:
            return RedisBackend(value.strip())
        except ValueError as exc:
            raise ConfigurationError(
                f"rate_limit_backend (AURA_RATE_LIMIT_REDIS_URL): {exc}"
            ) from None
    raise ConfigurationError(
        "rate_limit_backend must be a RedisBackend, a redis:// URL, or None; got "
        f"{type(value).__name__}"
    )


def backend_from_env(
    url: str, values: Mapping[str, str], *, source: str = "AURA_RATE_LIMIT_REDIS_URL"
) -> RedisBackend:
    """A :class:`RedisBackend` for ``url``, shaped by AURA_RATE_LIMIT_REDIS_FALLBACK and
    AURA_RATE_LIMIT_REDIS_SHARE_TOKEN in ``values``.

    Raises:
        ConfigurationError: a malformed URL or companion value, naming the variable.
    """
    fallback = values.get(FALLBACK_VARIABLE, "").strip().lower() or "fail"
    share = values.get(SHARE_TOKEN_VARIABLE, "").strip().lower()
    options: dict[str, object] = {}
    if fallback == "fail":
        options["on_unavailable"] = "fail"
    elif fallback == "local" or fallback.startswith("local:"):
        options["on_unavailable"] = "local"
        fraction = fallback.partition(":")[2]
        if fraction:
            try:
                portion = float(fraction)
            except ValueError:
                portion = math.nan
            if not 0 < portion <= 1:
                raise ConfigurationError(
                    f"{FALLBACK_VARIABLE}: the local share must be a fraction in (0, 1] such "
                    f"as 'local:0.25', got {fraction!r}"
                )
            options["local_share"] = portion
    else:
        raise ConfigurationError(
            f"{FALLBACK_VARIABLE}: expected 'fail', 'local' or 'local:<fraction>' "
            f"such as 'local:0.25', got {fallback!r}"
        )
    if share not in ("", "0", "1", "true", "false", "yes", "no"):
        raise ConfigurationError(f"{SHARE_TOKEN_VARIABLE}: expected 1 or 0, got {share!r}")
    options["share_token"] = share in ("1", "true", "yes")
    try:
        return RedisBackend(url.strip(), **options)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigurationError(f"{source}: {exc}") from None


@attrs.frozen
class ClientSettings:
    """Everything an :class:`~aura_async.AuraClient` needs to talk to the API.

    Args:
        client_id: the API client id.
        client_secret: its secret (never shown in a repr).
        tenant_id: the default project (tenant) id for calls that take one.
        base_url: the API host, without ``/v1`` (the client appends it).
        auth_url: the token endpoint; defaults to ``<base_url>/oauth/token``.
        rate_limit: requests per period the client allows itself: a :class:`RateLimit`, text
            as ``AURA_RATE_LIMIT`` takes it (``"25/60"``, ``"free"``), or None for no limit.
        timeout: per-request timeouts.
        limits: connection pool limits.
        retry: when and how often a failed request is resent.
        rate_limit_backend: where the rate budget lives: None (this process alone), or a
            :class:`~aura_async.backends.RedisBackend` (or its URL) shared by every process
            on the credential.
    """

    client_id: str
    client_secret: str = attrs.field(repr=False)
    tenant_id: str | None = None
    base_url: str = attrs.field(
        default=DEFAULT_BASE_URL, converter=_base_url, validator=_check_base_url
    )
    auth_url: str | None = None
    rate_limit: RateLimit | None = attrs.field(factory=RateLimit.paid, converter=_rate_limit)
    timeout: httpx.Timeout = DEFAULT_TIMEOUT
    limits: httpx.Limits = DEFAULT_LIMITS
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    rate_limit_backend: RedisBackend | None = attrs.field(default=None, converter=_backend)

    def __attrs_post_init__(self) -> None:
        if self.rate_limit_backend is not None and self.rate_limit is None:
            raise ConfigurationError(
                "a shared rate limit (rate_limit_backend, AURA_RATE_LIMIT_REDIS_URL) needs a "
                "rate limit to share; rate_limit=None turns limiting off"
            )
        missing = [
            ENV_VARIABLES[name]
            for name in ("client_id", "client_secret")
            if not getattr(self, name)
        ]
        if missing:
            raise ConfigurationError(
                f"Missing API credentials: set {' and '.join(missing)} (or pass them to "
                "AuraClient); create them in the Aura console under API credentials"
            )
        if self.auth_url is not None:
            if not isinstance(self.auth_url, str):
                raise ConfigurationError(
                    f"auth_url must be a URL or None; got {type(self.auth_url).__name__}"
                )
            _check_url("auth_url", self.auth_url)

    @property
    def token_url(self) -> str:
        """The token endpoint actually used."""
        return self.auth_url or f"{self.base_url}/oauth/token"

    @property
    def api_url(self) -> str:
        """The versioned API root, ``<base_url>/v1``."""
        return f"{self.base_url}/v1"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        dotenv: str | os.PathLike[str] | None = ".env",
        **overrides: object,
    ) -> ClientSettings:
        """Read settings from the environment, then a ``.env`` file; arguments win over both.

        Variables: AURA_CLIENT_ID, AURA_CLIENT_SECRET, AURA_TENANT_ID, AURA_BASE_URL,
        AURA_AUTH_URL, AURA_RATE_LIMIT (``125/60``, ``25/60``, ``paid``, ``free``),
        AURA_RATE_LIMIT_REDIS_URL (a budget shared on Redis), with
        AURA_RATE_LIMIT_REDIS_FALLBACK (``fail``, ``local``, ``local:0.25``) and
        AURA_RATE_LIMIT_REDIS_SHARE_TOKEN (``1`` to share the access token too).

        Raises:
            ConfigurationError: when credentials are missing (naming the variables) or a
                value is malformed.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, str] = {}
        if dotenv is not None and Path(dotenv).is_file():
            values.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        values.update(environ)
        settings: dict[str, object] = {}
        for name, variable in ENV_VARIABLES.items():
            if values.get(variable):
                settings[name] = values[variable]
        if "rate_limit" in settings:
            try:
                settings["rate_limit"] = RateLimit.parse(str(settings["rate_limit"]))
            except ValueError as exc:
                raise ConfigurationError(f"AURA_RATE_LIMIT: {exc}") from None
        if "rate_limit_backend" in settings:
            settings["rate_limit_backend"] = backend_from_env(
                str(settings["rate_limit_backend"]), values
            )
        settings.update(overrides)
        settings.setdefault("client_id", "")
        settings.setdefault("client_secret", "")
        try:
            return cls(**settings)  # type: ignore[arg-type]
        except TypeError as exc:
            raise ConfigurationError(f"Invalid client setting: {exc}") from None

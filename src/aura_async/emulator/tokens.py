"""Access tokens of the client-credentials flow: issued, looked up, expired."""

from __future__ import annotations

import secrets

import attrs

from aura_async.emulator.secrets import record as record_secret

__all__ = ["IssuedToken", "TokenStore"]


@attrs.frozen
class IssuedToken:
    """A bearer token, whose client it belongs to and when it stops working."""

    value: str = attrs.field(repr=False)
    client_id: str
    expires_at: float


class TokenStore:
    """Issues opaque bearer tokens and answers who holds one, until it expires."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self._tokens: dict[str, IssuedToken] = {}

    def issue(self, client_id: str, now: float) -> IssuedToken:
        """Mint a token for ``client_id`` that lives :attr:`lifetime` emulated seconds."""
        self._purge(now)
        token = IssuedToken(secrets.token_urlsafe(48), client_id, now + self.lifetime)
        self._tokens[token.value] = token
        record_secret(token.value, "token")
        return token

    def client_for(self, value: str, now: float) -> str | None:
        """Return the client holding token ``value``, or None if unknown or expired."""
        token = self._tokens.get(value)
        if token is None or now >= token.expires_at:
            return None
        return token.client_id

    def revoke_all(self) -> None:
        """Forget every token (they answer 403 from now on)."""
        self._tokens.clear()

    def _purge(self, now: float) -> None:
        # Keep the table from growing without bound in long runs.
        if len(self._tokens) > 1000:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}

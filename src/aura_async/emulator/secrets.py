"""Every secret the emulator handed out, for tests that prove none of them leaks.

The emulator records, in one process-wide registry, each value that must never show up in a
log, an event, a repr, an exception or command output: the one-time **password** of every
instance it creates, every **access token** it issues, and the **client secret** of every
credential an emulator is built with. A test can then search whatever its code produced::

    from aura_async.emulator import secrets as emulator_secrets

    def test_my_provisioning_logs_no_secret(aura_emulator, caplog):
        emulator_secrets.clear()
        run_my_code(aura_emulator)
        leaked = [s for s in emulator_secrets.issued() if s in caplog.text]
        assert not leaked

``issued()`` covers every emulator in the process (in process or on a loopback thread);
``issued("password")`` only one kind. ``clear()`` forgets everything recorded so far (call
it at the start of each test). The registry is a testing aid: it holds at most
:data:`LIMIT` values (the oldest are forgotten first), so a long-running emulator does not
grow without bound, and the values are the emulator's own, worthless outside it.
"""

from __future__ import annotations

import threading
from typing import Literal

__all__ = ["LIMIT", "SecretKind", "clear", "issued", "record"]

SecretKind = Literal["password", "token", "client-secret"]
KINDS: tuple[SecretKind, ...] = ("password", "token", "client-secret")

LIMIT = 100_000
"""The most values the registry keeps; beyond it the oldest are forgotten."""

_lock = threading.Lock()
# value -> kind, in the order recorded (dicts keep insertion order: the oldest come first).
_issued: dict[str, SecretKind] = {}


def record(value: str, kind: SecretKind) -> None:
    """Remember ``value`` as a secret of ``kind`` the emulator handed out (empty is ignored)."""
    if not value:
        return
    with _lock:
        _issued.pop(value, None)
        _issued[value] = kind
        if len(_issued) > LIMIT:
            del _issued[next(iter(_issued))]


def issued(kind: SecretKind | None = None) -> frozenset[str]:
    """Every secret recorded since the last :func:`clear` (only those of ``kind`` if given)."""
    with _lock:
        if kind is None:
            return frozenset(_issued)
        return frozenset(value for value, k in _issued.items() if k == kind)


def clear() -> None:
    """Forget every secret recorded so far."""
    with _lock:
        _issued.clear()

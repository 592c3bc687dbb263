"""Which instance a Bolt connection may reach, read from the backend under its lock.

An instance is connectable when it exists, its status is ``running`` or an online operation
(``updating``, ``resizing``), and the emulated clock has passed the moment it last became
running plus ``EmulatorConfig.bolt_delay``. Every answer first settles the instance, so an
operation whose time has come counts as finished, as it would for the HTTP API.
"""

from __future__ import annotations

import hmac
from typing import Literal

from aura_async.emulator.backend import AuraBackend
from aura_async.emulator.records import REACHABLE_STATUSES, InstanceRecord

__all__ = ["LOCK_AFTER", "LOCK_FOR", "USERNAME", "InstanceGate", "Login", "Verdict"]

#: The one database user of an Aura instance, as the create answer names it.
USERNAME = "neo4j"
#: Neo4j's defaults: after this many refused logons in a row (dbms.security.
#: auth_max_failed_attempts)...
LOCK_AFTER = 3
#: ...every logon is refused for this many seconds after the last (auth_lock_time), the
#: right password too, with Neo.ClientError.Security.AuthenticationRateLimit. Emulated
#: seconds, as every duration of the emulator.
LOCK_FOR = 5.0

Verdict = Literal["open", "closed", "unknown"]
Login = Literal["ok", "refused", "locked"]


def _same(given: object, expected: str) -> bool:
    # Compared in constant time, as a server does, although the emulator's secrets are not.
    return (
        isinstance(given, str)
        and bool(expected)
        and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
    )


class InstanceGate:
    """The listener's only window on the backend; each call holds ``backend.lock``."""

    def __init__(self, backend: AuraBackend) -> None:
        self.backend = backend
        # instance id -> (refused logons in a row, when the last was refused)
        self._refusals: dict[str, tuple[int, float]] = {}

    def _connectable(self, record: InstanceRecord) -> bool:
        if record.status not in REACHABLE_STATUSES:
            return False
        if record.running_since is None:
            # Set running by hand (tests): no moment to count the delay from.
            return True
        return self.backend.now() >= record.running_since + self.backend.config.bolt_delay

    def verdict(self, instance_id: str) -> Verdict:
        """Whether ``instance_id`` is connectable now (``open``), not (``closed``) or gone."""
        with self.backend.lock:
            record = self.backend.settled_instance(instance_id)
            if record is None:
                return "unknown"
            return "open" if self._connectable(record) else "closed"

    def authenticate(self, instance_id: str, principal: object, credentials: object) -> Login:
        """Whether ``principal``/``credentials`` are the instance's user and password
        (``ok``, ``refused``), or the user is locked out for now (``locked``): Neo4j's
        answer to :data:`LOCK_AFTER` refusals in a row, for :data:`LOCK_FOR` seconds."""
        with self.backend.lock:
            record = self.backend.settled_instance(instance_id)
            password = "" if record is None else record.password
            now = self.backend.now()
            refused, last = self._refusals.get(instance_id, (0, 0.0))
            if refused >= LOCK_AFTER and now < last + LOCK_FOR:
                return "locked"
            if principal == USERNAME and _same(credentials, password):
                self._refusals.pop(instance_id, None)
                return "ok"
            self._refusals[instance_id] = (refused + 1, now)
            return "refused"

    def find_by_password(self, credentials: object) -> str | None:
        """The id of the one existing instance whose password is ``credentials``, else None.

        How a ``bolt://`` connection, which carries no routing context, names its instance.
        A password two instances shared (never, with 32 random bytes) would name neither.
        """
        with self.backend.lock:
            self.backend.settle_all()
            found = [
                record.id
                for record in self.backend.instances.values()
                if _same(credentials, record.password)
            ]
        return found[0] if len(found) == 1 else None

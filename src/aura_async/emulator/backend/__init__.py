"""The emulated Aura service: state, validation and the lifecycle engine, with no HTTP in sight.

Like moto's backends, this package knows nothing of requests and responses: each method takes
parsed JSON values, changes the stored records and returns them, or raises :class:`ApiError`
with the status, reason code and field the live service would use. The HTTP layer
(:mod:`aura_async.emulator.app`) renders what it returns.

As moto builds ``EC2Backend`` from one mixin per resource file, :class:`AuraBackend` is
composed of one mixin per resource family, each a subclass of the shared
:class:`~aura_async.emulator.backend.core.BackendCore` (state, ids, draws, the lifecycle
engine)::

    core.py              BackendCore: config, clock, records, seeded draws, lookups, and the
                         lifecycle engine (operations finish lazily, when next looked at)
    checks.py            reading request bodies; the 400/404/409 errors shared by the rules
    formats.py           ISO timestamps and Go durations, as the API writes them
    projects.py          ProjectsMixin: projects and their metrics endpoint
    instances.py         InstancesMixin: list, get, create, delete, sizing
    instance_changes.py  InstanceChangesMixin: update/resize, pause, resume, overwrite, upgrade
    snapshots.py         SnapshotsMixin: on-demand snapshots and restore
    keys.py              KeysMixin: customer managed keys
    sessions.py          SessionsMixin: graph-analytics sessions and their sizing

The mixins call only the core's methods, never one another's, so each reads on its own.
"""

from __future__ import annotations

from aura_async.emulator.backend.core import ORGANIZATION_ID
from aura_async.emulator.backend.formats import format_go_duration, iso, parse_go_duration
from aura_async.emulator.backend.instance_changes import InstanceChangesMixin
from aura_async.emulator.backend.instances import CreatedInstance, InstancesMixin
from aura_async.emulator.backend.keys import KeysMixin
from aura_async.emulator.backend.projects import ProjectsMixin
from aura_async.emulator.backend.sessions import SessionsMixin
from aura_async.emulator.backend.snapshots import SnapshotsMixin

__all__ = [
    "ORGANIZATION_ID",
    "AuraBackend",
    "CreatedInstance",
    "format_go_duration",
    "iso",
    "parse_go_duration",
]


class AuraBackend(
    ProjectsMixin,
    InstancesMixin,
    InstanceChangesMixin,
    SnapshotsMixin,
    KeysMixin,
    SessionsMixin,
):
    """The state of one emulated Aura account and the rules that change it.

    All public methods are synchronous and must be called with :attr:`lock` held when the
    backend is shared between threads (the HTTP app does so for every request).
    """

"""Many-instance operations: create, pause, resume, resize, snapshot and delete fleets.

``aura.fleet`` (:class:`Fleet`) runs them; :class:`InstanceSpec` says what to create,
:class:`Selector` which instances to act on, :class:`FileStore` keeps the ledger of intents
and credentials, and every call returns a :class:`FleetReport`.
"""

from aura_async.fleet.events import FleetFinished, FleetItemFinished, FleetStarted
from aura_async.fleet.fleet import Fleet, RecoveredEntry, RecoveryReport
from aura_async.fleet.report import ErrorPolicy, FleetItem, FleetReport, Outcome
from aura_async.fleet.selectors import Selector, parse_age
from aura_async.fleet.specs import DEFAULT_PATTERN, InstanceSpec, expand
from aura_async.fleet.store import (
    Credentials,
    CredentialStore,
    EntryState,
    FileStore,
    Intent,
    LedgerEntry,
    MemoryStore,
    default_store_directory,
    ensure_gitignored,
    read_env_file,
    write_env_file,
)

__all__ = [
    "DEFAULT_PATTERN",
    "CredentialStore",
    "Credentials",
    "EntryState",
    "ErrorPolicy",
    "FileStore",
    "Fleet",
    "FleetFinished",
    "FleetItem",
    "FleetItemFinished",
    "FleetReport",
    "FleetStarted",
    "InstanceSpec",
    "Intent",
    "LedgerEntry",
    "MemoryStore",
    "Outcome",
    "RecoveredEntry",
    "RecoveryReport",
    "Selector",
    "default_store_directory",
    "ensure_gitignored",
    "expand",
    "parse_age",
    "read_env_file",
    "write_env_file",
]

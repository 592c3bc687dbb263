"""The credential store: a ledger that never loses a one-time password or a created instance.

The API shows an instance's password once, in the answer to its create, and has no idempotency
key. So a fleet records an *intent* (what it is about to create) durably before sending the
POST, saves the *credentials* durably as soon as the answer is parsed, and *marks* each intent
with what became of it. After a crash, :meth:`CredentialStore.entries` lists every intent with
its state and credentials, so nothing created is ever unknown.

:class:`FileStore` keeps the ledger in a private directory (mode 0700, with a ``.gitignore`` of
``*`` so it is never committed)::

    intents/<intent_id>.json        the intent, its state, its instance id, when it last changed
    credentials/<instance_id>.json  the credentials, the intent they came from, when saved

Every file is human-readable JSON (``cat`` it), mode 0600, written atomically (a private
temporary file, fsynced, renamed over the final name, then the directory fsynced): a file is
either its old or its new version, never half of one, and it is on disk when the call
returns. Blocking I/O runs in a worker thread that cancellation waits for, so a write that has
started always finishes.

:class:`MemoryStore` has the same semantics without files, for tests and for callers who keep
the credentials themselves.

Also here: :func:`write_env_file` writes one instance's credentials as a ``.env`` file (mode
0600) and :func:`ensure_gitignored` makes sure git ignores it.

The modules, one concern each (import from this package, not from them):

    records.py     EntryState, Intent, Credentials, LedgerEntry, new_intent_id
    protocol.py    CredentialStore, what a fleet needs of a store
    ledger.py      DocumentLedger: the ledger's rules over JSON documents kept somewhere
    files.py       FileStore (documents in files), default_store_directory
    memory.py      MemoryStore (documents in a dict)
    documents.py   records as JSON documents and back; errors that never quote a value
    atomic.py      atomic, fsynced writes; private (0700) directories
    dotenv.py      write_env_file, read_env_file
    gitignore.py   ensure_gitignored: git check-ignore, else the ignore files' patterns
"""

from __future__ import annotations

from aura_async.fleet.store import atomic, gitignore
from aura_async.fleet.store.dotenv import read_env_file as read_env_file
from aura_async.fleet.store.dotenv import write_env_file
from aura_async.fleet.store.files import FileStore, default_store_directory
from aura_async.fleet.store.gitignore import ensure_gitignored
from aura_async.fleet.store.memory import MemoryStore
from aura_async.fleet.store.protocol import CredentialStore
from aura_async.fleet.store.records import (
    Credentials,
    EntryState,
    Intent,
    LedgerEntry,
    new_intent_id,
)

__all__ = [
    "CredentialStore",
    "Credentials",
    "EntryState",
    "FileStore",
    "Intent",
    "LedgerEntry",
    "MemoryStore",
    "default_store_directory",
    "ensure_gitignored",
    "new_intent_id",
    "write_env_file",
]

# The private names other modules imported from the single module this package replaced
# (``aura-async doctor`` asks the .gitignore checks itself), still importable from here.
_git_ignores = gitignore.git_ignores
_patterns_ignore = gitignore.patterns_ignore
_write_atomic = atomic.write_atomic
_fsync_directory = atomic.fsync_directory
_private_directory = atomic.private_directory
_reason = atomic.os_reason

"""Commands: ``fleet up|down|pause|resume|resize|snapshot|status|recover`` (``aura.fleet``).

Every verb checks its input before anything is sent (a bad spec file, selector or age exits
2 with nothing sent), runs the fleet call under the client's one rate budget with live
progress on a terminal (timestamped lines elsewhere, JSON lines with ``-o jsonl --events``),
and prints the report: a summary line and a table per item, ``FleetReport.to_json()`` as one
document, or one item per line with ``-o jsonl``. Exit codes: 0 every item ok, 3 some
failed, 1 none succeeded, 130 on Ctrl-C, 143 on SIGTERM.

Ctrl-C is turned into a cancel of the fleet call (not of whatever task happens to run), so
the fleet's shielded steps hold: creates already sent are carried to their answers and their
credentials saved, a ``--rollback`` deletes what was created, and the ledger says what
exists. A second Ctrl-C quits at once (``fleet recover`` accounts for what that cut short).
"""

from __future__ import annotations

import click

from aura_async.cli.commands.fleet_changes import (
    down,
    pause,
    recover,
    resize,
    resume,
    snapshot,
    status,
)
from aura_async.cli.commands.fleet_up import up
from aura_async.fleet.specs import load_spec_file

# load_spec_file lives in fleet.specs; it stays importable from here.
__all__ = ["load_spec_file", "register"]


@click.group()
def fleet() -> None:
    """Many instances at once: up, down, pause, resume, resize, snapshot, status, recover.

    Choose instances with --id, --prefix, --glob, --older-than and --ledger (all must
    match), or --all. Creates record every intent and password in the credential store
    (--credentials-dir) before anything else happens.
    """


# The verbs live in fleet_up.py and fleet_changes.py. The group is whole before register()
# puts it on the root, whose add_command labels each subcommand's help.
for _command in (up, down, pause, resume, resize, snapshot, status, recover):
    fleet.add_command(_command)


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    root.add_command(fleet)

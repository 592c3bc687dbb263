"""The ``aura-async`` command line (``python -m aura_async`` too); see :mod:`aura_async.cli.app`."""

from aura_async.cli.app import cli, main

__all__ = ["cli", "main"]

"""aura-async: an asyncio SDK, command line and local emulator for the Neo4j Aura API.

The SDK surface arrives with the client; today the package ships the emulator
(:mod:`aura_async.emulator`), which everything else is built and tested against.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"

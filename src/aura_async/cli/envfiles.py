"""``.env`` files written as credentials are saved: see :mod:`aura_async.fleet.envfiles`.

The command's ``--env-file`` and ``--env-dir`` and the MCP server's ``write_env_files`` share
them; they live beside the credential store, below both front ends.
"""

from __future__ import annotations

from aura_async.fleet.envfiles import (
    EnvFileStore,
    env_file_in,
    prepare_env_dir,
    prepare_env_file,
)

__all__ = ["EnvFileStore", "env_file_in", "prepare_env_dir", "prepare_env_file"]

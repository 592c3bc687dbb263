"""The driver of a worker process that talks one line at a time on its standard streams.

The parent starts the process with pipes for stdin and stdout (``text=True``), waits for the
line each step announces (``ready``, ``result {json}``...) and answers with lines of its own
(``go``). Reading never blocks past the caller's deadline, so a worker that hangs is reported
rather than waited for forever.

Used by tests/shared_limit/test_processes.py and benchmarks/shared_limit.py; standard library
only, so that the benchmarks can load this file by its path.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from dataclasses import dataclass, field

__all__ = ["WorkerExited", "WorkerPipe", "WorkerSilent"]


class WorkerSilent(RuntimeError):
    """The worker printed no line with the awaited prefix by the deadline."""

    def __init__(self, name: str, prefix: str) -> None:
        super().__init__(f"worker {name} said no {prefix!r} in time")
        self.prefix = prefix


class WorkerExited(RuntimeError):
    """The worker closed its stdout (it exited) before printing the awaited line."""

    def __init__(self, name: str, prefix: str, code: int) -> None:
        super().__init__(f"worker {name} exited ({code}) before {prefix!r}")
        self.prefix = prefix
        self.code = code


@dataclass
class WorkerPipe:
    """One worker process, and every complete line it printed so far."""

    name: str
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    _buffer: str = ""

    def read_until(self, prefix: str, deadline: float) -> str:
        """The first line printed that starts with ``prefix``, read until it comes.

        A line printed earlier counts. ``deadline`` is on ``time.monotonic()``.

        Raises:
            WorkerSilent: the deadline passed first.
            WorkerExited: the worker's stdout closed first (the process has been reaped).
        """
        for line in self.lines:
            if line.startswith(prefix):
                return line
        stdout = self.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WorkerSilent(self.name, prefix)
                if not selector.select(min(left, 1.0)):
                    continue
                chunk = os.read(fd, 65536).decode(errors="replace")
                if not chunk:
                    raise WorkerExited(self.name, prefix, self.process.wait())
                self._buffer += chunk
                *complete, self._buffer = self._buffer.split("\n")
                self.lines += complete
                for line in complete:
                    if line.startswith(prefix):
                        return line

    def send(self, line: str) -> None:
        """Write one line to the worker's stdin."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def close_streams(self) -> None:
        """Close the parent's ends of the worker's stdin and stdout."""
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

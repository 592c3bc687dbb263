"""Helpers shared by the test suite and the benchmarks.

- :mod:`tests.support.raw`: another client of the emulator (Terraform, the console, a
  colleague): raw httpx with its own token, for tests that change things behind the SDK's back.
- :mod:`tests.support.workers`: the driver of a worker process that talks one line at a time
  on its standard streams (the multi-process tests and ``benchmarks/shared_limit.py``).

Both use the standard library and httpx only, never pytest, so that the benchmarks, which do
not import the ``tests`` package, can load ``workers.py`` by its path.
"""

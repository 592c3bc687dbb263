"""One invocation's runtime: the client it talks through, its printer, and how it ends.

Every command body is an async function run by :meth:`Runtime.run`, which maps what can go
wrong to the documented exit codes (0 success, 1 failure, 2 usage error, 3 partial fleet
failure, 130 interrupted) with a one-line message and no traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import anyio
import anyio.abc
import attrs
import click
import httpx

from aura_async.cli.config import CliOptions, profile_value, resolve_settings
from aura_async.cli.output import Output, safe
from aura_async.client import AuraClient
from aura_async.config import ClientSettings
from aura_async.errors import AuraError, ConfigurationError, FleetError, ValidationError
from aura_async.fleet.store import FileStore
from aura_async.lifecycle.operations import PollPolicy
from aura_async.policies import RateLimit

if TYPE_CHECKING:
    from aura_async.emulator.presets import Preset

__all__ = [
    "DEFAULT_CREDENTIALS_DIR",
    "EMULATOR_SCALE",
    "EXIT",
    "Runtime",
    "Terminated",
    "interruptible",
]

T = TypeVar("T")

DEFAULT_CREDENTIALS_DIR = "aura-credentials"
EXIT = {"ok": 0, "failure": 1, "usage": 2, "partial": 3, "interrupted": 130, "terminated": 143}
# With --emulator, an emulated minute passes in half a real second: a create takes a second.
EMULATOR_SCALE = 120.0


class PartialFailure(Exception):
    """Some items of a fleet command failed (exit 3); the report was printed."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what CI sends on cancel) arrived: handled as Ctrl-C is, then exit 143."""


def in_ci(environ: dict[str, str] | None = None) -> bool:
    """Whether this runs in CI (the ``CI`` variable most CI systems set)."""
    value = (environ if environ is not None else os.environ).get("CI", "")
    return value.lower() not in ("", "0", "false", "no")


@attrs.define(eq=False)
class Runtime:
    """What every command gets: settings, printer, safety switches, and the client."""

    options: CliOptions
    output: Output
    emulator: bool = False
    emulator_preset: str = "live"
    emulator_seed: int | None = None
    yes: bool = False
    credentials_dir: str | None = None
    time_scale: float | None = None
    listeners: list[Callable[[object], None]] = attrs.Factory(list)
    # The credential store the command opened, read again after an interruption to say
    # what it created.
    ledger: FileStore | None = None
    _scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def scale(self) -> float:
        """How many times faster the API's clock runs than real time (1 for the real API)."""
        if self.emulator:
            return self.time_scale or EMULATOR_SCALE
        return self.time_scale or 1.0

    @property
    def ledger_is_temporary(self) -> bool:
        """Whether the credentials go to a temporary directory (the embedded emulator's)."""
        return self._scratch is not None

    def on_event(self, event: object) -> None:
        """Hand an event to the live display, if any, else print it."""
        if self.listeners:
            for listener in self.listeners:
                listener(event)
        else:
            self.output.event(event)

    def store(self) -> FileStore:
        """The credential store: ``--credentials-dir``, the profile's, or ./aura-credentials.

        Raises:
            ConfigurationError: the config file cannot be read (for its profile's directory).
        """
        if self.credentials_dir is None and not self.emulator:
            self.credentials_dir = profile_value(self.options, "credentials_dir")
        if self.credentials_dir is None and self.emulator:
            # The embedded emulator's instances end with the command: their passwords go to
            # a temporary directory, not among the real ones in ./aura-credentials.
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="aura-emulator-")
            directory = Path(self._scratch.name) / "credentials"
            self.ledger = FileStore(directory)
            return self.ledger
        directory = Path(self.credentials_dir or DEFAULT_CREDENTIALS_DIR).expanduser()
        self.ledger = FileStore(directory)
        return self.ledger

    def poll_policy(self) -> PollPolicy | None:
        """The waits' policy on the API's clock (None: the default, for real time)."""
        return PollPolicy().scaled(1 / self.scale) if self.scale != 1.0 else None

    def check_verifiable(self) -> None:
        """Refuse ``--verify`` where nothing could answer: an embedded emulator whose preset
        serves no Bolt (``ideal``), whose connection URLs name no real host.

        Raises:
            click.UsageError: so.
        """
        if not self.emulator:
            return
        from aura_async.emulator.presets import behaviour

        preset = cast("Preset", self.emulator_preset)  # click checked the choice
        if not behaviour(preset, self.emulator_seed or 0).bolt:
            raise click.UsageError(
                f"the {self.emulator_preset} preset of the embedded emulator serves no Bolt: "
                "--verify needs --emulator-preset live or chaos"
            )

    @asynccontextmanager
    async def client(self) -> AsyncIterator[AuraClient]:
        """An AuraClient for the configured account, or for the embedded emulator.

        Raises:
            ConfigurationError: missing credentials or a malformed setting.
        """
        transport: httpx.AsyncBaseTransport | None = None
        poll: PollPolicy | None = None
        bolt: contextlib.AbstractAsyncContextManager[object] = contextlib.nullcontext()
        if self.emulator:
            settings, transport, bolt = _embedded(self, self.scale)
        else:
            settings, _ = resolve_settings(self.options)
        if self.scale != 1.0:
            poll = self.poll_policy()
            limit = settings.rate_limit
            if not self.emulator and limit is not None:
                # The API's window is a minute of its own clock.
                rate = RateLimit(limit.limit, limit.period / self.scale)
                settings = attrs.evolve(settings, rate_limit=rate)
        async with (
            bolt,
            AuraClient(
                settings=settings, transport=transport, on_event=self.on_event, poll=poll
            ) as aura,
        ):
            yield aura

    def confirm(self, question: str) -> None:
        """Ask before something irreversible; ``--yes`` answers for the user.

        Raises:
            click.UsageError: standard input is not a terminal and ``--yes`` was not given.
            click.Abort: the user said no.
        """
        if self.yes:
            return
        if not sys.stdin.isatty():
            raise click.UsageError(f"{question} Refusing without --yes (not a terminal).")
        # While the prompt blocks the event loop, the loop cannot take Ctrl-C: let Python's
        # own handler take it (nothing is in flight at a prompt).
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            answer = click.confirm(question, default=False, err=True)
        finally:
            signal.signal(signal.SIGINT, previous)
        if not answer:
            raise click.Abort()

    def run(self, body: Callable[[], Awaitable[Any]]) -> NoReturn:
        """Run a command body and exit with its code; never lets a traceback out for a
        user's mistake or a service failure."""
        began = dt.datetime.now(dt.UTC)

        def notice(name: str) -> None:
            self.output.errors.print(
                f"{name}: finishing what was already sent and saving credentials "
                "(Ctrl-C again to quit at once)",
                highlight=False,
                style="yellow",
            )

        try:
            code = self._outcome(body, notice, began)
        finally:
            if self._scratch is not None:
                self._scratch.cleanup()
        sys.exit(code)

    def _outcome(
        self,
        body: Callable[[], Awaitable[Any]],
        notice: Callable[[str], None],
        began: dt.datetime,
    ) -> int:
        """Run the body; return the exit code of how it ended (errors printed)."""
        code = EXIT["ok"]
        try:
            anyio.run(interruptible, body, notice)
        except Terminated:
            self.output.errors.print("terminated (SIGTERM)", highlight=False)
            _report_interrupted(self, began)
            code = EXIT["terminated"]
        except KeyboardInterrupt:
            self.output.errors.print("interrupted", highlight=False)
            _report_interrupted(self, began)
            code = EXIT["interrupted"]
        except PartialFailure:
            code = EXIT["partial"]
        except (ValidationError, ConfigurationError) as error:
            _fail(self.output, str(error))
            code = EXIT["usage"]
        except FleetError as error:
            _fail(self.output, str(error))
            code = EXIT["partial"]
        except AuraError as error:
            _fail(self.output, str(error))
            code = EXIT["failure"]
        except BaseExceptionGroup as group:  # several tasks failed at once
            first = _first_aura_error(group)
            if first is None:
                raise
            _fail(self.output, str(first))
            code = EXIT["failure"]
        return code


def _recover_command(rt: Runtime, ledger: FileStore) -> str:
    """The exact ``fleet recover`` command for this run's account and ledger."""
    options = rt.options
    words = ["aura-async"]
    for flag, value in (
        ("--profile", options.profile),
        ("--config", options.config),
        ("--base-url", options.base_url),
        ("--auth-url", options.auth_url),
        ("--client-id", options.client_id),
        ("--client-secret-file", options.client_secret_file),
        ("--tenant-id", options.tenant_id),
        ("--credentials-dir", ledger.location),
    ):
        if value:
            words += [flag, str(value)]
    words += ["fleet", "recover"]
    return shlex.join(words)


def _report_interrupted(rt: Runtime, began: dt.datetime) -> None:
    """Say what the interrupted command created, where its credentials are, and how to
    account for the rest (the ledger is the record: the fleet's own report never came)."""
    ledger = rt.ledger
    if ledger is None:
        return
    try:
        entries = anyio.run(ledger.entries)
    except (AuraError, OSError) as error:
        rt.output.warn(f"could not read the ledger in {ledger.location}: {error}")
        return
    touched = [e for e in entries if e.updated_at >= began]
    for entry in touched:
        where = entry.instance_id or "no instance known yet"
        rt.output.errors.print(
            safe(f"  {entry.name}: {where} ({entry.state.value})"), highlight=False
        )
    if rt.emulator:
        # The embedded emulator ends with the command: nothing of it is left to recover.
        return
    if touched:
        rt.output.errors.print(
            safe(f"credentials saved in {ledger.location}"), highlight=False, markup=False
        )
    rt.output.errors.print(
        safe(f"to account for everything it may have created: {_recover_command(rt, ledger)}"),
        highlight=False,
        markup=False,
    )


def _first_aura_error(group: BaseExceptionGroup[BaseException]) -> AuraError | None:
    for error in group.exceptions:
        if isinstance(error, AuraError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = _first_aura_error(error)
            if found is not None:
                return found
    return None


async def interruptible(call: Callable[[], Awaitable[T]], notice: Callable[[str], None]) -> T:
    """Await ``call``; a Ctrl-C or SIGTERM cancels it as a cancel scope would, then raises.

    asyncio's own Ctrl-C handling cancels the main task natively, which goes through anyio's
    shields (a rollback, a credentials write in that task). Here the first SIGINT (or
    SIGTERM, what CI sends on cancel) cancels a scope around the call instead, so every
    shield holds, and is then re-raised as KeyboardInterrupt (exit 130) or
    :class:`Terminated` (exit 143). The default handlers are back in place as soon as the
    first signal is taken: a second one stops at once. (Off the main thread, or where the
    loop cannot take signals, the call simply runs.)

    Raises:
        Terminated: SIGTERM arrived; the call's cancellation has finished.
        KeyboardInterrupt: Ctrl-C was pressed; the call's cancellation has finished.
    """
    if threading.current_thread() is not threading.main_thread() or sys.platform == "win32":
        return await call()
    received: signal.Signals | None = None
    results: list[T] = []
    failure: Exception | None = None

    async with anyio.create_task_group() as tg:

        async def watch(*, task_status: anyio.abc.TaskStatus[None]) -> None:
            nonlocal received
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                task_status.started()
                async for number in signals:
                    received = signal.Signals(number)
                    break
            notice("terminated" if received == signal.SIGTERM else "interrupted")
            tg.cancel_scope.cancel()

        await tg.start(watch)
        try:
            results.append(await call())
        except Exception as error:  # raised as it is, not in a group of the watcher's
            failure = error
        finally:
            tg.cancel_scope.cancel()
    if received == signal.SIGTERM:
        raise Terminated from failure
    if received is not None:
        raise KeyboardInterrupt from failure
    if failure is not None:
        raise failure
    return results[0]


def _fail(output: Output, message: str) -> None:
    output.error(message)


def _embedded(
    rt: Runtime, scale: float
) -> tuple[
    ClientSettings, httpx.AsyncBaseTransport, contextlib.AbstractAsyncContextManager[object]
]:
    """Settings and an in-process transport for the embedded emulator, in ``rt``'s preset,
    and its Bolt listener on loopback (to enter for as long as the client lives) when the
    preset serves Bolt, so that ``--verify`` connects with the official driver.

    A chaos run says its seed first, so a failure can be replayed.

    Raises:
        ConfigurationError: the emulator's dependencies are not installed.
    """
    try:
        from aura_async.emulator import (
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_PROJECT_ID,
            BoltListener,
            EmulatorConfig,
            create_app,
        )
    except ModuleNotFoundError as error:
        raise ConfigurationError(
            f"the embedded emulator needs its server dependencies ({error.name})",
            hint="pip install 'aura-async[emulator]'",
        ) from None
    options = rt.options
    config = EmulatorConfig(
        preset=cast("Preset", rt.emulator_preset),  # click checked the choice
        time_scale=scale,
        seed=rt.emulator_seed,
    )
    if config.preset == "chaos":
        # On stderr in every output mode, even quiet: without the seed no failure replays.
        rt.output.warn(
            f"emulator: chaos seed {config.seed} (replay: --emulator-preset chaos "
            f"--emulator-seed {config.seed})"
        )
    app = create_app(config)
    # The emulator counts 125 per emulated minute; a smaller limit asked for is kept.
    limit = RateLimit.parse(options.rate_limit) if options.rate_limit else RateLimit.paid()
    settings = ClientSettings(
        client_id=DEFAULT_CLIENT_ID,
        client_secret=DEFAULT_CLIENT_SECRET,
        tenant_id=options.tenant_id or DEFAULT_PROJECT_ID,
        base_url="http://emulator.invalid",
        rate_limit=RateLimit(limit.limit, limit.period / scale),
    )
    bolt: contextlib.AbstractAsyncContextManager[object] = contextlib.nullcontext()
    if config.bolt:
        bolt = BoltListener(app.state.emulator)
    return settings, httpx.ASGITransport(app=app), bolt

"""Commands: ``regions``, ``doctor``, ``emulator serve`` and ``demo``."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import click
from dotenv import dotenv_values
from rich.text import Text

from aura_async._durations import format_human_duration
from aura_async.cli.commands._common import pass_runtime, run
from aura_async.cli.config import (
    CliOptions,
    NamedCredentials,
    default_config_path,
    load_profile,
)
from aura_async.cli.output import safe
from aura_async.cli.progress import live_progress
from aura_async.cli.runtime import DEFAULT_CREDENTIALS_DIR, PartialFailure, Runtime
from aura_async.client import AuraClient
from aura_async.errors import AuraError, ConfigurationError, ValidationError
from aura_async.fleet import FileStore, FleetReport, InstanceSpec, Outcome, Selector
from aura_async.fleet.store import _git_ignores, _patterns_ignore
from aura_async.lifecycle.connectivity import load_driver
from aura_async.models import InstanceConfiguration
from aura_async.policies import RateLimit

__all__ = ["credential_sources", "register"]


# ----------------------------------------------------------------------------- regions


@click.command()
@click.option("--type", "type_", metavar="TYPE", help="Only this instance type (free-db, ...).")
@click.option("--cloud-provider", metavar="CLOUD", help="Only this cloud (gcp, aws, azure).")
@click.option("--region", metavar="REGION", help="Only this region (europe-west1, ...).")
@pass_runtime
def regions(rt: Runtime, type_: str | None, cloud_provider: str | None, region: str | None) -> None:
    """What the project may create: instance types, clouds, regions and memory sizes.

    Read from the API (the project's instance configurations); with --emulator, from the
    embedded emulator. The table groups the sizes of each type and region; --output json
    lists every configuration with the API's field names.
    """

    async def body() -> None:
        async with rt.client() as aura:
            project = await aura.tenants.get(await _project_id(aura))
        wanted = {"type": type_, "cloud_provider": cloud_provider, "region": region}
        chosen = [
            config
            for config in project.instance_configurations
            if all(
                value is None or str(getattr(config, key)).lower() == value.lower()
                for key, value in wanted.items()
            )
        ]
        if not chosen and project.instance_configurations:
            offered = sorted({str(c.type) for c in project.instance_configurations})
            rt.output.note(f"no configuration matches; the project offers: {', '.join(offered)}")
        if rt.output.mode == "table":
            rt.output.result(
                _grouped(chosen),
                columns=["type", "cloud_provider", "region", "region_name", "memory"],
            )
        else:
            rt.output.result(chosen)

    run(rt, body)


async def _project_id(aura: AuraClient) -> str:
    """The configured project, or the only one these credentials see.

    Raises:
        ValidationError: none configured and not exactly one visible.
    """
    if aura.tenant_id is not None:
        return aura.tenant_id
    projects = await aura.tenants.list()
    if len(projects) == 1:
        return projects[0].id
    raise ValidationError(
        f"these credentials see {len(projects)} projects; choose one",
        field="tenant_id",
        hint="Pass --tenant-id or set AURA_TENANT_ID (aura-async tenant list shows them)",
    )


def _grouped(configs: list[InstanceConfiguration]) -> list[dict[str, str]]:
    """One row per (type, cloud, region), its memory sizes smallest first."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for config in configs:
        key = (str(config.type), str(config.cloud_provider), config.region)
        row = rows.setdefault(
            key,
            {
                "type": key[0],
                "cloud_provider": key[1],
                "region": key[2],
                "region_name": config.region_name,
                "memory": [],
            },
        )
        if config.memory not in row["memory"]:
            row["memory"].append(config.memory)
    return [{**row, "memory": " ".join(sorted(row["memory"], key=_size))} for row in rows.values()]


def _size(memory: str) -> tuple[int, str]:
    digits = memory.removesuffix("GB")
    return (int(digits), memory) if digits.isdigit() else (sys.maxsize, memory)


# ----------------------------------------------------------------------------- doctor


def credential_sources(
    options: CliOptions,
    *,
    environ: Mapping[str, str] | None = None,
    dotenv: Path = Path(".env"),
) -> dict[str, str | None]:
    """Where the client id and secret would come from, by the command's precedence.

    Flags, then the environment, then ``.env``, then the profile, then the profile's stored
    credential (``credential use``: its name, and the keyring or the file holding its secret);
    None where nothing gives one. It names places only and never reads out a value.

    Raises:
        ConfigurationError: the config file or profile cannot be read.
    """
    environ = os.environ if environ is None else environ
    explicit = options.config is not None
    path = Path(options.config).expanduser() if options.config else default_config_path(environ)
    profile = load_profile(path, options.profile, explicit=explicit)
    from_file = {k: v for k, v in dotenv_values(dotenv).items() if v} if dotenv.is_file() else {}
    where_profile = f"profile {options.profile or 'default'!r} in {path}"
    found: dict[str, str | None] = {}
    for key, variable, flag in (
        ("client_id", "AURA_CLIENT_ID", options.client_id and "--client-id"),
        (
            "client_secret",
            "AURA_CLIENT_SECRET",
            options.client_secret_file and f"--client-secret-file {options.client_secret_file}",
        ),
    ):
        if flag:
            found[key] = f"flag {flag}"
        elif environ.get(variable):
            found[key] = f"environment ({variable})"
        elif from_file.get(variable):
            found[key] = f".env ({variable})"
        elif profile.get(key):
            found[key] = where_profile
        elif key == "client_secret" and profile.get("client_secret_file"):
            found[key] = f"{where_profile} (client_secret_file)"
        else:
            found[key] = None
    if found["client_id"] is None and found["client_secret"] is None and profile.get("credential"):
        # The stored credential (`credential use`): its name and where its secret is kept.
        store = NamedCredentials(path)
        chosen = store.get(profile["credential"])
        found["client_id"] = f"credential {chosen.name!r} ({where_profile})"
        found["client_secret"] = f"credential {chosen.name!r}: {chosen.where(store)}"
    return found


@attrs.frozen
class _Check:
    name: str
    status: str  # ok, FAIL, skip
    detail: str


@click.command()
@pass_runtime
def doctor(rt: Runtime) -> None:
    """Check the setup: credentials, a token, the rate limit, .env and the credential store.

    Prints one line per check and exits 1 if any fails. It never prints a secret.
    """

    async def body() -> None:
        checks = await _doctor_checks(rt)
        if rt.output.mode == "table":
            for check in checks:
                if rt.output.quiet and check.status != "FAIL":
                    continue
                style = {"ok": "green", "FAIL": "bold red"}.get(check.status, "dim")
                # Text, not markup: a detail quotes paths and messages ("[/b]" is data).
                line = Text.assemble(
                    (f"{check.status:<4}", style), f" {safe(check.name)}: {safe(check.detail)}"
                )
                rt.output.console.print(line, highlight=False)
        else:
            rt.output.result(checks)
        failed = [check.name for check in checks if check.status == "FAIL"]
        if failed:
            raise AuraError(f"{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")

    run(rt, body)


async def _doctor_checks(rt: Runtime) -> list[_Check]:
    checks = [_credentials_check(rt)]
    # A token, and the API answering with it.
    rate: RateLimit | None = None
    try:
        async with rt.client() as aura:
            rate = aura.limiter.rate if aura.limiter is not None else None
            where = "the embedded emulator" if rt.emulator else aura.settings.base_url
            try:
                projects = await aura.tenants.list()
            except AuraError as error:
                checks.append(_Check("api", "FAIL", f"{where}: {error}"))
            else:
                checks.append(
                    _Check("api", "ok", f"{where}: token fetched, {len(projects)} project(s) seen")
                )
    except ConfigurationError as error:  # the settings themselves (missing or malformed)
        status = "skip" if checks[0].status == "FAIL" else "FAIL"
        checks.append(_Check("api", status, f"no client: {error}"))
    # Under --time-scale (or --emulator) the client's window runs on the API's clock.
    checks.append(_rate_check(rate, rt.scale, emulator=rt.emulator))
    checks.extend(_local_checks(rt))
    checks.append(_driver_check())
    return checks


def _driver_check() -> _Check:
    """Whether ``--verify`` can run: the official driver is an optional extra."""
    try:
        neo4j = load_driver()
    except ConfigurationError:
        return _Check(
            "neo4j driver", "skip", "not installed: --verify needs pip install 'aura-async[verify]'"
        )
    return _Check("neo4j driver", "ok", f"{neo4j.__version__} (--verify can connect)")


def _local_checks(rt: Runtime) -> list[_Check]:
    """The checks of files on this machine: .env and the credential store."""
    try:
        store = rt.store().directory  # --credentials-dir, the profile's, or the default
    except AuraError:  # the config file: the credentials check says what is wrong with it
        store = Path(rt.credentials_dir or DEFAULT_CREDENTIALS_DIR).expanduser()
    return [_dotenv_check(Path(".env")), _store_check(store)]


def _credentials_check(rt: Runtime) -> _Check:
    """Where the credentials come from (never what they are)."""
    if rt.emulator:
        return _Check("credentials", "ok", "the embedded emulator's own (--emulator)")
    try:
        sources = credential_sources(rt.options)
    except AuraError as error:
        return _Check("credentials", "FAIL", str(error))
    missing = [
        variable
        for key, variable in (
            ("client_id", "AURA_CLIENT_ID"),
            ("client_secret", "AURA_CLIENT_SECRET"),
        )
        if sources[key] is None
    ]
    if missing:
        return _Check(
            "credentials",
            "FAIL",
            f"missing {' and '.join(missing)}: set them in the environment or .env, or use "
            "--client-id and --client-secret-file, or a profile",
        )
    return _Check(
        "credentials",
        "ok",
        f"client id from {sources['client_id']}; secret from {sources['client_secret']}",
    )


def _rate_check(rate: RateLimit | None, scale: float, *, emulator: bool) -> _Check:
    """The rate limit the client keeps, and a hint for free and trial accounts."""
    if rate is None:
        return _Check("rate limit", "skip", "no client, or the client keeps no limit")
    # Under a compressed clock the limit is per emulated period: 125/0.5s at x120 is 125/min.
    per_minute = round(rate.limit * 60 / (rate.period * scale), 6)
    shown = str(rate) if scale == 1 else f"{rate} real, {per_minute:g} per emulated minute"
    if per_minute == RateLimit.PAID_LIMIT:
        tier = "the paid tier"
    elif per_minute == RateLimit.FREE_LIMIT:
        tier = "the free/trial tier"
    else:
        tier = "a custom limit"
    hint = ""
    if per_minute > RateLimit.FREE_LIMIT and not emulator:
        hint = (
            "; free and trial accounts allow only 25/min: there use --rate-limit free "
            "(or AURA_RATE_LIMIT=free)"
        )
    return _Check("rate limit", "ok", f"{shown}: {tier}{hint}")


def _dotenv_check(dotenv: Path) -> _Check:
    """Whether git ignores ``.env`` in the working directory (nothing is changed)."""
    if not dotenv.is_file():
        return _Check(".env", "skip", "no .env in the working directory")
    target = dotenv.resolve()
    root = next((d for d in target.parents if (d / ".git").exists()), None)
    if root is None:
        return _Check(".env", "ok", "not inside a git work tree")
    relative = target.relative_to(root).as_posix()
    ignored = _git_ignores(root, relative)
    if ignored is None:
        ignored = _patterns_ignore(root, relative)
    if ignored:
        return _Check(".env", "ok", f"{relative} is ignored by git")
    return _Check(
        ".env",
        "FAIL",
        f"{relative} is NOT ignored by git and may hold secrets: add '.env' to "
        f"{root / '.gitignore'}",
    )


def _store_check(directory: Path) -> _Check:
    """Whether the credential store's directory is private (0700), if it exists."""
    if not directory.exists():
        return _Check("credential store", "skip", f"{directory} not created yet (made 0700)")
    mode = stat.S_IMODE(directory.stat().st_mode)
    if mode & 0o077:
        return _Check(
            "credential store",
            "FAIL",
            f"{directory} is mode {mode:04o}: others may list it; chmod 700 {directory}",
        )
    return _Check("credential store", "ok", f"{directory} is private ({mode:04o})")


# ----------------------------------------------------------------------------- emulator


@click.group()
def emulator() -> None:
    """The local emulator of the Aura API."""


@emulator.command(
    "serve",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def emulator_serve(args: tuple[str, ...]) -> None:
    """Serve the emulator until interrupted (the flags of python -m aura_async.emulator;
    see aura-async emulator serve --help)."""
    from aura_async.emulator.__main__ import main as emulator_main

    sys.exit(emulator_main(list(args)))


# ----------------------------------------------------------------------------- demo

# Two emulated minutes per real second: on the live preset's durations (a few stragglers
# three times slower than the median) the story takes 15-20 s.
DEMO_SCALE = 120.0
DEMO_SPEC = InstanceSpec(
    name="demo",
    type="professional-db",
    cloud_provider="gcp",
    region="europe-west1",
    memory="2GB",
)


@click.command()
@click.option("--count", default=20, show_default=True, hidden=True, type=click.IntRange(3, 500))
@pass_runtime
def demo(rt: Runtime, count: int) -> None:
    """A fleet of 20 on the embedded emulator: create, pause, resume, resize, snapshot, delete.

    Always runs on an emulator inside the command (no account, nothing leaves the machine),
    whose clock runs 120 times faster (--time-scale changes it), in the live preset: the
    behaviours the live service shows (--emulator-preset ideal or chaos changes it).
    Passwords go to a temporary credential store (or --credentials-dir) and are never
    printed.
    """
    rt.emulator = True
    rt.options = attrs.evolve(rt.options, tenant_id=None)
    if rt.time_scale is None:
        rt.time_scale = DEMO_SCALE

    async def body() -> None:
        with _demo_store(rt.credentials_dir) as store:
            reports = await _story(rt, count, store)
        _summary(rt, reports)
        if not all(report.ok for report in reports):
            raise PartialFailure()

    run(rt, body)


@contextlib.contextmanager
def _demo_store(directory: str | None) -> Iterator[FileStore]:
    if directory is not None:
        yield FileStore(Path(directory).expanduser())
        return
    with tempfile.TemporaryDirectory(prefix="aura-demo-") as temporary:
        yield FileStore(Path(temporary) / "credentials")


async def _story(rt: Runtime, count: int, store: FileStore) -> list[FleetReport]:
    def say(text: str) -> None:
        # Notes print one line each (escaped); the story's blank lines are its own.
        for line in text.split("\n"):
            rt.output.note(line)

    few = min(3, count)
    say(
        f"aura-async demo: {count} Aura instances on an emulator inside this command (no "
        f"account needed), its clock {rt.scale:g} times faster than real time."
    )
    reports: list[FleetReport] = []
    verify = _verifies(rt)
    async with rt.client() as aura:
        if verify:
            say(
                f"\n1. Create {count} instances (demo-01..), wait until all run, and connect "
                "to each with the neo4j driver and its saved password"
            )
        else:
            say(f"\n1. Create {count} instances (demo-01..) and wait until all run")
        budget = aura.limiter.rate if aura.limiter is not None else None

        async def step(operation: str, call: Callable[[], Awaitable[FleetReport]]) -> FleetReport:
            # On a terminal a live display; elsewhere the events print as lines.
            with live_progress(rt.output, rt.listeners, operation, budget=budget):
                report = await call()
            reports.append(report)
            say(f"   {report.summary()}")
            return report

        # One failed create (a service may fail one) must not stop the others.
        created = await step(
            "create",
            lambda: aura.fleet.create(
                DEMO_SPEC,
                count=count,
                pattern="demo-{n:02d}",
                store=store,
                on_error="continue",
                verify=verify,
            ),
        )
        say(f"   passwords saved in {store.location}, never printed")
        # Each step goes on with the instances the step before left where it should.
        ids = _succeeded(created)
        if ids:
            say(f"\n2. Pause all {len(ids)}")
            ids = _succeeded(await step("pause", lambda: aura.fleet.pause(ids)))
        if ids:
            say(f"\n3. Resume all {len(ids)}")
            ids = _succeeded(await step("resume", lambda: aura.fleet.resume(ids)))
        if ids:
            few = min(few, len(ids))
            say(f"\n4. Resize {few} of them from 2GB to 4GB")
            await step("resize", lambda: aura.fleet.resize(ids[:few], memory="4GB"))
            say(f"\n5. Snapshot {few} of them")
            await step("snapshot", lambda: aura.fleet.snapshot(ids[:few]))
        say("\n6. Tear down everything in the ledger")
        await step("delete", lambda: aura.fleet.delete(Selector(ledger=store)))
    return reports


def _verifies(rt: Runtime) -> bool:
    """Whether the demo's creates can be verified: the neo4j driver is installed (the
    ``verify`` extra) and the emulator's preset serves Bolt (``live`` and ``chaos`` do)."""
    try:
        load_driver()
        rt.check_verifiable()
    except (ConfigurationError, click.UsageError):
        return False
    return True


def _succeeded(report: FleetReport) -> list[str]:
    """The ids of the items a fleet call left where it should (succeeded or skipped)."""
    ok = (Outcome.SUCCEEDED, Outcome.SKIPPED)
    return [i.instance_id for i in report.items if i.outcome in ok and i.instance_id]


def _summary(rt: Runtime, reports: list[FleetReport]) -> None:
    rows = [_row(report.operation, report, rt.scale) for report in reports]
    elapsed = sum(report.elapsed for report in reports)
    rows.append(
        {
            "step": "total",
            "items": None,
            "outcomes": "",
            "requests": sum(report.requests for report in reports),
            "rate_limited": sum(report.rate_limited for report in reports),
            "real_seconds": round(elapsed, 2),
            "real": f"{elapsed:.1f}s",
            "emulated_seconds": round(elapsed * rt.scale, 1),
            "emulated": format_human_duration(elapsed * rt.scale),
        }
    )
    rt.output.note("")
    rt.output.result(
        rows,
        columns=["step", "items", "outcomes", "requests", "emulated", "real"],
        title="aura-async demo",
    )


def _row(step: str, report: FleetReport, scale: float) -> dict[str, Any]:
    return {
        "step": step,
        "items": len(report.items),
        "outcomes": ", ".join(f"{n} {outcome.value}" for outcome, n in report.totals.items()),
        "requests": report.requests,
        "rate_limited": report.rate_limited,
        "real_seconds": round(report.elapsed, 2),
        "real": f"{report.elapsed:.1f}s",
        "emulated_seconds": round(report.elapsed * scale, 1),
        "emulated": format_human_duration(report.elapsed * scale),
    }


def register(root: click.Group) -> None:
    """Add this module's commands to ``root``."""
    for command in (regions, doctor, emulator, demo):
        root.add_command(command)

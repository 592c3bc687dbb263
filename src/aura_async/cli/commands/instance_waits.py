"""Commands: ``instance wait`` and ``instance verify``, for instances started elsewhere: wait
until they reach a status, or connect to one with its saved credentials.

``--timeout`` counts the API's clock (seconds, or a duration such as ``10m``): against an
emulator whose clock runs faster (``--emulator``, ``--time-scale``) a wait gives up that much
sooner, as the operations finish.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import attrs
import click

from aura_async._validation import check_instance_id
from aura_async.cli.commands._common import (
    gather,
    pass_runtime,
    real_seconds,
    run,
    timeout_option,
)
from aura_async.cli.commands._instances import instance_getter
from aura_async.cli.runtime import Runtime
from aura_async.client import AuraClient
from aura_async.errors import AuraError, WaitError, WaitTimeoutError
from aura_async.fleet import read_env_file
from aura_async.lifecycle.connectivity import check_connectable, load_driver
from aura_async.lifecycle.events import OperationSubmitted
from aura_async.lifecycle.operations import Operation

__all__ = ["instance_verify", "instance_wait"]

WAITED_COLUMNS = ("id", "name", "status", "result", "error")


@attrs.frozen
class Waited:
    """One instance's wait, as ``instance wait`` prints it."""

    id: str
    name: str | None
    status: str
    result: str
    error: str | None = None


NOT_FOUND = "not found"  # a waited id's status and result when it does not exist
_UNTIL = {"running": Operation.CREATE, "paused": Operation.PAUSE, "deleted": Operation.DELETE}


@click.command("wait")
@click.argument("instance_ids", nargs=-1, required=True, metavar="ID...")
@click.option(
    "--status",
    type=click.Choice(sorted(_UNTIL)),
    default="running",
    show_default=True,
    help="The status to wait for.",
)
@timeout_option(
    "Give up after this long, in seconds or as 10m, 1h (API time; 0: only look; default: "
    "the operation's usual limit)."
)
@pass_runtime
def instance_wait(
    rt: Runtime, instance_ids: tuple[str, ...], status: str, timeout: float | None
) -> None:
    """Wait until instances (started elsewhere) are running, paused or deleted.

    Waits for all of them at once; exits 1 if any failed, timed out or was not found (an id
    neither found nor listed).
    """
    limit = real_seconds(rt, timeout)
    ids = list(dict.fromkeys(instance_ids))

    async def body() -> None:
        for instance_id in ids:
            check_instance_id(instance_id, "ID")
        # This command submitted nothing: the wait's "create submitted" would say otherwise.
        rt.listeners.append(_without(rt, OperationSubmitted))
        async with rt.client() as aura:
            results = await gather([_waiter(aura, i, status, limit) for i in ids])
        unknown = [r.id for r in results if r.result == NOT_FOUND]
        not_found = AuraError(
            f"No instance {', '.join(unknown)} was found",
            hint="Check the id (aura-async instance list shows the project's instances)",
        )
        if unknown and len(unknown) == len(results) and rt.output.mode == "table":
            raise not_found  # nothing to tabulate: the one line says it all
        rt.output.result(results, columns=WAITED_COLUMNS)
        if unknown and len(unknown) == len(results):
            raise not_found
        missed = sum(r.result != "done" for r in results)
        if missed:
            raise AuraError(f"{missed} of {len(results)} instances did not reach {status}")

    run(rt, body)


@attrs.frozen
class Verified:
    """An instance that accepted a connection, as ``instance verify`` prints it."""

    id: str
    name: str | None
    connection_url: str
    server: str
    attempts: int
    elapsed: float
    credentials_from: str


VERIFIED_COLUMNS = ("id", "name", "connection_url", "server", "attempts", "elapsed")


@click.command("verify")
@click.argument("instance_id", required=False, metavar="ID")
@click.option(
    "--env-file",
    type=click.Path(exists=True, path_type=Path),
    help="Read the credentials from this .env file (NEO4J_URI, NEO4J_USERNAME, "
    "NEO4J_PASSWORD) instead of the credential store.",
)
@timeout_option(
    "Keep trying an address that does not accept yet for this long, in seconds or as 10m "
    "(API time; default 5m)."
)
@pass_runtime
def instance_verify(
    rt: Runtime, instance_id: str | None, env_file: Path | None, timeout: float | None
) -> None:
    """Connect to an instance with its saved credentials and run RETURN 1.

    The credentials come from the credential store (the ledger of creates) or from a .env
    file; the official Neo4j driver does the connecting (pip install 'aura-async[verify]').
    A refused password fails at once: the saved copy is stale. An address that refuses or
    does not resolve yet is tried again until the timeout. Exits 1 when it fails.
    """
    if instance_id is None and env_file is None:
        raise click.UsageError("give the instance's ID, or --env-file with its credentials")
    limit = real_seconds(rt, timeout)

    async def body() -> None:
        if instance_id is not None:
            check_instance_id(instance_id, "ID")
        load_driver()  # a missing extra is said before anything is read or sent
        if env_file is not None:
            credentials = read_env_file(env_file, instance_id)
            where = str(env_file)
        else:
            assert instance_id is not None
            found = await rt.store().lookup(instance_id=instance_id)
            if found is None:
                raise AuraError(
                    f"the credential store holds no credentials of instance {instance_id}",
                    hint="Give --env-file with them, or check --credentials-dir",
                )
            credentials, where = found, rt.store().location
        if credentials.connection_url:
            # The database's own credentials are enough: no API client (nor its secret).
            result = await check_connectable(
                credentials.connection_url,
                credentials.username,
                credentials.password,
                policy=rt.poll_policy(),
                timeout=limit,
                instance_id=credentials.instance_id,
            )
        else:  # the address is read from the API first
            async with rt.client() as aura:
                result = await aura.instances.verify(credentials, timeout=limit)
        rt.output.result(
            Verified(
                id=credentials.instance_id,
                name=credentials.name or None,
                connection_url=result.connection_url,
                server=result.server,
                attempts=result.attempts,
                elapsed=round(result.elapsed, 3),
                credentials_from=where,
            ),
            columns=VERIFIED_COLUMNS,
            message=f"{credentials.instance_id} is connectable (credentials from {where})",
        )

    run(rt, body)


def _waiter(
    aura: AuraClient, instance_id: str, status: str, timeout: float | None
) -> Callable[[], Awaitable[Waited]]:
    """One instance's wait: done at once if it is there already, else on the shared poller."""

    async def wait() -> Waited:
        seen = await instance_getter(aura, instance_id)()
        name = seen.name if seen else None
        now = str(seen.status) if seen else "deleted"
        if now == status:
            return Waited(instance_id, name, now, "done")
        if seen is None:
            # A 404 proves nothing for an instance created moments ago (live Aura answers
            # 404 for a while), but one this client never saw that a listing sent after
            # the 404 does not show either was never there, or is gone for good.
            missed_at = anyio.current_time()
            if aura.instances.not_found_counts_from(instance_id) <= missed_at:
                listed = await aura.instances.list(sent_after=missed_at)
                if all(summary.id != instance_id for summary in listed):
                    return Waited(
                        instance_id,
                        None,
                        NOT_FOUND,
                        NOT_FOUND,
                        f"no instance {instance_id} was found; check the id "
                        "(aura-async instance list)",
                    )
        try:
            seen = await aura.instances.wait(
                instance_id, _UNTIL[status], name=name, timeout=timeout
            )
        except WaitError as error:
            failed = "timed out" if isinstance(error, WaitTimeoutError) else "failed"
            return Waited(instance_id, name, error.last_status or now, failed, error.message)
        return Waited(instance_id, name, str(seen.status) if seen else "deleted", "done")

    return wait


def _without(rt: Runtime, kind: type[object]) -> Callable[[object], None]:
    """Print every event but those of ``kind``."""

    def listen(event: object) -> None:
        if not isinstance(event, kind):
            rt.output.event(event)

    return listen

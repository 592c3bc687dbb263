"""The official ``neo4j`` driver, unmodified, against the emulator's Bolt listener.

Each emulator runs on a manual clock, so an instance's lifecycle and the listener's
``bolt_delay`` are moved by hand and nothing waits for emulated time.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import neo4j
import pytest
from neo4j.exceptions import AuthError, ClientError, ServiceUnavailable, SessionExpired

from aura_async.emulator import (
    BoltListener,
    BoltStats,
    Durations,
    EmulatorConfig,
    EmulatorServer,
    FaultPlan,
    ManualClock,
    create_app,
)
from aura_async.emulator.bolt.messages import (
    MAGIC,
    Message,
    Signature,
    encode_message,
    read_message,
)
from tests.conftest import instance_body

DELAY = 30.0  # emulated seconds between running and connectable
CREATE = 120.0  # Durations(jitter=0).create
UNSUPPORTED = "Neo.ClientError.Statement.RuntimeUnsupportedError"


def bolt_config(**changes: Any) -> EmulatorConfig:
    settings: dict[str, Any] = {
        "seed": 5,
        "bolt": True,
        "bolt_delay": DELAY,
        "durations": Durations(jitter=0),
    }
    return EmulatorConfig(**(settings | changes))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(clock: ManualClock) -> AsyncIterator[EmulatorServer]:
    async with EmulatorServer(bolt_config(), clock=clock) as running:
        yield running


def bolt_of(server: EmulatorServer) -> BoltListener:
    assert server.bolt is not None
    return server.bolt


def create(server: EmulatorServer, **overrides: Any) -> tuple[str, str]:
    """Create an instance through the backend; return its id and password."""
    with server.backend.lock:
        created = server.backend.create_instance(instance_body(**overrides))
    return created.instance.id, created.password


def up(server: EmulatorServer, clock: ManualClock, **overrides: Any) -> tuple[str, str]:
    """Create an instance and move the clock until Bolt accepts it."""
    instance_id, password = create(server, **overrides)
    clock.advance(CREATE + DELAY)
    return instance_id, password


def driver(uri: str, password: str) -> neo4j.AsyncDriver:
    return neo4j.AsyncGraphDatabase.driver(uri, auth=("neo4j", password))


def uris(server: EmulatorServer, instance_id: str) -> dict[str, str]:
    address = bolt_of(server).address
    return {"neo4j": f"neo4j://{address}?instance={instance_id}", "bolt": f"bolt://{address}"}


@pytest.mark.parametrize("scheme", ["neo4j", "bolt"])
async def test_verify_connectivity_and_return_1(
    server: EmulatorServer, clock: ManualClock, scheme: str
) -> None:
    instance_id, password = up(server, clock)
    async with driver(uris(server, instance_id)[scheme], password) as db:
        await db.verify_connectivity()
        async with db.session() as session:
            result = await session.run("RETURN 1")
            record = await result.single(strict=True)
            summary = await result.consume()
        assert record.keys() == ["1"]
        assert record[0] == 1
        assert summary.server.agent == "Neo4j/5.26.0"
        assert summary.server.protocol_version == (5, 4)
        assert summary.database == "neo4j"
    stats = bolt_of(server).stats(instance_id)
    assert stats.logons >= 1
    assert stats.queries == 1
    assert (stats.refused, stats.auth_failures) == (0, 0)


async def test_execute_query_and_managed_transactions(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = up(server, clock)
    async with driver(uris(server, instance_id)["neo4j"], password) as db:
        records, summary, keys = await db.execute_query("RETURN 'hello' AS greeting;")
        assert keys == ["greeting"]
        assert [r["greeting"] for r in records] == ["hello"]
        assert summary.query_type == "r"

        async def work(tx: neo4j.AsyncManagedTransaction) -> list[Any]:
            values = []
            for query in ("RETURN 2.5", "RETURN true AS yes", "RETURN null"):
                result = await tx.run(query)
                values.append(await result.single(strict=True))
            return [v[0] for v in values]

        async with db.session() as session:
            assert await session.execute_write(work) == [2.5, True, None]
            bookmarks = await session.last_bookmarks()
        assert any(b.startswith("FB:aura-emulator:") for b in bookmarks.raw_values)
    assert bolt_of(server).stats(instance_id).queries == 4


async def test_a_wrong_password_raises_auth_error(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, _ = up(server, clock)
    async with driver(uris(server, instance_id)["neo4j"], "not-the-password") as db:
        with pytest.raises(AuthError) as caught:
            await db.verify_connectivity()
    assert caught.value.code == "Neo.ClientError.Security.Unauthorized"
    assert caught.value.message == "The client is unauthorized due to authentication failure."
    assert bolt_of(server).stats(instance_id) == BoltStats(connections=1, auth_failures=1)


async def test_three_wrong_passwords_lock_the_user_out_for_five_seconds(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = up(server, clock)
    uri = uris(server, instance_id)["neo4j"]
    for _ in range(3):
        async with driver(uri, "not-the-password") as db:
            with pytest.raises(AuthError):
                await db.verify_connectivity()
    # Locked, as Neo4j locks a user (auth_max_failed_attempts 3, auth_lock_time 5 s): the
    # right password is refused too, with a code the driver does not map to AuthError.
    async with driver(uri, password) as db:
        with pytest.raises(ClientError) as caught:
            await db.verify_connectivity()
    assert caught.value.code == "Neo.ClientError.Security.AuthenticationRateLimit"
    assert not isinstance(caught.value, AuthError)
    clock.advance(5.0)
    async with driver(uri, password) as db:
        await db.verify_connectivity()  # the lock is over; a success clears the count
    async with driver(uri, "not-the-password") as db:
        with pytest.raises(AuthError):
            await db.verify_connectivity()
    async with driver(uri, password) as db:
        await db.verify_connectivity()
    assert bolt_of(server).stats(instance_id).auth_failures == 5


async def test_refused_before_running_and_within_the_delay_then_accepted(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = create(server)
    async with driver(uris(server, instance_id)["neo4j"], password) as db:
        with pytest.raises(ServiceUnavailable):
            await db.verify_connectivity()  # creating
        clock.advance(CREATE)
        with server.backend.lock:
            assert server.backend.get_instance(instance_id).status == "running"
        clock.advance(DELAY - 1)
        with pytest.raises(ServiceUnavailable):
            await db.verify_connectivity()  # running, but the address lags
        clock.advance(1)
        await db.verify_connectivity()  # the same driver recovers
        records, _, _ = await db.execute_query("RETURN 1")
        assert records[0][0] == 1
    stats = bolt_of(server).stats(instance_id)
    assert stats.refused == 2
    assert stats.logons >= 1


async def test_bolt_direct_is_refused_within_the_delay_too(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = create(server)
    clock.advance(CREATE)
    async with driver(uris(server, instance_id)["bolt"], password) as db:
        # bolt:// names the instance only by LOGON's password, after the handshake; a
        # direct driver calls a connection reset while it opens SessionExpired (its pool is
        # not attached yet), where routing discovery turns it into ServiceUnavailable.
        with pytest.raises(SessionExpired) as caught:
            await db.verify_connectivity()
        assert caught.value.is_retryable()
        clock.advance(DELAY)
        await db.verify_connectivity()
    assert bolt_of(server).stats(instance_id).refused == 1


async def test_a_paused_instance_is_refused_and_its_open_connections_reset(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = up(server, clock)
    async with driver(uris(server, instance_id)["neo4j"], password) as db:
        await db.verify_connectivity()  # a connection now waits in the pool
        with server.backend.lock:
            server.backend.pause_instance(instance_id)
        async with db.session() as session:
            with pytest.raises((ServiceUnavailable, SessionExpired)):
                await session.run("RETURN 1")  # pausing: the database went away
        clock.advance(60.0)  # paused
        async with driver(uris(server, instance_id)["neo4j"], password) as fresh:
            with pytest.raises(ServiceUnavailable):
                await fresh.verify_connectivity()
        # Resumed, it is refused again for the delay: it came back up.
        with server.backend.lock:
            server.backend.resume_instance(instance_id)
        clock.advance(90.0)
        async with driver(uris(server, instance_id)["neo4j"], password) as fresh:
            with pytest.raises(ServiceUnavailable):
                await fresh.verify_connectivity()
            clock.advance(DELAY)
            await fresh.verify_connectivity()


async def test_online_operations_keep_the_instance_connectable(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = up(server, clock)
    with server.backend.lock:
        server.backend.update_instance(instance_id, {"memory": "4GB"})
        assert server.backend.get_instance(instance_id).status == "resizing"
    async with driver(uris(server, instance_id)["neo4j"], password) as db:
        await db.verify_connectivity()
        clock.advance(180.0)  # resized: running again, with no delay this time
        await db.execute_query("RETURN 1")
    assert bolt_of(server).stats(instance_id).refused == 0


async def test_a_deleted_instance_is_refused(server: EmulatorServer, clock: ManualClock) -> None:
    instance_id, password = up(server, clock)
    with server.backend.lock:
        server.backend.delete_instance(instance_id)
    for _ in range(2):  # destroying, then gone
        async with driver(uris(server, instance_id)["neo4j"], password) as db:
            with pytest.raises(ServiceUnavailable):
                await db.verify_connectivity()
        clock.advance(30.0)
    async with driver(uris(server, instance_id)["bolt"], password) as db:
        with pytest.raises(AuthError):  # bolt://: no instance has that password any more
            await db.verify_connectivity()
    assert bolt_of(server).stats(instance_id).refused == 2


async def test_an_unknown_instance_is_refused(server: EmulatorServer) -> None:
    async with driver(uris(server, "ffffffff")["neo4j"], "whatever") as db:
        with pytest.raises(ServiceUnavailable):
            await db.verify_connectivity()
    assert bolt_of(server).stats("ffffffff") == BoltStats(connections=1, refused=1)


async def test_an_unsupported_query_raises_the_drivers_client_error(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = up(server, clock)
    async with (
        driver(uris(server, instance_id)["neo4j"], password) as db,
        db.session() as session,
    ):
        with pytest.raises(ClientError) as caught:
            await session.run("MATCH (n) RETURN count(n)")
        assert caught.value.code == UNSUPPORTED
        assert "answers only trivial queries" in (caught.value.message or "")
        # The connection was RESET by the driver and serves the next query.
        result = await session.run("RETURN 7")
        assert (await result.single(strict=True))[0] == 7


async def test_connection_urls_point_at_the_listener_while_it_serves(clock: ManualClock) -> None:
    faults = FaultPlan(null_connection_url=1.0, null_connection_url_until_running=True)
    async with (
        EmulatorServer(bolt_config(faults=faults), clock=clock) as emulator,
        httpx.AsyncClient(base_url=emulator.base_url) as http,
    ):
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(emulator.client_id, emulator.client_secret),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        answer = await http.post("/v1/instances", json=instance_body(), headers=headers)
        created = answer.json()["data"]
        assert created["connection_url"] is None  # the quirk still holds while creating
        clock.advance(CREATE + DELAY)
        url = f"/v1/instances/{created['id']}"
        shown = (await http.get(url, headers=headers)).json()["data"]["connection_url"]
        assert shown == f"neo4j://{bolt_of(emulator).address}?instance={created['id']}"
        async with driver(shown, created["password"]) as db:
            records, _, _ = await db.execute_query("RETURN 1")
        assert records[0][0] == 1
        bolt_of(emulator).stop()
        shown = (await http.get(url, headers=headers)).json()["data"]["connection_url"]
        assert shown == f"neo4j+s://{created['id']}.databases.neo4j.io"


async def test_in_process_app_with_a_listener_and_no_http_server() -> None:
    clock = ManualClock()
    app = create_app(bolt_config(bolt_delay=0.0), clock=clock)
    state = app.state.emulator
    async with BoltListener(state) as bolt:
        assert state.backend.bolt_address == bolt.address
        with state.lock:
            created = state.backend.create_instance(instance_body())
        clock.advance(CREATE)
        async with driver(bolt.url(created.instance.id), created.password) as db:
            records, _, _ = await db.execute_query("RETURN 42 AS answer")
        assert records[0]["answer"] == 42
    assert state.backend.bolt_address is None
    assert not bolt.running


async def test_stop_resets_open_connections_and_closes_the_port(clock: ManualClock) -> None:
    emulator = EmulatorServer(bolt_config(), clock=clock)
    await asyncio.to_thread(emulator.start)
    try:
        bolt = bolt_of(emulator)
        instance_id, password = up(emulator, clock)
        db = driver(bolt.url(instance_id), password)
        await db.verify_connectivity()
        port = bolt.port
    finally:
        await asyncio.to_thread(emulator.stop)
    assert emulator.bolt is None
    with pytest.raises(ServiceUnavailable):
        await db.verify_connectivity()
    await db.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --------------------------------------------------------------- the wire, by hand


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *messages: Message
) -> list[Message]:
    for message in messages:
        writer.write(encode_message(message))
    await writer.drain()
    return [await read_message(reader) for _ in messages]


async def test_over_the_wire_a_failure_ignores_everything_until_reset(
    server: EmulatorServer, clock: ManualClock
) -> None:
    instance_id, password = up(server, clock)
    bolt = bolt_of(server)
    reader, writer = await asyncio.open_connection("127.0.0.1", bolt.port)
    try:
        writer.write(MAGIC + bytes.fromhex("00000305 00000000 00000000 00000000"))
        await writer.drain()
        assert await reader.readexactly(4) == b"\x00\x00\x03\x05"  # 5.3 offered, 5.3 taken
        auth = {"scheme": "basic", "principal": "neo4j", "credentials": password}
        hello = Message(
            Signature.HELLO, ({"user_agent": "raw", "routing": {"instance": instance_id}},)
        )
        answers = await _exchange(
            reader,
            writer,
            hello,
            Message(Signature.LOGON, (auth,)),
            Message(Signature.RUN, ("CREATE (n)", {}, {})),
            Message(Signature.PULL, ({"n": -1},)),
            Message(Signature.RUN, ("RETURN 1", {}, {})),
            Message(Signature.RESET),
            Message(Signature.TELEMETRY, (0,)),
        )
        names = [Signature(a.signature).name for a in answers]
        assert names == [
            "SUCCESS", "SUCCESS", "FAILURE", "IGNORED", "IGNORED", "SUCCESS", "SUCCESS"
        ]  # fmt: skip
        assert answers[0].fields[0]["connection_id"].startswith("bolt-")
        assert answers[0].fields[0]["hints"] == {}
        assert answers[2].fields[0]["code"] == UNSUPPORTED
        writer.write(encode_message(Message(Signature.GOODBYE)))
        await writer.drain()
        assert await reader.read() == b""  # the server hung up
    finally:
        writer.close()


async def test_a_client_offering_no_version_we_speak_gets_zeros(server: EmulatorServer) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", bolt_of(server).port)
    try:
        writer.write(MAGIC + bytes.fromhex("00020404 00000003 00000000 00000000"))
        await writer.drain()
        assert await reader.readexactly(4) == b"\x00\x00\x00\x00"
        assert await reader.read() == b""
    finally:
        writer.close()

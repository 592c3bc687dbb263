from tests.conftest import Api


async def test_create_then_running(api: Api) -> None:
    created = await api.create()
    first = await api.data("GET", f"/instances/{created['id']}")
    assert first["status"] == "creating"
    api.clock.advance(1000)
    assert (await api.data("GET", f"/instances/{created['id']}"))["status"] == "running"

import pytest
from litestar import Litestar, get

from gateway.lifespan import LifespanError, lifespan


async def test_starts_and_stops_a_mounted_app() -> None:
    events: list[str] = []

    @get("/", sync_to_thread=False)
    def index() -> str:
        return "ok"

    app = Litestar([index], on_startup=[lambda: events.append("up")], on_shutdown=[lambda: events.append("down")])
    async with lifespan(app):
        assert events == ["up"]
    assert events == ["up", "down"]


async def test_a_failed_start_is_reported() -> None:
    def boom() -> None:
        raise RuntimeError("no database")

    app = Litestar([], on_startup=[boom])
    with pytest.raises(LifespanError, match="no database"):
        async with lifespan(app):
            pass

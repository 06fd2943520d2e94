"""PolygonWebSocketClient (the seed's Qt client) on the simulator: both protocols, reconnects, clean stop."""

from __future__ import annotations

import pytest

from tests.sim_process import run_sim


@pytest.fixture(scope="module")
def sim():
    with run_sim("--speed", "5") as s:
        yield s


def until(qtbot, cond, timeout: int = 20_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


def test_polygon_protocol_with_the_key_from_the_environment(qtbot, sim, monkeypatch):
    from live_monitor.data import PolygonWebSocketClient

    monkeypatch.setenv("POLYGON_API_KEY", "test-key")
    c = PolygonWebSocketClient(sim.url_polygon)
    got: list[dict] = []
    status: list[bool] = []
    c.data_received.connect(got.append)
    c.connection_status.connect(status.append)
    try:
        c.subscribe(["MSFT"])  # before connecting: sent once the connection is ready
        c.connect_to_server()
        until(qtbot, lambda: len({m["data"]["ev"] for m in got}) >= 2)
        assert status == [True] and c.protocol == "polygon"
        assert {m["data"]["sym"] for m in got} == {"MSFT"}
        c.change_symbol("NVDA")
        n = len(got)
        until(qtbot, lambda: any(m["data"]["sym"] == "NVDA" for m in got[n:]))
        qtbot.wait(300)  # anything of MSFT still in flight has arrived by now
        k = len(got)
        qtbot.wait(500)
        assert all(m["data"]["sym"] == "NVDA" for m in got[k:])
    finally:
        c.disconnect()
    assert status[-1] is False and not c.is_connected


def test_reconnects_after_a_dropped_connection(qtbot, sim):
    from live_monitor.data import PolygonWebSocketClient

    c = PolygonWebSocketClient(sim.url_relay, "reconnect_test")
    c.reconnect_delay = 0.1
    events: list[str] = []
    got: list[dict] = []
    c.connected.connect(lambda: events.append("connected"))
    c.disconnected.connect(lambda: events.append("disconnected"))
    c.data_received.connect(got.append)
    try:
        c.connect_to_server()
        c.subscribe(["AAPL"])
        until(qtbot, lambda: got)
        sim.fault(kind="drop", after=1, times=1)
        until(qtbot, lambda: events[:3] == ["connected", "disconnected", "connected"])
        n = len(got)
        until(qtbot, lambda: len(got) > n + 5)  # re-subscribed on the new connection
    finally:
        c.disconnect()
        sim.fault(kind="clear")

"""PolygonDataManager's seed surface: _on_data_received, override detection, LULD / second bars,
the market-state rule, the feed plan and the client's envelopes (fake feed or no feed; real Qt loop)."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.config import Settings
from shared.feed_probe import FeedInfo, NotAFeed, upstream_mismatch
from tests.manager_fake_feed import FakeFeed, make_bar
from ui_process.polygon_data_manager import PolygonDataManager
from ui_process.private_feed import plan

T0 = int(dt.datetime(2025, 6, 27, 14, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)  # Fri 10:00 NY
TUE_1431 = dt.datetime(2025, 7, 1, 18, 31, tzinfo=dt.timezone.utc).timestamp()  # Tue 2025-07-01 14:31 NY
TUE_0905_MS = int(dt.datetime(2025, 7, 1, 13, 5, tzinfo=dt.timezone.utc).timestamp() * 1000)  # 09:05 NY (pre)
RELAY = "ws://127.0.0.1:9/ws/{client_id}"


def until(qtbot, cond, timeout: int = 5000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


class Spy(PolygonDataManager):
    def __init__(self, *a, **kw):
        self.trades: list[dict] = []
        super().__init__(*a, **kw)

    def _process_trade(self, trade):
        super()._process_trade(trade)
        self.trades.append(trade)


def test_on_data_received_takes_the_relay_envelope_in_either_spelling(qtbot):
    m = Spy("tcp://127.0.0.1:1", symbol="AAPL")
    errors: list[str] = []
    m.error_occurred.connect(errors.append)
    m._on_data_received({"type": "market_data", "data": {"ev": "T", "sym": "AAPL", "p": 150.25, "s": 100,
                                                         "t": T0}})
    m._on_data_received({"type": "market_data", "data": {"event_type": "trade", "symbol": "AAPL",
                                                         "price": 150.5, "size": 10, "timestamp": T0 + 1}})
    m._on_data_received({"type": "market_data", "data": [{"ev": "Q", "sym": "AAPL", "bp": 150.2, "bs": 1,
                                                          "ap": 150.3, "as": 2, "t": T0 + 2}]})
    m._on_data_received({"type": "market_data", "data": {"ev": "T", "sym": "AAPL", "p": -1, "s": 1, "t": T0}})
    m._on_data_received({"type": "subscribed", "symbols": ["AAPL"]})
    assert [t["price"] for t in m.trades] == [150.25, 150.5]
    assert m.trades[1]["conditions"] == [] and m.trades[1]["exchange"] is None  # normalised to the seed dict
    m._on_display_tick()
    assert m.market_state["AAPL"]["last_price"] == 150.5 and m.market_state["AAPL"]["bid"] == 150.2
    assert any("malformed" in e for e in errors)  # the bad one is told, not raised


def test_overrides_are_detected_and_the_stream_goes_through_on_data_received(qtbot):
    plain = PolygonDataManager("tcp://127.0.0.1:1")
    assert plain._core.on_envelope is None  # nothing overridden: the fast path
    spy = Spy("tcp://127.0.0.1:1")
    # an overridden _process_* hook is called straight with the seed dict (no envelope per event)
    assert spy._core.on_envelope is None and spy._core.on_trade == spy._process_trade

    class Raw(PolygonDataManager):
        def __init__(self, *a, **kw):
            self.seen: list[dict] = []
            super().__init__(*a, **kw)

        def _on_data_received(self, data):
            self.seen.append(data)
            super()._on_data_received(data)

    feed = FakeFeed().start()
    try:
        feed.state("AAPL")["bars"] = [make_bar("AAPL", T0 + i * 60_000, 100, 101, 99, 100.5) for i in range(3)]
        feed.state("AAPL")["seq"] = 5
        m, s = Raw(feed.control, symbol="AAPL"), Spy(feed.control, symbol="AAPL")
        m.connect()
        s.connect()
        until(qtbot, lambda: m.get_accumulated_bars() and s.get_accumulated_bars())
        feed.publish("AAPL", [["T", T0 + 180_001, 101.0, 5, 12, [], "1"], ["Q", T0 + 180_002, 100.9, 1, 101.1, 1, 12, 12],
                              ["AM", T0 + 180_000, 100.5, 101.0, 100.4, 101.0, 5, 100.8, 1]])
        until(qtbot, lambda: len(m.seen) == 3 and len(s.trades) == 1)
        assert [e["data"]["event_type"] for e in m.seen] == ["trade", "quote", "aggregate"]
        assert all(e["type"] == "market_data" for e in m.seen)
        assert len(m.get_accumulated_bars()) == 4  # super() routed to the _process_* hooks
        assert s.trades[0]["price"] == 101.0 and len(s.get_accumulated_bars()) == 4
    finally:
        for x in (m, s):
            x.disconnect()
        feed.stop()


def test_luld_and_second_aggregates_reach_their_own_signals_never_the_minute_bars(qtbot):
    feed = FakeFeed().start()
    m = PolygonDataManager(feed.control, symbol="AAPL")
    try:
        feed.state("AAPL")["bars"] = [make_bar("AAPL", T0 + i * 60_000, 100, 101, 99, 100.5) for i in range(3)]
        luld: list[dict] = []
        secs: list[dict] = []
        charts: list[dict] = []
        m.luld_event.connect(luld.append)
        m.second_aggregate_updated.connect(secs.append)
        m.connect()
        until(qtbot, lambda: m.get_accumulated_bars())
        m.chart_data_updated.connect(charts.append)
        feed.publish("AAPL", [["LULD", T0 + 181_000, 105.5, 95.5, [17], 3, 9],
                              ["A", T0 + 181_000, 100.0, 100.2, 99.9, 100.1, 300, 100.05, 4],
                              ["NOI", T0 + 181_500, "O", 2, 3]])
        until(qtbot, lambda: luld and secs)
        assert luld[0]["event_type"] == "luld" and luld[0]["symbol"] == "AAPL"
        assert (luld[0]["limit_up"], luld[0]["limit_down"], luld[0]["timestamp"]) == (105.5, 95.5, T0 + 181_000)
        assert secs[0]["event_type"] == "second_aggregate" and secs[0]["timeframe"] == "1s"
        assert secs[0]["close"] == 100.1 and secs[0]["volume"] == 300
        qtbot.wait(100)
        assert len(m.get_accumulated_bars()) == 3 and charts == []  # no minute bar moved
        assert m.feed_info()["bad_messages"] == 0  # a kind this version doesn't show is not an error
    finally:
        m.disconnect()
        feed.stop()


def test_client_envelopes_of_second_bars_luld_and_noi_never_reach_the_minute_bars(qtbot):
    """The seed's wiring: PolygonWebSocketClient.data_received -> _on_data_received. Its non-T/Q/AM envelopes
    (wire.event_to_dict's dicts) go to their own signals, never _process_aggregate."""
    from ui_process.qt_websocket_client import envelopes

    class AggSpy(PolygonDataManager):
        aggs: list[dict] = []

        def _process_aggregate(self, agg):
            self.aggs.append(agg)

    m = AggSpy("tcp://127.0.0.1:1", symbol="AAPL")
    luld: list[dict] = []
    secs: list[dict] = []
    m.luld_event.connect(luld.append)
    m.second_aggregate_updated.connect(secs.append)
    out = envelopes({"AAPL": [["LULD", T0, 105.5, 95.5, [17], 3, 9],
                              ["A", T0, 100.0, 100.2, 99.9, 100.1, 300, 100.05, None],
                              ["NOI", T0, "O", 480, 10, 440, 25.03, 930, 44], ["LULD", T0, "x", 1.0]]})
    assert [e["data"]["event_type"] for e in out] == ["luld", "second_aggregate", "imbalance"]  # the bad one dropped
    for env in out:
        m._on_data_received(env)
    assert AggSpy.aggs == [] and m.get_accumulated_bars() == []
    assert [(d["limit_up"], d["limit_down"], d["indicators"]) for d in luld] == [(105.5, 95.5, [17])]
    assert [(d["close"], d["timeframe"]) for d in secs] == [(100.1, "1s")]
    assert m.feed_info()["bad_messages"] == 0


def test_a_malformed_luld_array_from_the_feed_is_counted_bad(qtbot):
    # The typed decoder refuses the whole message it is in (one WireError, counted); the window goes on.
    feed = FakeFeed().start()
    m = PolygonDataManager(feed.control, symbol="AAPL")
    try:
        luld: list[dict] = []
        m.luld_event.connect(luld.append)
        m.connect()
        until(qtbot, lambda: m.feed_info()["connected"] and m.feed_info()["synced"])  # the first snapshot applied
        feed.publish("AAPL", [["LULD", T0, "x", 95.5], ["LULD", T0 + 2, 105.5, 95.5, [], 3, 9]])
        until(qtbot, lambda: m.feed_info()["bad_messages"] == 1)
        feed.publish("AAPL", [["T", T0 + 1, 100.0, 1, None, []]])  # after the lost batch: a gap, a re-snapshot
        until(qtbot, lambda: m.feed_info()["resnapshots"] >= 1 and m.feed_info()["synced"])
        feed.publish("AAPL", [["LULD", T0 + 1, 105.5, 95.5, [], 3, 9]])
        until(qtbot, lambda: luld)
        assert [d["timestamp"] for d in luld] == [T0 + 1] and m.feed_info()["bad_messages"] == 1
    finally:
        m.disconnect()
        feed.stop()


def _at_1431(source: str | None, session: str | None = None, event_ms: int | None = None):
    m = PolygonDataManager("tcp://127.0.0.1:1", symbol="AAPL", wall_clock=lambda: TUE_1431)
    m._link.upstream = {"state": "connected", "source": source, "session": session}
    m._link.source = source
    if event_ms is not None:
        m._process_trade({"event_type": "trade", "symbol": "AAPL", "timestamp": event_ms, "price": 10.0,
                          "size": 1, "conditions": [], "exchange": None})
    return m


@pytest.mark.parametrize("source, session, event_ms, expected", [
    ("live", None, None, "open"),          # 14:31 ET on a trading Tuesday, no data: the wall clock
    ("delayed", None, None, "open"),
    ("replay", None, None, "open"),        # no data yet: nothing else to go by
    ("live", None, TUE_0905_MS, "open"),   # live data: the wall clock, whatever the event time
    ("replay", "virtual", TUE_0905_MS, "pre"),   # replayed data: its own clock (09:05)
    ("simulated", None, TUE_0905_MS, "pre"),
    ("simulated", "wall", TUE_0905_MS, "open"),  # the simulator says it follows the wall clock
])
def test_market_state_follows_wall_clock_for_live_and_data_clock_for_replay(qtbot, source, session, event_ms,
                                                                              expected):
    m = _at_1431(source, session, event_ms)
    assert m.market_state["AAPL"]["market_state"] == expected
    assert m.feed_info()["market_state"] == expected
    if event_ms is not None:
        got: list[dict] = []
        m.market_data_updated.connect(got.append)
        m._on_display_tick()
        assert got[-1]["market_state"] == expected


def test_plan_decides_attach_start_or_error():
    s = Settings(feed="tcp://127.0.0.1:8201", upstream="sim")
    none = lambda addr: None  # noqa: E731 - nothing answers
    feed = FeedInfo("tcp://127.0.0.1:8201", 1, 2, "tcp://127.0.0.1:9", {"protocol": "relay", "url":
                                                                         "ws://127.0.0.1:9/ws/live_monitor"})
    assert plan("tcp://127.0.0.1:5", s, probe=lambda a: 1 / 0).address == "tcp://127.0.0.1:5"  # never probed
    assert plan(RELAY, s, probe=lambda a: feed).action == "attach"  # the configured feed serves exactly it
    p = plan(RELAY, s, probe=lambda a: FeedInfo(a, 1, 2, "x", {"protocol": "polygon", "url": "wss://x/stocks"}),
             free_address=lambda: "tcp://127.0.0.1:7777")
    assert (p.action, p.address) == ("start", "tcp://127.0.0.1:7777")
    assert p.argv == ("feed", "--feed", "tcp://127.0.0.1:7777", "--upstream", RELAY, "--protocol", "relay")
    assert plan("wss://socket.massive.com/stocks", s, probe=none, free_address=lambda: "tcp://h:1").argv[-1] == \
        "polygon"
    assert plan(None, s, probe=lambda a: feed).action == "attach"
    p = plan(None, s, probe=none)
    assert p.action == "start" and p.argv[:3] == ("daemon", "--feed", s.feed)  # sim upstream: sim + feed
    assert plan(None, s.replace(upstream="relay"), probe=none).argv[0] == "feed"

    def busy(addr):
        raise NotAFeed("tcp://127.0.0.1:8201 is in use by something that is not a Live Monitor feed")

    assert plan(None, s, probe=busy).action == "error"
    assert plan(RELAY, s, probe=busy, free_address=lambda: "tcp://h:2").action == "start"
    assert plan("http://nope", s).action == "error"


def test_upstream_mismatch_compares_protocol_and_url():
    s = Settings(upstream=RELAY)
    info = lambda **up: FeedInfo("a", 1, 1, "d", up)  # noqa: E731
    assert upstream_mismatch(info(protocol="relay", url="ws://127.0.0.1:9/ws/live_monitor"), s) is None
    assert upstream_mismatch(info(protocol="relay", url="ws://127.0.0.1:10/ws/live_monitor"), s)
    assert upstream_mismatch(info(protocol="polygon", url="ws://127.0.0.1:9/ws/live_monitor"), s)
    assert upstream_mismatch(info(protocol="relay", target=RELAY, url="ws://127.0.0.1:9/ws/x"), s) is None


def test_client_envelopes_are_polygon_spelled():
    from ui_process.qt_websocket_client import envelopes

    out = envelopes({"AAPL": [["T", T0, 150.25, 100, 12, [14], "7"], ["Q", T0, 150.2, 3, 150.3, 5, 12, 11],
                              ["AM", T0, 1.0, 2.0, 0.5, 1.5, 10, 1.2, None], ["T", "bad"]]})
    assert [e["type"] for e in out] == ["market_data"] * 3
    t, q, a = (e["data"] for e in out)
    assert (t["ev"], t["sym"], t["p"], t["s"], t["t"], t["c"]) == ("T", "AAPL", 150.25, 100, T0, [14])
    assert (q["ev"], q["bp"], q["ap"], q["bs"], q["as"]) == ("Q", 150.2, 150.3, 3, 5)
    assert (a["ev"], a["o"], a["c"], a["s"]) == ("AM", 1.0, 1.5, T0)


def _signals(cls) -> list[str]:
    from PyQt6.QtCore import QMetaMethod

    mo = cls.staticMetaObject
    return [bytes(mo.method(i).methodSignature()).decode() for i in range(mo.methodOffset(), mo.methodCount())
            if mo.method(i).methodType() == QMetaMethod.MethodType.Signal]


def test_the_seed_surface_is_complete(qtbot):
    import inspect

    import live_monitor.data as lmd
    from live_monitor.data import models
    from live_monitor.data.polygon_data_manager import PolygonDataManager as P
    from live_monitor.data.websocket_client import PolygonWebSocketClient as C

    d = "PyQt_PyObject"  # pyqtSignal(dict)
    assert _signals(P)[:7] == [f"market_data_updated({d})", f"chart_data_updated({d})", f"calculation_updated({d})",
                               f"entry_signal_generated({d})", f"exit_signal_generated({d})",
                               "connection_status_changed(bool)", "error_occurred(QString)"]
    assert _signals(C)[:5] == ["connected()", "disconnected()", f"data_received({d})", "error_occurred(QString)",
                               "connection_status(bool)"]
    assert list(inspect.signature(P).parameters)[0] == "server_url"
    assert inspect.signature(P).parameters["server_url"].default is None
    for name in ("connect", "disconnect", "change_symbol", "get_accumulated_bars", "check_data_flow",
                 "test_chart_update", "_on_data_received", "_process_trade", "_process_quote", "_process_aggregate"):
        assert callable(getattr(P, name)), name
    for name in ("connect_to_server", "subscribe", "unsubscribe", "change_symbol", "disconnect"):
        assert callable(getattr(C, name)), name
    m = P("tcp://127.0.0.1:1", symbol="AAPL")
    assert m.current_symbol == "AAPL" and m.max_bars == 2000 and m.no_data_threshold == 30
    assert m.heartbeat_timer.interval() == 5000 and m.accumulated_bars == [] and "AAPL" in m.market_state
    c = C()
    assert (c.url, c.reconnect_delay, c.max_reconnect_delay, c.max_reconnect_attempts) == \
        ("ws://localhost:8200/ws/live_monitor", 1.0, 30.0, 10)
    for n in ("PolygonDataManager", "PolygonWebSocketClient", "TradeData", "QuoteData", "AggregateData",
              "TickerCalculationData", "EntrySignal", "ExitSignal"):
        assert n in lmd.__all__
    assert models.TradeData is lmd.TradeData and P is lmd.PolygonDataManager


def test_registry_replans_when_its_private_feed_died(monkeypatch):
    import ui_process.private_feed as pf

    made: list[str] = []

    class Fake(pf.PrivateFeed):
        def start(self):
            made.append(self.address)

        def alive(self):
            return len(made) > 1  # the first one "died"

    calls = iter(["tcp://127.0.0.1:1001", "tcp://127.0.0.1:1002"])
    monkeypatch.setattr(pf, "PrivateFeed", Fake)
    monkeypatch.setattr(pf, "plan", lambda url, s: pf.Plan("start", a := next(calls), ("feed", "--feed", a)))
    reg = pf.Registry()
    s = Settings()
    assert reg.resolve(RELAY, s).result(5).address == "tcp://127.0.0.1:1001"
    assert reg.resolve(RELAY, s).result(5).address == "tcp://127.0.0.1:1002"  # the dead one is replaced
    assert reg.resolve(RELAY, s).result(5).address == "tcp://127.0.0.1:1002"  # a live one is shared
    assert made == ["tcp://127.0.0.1:1001", "tcp://127.0.0.1:1002"]

"""Sans-I/O parts of the simulator: protocol sessions, fault rules, history parsing, replay loading."""

from __future__ import annotations

import datetime as dt
import gzip

import orjson
import pytest

from feed_process.sim import faults as F
from feed_process.sim import history as H
from feed_process.sim.protocol import PolygonSession, RelaySession
from feed_process.sim.replay import day_shift_ms, load_replay
from shared.market_hours import NY


# ---- Polygon ------------------------------------------------------------
def test_polygon_greeting_auth_and_one_status_per_topic():
    s = PolygonSession("simulated")
    assert s.greeting() == [{"ev": "status", "status": "connected", "message": "Connected Successfully",
                             "source": "simulated"}]
    r = s.handle('{"action":"subscribe","params":"T.AAPL"}')
    assert r[0]["status"] == "error" and "auth" in r[0]["message"] and not s.subs
    assert s.handle('{"action":"auth","params":"anything"}')[0]["status"] == "auth_success"
    r = s.handle(b'{"action":"subscribe","params":"T.AAPL,Q.AAPL, AM.aapl,T.*"}')
    assert [m["message"] for m in r] == ["subscribed to: T.AAPL", "subscribed to: Q.AAPL",
                                         "subscribed to: AM.AAPL", "subscribed to: T.*"]
    assert all(m["status"] == "success" for m in r)
    assert s.subs.wants("Q", "AAPL") and s.subs.wants("T", "MSFT") and not s.subs.wants("Q", "MSFT")
    r = s.handle('{"action":"unsubscribe","params":"T.*,Q.AAPL"}')
    assert [m["message"] for m in r] == ["unsubscribed to: T.*", "unsubscribed to: Q.AAPL"]
    assert s.subs.topics() == ["AM.AAPL", "T.AAPL"]


def test_polygon_wrong_key_fails_and_asks_to_close():
    s = PolygonSession("simulated", key="right")
    r = s.handle('{"action":"auth","params":"wrong"}')
    assert r == [{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]
    assert s.closing and s.closing[0] == 1008 and not s.authed
    s2 = PolygonSession("replay", key="right")
    assert s2.handle('{"action":"auth","params":"right"}')[0]["status"] == "auth_success"


def test_polygon_over_the_limit_answers_auth_with_max_connections():
    s = PolygonSession("simulated", over_limit=True)
    assert s.greeting()[0]["status"] == "connected"
    assert s.handle('{"action":"auth","params":"k"}')[0]["status"] == "max_connections"
    assert s.closing == (1008, "max_connections") and not s.authed


@pytest.mark.parametrize("msg", ["not json", "[1,2]", '{"action":"dance"}', '{"action":"subscribe","params":5}',
                                 '{"action":"subscribe","params":"X.AAPL"}', '{"action":"subscribe","params":"T.a b"}'])
def test_polygon_bad_messages_get_error_statuses(msg):
    s = PolygonSession("simulated")
    s.handle('{"action":"auth","params":"k"}')
    r = s.handle(msg)
    assert r and all(m["ev"] == "status" and m["status"] == "error" and m["message"] for m in r)
    assert not s.subs


# ---- relay --------------------------------------------------------------
def test_relay_subscribe_ping_unsubscribe_and_errors():
    s = RelaySession("c1", "replay")
    assert s.greeting() == {"type": "connected", "client_id": "c1", "source": "replay"}
    assert s.handle('{"action":"subscribe","symbols":["aapl","MSFT"],"channels":["T","AM"]}') == [
        {"type": "subscribed", "symbols": ["AAPL", "MSFT"], "channels": ["T", "AM"]}]
    assert s.subs.wants("AM", "MSFT") and not s.subs.wants("Q", "AAPL")
    assert s.handle('{"action":"subscribe","symbols":["TSLA"]}')[0]["channels"] == ["T", "Q", "AM"]
    assert s.handle('{"action":"ping"}') == [{"type": "pong"}]
    assert s.handle('{"action":"unsubscribe","symbols":["AAPL"],"channels":["T","AM"]}')[0]["type"] == "unsubscribed"
    assert not s.subs.wants("T", "AAPL") and s.subs.wants("T", "MSFT")
    for bad in ("{oops", '"str"', '{"action":"fly"}', '{"action":"subscribe"}',
                '{"action":"subscribe","symbols":["$$$"]}', '{"action":"subscribe","symbols":["A"],"channels":["Z"]}'):
        r = s.handle(bad)
        assert r[0]["type"] == "error" and r[0]["message"]


# ---- faults -------------------------------------------------------------
def test_fault_parsing_rejects_bad_specs():
    assert F.parse_fault({"kind": "clear"}, 0) is None
    for bad in ({"kind": "boom"}, {"kind": "drop"}, {"kind": "drop", "after": -1}, {"kind": "max_connections"},
                {"kind": "stall", "path": "ftp"}, "drop", {"kind": "drop", "after": True}):
        with pytest.raises(ValueError):
            F.parse_fault(bad, 0)


def test_drop_after_n_events_counts_per_connection_and_times():
    st = F.FaultState()
    st.set(F.parse_fault({"kind": "drop", "after": 10, "times": 1}, now=0))
    a, b = F.ConnFaults("polygon", 0), F.ConnFaults("polygon", 0)
    assert st.before_send(a, 1) == F.SEND
    a.events += 10
    assert st.before_send(a, 1) == F.DROP
    b.events += 50  # the fault was used up by a: b is spared
    assert st.before_send(b, 1) == F.SEND


def test_stall_close_1011_malformed_and_path_filter():
    st = F.FaultState()
    st.set(F.parse_fault({"kind": "stall", "after": 5, "path": "relay"}, 0))
    r, p = F.ConnFaults("relay", 0), F.ConnFaults("polygon", 0)
    assert st.before_send(r, 0) == F.SEND  # counting starts when a connection meets the fault
    r.events = p.events = 5
    assert st.before_send(r, 0) == F.STALL and st.before_send(p, 0) == F.SEND
    st.set(None)
    assert st.before_send(r, 0) == F.SEND  # clear resumes a stalled connection
    st.set(F.parse_fault({"kind": "close_1011", "after": 0}, 0))
    assert st.before_send(p, 0) == F.CLOSE_1011
    st.set(None)
    st.set(F.parse_fault({"kind": "malformed", "every": 3}, 0))
    extras = []
    for _ in range(9):
        assert st.before_send(p, 0) == F.SEND
        extras.append(st.malformed(p))
        p.frames += 1
    assert [e is not None for e in extras] == [False, False, True] * 3
    for e in filter(None, extras):
        with pytest.raises(Exception):
            ev = orjson.loads(e)
            # the one that parses is still not a valid event list
            assert isinstance(ev, list) and isinstance(ev[0]["p"], float)


def test_drop_every_t_seconds_and_max_connections():
    st = F.FaultState()
    st.set(F.parse_fault({"kind": "drop", "every": 2.0}, now=100.0))
    c = F.ConnFaults("relay", started=101.0)
    assert st.on_time(c, 102.5) == F.SEND and st.on_time(c, 103.0) == F.DROP
    st.set(F.parse_fault({"kind": "max_connections", "limit": 1, "path": "polygon"}, 0))
    assert st.max_connections("polygon") == 1 and st.max_connections("relay") is None


# ---- history ------------------------------------------------------------
def test_history_dates_and_requests():
    d0 = int(dt.datetime(2025, 6, 27, tzinfo=NY).timestamp() * 1000)
    assert H.parse_time("2025-06-27", "x") == d0
    assert H.parse_time("2025-06-27", "x", end=True) == d0 + 86_400_000 - 1
    assert H.parse_time(str(d0), "x") == d0 == H.parse_time(d0, "x")
    assert H.parse_time("2025-06-27T09:30:00", "x") == d0 + int(9.5 * 3_600_000)
    assert H.parse_relay_request({"symbol": "aapl", "timeframe": "1min", "start_date": "2025-06-27",
                                  "end_date": "2025-06-27", "limit": 5}) == ("AAPL", "1min", d0,
                                                                            d0 + 86_400_000 - 1, 5)
    assert H.parse_polygon_range("AAPL", "1", "minute", "2025-06-27", "2025-06-27", {"sort": "desc"})[-1] is True


@pytest.mark.parametrize("body", [None, [], {"symbol": "$$"}, {"symbol": "AAPL", "timeframe": "5min",
                                  "start_date": "2025-01-01"}, {"symbol": "AAPL", "start_date": "yesterday"},
                                  {"symbol": "AAPL", "start_date": "2025-01-02", "end_date": "2025-01-01"},
                                  {"symbol": "AAPL", "start_date": "2025-01-01", "limit": "lots"},
                                  {"symbol": "AAPL", "start_date": "2025-01-01", "limit": 0}])
def test_history_bad_relay_requests(body):
    with pytest.raises(H.HistoryError):
        H.parse_relay_request(body)


def test_history_select_keeps_the_latest():
    bars = [{"s": i * 60_000} for i in range(10)]
    assert [b["s"] for b in H.select(bars, 60_000, 8 * 60_000, 3)] == [360_000, 420_000, 480_000]
    assert [b["s"] for b in H.select(bars, 60_000, 8 * 60_000, 2, latest=False)] == [60_000, 120_000]


# ---- replay loading -----------------------------------------------------
def test_replay_shift_keeps_new_york_time_of_day_across_dst(tmp_path):
    # 2025-06-27 is EDT; 2025-12-01 is EST: a whole-day shift must keep 09:30 New York time.
    t = int(dt.datetime(2025, 6, 27, 9, 30, tzinfo=NY).timestamp() * 1000)
    lines = [orjson.dumps({"ev": "T", "sym": "AAPL", "p": 1.0, "s": 1, "t": t}),
             b"garbage line",
             orjson.dumps({"ev": "AM", "sym": "AAPL", "o": 1, "h": 1, "l": 1, "c": 1, "v": 1, "s": t, "e": t + 60_000})]
    f = tmp_path / "x.jsonl.gz"
    f.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    r = load_replay(f, today=dt.date(2025, 12, 1))
    assert r.bad_lines == 1 and len(r) == 2
    ev = orjson.loads(r.encoded[0])
    assert dt.datetime.fromtimestamp(ev["t"] / 1000, NY).replace(tzinfo=None) == dt.datetime(2025, 12, 1, 9, 30)
    assert r.shift == day_shift_ms(dt.date(2025, 6, 27), dt.date(2025, 12, 1)) and r.shift % 60_000 == 0
    am = orjson.loads(r.encoded[1])
    assert am["e"] - am["s"] == 60_000 and am["s"] == ev["t"]
    kept = load_replay(f, keep_time=True)
    assert orjson.loads(kept.encoded[0])["t"] == t
    with pytest.raises(ValueError):
        load_replay(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("nope\n")
    with pytest.raises(ValueError):
        load_replay(tmp_path / "empty.jsonl")


# ---- clock --------------------------------------------------------------
def test_sim_clock_starts_at_10_new_york_on_the_latest_session_and_runs_at_speed():
    from feed_process.sim.server import SimClock, SimConfig, sim_start_ms

    sunday_3am = int(dt.datetime(2025, 6, 29, 3, 0, tzinfo=NY).timestamp() * 1000)
    start = sim_start_ms(SimConfig(), wall_ms=sunday_3am)
    assert dt.datetime.fromtimestamp(start / 1000, NY) == dt.datetime(2025, 6, 27, 10, 0, tzinfo=NY)  # Friday
    assert sim_start_ms(SimConfig(start="09:31"), wall_ms=sunday_3am) == start - 29 * 60_000
    assert sim_start_ms(SimConfig(clock="real"), wall_ms=sunday_3am) == sunday_3am
    t = [100.0]
    clock = SimClock(start, speed=60.0, mono=lambda: t[0])
    t[0] += 1.5
    assert clock.now_ms() == start + 90_000

"""Sans-I/O parts of the simulator: protocol sessions and their framing, fault rules, history parsing,
replay loading, the clock decision, scripted events."""

from __future__ import annotations

import datetime as dt
import gzip

import orjson
import pytest

from feed_process.sim import faults as F
from feed_process.sim import rest as H
from feed_process.sim.clock import SimClock, plan_clock, virtual_start_ms
from feed_process.sim.inject import InjectError, event_key, parse_inject
from feed_process.sim.polygon import PolygonSession
from feed_process.sim.relay import RelaySession
from feed_process.sim.replay import day_shift_ms, load_replay
from feed_process.sim.sessions import FRAME_EVENTS
from shared.market_hours import NY


class Poly(PolygonSession):
    """The session with its replies decoded (one Polygon frame = one JSON array of statuses)."""

    def ask(self, text):
        reply = self.handle(text)
        assert len(reply.messages) == 1
        return orjson.loads(reply.messages[0])


class Relay(RelaySession):
    def ask(self, text):
        return [orjson.loads(m) for m in self.handle(text).messages]


def ny_ms(*args) -> int:
    return int(dt.datetime(*args, tzinfo=NY).timestamp() * 1000)


# ---- Polygon ------------------------------------------------------------
def test_polygon_greeting_auth_and_one_status_per_topic():
    s = Poly("simulated", "virtual")
    assert [orjson.loads(m) for m in s.greeting()] == [[{"ev": "status", "status": "connected",
                                                         "message": "Connected Successfully",
                                                         "source": "simulated", "session": "virtual"}]]
    reply = s.handle('{"action":"subscribe","params":"T.AAPL"}')
    r = orjson.loads(reply.messages[0])
    assert r[0]["status"] == "error" and "auth" in r[0]["message"] and not s.subs and reply.error
    assert s.ask('{"action":"auth","params":"anything"}')[0]["status"] == "auth_success"
    r = s.ask(b'{"action":"subscribe","params":"T.AAPL,Q.AAPL, AM.aapl,T.*,A.AAPL,LULD.*"}')
    assert [m["message"] for m in r] == ["subscribed to: T.AAPL", "subscribed to: Q.AAPL",
                                         "subscribed to: AM.AAPL", "subscribed to: T.*", "subscribed to: A.AAPL",
                                         "subscribed to: LULD.*"]
    assert all(m["status"] == "success" for m in r)
    assert s.subs.wants("Q", "AAPL") and s.subs.wants("T", "MSFT") and not s.subs.wants("Q", "MSFT")
    assert s.subs.wants("A", "AAPL") and s.subs.wants("LULD", "TSLA")
    r = s.ask('{"action":"unsubscribe","params":"T.*,Q.AAPL,A.AAPL,LULD.*"}')
    assert [m["message"] for m in r] == ["unsubscribed to: T.*", "unsubscribed to: Q.AAPL", "unsubscribed to: A.AAPL",
                                         "unsubscribed to: LULD.*"]
    assert s.subs.topics() == ["AM.AAPL", "T.AAPL"]


def test_polygon_frames_hold_at_most_1000_events_and_the_bytes_unchanged():
    s = PolygonSession("simulated")
    evs = [orjson.dumps({"ev": "T", "sym": "AAPL", "p": 1.5, "s": i, "t": i}) for i in range(2500)]
    frames = s.frame(evs)
    assert [n for _, n in frames] == [FRAME_EVENTS, FRAME_EVENTS, 500]
    decoded = [e for payload, _ in frames for e in orjson.loads(payload)]
    assert decoded == [orjson.loads(e) for e in evs]
    assert orjson.loads(s.slow_consumer()[0])[0]["status"] == "slow_consumer"


def test_polygon_frame_size_is_a_setting():
    s = PolygonSession("simulated", frame_events=5)
    evs = [orjson.dumps({"ev": "T", "sym": "AAPL", "p": 1.5, "s": i, "t": i}) for i in range(12)]
    frames = s.frame(evs)
    assert [n for _, n in frames] == [5, 5, 2]
    assert [e for payload, _ in frames for e in orjson.loads(payload)] == [orjson.loads(e) for e in evs]


def test_relay_frames_one_market_data_message_per_event():
    s = RelaySession("c", "simulated")
    evs = [orjson.dumps({"ev": "Q", "sym": "MSFT", "bp": 1.0, "t": i}) for i in range(3)]
    [(payload, n)] = s.frame(evs)
    assert n == 3 and [orjson.loads(m) for m in payload] == [{"type": "market_data", "data": orjson.loads(e)}
                                                             for e in evs]
    busy = s.refuse_busy()
    assert orjson.loads(busy.messages[0])["type"] == "error" and busy.close == (1008, "max_connections")


def test_polygon_wrong_key_fails_and_asks_to_close():
    s = PolygonSession("simulated", key="right")
    reply = s.handle('{"action":"auth","params":"wrong"}')
    assert orjson.loads(reply.messages[0]) == [{"ev": "status", "status": "auth_failed",
                                                "message": "authentication failed"}]
    assert reply.close and reply.close[0] == 1008 and not s.authed
    s2 = Poly("replay", key="right")
    assert s2.ask('{"action":"auth","params":"right"}')[0]["status"] == "auth_success"


def test_polygon_over_the_limit_answers_auth_with_max_connections():
    s = PolygonSession("simulated", over_limit=True)
    assert orjson.loads(s.greeting()[0])[0]["status"] == "connected"
    reply = s.handle('{"action":"auth","params":"k"}')
    assert orjson.loads(reply.messages[0])[0]["status"] == "max_connections"
    assert reply.close == (1008, "max_connections") and not s.authed


@pytest.mark.parametrize("msg", ["not json", "[1,2]", '{"action":"dance"}', '{"action":"subscribe","params":5}',
                                 '{"action":"subscribe","params":"X.AAPL"}', '{"action":"subscribe","params":"T.a b"}'])
def test_polygon_bad_messages_get_error_statuses(msg):
    s = Poly("simulated")
    s.handle('{"action":"auth","params":"k"}')
    r = s.ask(msg)
    assert r and all(m["ev"] == "status" and m["status"] == "error" and m["message"] for m in r)
    assert not s.subs


# ---- relay --------------------------------------------------------------
def test_relay_subscribe_ping_unsubscribe_and_errors():
    s = Relay("c1", "replay", "virtual")
    assert [orjson.loads(m) for m in s.greeting()] == [{"type": "connected", "client_id": "c1", "source": "replay",
                                                        "session": "virtual"}]
    assert s.ask('{"action":"subscribe","symbols":["aapl","MSFT"],"channels":["T","AM"]}') == [
        {"type": "subscribed", "symbols": ["AAPL", "MSFT"], "channels": ["T", "AM"]}]
    assert s.subs.wants("AM", "MSFT") and not s.subs.wants("Q", "AAPL")
    assert s.ask('{"action":"subscribe","symbols":["TSLA"]}')[0]["channels"] == ["T", "Q", "AM"]
    assert s.ask('{"action":"ping"}') == [{"type": "pong"}]
    assert s.handle('{"action":"ping"}').error is None
    assert s.ask('{"action":"subscribe","symbols":["NVDA"],"channels":["A","LULD"]}')[0]["type"] == "subscribed"
    assert s.subs.wants("A", "NVDA") and s.subs.wants("LULD", "NVDA")
    assert s.ask('{"action":"unsubscribe","symbols":["AAPL"],"channels":["T","AM"]}')[0]["type"] == "unsubscribed"
    assert not s.subs.wants("T", "AAPL") and s.subs.wants("T", "MSFT")
    for bad in ("{oops", '"str"', '{"action":"fly"}', '{"action":"subscribe"}',
                '{"action":"subscribe","symbols":["$$$"]}', '{"action":"subscribe","symbols":["A"],"channels":["Z"]}'):
        r = s.ask(bad)
        assert r[0]["type"] == "error" and r[0]["message"] and s.handle(bad).error


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


# ---- clock ------------------------------------------------------------
def test_virtual_session_starts_at_10_new_york_on_the_latest_session_and_runs_at_speed():
    sunday_3am = ny_ms(2025, 6, 29, 3, 0)
    plan = plan_clock("auto", sunday_3am)
    assert plan.session == "virtual" and plan.start_ms == ny_ms(2025, 6, 27, 10, 0)  # Friday
    assert virtual_start_ms(sunday_3am, "09:31") == plan.start_ms - 29 * 60_000
    forced = plan_clock("wall", sunday_3am)
    assert forced == (("wall", sunday_3am, 1.0)) == plan_clock("real", sunday_3am)  # the older name
    t = [100.0]
    clock = SimClock(plan.start_ms, speed=60.0, mono=lambda: t[0])
    t[0] += 1.5
    assert clock.now_ms() == plan.start_ms + 90_000


@pytest.mark.parametrize("when, session", [
    ((2025, 6, 27, 10, 0), "wall"),  # a Friday session, regular hours
    ((2025, 6, 27, 9, 29), "virtual"),  # pre-market: not open yet
    ((2025, 6, 27, 16, 0), "virtual"),  # the close
    ((2025, 7, 4, 11, 0), "virtual"),  # Independence Day: no session
    ((2025, 7, 3, 12, 59), "wall"),  # early close day, before 13:00
    ((2025, 7, 3, 13, 30), "virtual"),  # ... after it
    ((2025, 6, 28, 11, 0), "virtual"),  # Saturday
])
def test_auto_clock_follows_the_wall_only_while_the_nyse_is_open(when, session):
    wall = ny_ms(*when)
    plan = plan_clock("auto", wall)
    assert plan.session == session
    if session == "wall":
        assert plan.start_ms == wall and plan.speed == 1.0
    # a speed or a start time asks for a virtual session, whatever the hour
    assert plan_clock("auto", wall, speed=5.0).session == "virtual"
    assert plan_clock("auto", wall, start="09:45").start_ms == virtual_start_ms(wall, "09:45")
    assert plan_clock("virtual", wall).session == "virtual" and plan_clock("sim", wall).session == "virtual"
    with pytest.raises(ValueError):
        plan_clock("sundial", wall)


# ---- scripted events ------------------------------------------------------
def test_inject_luld_band_from_the_price_and_raw_events():
    [ev] = parse_inject({"luld": {"sym": "AAPL", "pct": 10, "i": [21]}}, 1_000, lambda s: 200.0)
    assert ev["ev"] == "LULD" and ev["T"] == "AAPL" and (ev["h"], ev["l"]) == (220.0, 180.0)
    assert ev["i"] == [21] and ev["t"] == 1_000 and isinstance(ev["q"], int) and event_key(ev) == ("LULD", "AAPL")
    [given] = parse_inject({"luld": {"sym": "MSFT", "h": 2.5, "l": 2.0}}, 5, lambda s: None)
    assert (given["h"], given["l"]) == (2.5, 2.0)
    raw = parse_inject({"events": [{"ev": "NOI", "T": "TSLA", "at": 930, "a": "M", "i": 44},
                                   {"ev": "T", "sym": "AAPL", "p": 1.0, "s": 5, "t": 7}]}, 99, lambda s: None)
    assert raw[0]["t"] == 99 and raw[1]["t"] == 7 and [event_key(e) for e in raw] == [("NOI", "TSLA"), ("T", "AAPL")]


@pytest.mark.parametrize("body", [None, [], {}, {"luld": "AAPL"}, {"luld": {"sym": "$$"}},
                                  {"luld": {"sym": "AAPL", "pct": 0}}, {"luld": {"sym": "ZZZ"}},
                                  {"luld": {"sym": "AAPL", "h": 1, "l": 2}}, {"luld": {"sym": "AAPL", "i": "x"}},
                                  {"events": "x"}, {"events": [{"sym": "AAPL"}]}, {"events": [{"ev": "T"}]}])
def test_inject_rejects_bad_bodies(body):
    with pytest.raises(InjectError):
        parse_inject(body, 0, lambda s: 100.0 if s == "AAPL" else None)

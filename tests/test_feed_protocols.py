"""The sans-I/O upstream cores: handshakes, parsing, filtering, and fuzzing (no sockets)."""

from __future__ import annotations

import gzip
import math

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from feed_process.protocols import AUTH_FAILED, CONNECTED, MAX_CONNECTIONS, PolygonCore, RelayCore
from shared.models.market_data import normalize
from shared.models.wire import event_to_dict

T = {"ev": "T", "sym": "AAPL", "x": 12, "i": "17", "z": 3, "p": 201.5, "s": 100, "c": [14, 37], "t": 1751031000123, "q": 9}
Q = {"ev": "Q", "sym": "AAPL", "bx": 12, "bp": 201.4, "bs": 2, "ax": 11, "ap": 201.6, "as": 3, "t": 1751031000200}
AM = {"ev": "AM", "sym": "AAPL", "v": 5000, "av": 9000, "op": 200.0, "vw": 201.1, "o": 201.0, "c": 201.2,
      "h": 201.9, "l": 200.5, "a": 200.9, "z": 41, "s": 1751031000000, "e": 1751031060000}


def polygon_ready(*symbols: str) -> PolygonCore:
    core = PolygonCore("SECRETKEY123")
    core.on_open()
    core.receive(b'[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
    core.receive(b'[{"ev":"status","status":"auth_success","message":"authenticated"}]')
    core.subscribe(symbols)
    return core


def test_polygon_handshake_auth_then_subscribes_the_whole_union():
    core = PolygonCore("SECRETKEY123")
    assert core.subscribe(["AAPL", "BRK.B"]) == []  # not ready: nothing sent yet
    assert core.on_open() == []
    out = core.receive(b'[{"ev":"status","status":"connected","message":"Connected Successfully","source":"replay"}]')
    assert [orjson.loads(m) for m in out.send] == [{"action": "auth", "params": "SECRETKEY123"}]
    assert out.source == "replay"
    out = core.receive(b'[{"ev":"status","status":"auth_success","message":"authenticated"}]')
    assert out.state == CONNECTED
    assert [orjson.loads(m) for m in out.send] == [
        {"action": "subscribe", "params": "T.AAPL,Q.AAPL,AM.AAPL,T.BRK.B,Q.BRK.B,AM.BRK.B"}]
    # once ready, changes go out at once
    assert [orjson.loads(m) for m in core.unsubscribe(["AAPL"])] == [
        {"action": "unsubscribe", "params": "T.AAPL,Q.AAPL,AM.AAPL"}]
    assert core.unsubscribe(["AAPL"]) == []  # already gone
    # reconnect: not ready again until auth_success, which re-subscribes the union
    core.on_open()
    assert core.subscribe(["MSFT"]) == []
    core.receive(b'[{"ev":"status","status":"connected"}]')
    out = core.receive(b'[{"ev":"status","status":"auth_success"}]')
    assert orjson.loads(out.send[0])["params"] == "T.BRK.B,Q.BRK.B,AM.BRK.B,T.MSFT,Q.MSFT,AM.MSFT"


def test_polygon_auth_failed_and_max_connections_are_states_not_errors():
    core = PolygonCore("bad")
    core.on_open()
    out = core.receive(b'[{"ev":"status","status":"auth_failed","message":"authentication failed"}]')
    assert out.state == AUTH_FAILED and "authentication failed" in out.message and not core.ready
    out = core.receive(b'[{"ev":"status","status":"max_connections","message":"Maximum number of connections exceeded."}]')
    assert out.state == MAX_CONNECTIONS and "Maximum" in out.message


def test_polygon_batch_converts_to_wire_arrays_in_order_and_round_trips_to_seed_dicts():
    core = polygon_ready("AAPL", "BRK.B")
    brk = dict(T, sym="BRK.B", p=480.25)
    out = core.receive(orjson.dumps([T, Q, AM, brk]))
    assert out.errors == []
    assert [(s, a[0]) for s, a in out.events] == [("AAPL", "T"), ("AAPL", "Q"), ("AAPL", "AM"), ("BRK.B", "T")]
    # the wire arrays expand to exactly what the foundation's normalize() makes of the raw events
    for (sym, arr), raw in zip(out.events, [T, Q, AM, brk]):
        got, want = event_to_dict(sym, arr), normalize(raw)
        for k in ("timestamp", "price", "size", "conditions", "exchange", "bid_price", "ask_size", "open",
                  "high", "low", "close", "volume", "vwap"):
            if k in want:
                assert got[k] == want[k], k
    assert out.events[0][1][6] == "17"  # trade id travels


def test_polygon_drops_unwanted_symbols_and_counts_bad_events_by_kind():
    core = polygon_ready("AAPL")
    frame = [dict(T, sym="MSFT"), dict(T, p=float("nan")) if False else dict(T, p=-1), dict(T, s="100"),
             {"ev": "XX", "sym": "AAPL"}, dict(Q, t="yesterday"), dict(AM, h=1.0), 7, dict(T, c=["x"]),
             {"ev": "T"}, T]
    out = core.receive(orjson.dumps(frame))
    assert len(out.events) == 1 and out.events[0][1][2] == 201.5
    assert core.counters == {"unknown_symbol": 1, "bad_value": 2, "unknown_event": 1, "bad_timestamp": 1,
                             "inconsistent_bar": 1, "wrong_type": 2, "missing_symbol": 1}
    out = core.receive(b'[{"ev":"T","sym":"AAPL","p":NaN,"s":1,"t":1}]')
    assert core.counters["malformed_json"] == 1 and out.events == []
    out = core.receive('[{"ev":"T","sym":"AAPL","p":1e999,"s":1,"t":5}]')
    assert out.events == []


def test_relay_accepts_both_spellings_and_its_control_messages():
    core = RelayCore()
    core.subscribe(["AAPL"])
    sent = core.on_open()
    assert [orjson.loads(m) for m in sent] == [{"action": "subscribe", "symbols": ["AAPL"], "channels": ["T", "Q", "AM"]}]
    out = core.receive('{"type":"connected","client_id":"x","source":"simulated"}')
    assert out.state == CONNECTED and out.source == "simulated"
    assert core.receive('{"type":"subscribed","symbols":["AAPL"]}').errors == []
    assert core.receive('{"type":"pong"}').errors == []
    std = {"event_type": "trade", "symbol": "AAPL", "price": 10.5, "size": 3, "timestamp": 1751031000123,
           "conditions": [], "exchange": "NASDAQ"}
    out = core.receive(orjson.dumps({"type": "market_data", "data": std}))
    assert out.events == [("AAPL", ["T", 1751031000123, 10.5, 3, 12, [], None])]
    out = core.receive(orjson.dumps({"type": "market_data", "data": T}))
    assert out.events[0][1][:4] == ["T", T["t"], 201.5, 100]
    # a relay that ignores unsubscribe: its events are filtered out here
    core.unsubscribe(["AAPL"])
    out = core.receive(orjson.dumps({"type": "market_data", "data": T}))
    assert out.events == [] and core.counters["unknown_symbol"] == 1
    out = core.receive('{"type":"error","message":"bad symbol"}')
    assert out.errors[0][0] == "upstream_error"
    out = core.receive('{"type":"weird"}')
    assert out.errors[0][0] == "unknown_message"


def test_real_tsla_frames_parse_without_errors(big_replay):
    core = polygon_ready(big_replay.symbol)  # TSLA when ../shared is beside the repo, else the AAPL sample
    with gzip.open(big_replay.path, "rb") as fh:
        lines = [next(fh) for _ in range(20_000)]
    raw = [orjson.loads(x) for x in lines]
    out = core.receive(b"[" + b",".join(x.strip() for x in lines) + b"]")
    assert out.errors == [] and len(out.events) == len(raw)
    for (sym, arr), r in zip(out.events, raw):
        assert sym == big_replay.symbol and arr[0] == ("AM" if r["ev"] == "AM" else r["ev"]) and arr[1] == (r.get("t") or r["s"])


def test_typed_fast_path_and_thorough_path_agree_on_real_frames(replay_dir):
    core = polygon_ready("AAPL")
    with gzip.open(replay_dir / "AAPL-2025-06-27-open.jsonl.gz", "rb") as fh:
        lines = [x.strip() for x in fh]
    for i in range(0, len(lines), 997):
        frame = b"[" + b",".join(lines[i:i + 997]) + b"]"
        fast, slow = core.receive(frame), core._receive_slow(frame)
        assert fast.events == slow.events and fast.count == slow.count == len(lines[i:i + 997])
        assert fast.last_ms == slow.last_ms and not fast.errors
    # one bad event sends the frame down the thorough path: the good ones still arrive, the bad one is counted
    frame = b"[" + b",".join(lines[:10] + [b'{"ev":"T","sym":"AAPL","p":"x","s":1,"t":1}']) + b"]"
    out = core.receive(frame)
    assert out.count == 10 and [k for k, _ in out.errors] == ["bad_value"]


# ------------------------------------------------------------------ fuzz

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(json_values, st.sampled_from(["AAPL", "T", "Q", "AM", "status", "auth_success", "BRK.B"]),
                         st.floats(), st.integers(0, 2**40))
polygonish = st.dictionaries(st.sampled_from(["ev", "sym", "p", "s", "t", "c", "x", "i", "bp", "ap", "bs", "as",
                                              "o", "h", "l", "v", "vw", "status", "message", "n"]),
                             field_values, max_size=10)


def _frame(obj) -> bytes:
    try:
        return orjson.dumps(obj)
    except TypeError:
        return b"[]"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(polygonish, json_values), max_size=6), st.binary(max_size=30))
def test_fuzz_polygon_core_never_raises_and_counts_every_bad_event(events, junk):
    core = polygon_ready("AAPL", "BRK.B")
    for frame in (_frame(events), junk, _frame(events)[:-1]):
        before = sum(core.counters.values())
        out = core.receive(frame)
        assert sum(core.counters.values()) - before == len(out.errors)
        for sym, arr in out.events:  # whatever got through is a valid, publishable event
            assert sym in ("AAPL", "BRK.B")
            d = event_to_dict(sym, arr)
            for k in ("price", "bid_price", "ask_price", "open", "close"):
                if k in d:
                    assert math.isfinite(d[k]) and d[k] >= 0


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.builds(lambda d, t: {"type": t, "data": d},
                           st.one_of(polygonish, st.lists(polygonish, max_size=3), json_values),
                           st.sampled_from(["market_data", "connected", "error", "pong", "x"])),
                 json_values), st.binary(max_size=30))
def test_fuzz_relay_core_never_raises(msg, junk):
    core = RelayCore()
    core.subscribe(["AAPL"])
    core.on_open()
    for frame in (_frame(msg), junk):
        before = sum(core.counters.values())
        out = core.receive(frame)
        assert sum(core.counters.values()) - before == len(out.errors)
        assert all(sym == "AAPL" for sym, _ in out.events)

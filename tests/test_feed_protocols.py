"""The sans-I/O upstream cores: handshakes, parsing, filtering, and fuzzing (no sockets)."""

from __future__ import annotations

import gzip
import math

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

import json

import msgpack
import pytest

from feed_process.protocols import (ALL_CHANNELS, AUTH_FAILED, CONNECTED, MAX_CONNECTIONS, PolygonCore, RelayCore,
                                    make_core)
from shared.models.events import DEDUP_WINDOW
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
    assert core.counters == {"unknown_symbol": 1, "bad_value": 1, "unknown_event": 1, "bad_timestamp": 1,
                             "inconsistent_bar": 1, "wrong_type": 3, "missing_symbol": 1}
    out = core.receive(b'[{"ev":"T","sym":"AAPL","p":NaN,"s":1,"t":1751031000123}]')
    assert core.counters["malformed_json"] == 1 and out.events == []
    out = core.receive('[{"ev":"T","sym":"AAPL","p":1e999,"s":1,"t":1751031000123}]')
    assert out.events == [] and out.errors[0][0] == "bad_value"


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
    assert out.events == [("AAPL", ["T", 1751031000123, 10.5, 3, 12, [], None, None, None, None, None])]
    out = core.receive(orjson.dumps({"type": "market_data", "data": T}))
    assert out.events[0][1][:4] == ["T", T["t"], 201.5, 100]
    # a relay that ignores unsubscribe: its events are filtered out here
    core.unsubscribe(["AAPL"])
    out = core.receive(orjson.dumps({"type": "market_data", "data": dict(T, i="18")}))
    assert out.events == [] and core.counters["unknown_symbol"] == 1
    out = core.receive('{"type":"error","message":"bad symbol"}')
    assert out.errors[0][0] == "upstream_error" and out.sub_errors == ["bad symbol"]
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
        assert sym == big_replay.symbol and arr[0] == r["ev"] and arr[1] == (r.get("t") or r["s"])
        if r["ev"] == "T":  # every field the spec defines travels
            assert arr[2:10] == [r["p"], r["s"], r["x"], r.get("c", []), r["i"], r["z"], r["q"], r.get("trfi")]


def test_typed_fast_path_and_thorough_path_agree_on_real_frames(replay_dir):
    core, other = polygon_ready("AAPL"), polygon_ready("AAPL")  # each its own de-dup memory
    with gzip.open(replay_dir / "AAPL-2025-06-27-open.jsonl.gz", "rb") as fh:
        lines = [x.strip() for x in fh]
    for i in range(0, len(lines), 997):
        frame = b"[" + b",".join(lines[i:i + 997]) + b"]"
        fast, slow = core.receive(frame), other._receive_slow(frame)
        assert fast.events == slow.events and fast.count == slow.count == len(lines[i:i + 997])
        assert fast.last_ms == slow.last_ms and not fast.errors
    # one bad event sends the frame down the thorough path: the good ones still arrive, the bad one is counted
    frame = b"[" + b",".join(lines[:10] + [b'{"ev":"T","sym":"AAPL","p":"x","s":1,"t":1}']) + b"]"
    core.on_open()  # a new connection: the de-dup memory starts empty
    out = core.receive(frame)
    assert out.count == 10 and [k for k, _ in out.errors] == ["wrong_type"]


def test_subscribe_params_cover_the_spec_channels_and_unknown_channels_are_refused():
    core = PolygonCore("k", channels=("T", "A", "LULD", "NOI"))
    core.subscribe(["AAPL"])
    core.on_open()
    core.receive(b'[{"ev":"status","status":"connected"}]')
    out = core.receive(b'[{"ev":"status","status":"auth_success"}]')
    assert [orjson.loads(m) for m in out.send] == [{"action": "subscribe", "params": "T.AAPL,A.AAPL,LULD.AAPL,NOI.AAPL"}]
    relay = make_core("relay", channels=ALL_CHANNELS)
    relay.subscribe(["BACpL"])
    assert [orjson.loads(m) for m in relay.on_open()] == [
        {"action": "subscribe", "symbols": ["BACpL"], "channels": ["T", "Q", "AM", "A", "LULD", "NOI"]}]
    for bad in (["T", "XX"], [], ["t"]):
        with pytest.raises(ValueError):
            PolygonCore("k", channels=bad)


def test_polygon_acknowledgements_pending_topics_and_subscription_errors():
    core = PolygonCore("k")
    core.subscribe(["AAPL", "BACpL"])
    core.on_open()
    out = core.receive(b'[{"ev":"status","status":"error","message":"not authorized"}]')  # before auth
    assert out.sub_errors == [] and out.errors[0][0] == "upstream_error"
    core.receive(b'[{"ev":"status","status":"connected"}]')
    core.receive(b'[{"ev":"status","status":"auth_success"}]')
    assert core.pending == {"T.AAPL", "Q.AAPL", "AM.AAPL", "T.BACpL", "Q.BACpL", "AM.BACpL"}
    acks = [{"ev": "status", "status": "success", "message": f"subscribed to: {t}"}
            for t in ("T.AAPL", "Q.AAPL", "AM.AAPL", "T.BACpL")]
    out = core.receive(orjson.dumps(acks))
    assert out.acks == ["T.AAPL", "Q.AAPL", "AM.AAPL", "T.BACpL"] and core.pending == {"Q.BACpL", "AM.BACpL"}
    out = core.receive(b'[{"ev":"status","status":"error","message":"invalid subscription: Q.BACpL"}]')
    assert out.sub_errors == ["invalid subscription: Q.BACpL"] and core.counters["upstream_error"] == 2
    core.unsubscribe(["BACpL"])
    out = core.receive(b'[{"ev":"status","status":"success","message":"unsubscribed to: T.BACpL"}]')
    assert out.acks == [] and core.pending == set()
    core.on_open()  # a new connection: nothing is pending until it subscribes again
    assert core.pending == set()


def test_relay_acknowledgements_and_errors():
    core = RelayCore(channels=("T", "Q"))
    core.subscribe(["AAPL"])
    core.on_open()
    assert core.pending == {"T.AAPL", "Q.AAPL"}
    out = core.receive('{"type":"subscribed","symbols":["AAPL"],"channels":["T","Q"]}')
    assert sorted(out.acks) == ["Q.AAPL", "T.AAPL"] and core.pending == set() and not out.errors
    out = core.receive('{"type":"error","message":"subscribe: invalid symbols [\'X|\'] or channels []"}')
    assert out.sub_errors == ["subscribe: invalid symbols ['X|'] or channels []"]


def test_duplicate_trades_are_dropped_in_the_core_and_trades_without_an_id_never():
    core = polygon_ready("AAPL")
    t = dict(T, i="501", x=4)
    out = core.receive(orjson.dumps([t, t, dict(t, x=12), dict(t, i="502")]))
    assert [a[6] for _, a in out.events] == ["501", "501", "502"] and core.counters["duplicate"] == 1
    assert out.events[1][1][4] == 12  # the same id on another exchange is another trade
    out = core.receive(orjson.dumps([t, {k: v for k, v in T.items() if k != "i"}] * 3))  # a relay double-sending
    assert len(out.events) == 3 and all(a[6] is None for _, a in out.events) and core.counters["duplicate"] == 4
    # the fallback path (a bad event in the frame) and an int id de-duplicate the same way
    out = core.receive(orjson.dumps([dict(t, i=777), dict(t, i="777"), dict(t, p="bad")]))
    assert [a[6] for _, a in out.events] == ["777"] and core.counters["duplicate"] == 5
    # the window is bounded: after 2 x DEDUP_WINDOW other trades the first id is forgotten
    fresh = [dict(t, i=str(10_000 + k)) for k in range(2 * DEDUP_WINDOW)]
    assert core.receive(orjson.dumps(fresh)).count == 2 * DEDUP_WINDOW
    assert sum(len(g) for g in core._seen["AAPL"]) <= 2 * DEDUP_WINDOW
    assert core.receive(orjson.dumps([t])).count == 1
    core.on_open()  # a new connection forgets: an upstream that restarted may reuse ids
    assert core._seen == {}


def test_relay_de_duplicates_both_spellings():
    core = RelayCore()
    core.subscribe(["AAPL"])
    core.on_open()
    std = {"event_type": "trade", "symbol": "AAPL", "price": 10.5, "size": 3, "timestamp": 1751031000123,
           "exchange": "NASDAQ", "id": 42}
    out = core.receive(orjson.dumps([{"type": "market_data", "data": std},
                                     {"type": "market_data", "data": [dict(T, i="42", x=12), T]}]))
    assert [a[6] for _, a in out.events] == ["42", "17"] and core.counters["duplicate"] == 1


BAD_NUMBERS = [("s", 1e30), ("s", 2**64), ("s", 2**63), ("s", 100.0), ("s", -1), ("p", 1e9), ("p", 1e30),
               ("p", 0), ("p", -0.0), ("p", "NaN"), ("p", "Infinity"), ("t", 2**64), ("t", 1.0), ("c", [2**64]),
               ("x", 2**63), ("q", -1), ("i", "9" * 65), ("trft", "now")]


@pytest.mark.parametrize("field, value", BAD_NUMBERS)
def test_a_number_msgpack_cannot_carry_is_refused_on_every_path(field, value):
    """The 1e30 trade used to raise OverflowError in the feed: fast path, per-event path, both relay spellings."""
    good = dict(T, i="1000")
    bad = dict(T, **{field: value})
    std_names = {"s": "size", "p": "price", "t": "timestamp", "c": "conditions", "x": "exchange", "q": "sequence",
                 "i": "id", "trft": "trf_timestamp"}
    std_bad = {"event_type": "trade", "symbol": "AAPL", "price": 1.5, "size": 1, "timestamp": 1751031000123,
               std_names[field]: value}
    polygon = polygon_ready("AAPL")
    relay = RelayCore()
    relay.subscribe(["AAPL"])
    relay.on_open()
    for core, frame in ((polygon, json.dumps([bad, good])), (polygon, json.dumps([bad])),
                        (relay, json.dumps({"type": "market_data", "data": [bad, good]})),
                        (relay, json.dumps({"type": "market_data", "data": std_bad}))):
        before = sum(core.counters.values())
        out = core.receive(frame)
        assert len(out.errors) == 1 and out.errors[0][0] in ("wrong_type", "bad_value", "bad_timestamp"), out.errors
        assert sum(core.counters.values()) == before + 1
        for sym, arr in out.events:
            assert arr[6] == "1000"  # only the good one
            msgpack.packb(arr)
        core.on_open()


def test_lower_case_tickers_are_kept_exactly():
    core = polygon_ready("BACpL")
    out = core.receive(orjson.dumps([dict(T, sym="BACpL"), dict(T, sym="BACPL"), dict(T, sym="bacpl")]))
    assert [s for s, _ in out.events] == ["BACpL"] and core.counters["unknown_symbol"] == 1
    assert core.counters["bad_symbol"] == 1  # 'bacpl' breaks the spec's pattern (it starts lower case)


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

"""The ZeroMQ wire codec (shared/models/wire.py): round trips, strict decoding, topics, sequences."""

from __future__ import annotations

import struct

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.models import wire
from shared.models import market_data as md
from shared.models.market_data import EXCHANGES, normalize
from shared.models.wire import WireError

# The machine is shared and slow; correctness, not speed, is tested here.
settings.register_profile("wire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("wire")
T = 1_751_029_504_111  # a valid epoch ms (the wire's times are checked: [1990, 2200))

# ---------------------------------------------------------------- strategies

symbols = st.from_regex(r"\A[A-Z][A-Za-z0-9]{0,9}(?:[./-][A-Za-z0-9]{1,4})?\Z")
ts_ms = st.integers(min_value=1_000_000_000_000, max_value=4_000_000_000_000)
prices = st.floats(min_value=1e-6, max_value=1e7, allow_nan=False, allow_infinity=False)
levels = st.just(0.0) | prices  # quote sides, LULD bands: 0 = absent
sizes = st.integers(min_value=0, max_value=2**63 - 1)
small = st.none() | st.integers(0, 2**40)
codes = st.lists(st.integers(0, 255), max_size=6)
# Names normalize() produces: the known exchanges, EX<n> for unknown ids, or None.
exchanges = st.one_of(
    st.none(),
    st.sampled_from(sorted(EXCHANGES.values())),
    st.integers(min_value=0, max_value=10_000).filter(lambda n: n not in EXCHANGES).map(lambda n: f"EX{n}"),
)


@st.composite
def trades(draw, sym=symbols):
    return {"event_type": "trade", "symbol": draw(sym), "timestamp": draw(ts_ms), "price": draw(prices),
            "size": draw(sizes), "conditions": draw(codes), "exchange": draw(exchanges),
            "id": draw(st.none() | st.text("0123456789abcdef", min_size=1, max_size=20)),
            "tape": draw(st.none() | st.integers(1, 3)), "sequence": draw(small), "trf_id": draw(small),
            "trf_timestamp": draw(st.none() | ts_ms)}


@st.composite
def quotes(draw, sym=symbols):
    return {"event_type": "quote", "symbol": draw(sym), "timestamp": draw(ts_ms), "bid_price": draw(levels),
            "bid_size": draw(sizes), "ask_price": draw(levels), "ask_size": draw(sizes),
            "exchange": draw(exchanges), "ask_exchange": draw(exchanges),
            "conditions": draw(st.lists(st.integers(0, 255), max_size=1)), "indicators": draw(codes),
            "tape": draw(st.none() | st.integers(1, 3)), "sequence": draw(small)}


@st.composite
def aggregates(draw, sym=symbols, second=False):
    lo, m1, m2, h = sorted(draw(st.lists(prices, min_size=4, max_size=4)))
    o, c = draw(st.permutations([m1, m2]))
    t = draw(ts_ms)
    return {"event_type": "second_aggregate" if second else "aggregate", "symbol": draw(sym), "timestamp": t,
            "open": o, "high": h, "low": lo, "close": c, "volume": draw(sizes), "vwap": draw(st.none() | prices),
            "transactions": draw(st.none() | st.integers(0, 10**9)), "accumulated_volume": draw(st.none() | sizes),
            "official_open": draw(st.none() | levels), "day_vwap": draw(st.none() | levels),
            "end_timestamp": draw(st.none() | st.just(t + (1000 if second else 60_000))),
            "average_size": draw(small), "otc": draw(st.none() | st.booleans()),
            "timeframe": "1s" if second else "1m"}


@st.composite
def lulds(draw, sym=symbols):
    return {"event_type": "luld", "symbol": draw(sym), "timestamp": draw(ts_ms), "limit_up": draw(levels),
            "limit_down": draw(levels), "indicators": draw(codes), "tape": draw(st.none() | st.integers(1, 3)),
            "sequence": draw(small)}


@st.composite
def imbalances(draw, sym=symbols):
    return {"event_type": "imbalance", "symbol": draw(sym), "timestamp": draw(ts_ms),
            "auction_type": draw(st.none() | st.sampled_from("OMHCPR")),
            "imbalance_quantity": draw(st.none() | st.integers(-2**40, 2**40)), "exchange": draw(exchanges),
            "paired_quantity": draw(small), "book_clearing_price": draw(st.none() | levels),
            "auction_time": draw(st.none() | st.integers(400, 2000)), "sequence": draw(small)}


def events(sym=symbols):
    return st.one_of(trades(sym), quotes(sym), aggregates(sym), aggregates(sym, second=True), lulds(sym),
                     imbalances(sym))


# msgpack-representable JSON-like values with text keys (what bodies of control messages hold)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
bodies = st.dictionaries(st.text(max_size=10).filter(lambda k: k not in ("v", "type")), json_values, max_size=6)


# ---------------------------------------------------------------- round trips

@given(events())
def test_event_array_round_trip(ev):
    assert wire.event_to_dict(ev["symbol"], wire.event_to_wire(ev)) == ev


@given(events())
def test_event_round_trips_through_normalize_domain(ev):
    # what the feed does: normalize (already a seed dict here), to the wire, back
    arr = msgpack.unpackb(msgpack.packb(wire.event_to_wire(ev)))
    assert wire.event_to_dict(ev["symbol"], arr) == ev


@given(symbols.flatmap(lambda s: st.tuples(st.just(s), st.lists(events(st.just(s)), max_size=30))),
       st.integers(0, 2**40), st.integers(1, 2**40))
def test_batch_round_trip(sym_events, epoch, seq):
    sym, evs = sym_events
    topic, payload = wire.encode_batch(sym, epoch, seq, [wire.event_to_wire(e) for e in evs])
    assert topic == wire.topic_for(sym) and wire.symbol_from_topic(topic) == sym
    msg = wire.unpack(payload)  # a map reader (msgpack-python) sees the same map as before the structs
    assert msg == wire.as_dict(wire.batch(sym, epoch, seq, [wire.event_to_wire(e) for e in evs]))
    assert msg["v"] == wire.PROTOCOL_VERSION and msg["type"] == wire.BATCH
    typed = wire.decode_data(payload)  # the window's typed decoder: event structs
    assert (typed.sym, typed.epoch, typed.seq) == (sym, epoch, seq)
    assert [wire.event_to_dict(typed.sym, e) for e in typed.ev] == evs
    assert wire.to_arrays(typed.ev) == msg["ev"]


@settings(max_examples=50)
@given(st.integers(0, 2**40), st.integers(1, 2**22), bodies, st.dictionaries(symbols, bodies, max_size=3), bodies,
       ts_ms, st.sampled_from([wire.HEARTBEAT, wire.STATUS]))
def test_heartbeat_round_trip(epoch, pid, upstream, syms, counters, ts, kind):
    hb = wire.heartbeat(epoch, pid, upstream, syms, counters, ts, kind)
    out = wire.unpack(wire.pack(hb))
    assert out == wire.as_dict(hb) and out["type"] == kind
    assert wire.decode_data(wire.pack(hb)) == hb


@given(st.integers(0, 2**31) | st.text(max_size=12), st.text(max_size=20), symbols, bodies)
def test_control_messages_round_trip(req_id, client, sym, body):
    for msg in (wire.hello_request(req_id, client), wire.snapshot_request(sym, req_id),
                wire.status_request(req_id), wire.error_reply(req_id, "bad thing", "bad_request"),
                {"type": "command", "id": req_id, "cmd": "supervisor_report", **body},
                {"type": wire.STATUS, "id": req_id, **body}):
        out = wire.unpack(wire.pack(msg))
        assert out == {"v": wire.PROTOCOL_VERSION, **wire.as_dict(msg)}
        assert out["type"] in wire.CONTROL_TYPES | wire.DATA_TYPES


def test_pack_adds_the_version_and_keeps_an_explicit_one():
    assert msgpack.unpackb(wire.pack({"type": "hello"}))["v"] == wire.PROTOCOL_VERSION
    assert msgpack.unpackb(wire.pack({"v": 7, "type": "x"}))["v"] == 7


def test_pack_refuses_what_msgpack_cannot_carry():
    with pytest.raises(WireError):
        wire.pack({"type": "x", "obj": object()})
    with pytest.raises(WireError):
        wire.pack({"type": "x", "big": 2**70})


def test_real_replay_events_survive_the_wire():
    ev = normalize({"ev": "T", "sym": "AAPL", "x": 4, "i": "1", "p": 201.64, "s": 4, "t": 1751029504111,
                    "c": [12, 37], "z": 3, "q": 1000007})
    assert wire.event_to_wire(ev) == ["T", 1751029504111, 201.64, 4, 4, [12, 37], "1", 3, 1000007, None, None]
    assert wire.event_to_dict("AAPL", wire.event_to_wire(ev)) == ev


def test_arrays_of_an_older_feed_expand_with_the_added_keys_none():
    # protocol v1 is append-only: the arrays a feed sent before these fields existed still expand
    t = wire.event_to_dict("AAPL", ["T", 1751029504111, 201.64, 4, 4, [12, 37], "9"])
    assert t["id"] == "9" and t["tape"] is None and t["sequence"] is None and t["trf_timestamp"] is None
    q = wire.event_to_dict("AAPL", ["Q", 1751029504111, 201.6, 3, 201.7, 2, 12, 11])
    assert q["ask_exchange"] == "NYSE Arca" and q["conditions"] == [] and q["indicators"] == []
    am = wire.event_to_dict("AAPL", ["AM", 1751029500000, 1.0, 2.0, 0.5, 1.5, 100, 1.2, None])
    assert am["timeframe"] == "1m" and am["accumulated_volume"] is None and am["end_timestamp"] is None
    assert wire.event_to_dict("AAPL", ["A", 1751029500000, 1.0, 2.0, 0.5, 1.5, 100, 1.2, None])[
        "event_type"] == "second_aggregate"


def test_seed_dict_keys_are_the_seeds_plus_the_added_ones():
    # CONTRACTS: the seed's keys stay exactly; new keys are only added
    seed = {"trade": md.TRADE_KEYS, "quote": md.QUOTE_KEYS, "aggregate": md.AGGREGATE_KEYS,
            "second_aggregate": md.AGGREGATE_KEYS}
    added = {"trade": {"id", "tape", "sequence", "trf_id", "trf_timestamp"},
             "quote": {"ask_exchange", "conditions", "indicators", "tape", "sequence"},
             "aggregate": {"accumulated_volume", "official_open", "day_vwap", "end_timestamp", "timeframe",
                           "average_size", "otc"}}
    added["second_aggregate"] = added["aggregate"]
    arrays = {"trade": ["T", T, 1.0, 1, None, []], "quote": ["Q", T, 1.0, 1, 1.0, 1, None],
              "aggregate": ["AM", T, 1.0, 1.0, 1.0, 1.0, 1, None, None],
              "second_aggregate": ["A", T, 1.0, 1.0, 1.0, 1.0, 1, None, None]}
    for kind, arr in arrays.items():
        d = wire.event_to_dict("AAPL", arr)
        assert d["event_type"] == kind and set(d) == seed[kind] | added[kind], kind
    assert set(wire.event_to_dict("AAPL", ["LULD", T, 2.0, 1.0])) == {
        "event_type", "symbol", "timestamp", "limit_up", "limit_down", "indicators", "tape", "sequence"}
    assert set(wire.event_to_dict("AAPL", ["NOI", T])) == {
        "event_type", "symbol", "timestamp", "auction_type", "imbalance_quantity", "exchange", "paired_quantity",
        "book_clearing_price", "auction_time", "sequence"}


# ---------------------------------------------------------------- strict, bounded decoding

def _packed(obj) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_ever_raise_wire_error(data):
    try:
        msg = wire.unpack(data)
    except WireError:
        return
    assert isinstance(msg, dict) and msg["v"] == wire.PROTOCOL_VERSION and isinstance(msg["type"], str)


@given(st.data())
def test_mutated_valid_messages_only_ever_raise_wire_error(data):
    evs = data.draw(st.lists(events(st.just("AAPL")), min_size=1, max_size=5))
    payload = bytearray(wire.encode_batch("AAPL", 1, 1, [wire.event_to_wire(e) for e in evs])[1])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(payload) - 1))
        payload[i] = data.draw(st.integers(0, 255))
    try:
        msg = wire.unpack(bytes(payload))
    except WireError:
        return
    if msg["type"] != wire.BATCH:
        return  # the mutation hit the type: a message of a type this side doesn't know is passed on as a map
    # Still a well-formed batch: expanding its events fails only with WireError.
    for a in msg["ev"]:
        try:
            wire.event_to_dict(msg["sym"], a)
        except WireError:
            pass


@given(st.lists(json_values, max_size=9))
def test_arbitrary_arrays_expand_or_raise_wire_error(arr):
    for code in ("T", "Q", "AM", "X"):
        try:
            ev = wire.event_to_dict("AAPL", [code, *arr])
        except WireError:
            continue
        assert ev["symbol"] == "AAPL" and isinstance(ev["timestamp"], int)


def test_every_truncation_is_a_wire_error():
    payload = wire.pack(wire.heartbeat(3, 42, {"state": "connected"}, {"AAPL": {"seq": 9}}, {"n": 1}, 1))
    for cut in range(len(payload)):
        with pytest.raises(WireError):
            wire.unpack(payload[:cut])
    with pytest.raises(WireError):
        wire.unpack(payload + b"\x00")  # trailing garbage


@pytest.mark.parametrize("msg", [
    {"type": "hello"},                 # no version
    {"v": 2, "type": "hello"},
    {"v": 0, "type": "hello"},
    {"v": "1", "type": "hello"},
    {"v": True, "type": "hello"},
    {"v": 1.0, "type": "hello"},
    {"v": 1},                          # no type
    {"v": 1, "type": 5},
    {"v": 1, "type": "batch", "sym": "AAPL", "epoch": 1, "seq": 1},            # no events
    {"v": 1, "type": "batch", "sym": "AAPL", "epoch": "1", "seq": 1, "ev": []},
    {"v": 1, "type": "batch", "sym": 7, "epoch": 1, "seq": 1, "ev": []},
    {"v": 1, "type": "batch", "sym": "AAPL", "epoch": 1, "seq": 1, "ev": {}},
])
def test_wrong_version_or_shape_is_a_wire_error(msg):
    with pytest.raises(WireError):
        wire.unpack(_packed(msg))


@pytest.mark.parametrize("obj", [
    [1, "v", "type"],                                      # not a map
    "hello",
    None,
    {1: 1, "v": 1, "type": "x"},                           # int key
    {b"v": 1, b"type": "x"},                               # bytes keys at the top
    {"v": 1, "type": "x", "body": {b"k": 1}},              # bytes key nested
    {"v": 1, "type": "x", "body": [{(1, 2): 1}]},          # array key nested
    {"v": 1, "type": "x", "t": msgpack.ExtType(1, b"abc")},  # ext type
    {"v": 1, "type": "x", "t": msgpack.Timestamp(1, 0)},     # the built-in timestamp ext too
])
def test_non_text_keys_and_ext_types_are_refused(obj):
    try:
        data = _packed(obj)
    except TypeError:  # msgpack cannot even pack a tuple key in strict mode
        data = msgpack.packb(obj, use_bin_type=True, strict_types=False)
    with pytest.raises(WireError):
        wire.unpack(data)


def test_oversized_messages_and_containers_are_refused():
    with pytest.raises(WireError, match="exceeds"):
        wire.unpack(b"\x80" * (wire.MAX_MESSAGE_BYTES + 1))
    # a string just over the bound
    with pytest.raises(WireError):
        wire.unpack(_packed({"v": 1, "type": "x", "s": "a" * (wire.MAX_STR_LEN + 1)}))
    with pytest.raises(WireError):
        wire.unpack(_packed({"v": 1, "type": "x", "b": b"a" * (wire.MAX_STR_LEN + 1)}))
    # headers that promise huge containers (no payload behind them)
    huge_array = b"\x82\xa1v\x01\xa4type\xdd" + struct.pack(">I", wire.MAX_ARRAY_LEN + 1)
    huge_map = b"\xdf" + struct.pack(">I", 2**31)
    for data in (huge_array, huge_map):
        with pytest.raises(WireError):
            wire.unpack(data)
    # just inside the bounds is fine
    ok = wire.unpack(_packed({"v": 1, "type": "x", "a": [0] * 1000, "s": "a" * 1000}))
    assert len(ok["a"]) == 1000


def test_deep_nesting_is_a_wire_error_not_a_crash():
    data = b"\x81\xa1x" * 5000 + b"\xc0"
    with pytest.raises(WireError):
        wire.unpack(b"\x83\xa1v\x01\xa4type\xa1x\xa1d" + data)


@pytest.mark.parametrize("data", ["text", None, 17, [b"x"]])
def test_non_bytes_input_is_a_wire_error(data):
    with pytest.raises(WireError):
        wire.unpack(data)


def test_memoryview_and_bytearray_are_accepted():
    payload = wire.pack(wire.status_request(5))
    assert wire.unpack(memoryview(payload))["id"] == 5
    assert wire.unpack(bytearray(payload))["id"] == 5


@pytest.mark.parametrize("arr", [
    [],
    "T",
    ["T", T, 1.0],                                  # short
    ["T", True, 1.0, 1, None, []],                  # bool timestamp
    ["T", 1.5, 1.0, 1, None, []],                   # float timestamp
    ["T", T, "1.0", 1, None, []],                   # text price
    ["T", T, float("nan"), 1, None, []],
    ["T", T, 1.0, float("inf"), None, []],
    ["T", T, 1.0, 1, None, "14"],                   # conditions not a list
    ["T", T, 1.0, 1, None, ["14"]],                 # condition not an int
    ["T", T, 1.0, 1, "NASDAQ", []],                 # exchange must be an id
    ["Q", T, 1.0, 1, 2.0],
    ["Q", T, 1.0, 1, 2.0, True, None],
    ["AM", T, 1.0, 1.0, 1.0, 1.0, 10, "vwap", None],
    ["AM", T, 1.0, 1.0, 1.0, 1.0, 10, None, 2.5],
    ["AM", T, 1.0, 1.0, 1.0, float("-inf"), 10, None, None],
    ["T", T, 1.0, 1, None, [], 17],                 # trade id must be text
    ["Q", T, 1.0, 1, 2.0, 1, None, None, "c"],      # quote condition must be an int
    ["A", T, 1.0, 1.0, 1.0, 1.0, 10, None, None, None, None, None, None, None, "yes"],  # otc is a bool
    ["LULD", T, 1.0],
    ["LULD", T, float("nan"), 1.0],
    ["NOI", T, 7],                                  # auction type is text
    ["NOI", True],
    ["T", 1, 1.0, 1, None, []],                     # a time before 1990: not epoch ms
    ["T", T, 1.0, 2**63, None, []],                 # a size beyond the signed 64-bit range
    ["T", T, 0.0, 1, None, []],                     # prices are > 0
    ["T", T, 1e9, 1, None, []],                     # ... and below 1e9
    ["XX", T, 2, 3],
])
def test_bad_event_arrays_are_wire_errors(arr):
    with pytest.raises(WireError):
        wire.event_to_dict("AAPL", arr)


def test_event_to_wire_refuses_unknown_event_types():
    with pytest.raises(WireError):
        wire.event_to_wire({"event_type": "bogus"})


# ---------------------------------------------------------------- topics

def test_topic_shapes():
    assert wire.topic_for("AAPL") == b"md|AAPL|"
    assert wire.topic_for("BRK.B") == b"md|BRK.B|"
    assert wire.symbol_from_topic(b"md|BRK.B|") == "BRK.B"
    for garbage in (wire.SYS_TOPIC, b"md|", b"md||", b"md|AAPL", b"xx|AAPL|", b"md|\xff|", b"md|aapl|"):
        assert wire.symbol_from_topic(garbage) is None
    assert not wire.topic_for("AAPL").startswith(wire.SYS_TOPIC)


@given(symbols, symbols)
def test_a_topic_is_never_a_prefix_of_another_symbols_topic(a, b):
    # ZeroMQ SUB filters are byte prefixes: md|AAPL| must not match md|AAPLW| (nor BRK.B / BRK.BX ...).
    assume(a != b)
    assert not wire.topic_for(b).startswith(wire.topic_for(a))
    assert wire.symbol_from_topic(wire.topic_for(a)) == a


def test_zmq_prefix_filter_keeps_aapl_and_aaplw_apart():
    """Real sockets: a SUB to AAPL receives AAPL only, never AAPLW or BRK.B's neighbours."""
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.XPUB)
    sub = ctx.socket(zmq.SUB)
    try:
        for s in (pub, sub):
            s.setsockopt(zmq.LINGER, 0)
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        sub.connect(f"tcp://127.0.0.1:{port}")
        sub.setsockopt(zmq.SUBSCRIBE, wire.topic_for("AAPL"))
        sub.setsockopt(zmq.SUBSCRIBE, wire.topic_for("BRK.B"))
        seen = set()
        while len(seen) < 2:  # XPUB learns both subscriptions before anything is published
            assert pub.poll(5000), "subscription never reached the XPUB"
            frame = pub.recv()
            assert frame[0] == 1
            seen.add(frame[1:])
        assert seen == {b"md|AAPL|", b"md|BRK.B|"}
        sent = [("AAPLW", 1), ("AAPL", 1), ("BRK.BX", 1), ("BRK", 1), ("BRK.B", 1), ("AAPLW", 2), ("AAPL", 2)]
        for sym, seq in sent:
            pub.send_multipart(wire.encode_batch(sym, 1, seq, []))
        got = []
        while len(got) < 3:
            assert sub.poll(5000), f"only got {got}"
            topic, payload = sub.recv_multipart()
            msg = wire.unpack(payload)
            assert wire.symbol_from_topic(topic) == msg["sym"]
            got.append((msg["sym"], msg["seq"]))
        assert got == [("AAPL", 1), ("BRK.B", 1), ("AAPL", 2)]  # in order, nothing in between
    finally:
        sub.close()
        pub.close()


# ---------------------------------------------------------------- sequences

def test_seq_tracker_verdicts():
    t = wire.SeqTracker()
    assert t.check(7, 1, 1) == "epoch"          # nothing applied yet: snapshot first
    t.reset(7, 10)                              # snapshot at seq 10
    assert t.check(7, 11, 5) == "ok"
    assert t.check(7, 5, 3) == "dup"            # 5..7, already in the snapshot
    assert t.check(7, 8, 3) == "dup"            # 8..10 ends at last
    assert t.check(7, 9, 4) == "overlap"        # 9..12: apply 11, 12
    assert t.check(7, 12, 1) == "gap"           # 11 missing
    assert t.check(8, 11, 1) == "epoch"         # the feed restarted
    t.advance(11, 5)
    assert t.last == 15 and t.check(7, 16, 1) == "ok"
    t.advance(3, 2)                             # never goes backwards
    assert t.last == 15


@given(st.lists(st.integers(1, 20), min_size=1, max_size=40), st.data())
def test_seq_tracker_applies_each_event_once_and_in_order(batch_sizes, data):
    """A stream of batches, each delivered 0..2 times and possibly reordered by one step:
    whatever the tracker lets through is exactly 1..N in order, and a loss is always seen."""
    batches, seq = [], 1
    for n in batch_sizes:
        batches.append((seq, n))
        seq += n
    delivered = []
    for b in batches:
        delivered += [b] * data.draw(st.integers(0, 2))
    if len(delivered) > 1 and data.draw(st.booleans()):
        i = data.draw(st.integers(0, len(delivered) - 2))
        delivered[i], delivered[i + 1] = delivered[i + 1], delivered[i]
    t = wire.SeqTracker()
    t.reset(1, 0)
    applied = []
    needs_snapshot = False
    for s, n in delivered:
        verdict = t.check(1, s, n)
        if verdict in ("ok", "overlap"):
            start = t.last + 1
            applied += list(range(start, s + n))
            t.advance(s, n)
        elif verdict in ("gap", "epoch"):
            needs_snapshot = True
            break
        assert applied == list(range(1, len(applied) + 1))
    if not needs_snapshot:
        # nothing reported missing -> everything up to the last applied was applied exactly once
        assert applied == list(range(1, t.last + 1))
        lost = [b for b in batches if b not in delivered]
        assert all(s > t.last for s, _ in lost)  # a loss before the end would have been a gap

"""The Polygon/Massive spec's own messages, through the protocol core and through a real feed process.

The example of every stocks channel (T, Q, A, AM, LULD, NOI) is transcribed from
the spec into ``tests/data/polygon_spec_examples.json`` (origin noted there);
edge cases below are derived from the schemas. Each is checked field by field
against what the spec defines, batched several per frame; unknown and malformed
events are counted by kind and never delivered, and a valid event sent after
all of them still is. The process tests run ``live-monitor feed`` against a
stand-in upstream on loopback (``tests/polygon_standin.py``) and receive over a
real ZeroMQ subscriber (``tests/feed_tap.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack
import orjson

from feed_process.protocols import ALL_CHANNELS, PolygonCore, RelayCore
from feed_process.state import FeedSymbol
from shared.models.wire import event_to_dict
from tests.feed_process_util import clean_env, run_feed
from tests.feed_tap import Tap
from tests.polygon_standin import echo_trade, run_standin

SPEC = json.loads((Path(__file__).parent / "data" / "polygon_spec_examples.json").read_text())["examples"]
T, Q, A, AM, LULD, NOI = (SPEC[k] for k in ("T", "Q", "A", "AM", "LULD", "NOI"))
SYMBOLS = ["MSFT", "SPCE", "GTE", "NTEST.Q"]
KEY_ENV = clean_env(POLYGON_API_KEY="spec-test-key")

# What the spec defines, field by field, as the seed dicts carry it (docs/PROTOCOL.md).
EXPECTED = {
    "T": {"event_type": "trade", "symbol": "MSFT", "timestamp": 1536036818784, "price": 114.125, "size": 100,
          "conditions": [0, 12], "exchange": "FINRA TRF", "id": "12345", "tape": 3, "sequence": 3681328,
          "trf_id": None, "trf_timestamp": None},
    "Q": {"event_type": "quote", "symbol": "MSFT", "timestamp": 1536036818784, "bid_price": 114.125, "bid_size": 100,
          "ask_price": 114.128, "ask_size": 160, "exchange": "FINRA TRF", "ask_exchange": "Cboe EDGA",
          "conditions": [0], "indicators": [604], "tape": 3, "sequence": 50385480},
    "A": {"event_type": "second_aggregate", "symbol": "SPCE", "timestamp": 1610144868000, "open": 25.39,
          "high": 25.39, "low": 25.39, "close": 25.39, "volume": 200, "vwap": 25.3981, "transactions": None,
          "accumulated_volume": 8642007, "official_open": 25.66, "day_vwap": 25.3714,
          "end_timestamp": 1610144869000, "average_size": 50, "otc": None, "timeframe": "1s"},
    "AM": {"event_type": "aggregate", "symbol": "GTE", "timestamp": 1610144640000, "open": 0.4488, "high": 0.4489,
           "low": 0.4486, "close": 0.4486, "volume": 4110, "vwap": 0.4488, "transactions": None,
           "accumulated_volume": 9470157, "official_open": 0.4372, "day_vwap": 0.4352,
           "end_timestamp": 1610144700000, "average_size": 685, "otc": None, "timeframe": "1m"},
    # the spec's LULD/NOI examples are in µs / ns: the decoder brings them to ms
    "LULD": {"event_type": "luld", "symbol": "MSFT", "timestamp": 1601316752683, "limit_up": 218.96,
             "limit_down": 198.11, "indicators": [21], "tape": 3, "sequence": 290317},
    "NOI": {"event_type": "imbalance", "symbol": "NTEST.Q", "timestamp": 1601318039223, "auction_type": "M",
            "imbalance_quantity": 480, "exchange": "NYSE", "paired_quantity": 440, "book_clearing_price": 25.03,
            "auction_time": 930, "sequence": 44},
}

# Valid edge cases the schemas allow, and the seed-dict fields they must give.
EDGE_OK = [
    ({"ev": "T", "sym": "MSFT", "p": 1.5, "s": 0, "t": 1536036818785},  # only what a trade needs
     {"id": None, "exchange": None, "conditions": [], "tape": None, "sequence": None, "size": 0}),
    (dict(T, i=7, x=4, trfi=202, trft=1536036818780123, t=1536036818786, q=3681329),  # int id; TRF time in µs
     {"id": "7", "trf_id": 202, "trf_timestamp": 1536036818780, "timestamp": 1536036818786}),
    (dict(Q, bp=0, bs=0, t=1536036818787),  # a one-sided book
     {"bid_price": 0.0, "bid_size": 0, "ask_price": 114.128}),
    ({"ev": "Q", "sym": "MSFT", "bp": 114.1, "ap": 114.2, "t": 1536036818788},
     {"bid_size": 0, "ask_size": 0, "conditions": [], "indicators": [], "ask_exchange": None}),
    (dict(A, otc=True, s=1610144869000, e=1610144870000), {"otc": True, "timestamp": 1610144869000}),
    (dict(LULD, t=1601316752684), {"timestamp": 1601316752684}),  # already in ms
    (dict(NOI, o=-480, a="C", t=1601318039224), {"imbalance_quantity": -480, "auction_type": "C"}),
    (dict(T, t=1536036818, i="s1"), {"timestamp": 1536036818000}),  # seconds are brought to ms
]
# Events that must be refused, and the kind each one is counted as.
EDGE_BAD = [
    ({"ev": "FMV", "sym": "MSFT", "fmv": 1.0, "t": 1536036818784}, "unknown_event"),  # not a stocks event
    ({"ev": "T"}, "missing_symbol"),
    (dict(T, sym="msft"), "bad_symbol"),
    (dict(T, sym="AMZN"), "unknown_symbol"),
    ({k: v for k, v in LULD.items() if k != "T"} | {"sym": "MSFT"}, "missing_symbol"),  # LULD names it T
    (dict(T, s=100.5), "wrong_type"),
    (dict(T, c=7), "wrong_type"),            # conditions are an array
    (dict(Q, c=[0]), "wrong_type"),          # a quote's condition is one integer
    (dict(Q, i=604), "wrong_type"),          # indicators are an array
    (dict(NOI, a=5), "wrong_type"),          # the auction type is a string
    (dict(NOI, at=9.3), "wrong_type"),
    (dict(A, h=25.0), "inconsistent_bar"),   # high below open
    (dict(AM, v=-1), "bad_value"),
    (dict(LULD, h=None), "missing_field"),
    (dict(LULD, t=10**13), "bad_timestamp"),  # 2286 in ms, 1970 in µs: no unit fits
    (dict(T, p=1e9), "bad_value"),           # the price cap
    (["T", "MSFT"], "wrong_type"),
]


def _frames() -> tuple[list[str], dict[str, int]]:
    """The frames the tests send, and the error counters they must produce."""
    ok = [raw for raw, _ in EDGE_OK]
    bad, kinds = [], {}
    for raw, kind in EDGE_BAD:
        bad.append(raw)
        kinds[kind] = kinds.get(kind, 0) + 1
    frames = [orjson.dumps([T, Q, A, AM, LULD, NOI]).decode(),
              orjson.dumps(ok[:3] + bad[:8] + ok[3:] + bad[8:]).decode(),
              "[{\"ev\":\"T\",\"sym\":\"MSFT\",", "{\"ev\":\"status\",\"status\":\"bogus\"}"]
    kinds.update({"malformed_json": 1, "unknown_status": 1})
    return frames, kinds


SENTINEL = dict(T, i="99999", p=115.0, t=1536036819999)


def _core() -> PolygonCore:
    core = PolygonCore("k", channels=ALL_CHANNELS)
    core.on_open()
    core.receive(b'[{"ev":"status","status":"auth_success"}]')
    core.subscribe(SYMBOLS)
    return core


def test_every_spec_example_maps_as_the_spec_defines():
    core = _core()
    out = core.receive(orjson.dumps([T, Q, A, AM, LULD, NOI]))
    assert out.errors == [] and out.count == 6
    got = {a[0]: event_to_dict(sym, a) for sym, a in out.events}
    assert got == EXPECTED
    # the wire arrays themselves (docs/PROTOCOL.md layouts): A keeps its own code, never AM
    arrays = {a[0]: a for _, a in out.events}
    assert arrays["A"][:9] == ["A", 1610144868000, 25.39, 25.39, 25.39, 25.39, 200, 25.3981, None]
    assert arrays["NOI"] == ["NOI", 1601318039223, "M", 480, 10, 440, 25.03, 930, 44]
    for sym, a in out.events:
        msgpack.packb(a)
    # the relay path, carrying the same Polygon-spelled events, gives the same arrays
    relay = RelayCore(channels=ALL_CHANNELS)
    relay.subscribe(SYMBOLS)
    relay.on_open()
    r = relay.receive(orjson.dumps({"type": "market_data", "data": [T, Q, A, AM, LULD, NOI]}))
    assert r.events == out.events
    # and the standard spelling of each expected dict travels back to the same array
    r = relay.receive(orjson.dumps({"type": "market_data", "data": [dict(d, id=None) for d in EXPECTED.values()]}))
    assert sorted(a[0] for _, a in r.events) == sorted(arrays) and not r.errors


def test_a_second_aggregate_never_becomes_a_minute_bar():
    core = _core()
    out = core.receive(orjson.dumps([A, dict(A, s=1610144869000, e=1610144870000)]))
    assert [a[0] for _, a in out.events] == ["A", "A"]
    st = FeedSymbol("SPCE")
    st.apply_batch(out.batches["SPCE"])
    snap = st.snapshot()  # a second bar is published, not folded into minutes: no bar, no forming minute
    assert st.bars == [] and snap["bars"] == [] and snap["forming"] is None


def test_edge_cases_batched_are_mapped_or_counted_and_a_later_event_still_arrives():
    core = _core()
    frames, kinds = _frames()
    outs = [core.receive(f) for f in frames]
    assert outs[0].count == 6
    delivered = [event_to_dict(sym, a) for sym, a in outs[1].events]  # grouped by symbol, in order within one
    assert len(delivered) == len(EDGE_OK)
    by_symbol = sorted(EDGE_OK, key=lambda e: SYMBOLS.index(e[0].get("sym") or e[0].get("T")))
    for (raw, want), got in zip(by_symbol, delivered):
        assert {k: got[k] for k in want} == want, raw
    errors = {k: v for k, v in core.counters.items()}
    assert errors == kinds, (errors, [e for o in outs for e in o.errors])
    assert all(sym in SYMBOLS for o in outs for sym, _ in o.events)
    out = core.receive(orjson.dumps([SENTINEL]))
    assert [a[6] for _, a in out.events] == ["99999"]


# ---------------------------------------------------------------- through a real feed process


def _expected_arrays(frames: list[str]) -> dict[str, list[list]]:
    core = _core()
    got: dict[str, list[list]] = {s: [] for s in SYMBOLS}
    for f in frames:
        for sym, a in core.receive(f).events:
            got[sym].append(a)
    return got


def test_spec_messages_through_a_real_feed_process():
    frames, kinds = _frames()
    frames = frames + [orjson.dumps([SENTINEL]).decode()]
    want = _expected_arrays(frames)
    with run_standin(frames, SYMBOLS) as up, \
            run_feed("--upstream", up.url, "--protocol", "polygon", "--no-backfill", env=KEY_ENV) as feed:
        tap = Tap(feed.control, SYMBOLS)
        try:
            tap.wait(lambda: any(a[6] == "99999" for a in tap.events["MSFT"]), what="the event sent after all")
            tap.wait(lambda: all(tap.heartbeat.get("counters", {}).get(k) == v for k, v in kinds.items()),
                     what=f"the error counters {kinds}")
            assert tap.events == want
            assert feed.proc.poll() is None
            up_state = tap.status().get("upstream") or tap.heartbeat["upstream"]
            assert up_state["state"] == "connected"
        finally:
            tap.close()
    subs = [x for x in up.lines if x.startswith("SUBSCRIBE ")]
    topics = {t for x in subs for t in x.split(" ", 1)[1].split(",")}
    assert {f"T.{s}" for s in SYMBOLS} <= topics


def test_a_1e30_and_a_2_64_trade_then_a_valid_one_through_a_real_feed_process():
    # the 1e30 trade used to raise OverflowError in msgpack and kill the feed: text sent verbatim
    bad = ['[{"ev":"T","sym":"AAPL","i":"1","x":4,"p":114.1,"s":1e30,"t":1536036818784}]',
           '[{"ev":"T","sym":"AAPL","i":"2","x":4,"p":114.1,"s":%d,"t":1536036818785}]' % 2**64,
           '[{"ev":"T","sym":"AAPL","i":"3","x":4,"p":114.1,"s":%d,"t":1536036818786}]' % 2**63]
    good = '[{"ev":"T","sym":"AAPL","i":"4","x":4,"p":114.1,"s":%d,"t":1536036818787}]' % (2**63 - 1)
    with run_standin(bad + [good], ["AAPL"]) as up, \
            run_feed("--upstream", up.url, "--protocol", "polygon", "--no-backfill", env=KEY_ENV) as feed:
        tap = Tap(feed.control, ["AAPL"])
        try:
            tap.wait(lambda: tap.events["AAPL"], what="the valid trade")
            assert [a[:4] + [a[6]] for a in tap.events["AAPL"]] == [["T", 1536036818787, 114.1, 2**63 - 1, "4"]]
            counters = tap.wait(lambda: (c := tap.heartbeat.get("counters", {})).get("bad_value") == 2 and c,
                                what="the counters")
            assert counters["wrong_type"] == 1 and counters["events"] == 1
            upstream = tap.status()["upstream"]
            assert upstream["state"] == "connected" and upstream["connects"] == 1  # never reconnected
            assert feed.proc.poll() is None
            assert {e["kind"] for e in tap.errors} >= {"wrong_type", "bad_value"}  # published on sys|
        finally:
            tap.close()


def test_the_official_mock_servers_behaviour_only_subscribed_symbols_arrive():
    """Per topic: an ack, the same AAPL trade again, and two unrequested AMZN trades."""
    last = orjson.dumps([dict(echo_trade("AAPL"), i="5097", t=1651684193000)]).decode()
    with run_standin([last], ["AAPL"], mock=True) as up, \
            run_feed("--upstream", up.url, "--protocol", "polygon", "--no-backfill", env=KEY_ENV) as feed:
        tap = Tap(feed.control, ["AAPL"])  # nobody asks for AMZN
        try:
            tap.wait(lambda: any(a[6] == "5097" for a in tap.events["AAPL"]), what="the last AAPL trade")
            topics = [t for x in up.lines if x.startswith("SUBSCRIBE ") for t in x.split(" ", 1)[1].split(",")]
            n = len(topics)
            assert sorted(topics) == ["AM.AAPL", "Q.AAPL", "T.AAPL"]
            counters = tap.wait(lambda: (c := tap.heartbeat.get("counters", {})).get("unknown_symbol") == 2 * n
                                and c, what="the unrequested AMZN trades counted")
            assert counters["duplicate"] == n - 1  # the echo is one trade, however often it comes
            assert [a[6] for a in tap.events["AAPL"]] == ["5096", "5097"] and list(tap.events) == ["AAPL"]
            assert tap.status()["upstream"]["state"] == "connected"
        finally:
            tap.close()


def test_a_lone_status_object_is_an_acknowledgement():
    core = _core()
    core.subscribe(["AAPL"])
    out = core.receive('{"ev":"status","status":"success","message":"subscribed to: T.AAPL"}')
    assert out.acks == ["T.AAPL"] and "T.AAPL" not in core.pending

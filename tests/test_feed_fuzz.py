"""Hostile input on the whole frame path: decode -> state -> publish, in-process and through a real feed.

Hypothesis builds frames from the spec's event shapes with values at the
extremes (2**63, 2**64, 1e30, -0.0, NaN and Infinity as JSON strings and as the
non-JSON tokens, empty arrays, deep nesting, 1 MB strings), serialised by hand
so that numbers no JSON library would write reach the parser byte for byte.
Nothing may raise out of the path, every event that gets through is folded into
a ``FeedSymbol`` and packs with msgpack, and every refusal is counted.
"""

from __future__ import annotations

import json
import math
import random

import msgpack
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feed_process.protocols import ALL_CHANNELS, PolygonCore, RelayCore
from feed_process.state import FeedSymbol
from shared.models import wire
from tests.feed_process_util import clean_env, run_feed
from tests.feed_tap import Tap
from tests.polygon_standin import run_standin

SYMS = ["AAPL", "BACpL", "BRK.B"]
BIG = "x" * (1 << 20)


class Tok(str):
    """A raw JSON token written as is (NaN, Infinity: not JSON, but some servers send them)."""


def to_json(v) -> str:
    if isinstance(v, Tok):
        return str(v)
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, int):
        return str(v)  # any size: 2**64 and beyond, as digits
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(v)]
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ",".join(to_json(x) for x in v) + "]"
    return "{" + ",".join(f"{json.dumps(k)}:{to_json(x)}" for k, x in v.items()) + "}"


EXTREMES = [2**63, 2**63 - 1, 2**64, 2**64 - 1, -2**63, -2**63 - 1, 10**400, 1e30, -1e30, -0.0, 0, 0.0, 1e308,
            5e-324, 100.0, 1e9, float("nan"), float("inf"), float("-inf"), Tok("NaN"), Tok("Infinity"),
            Tok("-Infinity"), "NaN", "Infinity", "", BIG, [], {}, True, None, 1751031000123, 1751031000123456,
            1751031000123456789, 1751031000]
extremes = st.sampled_from(EXTREMES)
leaves = extremes | st.integers() | st.floats() | st.text(max_size=6) | st.sampled_from(SYMS + ["AMZN", "aapl"])
values = st.recursive(leaves, lambda k: st.lists(k, max_size=3) | st.dictionaries(st.text(max_size=3), k, max_size=3),
                      max_leaves=8)
FIELDS = ["p", "s", "t", "x", "c", "i", "z", "q", "trfi", "trft", "bp", "bs", "ap", "as", "bx", "ax", "o", "h", "l",
          "v", "vw", "av", "op", "a", "e", "n", "otc", "at", "b", "sym", "T", "status", "message"]
BASE = {"T": {"ev": "T", "sym": "AAPL", "x": 4, "i": "1", "p": 10.5, "s": 100, "c": [12], "t": 1751031000123},
        "Q": {"ev": "Q", "sym": "AAPL", "bp": 10.4, "bs": 1, "ap": 10.6, "as": 2, "t": 1751031000124},
        "A": {"ev": "A", "sym": "BACpL", "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10, "s": 1751031000000},
        "AM": {"ev": "AM", "sym": "BRK.B", "o": 1.0, "h": 2.0, "l": 0.5, "c": 1.5, "v": 10, "s": 1751031000000},
        "LULD": {"ev": "LULD", "T": "AAPL", "h": 11.0, "l": 9.0, "t": 1751031000125},
        "NOI": {"ev": "NOI", "T": "AAPL", "t": 1751031000126, "at": 1600, "a": "C", "o": 10, "p": 20, "b": 10.5},
        "status": {"ev": "status", "status": "success", "message": "subscribed to: T.AAPL"}}


@st.composite
def events(draw):
    """A spec-shaped event with a few fields replaced by hostile values (or a hostile value outright)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(values)
    ev = dict(BASE[draw(st.sampled_from(sorted(BASE)))])
    for f in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
        ev[f] = draw(values)
    return ev


frames = st.one_of(st.lists(events(), max_size=6).map(to_json), events().map(to_json),
                   st.integers(1, 20_000).map(lambda n: "[" * n + "]" * n), st.binary(max_size=40))


def _ready_polygon() -> PolygonCore:
    core = PolygonCore("k", channels=ALL_CHANNELS)
    core.on_open()
    core.receive(b'[{"ev":"status","status":"auth_success"}]')
    core.subscribe(SYMS)
    return core


def _through_state_and_wire(out, states: dict[str, FeedSymbol]) -> None:
    for sym, lst in out.batches.items():
        assert sym in SYMS and lst
        states.setdefault(sym, FeedSymbol(sym)).apply_batch(lst)
        payload = wire.pack(wire.batch(sym, 1, 1, lst))  # WireError would fail the test
        back = wire.unpack(payload)
        assert back["ev"] == lst
        for a in lst:
            d = wire.event_to_dict(sym, a)
            assert d["symbol"] == sym and type(d["timestamp"]) is int
            for v in d.values():
                assert not (isinstance(v, float) and not math.isfinite(v))
    for st_ in states.values():
        msgpack.packb(st_.snapshot())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(frames, min_size=1, max_size=4))
def test_fuzz_the_whole_frame_path_never_raises_and_everything_published_packs(fs):
    polygon, relay = _ready_polygon(), RelayCore(channels=ALL_CHANNELS)
    relay.subscribe(SYMS)
    relay.on_open()
    states: dict[str, FeedSymbol] = {}
    for f in fs:
        for core, frame in ((polygon, f), (relay, f if isinstance(f, bytes) else
                                           '{"type":"market_data","data":%s}' % f)):
            before = sum(core.counters.values())
            out = core.receive(frame)
            assert sum(core.counters.values()) - before == len(out.errors)
            _through_state_and_wire(out, states)
    # and a valid trade after all that still arrives
    out = polygon.receive(orjson.dumps([dict(BASE["T"], i="sentinel")]))
    assert [a[6] for _, a in out.events] == ["sentinel"]


def test_hostile_frames_through_a_real_feed_process_then_a_valid_trade():
    rnd = random.Random(11)
    hostile = []
    for k in range(60):  # spec-shaped events with one to three fields at an extreme, a few per frame
        frame = []
        for _ in range(rnd.randrange(1, 5)):
            ev = dict(BASE[rnd.choice(sorted(BASE))])
            for f in rnd.sample(FIELDS, rnd.randrange(1, 4)):
                ev[f] = rnd.choice(EXTREMES)
            frame.append(ev)
        hostile.append(to_json(frame))
    hostile += ["[" * 5000 + "]" * 5000, to_json([dict(BASE["T"], s=1e30), dict(BASE["T"], i=BIG)]),
                "NaN", to_json([dict(BASE["T"], p=Tok("NaN"))]), to_json([dict(BASE["T"], s=2**64)])]
    last = orjson.dumps([dict(BASE["T"], i="last", sym="BACpL")]).decode()
    with run_standin(hostile + [last], SYMS) as up, \
            run_feed("--upstream", up.url, "--protocol", "polygon", "--no-backfill",
                     env=clean_env(POLYGON_API_KEY="fuzz")) as feed:
        tap = Tap(feed.control, SYMS)
        try:
            tap.wait(lambda: any(a[6] == "last" for a in tap.events["BACpL"]), what="the trade after the fuzz")
            status = tap.status()
            assert status["upstream"]["state"] == "connected" and status["upstream"]["connects"] == 1
            assert feed.proc.poll() is None
            assert sum(v for k, v in status["counters"].items() if k in ("malformed_json", "bad_value",
                                                                         "wrong_type")) >= 4
        finally:
            tap.close()


class _Capture:
    """An XPUB stand-in: keeps what the publisher sends."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_multipart(self, parts, flags=0) -> None:
        self.sent.append(wire.unpack(parts[1]))

    def getsockopt(self, opt) -> int:
        return 0


def _published(fs: list, batched: bool) -> tuple[dict, dict, dict]:
    from feed_process.publisher import Publisher

    core = _ready_polygon()
    states = {s: FeedSymbol(s) for s in SYMS}
    pub = Publisher(core, states, 1)
    pub.xpub = cap = _Capture()
    raw = [f.encode() if isinstance(f, str) else f for f in fs]
    if batched:
        pub.handle_frames(raw)
    else:
        for f in raw:
            pub.handle_frame(f)
    events: dict[str, list] = {}
    for m in cap.sent:
        if m["type"] == wire.BATCH:
            lst = events.setdefault(m["sym"], [])
            assert m["seq"] == len(lst) + 1  # gapless: every message starts where the last one ended
            lst.extend(m["ev"])
    return events, {s: st_.seq for s, st_ in states.items()}, dict(core.counters)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(frames | st.lists(events(), min_size=1, max_size=4).map(to_json), min_size=2, max_size=6))
def test_a_batch_of_frames_publishes_event_for_event_what_frame_by_frame_does(fs):
    """The coalescing (Publisher.handle_frames): the same events per symbol in the same order, the same
    sequence numbers, the same errors counted - a bad frame or event costs only itself."""
    assert _published(fs, True) == _published(fs, False)


@pytest.mark.parametrize("depth", [17, 900, 1987, 5000])
def test_nesting_is_judged_on_the_bytes_not_on_the_callers_stack(depth):
    """Hypothesis found a frame nested 1987 deep that the single-frame path counted and the batched path
    lost: the decoders' limit is the interpreter's remaining stack. Now any depth over MAX_DEPTH is one
    malformed_json in both paths, and a string full of brackets is not nesting."""
    deep = "[" * depth + "]" * depth
    assert _published(["[]", deep], True) == _published(["[]", deep], False)
    assert _published(["[]", deep], True)[2] == {"malformed_json": 1}
    from shared.models.events import too_deep
    assert not too_deep('[{"ev":"T","sym":"AAPL","x":"' + "[" * 40 + '\\"' + "{" * 40 + '"}]')

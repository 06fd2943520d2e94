"""The typed wire model (shared/models/messages.py): append-only arrays, compatibility with map readers,
hostile input as one WireError, and the feed's builder held to the structs' layouts."""

from __future__ import annotations

import msgpack
import msgspec
import pytest

from shared.models import messages as m
from shared.models import wire
from shared.models.events import normalize
from shared.models.wire import WireError
from tests.manager_fake_feed import hostile_batches

T = 1_751_029_504_111

# One full-length array per kind, as events.build makes them (the layouts of docs/PROTOCOL.md).
FULL = {
    m.TradeEv: ["T", T, 201.64, 4, 4, [12, 37], "1", 3, 1000007, 5, T - 1],
    m.QuoteEv: ["Q", T, 201.6, 3, 201.7, 2, 12, 11, 1, [604], 3, 77],
    m.MinuteEv: ["AM", T, 1.0, 2.0, 0.5, 1.5, 100, 1.2, None, 5000, 1.1, 1.3, T + 60_000, 7, False],
    m.SecondEv: ["A", T, 1.0, 2.0, 0.5, 1.5, 100, 1.2, None, 5000, 1.1, 1.3, T + 1000, 7, False],
    m.LuldEv: ["LULD", T, 105.5, 95.5, [17], 3, 9],
    m.ImbalanceEv: ["NOI", T, "O", -480, 10, 440, 25.03, 930, 44],
}


def batch_bytes(ev: list, **kw) -> bytes:
    """A batch as an older or newer feed (or any map writer: msgpack-python) would send it."""
    return msgpack.packb({"v": 1, "type": "batch", "sym": "AAPL", "epoch": 1, "seq": 1, "ev": ev, **kw})


def test_every_layout_is_the_structs_field_order():
    for cls, arr in FULL.items():
        ev = wire.as_event(arr)
        assert type(ev) is cls and len(cls.__struct_fields__) == len(arr) - 1
        assert msgspec.to_builtins(ev) == arr  # the struct encodes back to the same array


def test_the_feeds_builder_makes_arrays_of_the_structs_layouts():
    # shared.models.events.build writes the lists the feed publishes: each decodes to a struct of full length
    raw = [{"ev": "T", "sym": "AAPL", "x": 4, "i": "1", "p": 201.64, "s": 4, "t": T, "c": [12], "z": 3, "q": 7},
           {"ev": "Q", "sym": "AAPL", "bx": 12, "bp": 201.6, "bs": 3, "ax": 11, "ap": 201.7, "as": 2, "t": T},
           {"ev": "AM", "sym": "AAPL", "v": 100, "o": 1.0, "c": 1.5, "h": 2.0, "l": 0.5, "s": T, "e": T + 60_000},
           {"ev": "A", "sym": "AAPL", "v": 100, "o": 1.0, "c": 1.5, "h": 2.0, "l": 0.5, "s": T},
           {"ev": "LULD", "T": "AAPL", "h": 105.5, "l": 95.5, "t": T},
           {"ev": "NOI", "T": "AAPL", "t": T, "a": "O", "o": -5}]
    for r in raw:
        arr = wire.event_to_wire(normalize(r))
        ev = wire.as_event(arr)
        assert len(arr) == len(type(ev).__struct_fields__) + 1, r["ev"]
        assert msgspec.to_builtins(ev) == arr


def test_a_newer_feeds_longer_arrays_and_extra_keys_decode():
    ev = [a + ["added-by-v1.1", 42] for a in FULL.values()]
    msg = wire.decode_data(batch_bytes(ev, compression="none"))  # and a key this build does not know
    assert [type(e) for e in msg.ev] == list(FULL)
    assert wire.to_arrays(msg.ev) == list(FULL.values())  # the extra fields are dropped, the rest kept
    hb = wire.decode_data(msgpack.packb({"v": 1, "type": "heartbeat", "epoch": 1, "pid": 2, "ts": T, "upstream": {},
                                         "symbols": {}, "counters": {}, "new_field": [1]}))
    assert isinstance(hb, m.Heartbeat)


def test_an_older_feeds_shorter_arrays_decode_with_none():
    short = [["T", T, 1.0, 1, None, []], ["Q", T, 1.0, 1, 2.0, 1, None], ["AM", T, 1.0, 2.0, 0.5, 1.5, 1, None, None],
             ["LULD", T, 1.0, 0.5], ["NOI", T]]
    msg = wire.decode_data(batch_bytes(short))
    t, q, am, luld, noi = msg.ev
    assert (t.i, t.z, t.q, t.trfi, t.trft) == (None,) * 5
    assert (q.ax, q.c, q.i, q.z, q.q) == (None,) * 5
    assert (am.av, am.op, am.a, am.e, am.z, am.otc) == (None,) * 6
    assert (luld.i, luld.z, luld.q) == (None,) * 3 and (noi.a, noi.o, noi.i) == (None,) * 3
    d = wire.event_to_dict("AAPL", q)
    assert d["conditions"] == [] and d["indicators"] == [] and d["ask_exchange"] is None


def test_a_map_reader_sees_the_same_map_and_a_map_writer_is_read():
    arrays = list(FULL.values())
    old = {"v": 1, "type": "batch", "sym": "AAPL", "epoch": 3, "seq": 9, "ev": arrays}
    assert msgpack.unpackb(wire.pack_batch("AAPL", 3, 9, arrays)) == old  # an older subscriber still works
    assert wire.decode_data(msgpack.packb(old)) == wire.decode_data(wire.pack_batch("AAPL", 3, 9, arrays))
    for msg in (wire.resync("AAPL", 3, "backfill"), wire.error_event("bad_json", "x", 2),
                wire.heartbeat(3, 4, {"state": "connected"}, {"AAPL": {"seq": 9}}, {"events": 1}, T)):
        assert msgpack.unpackb(wire.pack(msg)) == {"v": 1, **wire.as_dict(msg)}
        assert wire.decode_data(msgpack.packb({"v": 1, **wire.as_dict(msg)})) == msg
    # the keys of before, exactly: a sys| error without source, an error reply with its id even when None
    assert set(msgpack.unpackb(wire.pack(wire.error_event("kind", "m", 1)))) == {"v", "type", "kind", "message",
                                                                                  "count"}
    assert msgpack.unpackb(wire.pack(wire.error_reply(None, "bad"))) == {"v": 1, "type": "error", "id": None,
                                                                        "code": "bad_request", "message": "bad"}


@pytest.mark.parametrize("payload", hostile_batches())
def test_a_hostile_batch_is_one_wire_error(payload):
    with pytest.raises(WireError):
        wire.decode_data(payload)


@pytest.mark.parametrize("obj", [
    {"type": "batch", "sym": "AAPL", "epoch": 1, "seq": 1, "ev": []},                # no version
    {"v": 2, "type": "batch", "sym": "AAPL", "epoch": 1, "seq": 1, "ev": []},
    {"v": True, "type": "heartbeat"},
    {"v": 1, "type": "batch", "sym": "", "epoch": 1, "seq": 1, "ev": []},            # no symbol
    {"v": 1, "type": "batch", "sym": "AAPL", "epoch": -1, "seq": 1, "ev": []},
    {"v": 1, "type": "heartbeat", "epoch": 1, "pid": 1, "ts": 1, "upstream": [], "symbols": {}, "counters": {}},
    {"v": 1, "type": "heartbeat", "epoch": 1, "pid": 1, "ts": 1, "upstream": {}, "symbols": {"A": 1},
     "counters": {}},
    {"v": 1, "type": 7},
    [1, 2, 3],
])
def test_malformed_data_messages_are_wire_errors(obj):
    with pytest.raises(WireError):
        wire.decode_data(msgpack.packb(obj))


def test_size_truncation_and_trailing_bytes_are_wire_errors():
    payload = wire.pack_batch("AAPL", 1, 1, list(FULL.values()))
    for cut in range(len(payload)):
        with pytest.raises(WireError):
            wire.decode_data(payload[:cut])
    with pytest.raises(WireError):
        wire.decode_data(payload + b"\x00")
    with pytest.raises(WireError, match="exceeds"):
        wire.decode_data(b"\x80" * (wire.MAX_MESSAGE_BYTES + 1))
    with pytest.raises(WireError):
        wire.decode_data("not bytes")


def test_a_type_this_build_does_not_declare_is_a_map_not_an_error():
    assert wire.decode_data(msgpack.packb({"v": 1, "type": "news", "sym": "AAPL"})) == {
        "v": 1, "type": "news", "sym": "AAPL"}
    assert wire.decode_reply(wire.pack({"type": "news", "id": 3, "pid": 1}))["pid"] == 1
    assert isinstance(wire.decode_reply(wire.pack(wire.error_reply(3, "no"))), m.ErrorReply)


def test_control_requests_decode_to_structs_alerts_too():
    assert wire.decode_request(wire.pack(wire.hello_request(5, "tap"))) == m.HelloReq(v=1, id=5, client="tap")
    assert wire.decode_request(wire.pack(wire.snapshot_request("AAPL", "x"))).symbol == "AAPL"
    cmd = wire.decode_request(wire.pack({"type": "command", "id": 1, "cmd": "notice", "message": "hi"}))
    assert isinstance(cmd, m.Command) and cmd.message == "hi"
    alert = wire.decode_request(wire.pack({"type": "alert", "id": 2, "op": "add", "symbol": "AAPL", "x": 1}))
    assert alert == m.AlertReq(v=1, id=2, op="add", symbol="AAPL")  # an undeclared field is ignored
    assert wire.decode_request(wire.pack({"type": "news", "id": 3})) == {"v": 1, "type": "news", "id": 3}
    with pytest.raises(WireError):
        wire.decode_request(wire.pack({"type": "hello", "id": 1.5}))  # an id is an int or text
    with pytest.raises(WireError):
        wire.decode_request(msgpack.packb({"type": "hello", "id": 1}))  # no version


def test_seed_dicts_from_structs_equal_those_from_arrays():
    for arr in FULL.values():
        assert wire.event_to_dict("AAPL", wire.as_event(arr)) == wire.event_to_dict("AAPL", arr)
    d = wire.event_to_dict("AAPL", FULL[m.TradeEv])
    assert d["price"] == 201.64 and d["exchange"] is not None and d["trf_timestamp"] == T - 1


def test_the_builders_arrays_come_from_the_wire_structs_fields(monkeypatch):
    from shared.models import arrays

    class Wider(m.TradeEv, tag="T"):
        p2: float | None = None     # a field the upstream struct does not have

    assert arrays._display("T").startswith("['T', t, e.p, e.s, e.x, c if c is not None else [], i,")
    monkeypatch.setitem(arrays._WIRE, "T", Wider)
    with pytest.raises(TypeError, match="T.p2 has no source"):
        arrays._display("T")  # loud at import, not a silently shorter array
    monkeypatch.setitem(arrays._FROM, "T", {**arrays._FROM["T"], "p2": "e.p"})
    assert arrays._display("T").endswith(", trft, e.p]")

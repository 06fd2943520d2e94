"""Replies built from their structs (shared.models.messages) read the same in a map reader
(``wire.unpack``, msgpack-python: tools, examples) and in the typed decoder (``wire.decode_reply``)."""

from __future__ import annotations

import msgpack
import pytest

from shared.models import messages as m
from shared.models import wire


def _both(msg) -> tuple[dict, object]:
    raw = wire.pack(msg)
    return wire.unpack(raw), wire.decode_reply(raw)


def _summary(sym: str = "AAPL") -> m.Summary:
    return m.Summary(v=1, sym=sym, ts=1_750_000_000_000, seq=7, last=101.5, change=1.5, change_pct=1.5,
                     volume=4300, rel_volume=0.134, bid=101.4, ask=101.6, spread=0.2, high=102.0, low=99.5,
                     prev_close=100.0, spark=[100.5, 101.5])


def test_a_status_reply_keeps_the_keys_the_hand_built_map_had():
    st = m.StatusReply(v=1, id=4, pid=11, epoch=9, uptime_s=1.5, control="tcp://a:1", data="tcp://a:2",
                       upstream={"state": "connected"}, subscribers=2, counters={"frames": 3},
                       symbols={"AAPL": m.SymbolStatus(seq=5, last_ms=1_750_000_000_000, events=5, bars=2,
                                                       backfill="done", stored=1, day_bars=3)},
                       rest={"limit": "unlimited"})
    d, typed = _both(st)
    assert set(d) == {"v", "type", "id", "pid", "epoch", "uptime_s", "control", "data", "upstream", "symbols",
                      "subscribers", "counters", "supervisor", "rest", "store"}
    assert d["type"] == wire.STATUS and d["symbols"]["AAPL"] == {
        "seq": 5, "last_ms": 1_750_000_000_000, "events": 5, "bars": 2, "backfill": "done", "backfill_ahead": 0,
        "stored": 1, "day_bars": 3}
    assert typed == st
    # msgpack-python (examples/subscriber.py) reads it too
    assert msgpack.unpackb(wire.pack(st))["symbols"]["AAPL"]["backfill"] == "done"


def test_an_older_or_newer_feeds_status_decodes_with_defaults_and_ignores_extra_keys():
    typed = wire.decode_reply(wire.pack({"type": "status", "id": 3, "pid": 1, "added_later": [1]}))
    assert isinstance(typed, m.StatusReply) and typed.pid == 1 and typed.symbols == {} and typed.store is None


def test_a_summary_reply_and_the_summary_topic_carry_the_summary_keys():
    rep = m.SummaryReply(v=1, id="q", summaries={"AAPL": _summary(), "MSFT": None})
    d, typed = _both(rep)
    assert d["type"] == wire.SUMMARY and d["summaries"]["MSFT"] is None
    assert set(wire.SUMMARY_KEYS) | {"type", "v"} == set(d["summaries"]["AAPL"])
    assert d["summaries"]["AAPL"]["spark"] == [100.5, 101.5] and d["summaries"]["AAPL"]["type"] == wire.SUMMARY
    assert typed == rep
    pub = wire.unpack(wire.pack(_summary()))
    assert {k: pub[k] for k in wire.SUMMARY_KEYS} == {k: d["summaries"]["AAPL"][k] for k in wire.SUMMARY_KEYS}
    assert wire.decode_data(wire.pack(_summary())) == _summary()


def test_an_alert_reply_keeps_only_what_its_op_returns():
    entry = {"id": 1, "alert": "a1", "symbol": "AAPL", "kind": "above", "message": "AAPL above 200 (200.05)"}
    rep = m.AlertReply(v=1, id=7, op="log", alerts=[], log=[entry])
    d, typed = _both(rep)
    assert d == {"v": 1, "type": wire.ALERT, "id": 7, "op": "log", "alerts": [], "log": [entry]}
    assert typed == rep
    assert set(wire.unpack(wire.pack(m.AlertReply(v=1, id=8, op="ack", acked=2)))) == {"v", "type", "id", "op", "acked"}
    fired = wire.decode_data(wire.pack(m.AlertFired(v=1, entry=entry)))
    assert isinstance(fired, m.AlertFired) and fired.entry == entry


def test_request_builders_make_the_maps_the_senders_wrote_by_hand():
    assert wire.alert_request("add", 1, symbol="AAPL", kind="above", value=200.0) == {
        "v": 1, "type": "alert", "id": 1, "op": "add", "symbol": "AAPL", "kind": "above", "value": 200.0}
    assert wire.alert_request("list") == {"v": 1, "type": "alert", "op": "list"}
    assert wire.summary_request(["AAPL"], "w1") == {"v": 1, "type": "summary", "id": "w1", "symbols": ["AAPL"]}
    assert wire.command("reconnect") == {"v": 1, "type": "command", "cmd": "reconnect"}
    assert wire.command("window_ready", symbol="AAPL", marks={"shown": 1.0}, pid=5) == {
        "v": 1, "type": "command", "cmd": "window_ready", "symbol": "AAPL", "marks": {"shown": 1.0}, "pid": 5}
    # the feed and the supervisor read them typed
    req = wire.decode_request(wire.pack(wire.alert_request("edit", 3, alert="a1", note="x")))
    assert isinstance(req, m.AlertReq) and (req.alert, req.note, req.value) == ("a1", "x", None)
    cmd = wire.decode_request(wire.pack(wire.command("supervisor_report", "sup-1", children=[], supervisor_pid=9)))
    assert isinstance(cmd, m.Command) and cmd.children == [] and cmd.supervisor_pid == 9
    with pytest.raises(TypeError):
        wire.alert_request("add", colour="red")  # a field the request does not declare is the sender's bug

"""FeedLink, the sans-I/O subscriber state machine: every protocol case, no sockets, no waiting.

Its inputs are what the window's decoders make of the feed's bytes, so the helpers pack and decode."""

from __future__ import annotations

import pytest

from shared.models import wire
from ui_process.feed_link import FEED_GONE_S, HELLO_RETRY_S, SNAPSHOT_TIMEOUT_S, FeedLink

UP = {"state": "connected", "source": "simulated"}
T0 = 1_751_029_500_000  # event times are T0 + 1000 + seq


def reply(d):
    return wire.decode_reply(wire.pack(d))


def data(d):
    return wire.decode_data(wire.pack(d))


def kinds(out):
    return [o[0] for o in out]


def sent(out, typ):
    return [o[1] for o in out if o[0] == "send" and o[1]["type"] == typ]


def hello_reply(req, epoch=1, data="tcp://127.0.0.1:5001", upstream=UP):
    return reply({"type": "hello", "id": req["id"], "server": "live-monitor-feed", "protocol": 1, "epoch": epoch,
                  "pid": 42, "data": data, "upstream": upstream})


def snap_reply(req, seq, epoch=1, bars=()):
    return reply({"type": "snapshot", "id": req["id"], "symbol": req["symbol"], "epoch": epoch, "seq": seq,
                  "bars": list(bars), "last_trade": None, "last_quote": None, "day": {}, "forming": None,
                  "backfill": {"state": "done"}, "source": "simulated", "upstream": UP})


def batch(seq, n=1, epoch=1, sym="AAPL"):
    return wire.decode_data(wire.pack_batch(sym, epoch, seq, [["T", T0 + 1_000 + seq + i, 1.0, 1, None, [], None]
                                                             for i in range(n)]))


def started(now=0.0):
    link = FeedLink()
    link.set_symbol("AAPL", now)
    out = link.start(now)
    assert ("subscribe", b"sys|") in out and ("subscribe", b"md|AAPL|") in out
    (hello,) = sent(out, "hello")
    out = link.on_reply(hello_reply(hello), now)
    assert ("connect_data", "tcp://127.0.0.1:5001") in out and ("link", None) in out
    (snap,) = sent(out, "snapshot")
    return link, snap


def applied(out):
    return [ev for o in out if o[0] == "events" for ev in o[1]]


def test_clone_pattern_buffer_then_apply_newer_than_snapshot():
    link, snap = started()
    assert link.on_data(b"md|AAPL|", batch(9, 2), 0.1) == []      # buffered: seq 9, 10
    assert link.on_data(b"md|AAPL|", batch(11, 2), 0.1) == []     # buffered: seq 11, 12
    out = link.on_reply(snap_reply(snap, seq=10), 0.2)
    assert kinds(out)[0] == "snapshot"
    assert [e.t - T0 for e in applied(out)] == [1011, 1012]            # only seq > 10
    assert link.synced and link.tracker.last == 12
    out = link.on_data(b"md|AAPL|", batch(13), 0.3)
    assert [e.t - T0 for e in applied(out)] == [1013]


def test_overlap_applies_tail_and_dup_is_dropped():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=10), 0.1)
    out = link.on_data(b"md|AAPL|", batch(9, 4), 0.2)  # 9..12, 9 and 10 already in
    assert [e.t - T0 for e in applied(out)] == [1011, 1012]
    assert link.on_data(b"md|AAPL|", batch(12), 0.2) == []
    assert link.counters["dups"] == 1


def test_gap_resnapshots_and_keeps_buffering():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=10), 0.1)
    out = link.on_data(b"md|AAPL|", batch(15), 0.2)
    (snap2,) = sent(out, "snapshot")
    assert not link.synced and link.counters["gaps"] == 1
    assert link.on_data(b"md|AAPL|", batch(16), 0.3) == []  # buffered while the snapshot is out
    # one outstanding snapshot at a time
    assert sent(link.on_data(b"md|AAPL|", batch(30), 0.3), "snapshot") == []
    out = link.on_reply(snap_reply(snap2, seq=15), 0.4)
    assert [e.t - T0 for e in applied(out)] == [1016] and link.tracker.last == 16
    assert link.counters["resnapshots"] >= 1


def test_other_epoch_batch_resnapshots_and_is_not_replayed():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=10), 0.1)
    out = link.on_data(b"md|AAPL|", batch(11, epoch=2), 0.2)
    (snap2,) = sent(out, "snapshot")
    out = link.on_reply(snap_reply(snap2, seq=11, epoch=1), 0.3)
    assert applied(out) == [] and link.synced  # epoch-2 batch can't follow an epoch-1 snapshot


def test_resync_takes_a_new_snapshot_and_stale_replies_are_ignored():
    link, snap = started()
    out = link.on_data(b"md|AAPL|", data({"type": "resync", "sym": "AAPL", "epoch": 1, "reason": "backfill"}), 0.1)
    (snap2,) = sent(out, "snapshot")
    assert link.on_reply(snap_reply(snap, seq=5), 0.2) == []  # the superseded request's reply
    out = link.on_reply(snap_reply(snap2, seq=7), 0.3)
    assert kinds(out) == ["snapshot"]


def test_set_symbol_unsubscribes_old_and_drops_its_messages():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=1), 0.1)
    out = link.set_symbol("MSFT", 0.2)
    assert out[:2] == [("unsubscribe", b"md|AAPL|"), ("subscribe", b"md|MSFT|")]
    (snap2,) = sent(out, "snapshot")
    assert snap2["symbol"] == "MSFT"
    assert link.on_data(b"md|AAPL|", batch(2), 0.3) == []
    assert link.on_reply(snap_reply(snap, seq=1), 0.3) == []  # AAPL's late reply
    assert link.counters["stale_dropped"] >= 2
    out = link.on_reply(snap_reply(snap2, seq=3), 0.4)
    assert out[-1][0] == "snapshot" and out[-1][1].symbol == "MSFT"


def test_feed_gone_then_back_with_new_epoch_and_endpoint():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=1), 0.1)
    hb = wire.heartbeat(1, 42, UP, {"AAPL": {"seq": 1, "last_ms": 0}}, {}, 0)
    link.on_data(b"sys|", hb, 1.0)
    assert link.tick(1.0 + FEED_GONE_S - 0.1) == [] and link.connected
    out = link.tick(1.0 + FEED_GONE_S + 0.1)
    assert kinds(out) == ["link", "reset_control", "send"] and not link.alive and not link.connected
    (hello,) = sent(out, "hello")
    # no answer: hello again after HELLO_RETRY_S, on a fresh control socket
    t = 1.0 + FEED_GONE_S + 0.1 + HELLO_RETRY_S + 0.1
    out = link.tick(t)
    assert kinds(out) == ["reset_control", "send"]
    (hello2,) = sent(out, "hello")
    assert link.on_reply(hello_reply(hello, epoch=2), t) == []  # the first hello's late reply
    out = link.on_reply(hello_reply(hello2, epoch=2, data="tcp://127.0.0.1:6002"), t)
    assert ("connect_data", "tcp://127.0.0.1:6002") in out and ("link", None) in out
    assert link.alive and link.epoch == 2 and link.counters["feed_restarts"] == 1
    (snap2,) = sent(out, "snapshot")
    out = link.on_reply(snap_reply(snap2, seq=0, epoch=2), t + 0.1)
    assert kinds(out) == ["snapshot"] and link.tracker.epoch == 2


def test_heartbeat_epoch_change_restarts_the_handshake():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=1), 0.1)
    out = link.on_data(b"sys|", wire.heartbeat(9, 42, UP, {}, {}, 0), 0.5)
    assert kinds(out) == ["link", "reset_control", "send"] and sent(out, "hello")


def test_heartbeat_seq_ahead_means_missed_events():
    link, snap = started()
    link.on_reply(snap_reply(snap, seq=10), 0.1)
    out = link.on_data(b"sys|", wire.heartbeat(1, 42, UP, {"AAPL": {"seq": 10, "last_ms": 0}}, {}, 0), 1.0)
    assert sent(out, "snapshot") == []
    out = link.on_data(b"sys|", wire.heartbeat(1, 42, UP, {"AAPL": {"seq": 14, "last_ms": 0}}, {}, 0), 5.0)
    assert len(sent(out, "snapshot")) == 1


def test_upstream_state_change_is_a_link_event():
    link, snap = started()
    assert link.connected
    out = link.on_data(b"sys|", wire.heartbeat(1, 42, {"state": "reconnecting", "source": "simulated"}, {}, {}, 0), 1.0)
    assert ("link", None) in out and not link.connected and link.alive


def test_snapshot_timeout_retries_and_error_told_once():
    link, snap = started()
    out = link.tick(SNAPSHOT_TIMEOUT_S + 0.1)
    (snap2,) = sent(out, "snapshot")
    assert snap2["id"] != snap["id"]
    out = link.on_reply(wire.error_reply(snap2["id"], "unknown symbol"), 4.0)
    assert out == [("error", "Feed refused the snapshot of AAPL: unknown symbol")]
    t = 4.0 + SNAPSHOT_TIMEOUT_S + 0.1
    link.on_data(b"sys|", wire.heartbeat(1, 42, UP, {}, {}, 0), t)  # the feed is alive all along
    out = link.tick(t)
    (snap3,) = sent(out, "snapshot")
    assert link.on_reply(wire.error_reply(snap3["id"], "unknown symbol"), 8.0) == []  # not repeated


def test_sys_error_and_a_malformed_hello_is_refused_by_the_decoder():
    link = FeedLink()
    link.set_symbol("AAPL", 0)
    (hello,) = sent(link.start(0), "hello")
    with pytest.raises(wire.WireError):  # refused by the decoder: the manager counts it, the link never sees it
        reply({"type": "hello", "id": hello["id"], "epoch": "x"})
    out = link.on_data(b"sys|", data({"type": "error", "kind": "bad_json", "message": "bad frame", "count": 3}), 0.2)
    assert ("error", "Feed: bad frame (x3)") in out


def test_upstream_state_from_a_snapshot_reply_is_a_link_event_too():
    """The snapshot can be the first to say 'connected'; the next heartbeat then changes nothing."""
    link = FeedLink()
    link.set_symbol("AAPL", 0)
    (hello,) = sent(link.start(0), "hello")
    out = link.on_reply(hello_reply(hello, upstream={"state": "connecting"}), 0.1)
    (snap,) = sent(out, "snapshot")
    assert not link.connected
    out = link.on_reply(snap_reply(snap, seq=0), 0.2)  # carries upstream connected
    assert ("link", None) in out and link.connected
    assert link.on_data(b"sys|", wire.heartbeat(1, 42, UP, {}, {}, 0), 0.5) == []


def test_message_types_this_build_does_not_declare_are_ignored():
    link, snap = started()
    assert link.on_reply(reply({"type": "status", "id": snap["id"], "pid": 1}), 0.1) == []  # a map: not for the link
    assert link.on_data(b"md|AAPL|", data({"type": "news", "sym": "AAPL"}), 0.1) == []
    assert link.on_data(b"sys|", data({"type": "news"}), 0.1) == []
    out = link.on_reply(snap_reply(snap, seq=3), 0.2)
    assert kinds(out) == ["snapshot"] and link.synced

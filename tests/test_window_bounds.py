"""The window's buffers stay at their bound however much passes through them, and lose nothing else.

Issue 17 ("window RSS flat over 2M events", ``bench/window_memory.py``): each
test pushes more than a bound through the window's real path - the
manager's ZeroMQ socket as ``connect()`` opens it, the wire decode of fired
alerts, the alert panel on the manager's signal, the watchlist model - and
checks the size stays at the bound while everything inside it is intact.
"""

from __future__ import annotations

import zmq

from shared.models import messages as msgs
from shared.models import wire
from tests.util import free_port


def _manager():
    from ui_process.polygon_data_manager import PolygonDataManager

    return PolygonDataManager(f"tcp://127.0.0.1:{free_port()}", symbol="AAPL")  # nothing listens: never synced


def test_the_receive_queue_holds_at_most_rcvhwm_messages_and_keeps_the_oldest_in_order(qtbot):
    """A window that stops reading queues RCVHWM data messages (``feed_transport.RCVHWM``), not what the
    feed sends: beyond it ZeroMQ drops at the publisher, and what the window then reads is the run of
    messages before the drop, in order (the link sees the gap at the next seq and re-snapshots)."""
    from ui_process.feed_transport import RCVHWM

    m = _manager()
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.XPUB)  # XPUB: the subscription arrives as a message, so no sleep waits for it
    pub.setsockopt(zmq.SNDHWM, 1)
    pub.setsockopt(zmq.LINGER, 0)
    endpoint = f"inproc://lm-rcvhwm-{id(pub)}"
    pub.bind(endpoint)
    try:
        m.connect()
        sub = m._transport._sub  # the window's data socket, options as connect() set them
        assert sub.getsockopt(zmq.RCVHWM) == RCVHWM
        sub.setsockopt(zmq.SUBSCRIBE, b"t|")
        sub.connect(endpoint)
        seen: list[bytes] = []  # the manager's own subscriptions (md|, sum|, alert|) arrive too
        while b"\x01t|" not in seen:
            assert pub.poll(5000), f"no subscription to t| reached the publisher ({seen})"
            seen.append(pub.recv())
        # Nothing drains: the Qt loop does not run until the socket is read below.
        for i in range(3 * RCVHWM):
            pub.send_multipart([b"t|", i.to_bytes(4, "big")], zmq.NOBLOCK)  # PUB drops, never blocks
        got = []
        while sub.poll(200):
            got.append(int.from_bytes(sub.recv_multipart(zmq.NOBLOCK)[1], "big"))
        # inproc: one pipe of both sides' high-water marks (RCVHWM + the publisher's 1)
        assert RCVHWM <= len(got) <= RCVHWM + 1
        assert got == list(range(len(got)))  # the oldest, every one of them, in order
    finally:
        m.disconnect()
        pub.close(0)


def _fired(i: int) -> list[bytes]:
    entry = {"id": i, "alert": "a1", "symbol": "AAPL", "kind": "above", "value": 100.0, "t": 1_764_000_000_000 + i,
             "price": 100.5, "message": f"AAPL above 100 (#{i})", "delivered": False}
    return [wire.ALERT_TOPIC, wire.pack(msgs.AlertFired(v=1, entry=entry))]


def test_fired_alert_ids_are_remembered_up_to_their_bound_and_each_alert_is_shown_once(qtbot):
    from ui_process.watch_core import LOG_IDS_KEEP

    m = _manager()
    got: list[dict] = []
    m.alert_fired.connect(got.append)
    core = m._core
    n = LOG_IDS_KEEP + 700
    for i in range(1, n + 1):
        core.on_data(_fired(i), core.clock())
    assert [e["id"] for e in got] == list(range(1, n + 1))  # every alert, once, in order
    assert len(core.log_ids) == LOG_IDS_KEEP == len(core._log_order)
    assert core.log_ids == set(range(n - LOG_IDS_KEEP + 1, n + 1))  # the newest are the ones kept
    # a reconnect replays the feed's log (its last 500): nothing is shown twice
    for i in range(n - 499, n + 1):
        core.on_data(_fired(i), core.clock())
    core._entries([{"id": n}, {"id": n + 1}, {"id": n + 1}], live=False)  # a list naming one new id twice
    assert [e["id"] for e in got[n:]] == [n + 1]
    assert len(core.log_ids) == LOG_IDS_KEEP


def test_the_alert_panel_keeps_its_rows_and_entries_at_the_bound_newest_first(qtbot):
    from ui_process.window.alert_panel import LOG_ROWS, AlertPanel, Notifier

    m = _manager()
    panel = AlertPanel(m, Notifier(sound=False))
    qtbot.addWidget(panel)
    counts: list[int] = []
    panel.count_changed.connect(counts.append)
    n = LOG_ROWS + 150
    for i in range(1, n + 1):
        m._core.on_data(_fired(i), m._core.clock())  # through the manager's alert_fired, as the feed sends it
    assert len(panel.entries) == LOG_ROWS == panel.fired.count()
    assert [e["id"] for e in panel.entries] == list(range(n, n - LOG_ROWS, -1))
    assert panel.fired.item(0).text().endswith(f"(#{n})")
    assert len(panel.notifier.shown) == LOG_ROWS and panel.notifier.shown[-1].endswith(f"(#{n})")
    assert counts[-1] == n == panel.total  # the count is of every alert shown, not of the rows kept


def test_the_watchlist_keeps_figures_only_for_its_rows(qtbot):
    from ui_process.window.watchlist_model import WatchlistModel

    model = WatchlistModel()
    first = [f"S{i}" for i in range(50)]
    model.set_symbols(first)
    for s in first:
        model.on_summary({"sym": s, "last": 10.0})
    assert model.flush() == 50
    for day in range(20):  # a list switched, rows added and removed, all day
        syms = [f"D{day}X{i}" for i in range(50)]
        model.set_symbols(first[:10] + syms)
        for s in syms:
            model.on_summary({"sym": s, "last": 20.0 + day})
        model.flush()
        model.remove(len(model.symbols) - 1)
    assert set(model.data_by_sym) <= set(model.symbols)
    assert len(model.data_by_sym) == len(model.symbols) == 59
    assert all(model.data_by_sym[s]["last"] == 10.0 for s in first[:10])  # the rows kept keep their figures
    assert model.data_by_sym["D19X0"]["last"] == 39.0

"""The GUI thread's loop turns: the drain leaves room for a repaint, labels repaint without relayouts.

Real Qt loop and real ZeroMQ sockets (the fake feed); no timing thresholds: the turn clock is
replaced where a test needs a full turn, and CPU time is compared only with CPU time burned on purpose.
"""

from __future__ import annotations

import datetime as dt
import time

from PyQt6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PyQt6.QtWidgets import QHBoxLayout, QWidget

from tests.manager_fake_feed import FakeFeed, make_bar
from tests.util import recorded_manager
from ui_process.feed_transport import LoopTurn
from ui_process.window.steady_label import SteadyLabel, TextLine

T0 = int(dt.datetime(2025, 6, 27, 14, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)


def _burn(cpu_s: float) -> None:
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass


def test_loop_turn_counts_this_turns_cpu_and_starts_again_next_turn(qtbot):
    turn = LoopTurn()
    seen: dict[str, float] = {}

    def busy() -> None:
        _burn(0.03)
        seen["busy"] = turn.spent()
        QTimer.singleShot(0, lambda: seen.__setitem__("next", turn.spent()))

    QTimer.singleShot(0, busy)
    qtbot.waitUntil(lambda: "next" in seen, timeout=5000)
    assert seen["busy"] >= 0.03  # the turn's own CPU, counted
    assert seen["next"] < seen["busy"]  # a later turn starts from nothing


class _Layouts(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt API)
        if ev.type() == QEvent.Type.LayoutRequest:
            self.n += 1
        return False


def test_a_steady_label_relayouts_only_when_its_text_outgrows_it(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    lay = QHBoxLayout(w)
    lab = SteadyLabel("—")
    lay.addWidget(lab)
    w.show()
    qtbot.waitExposed(w)
    QCoreApplication.sendPostedEvents()  # the show's own layout requests
    layouts = _Layouts()
    w.installEventFilter(layouts)

    def settle(text: str) -> int:
        before = layouts.n
        lab.setText(text)
        QCoreApplication.sendPostedEvents()  # the posted LayoutRequest, if any, is delivered
        return layouts.n - before

    assert settle("123.45") == 1  # wider than "—": grows once
    assert lab.width() >= lab.sizeHint().width()
    assert settle("678.90") == 0 and settle("1.00") == 0  # fits: a repaint, no relayout
    width = lab.width()
    assert width >= lab.sizeHint().width()  # never shrinks, never clips
    assert settle("123,456.78") == 1 and lab.width() > width
    assert lab.text() == "123,456.78"


def test_text_line_set_text_is_a_repaint_not_a_relayout(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    lay = QHBoxLayout(w)
    line = TextLine(" ", background="#000000", colour="#ffffff")
    lay.addWidget(line)
    w.show()
    qtbot.waitExposed(w)
    QCoreApplication.sendPostedEvents()  # the show's own layout requests
    layouts = _Layouts()
    w.installEventFilter(layouts)
    h = line.height()
    for t in ("<b>AAPL</b> 1m", "<b>AAPL</b> <span style='color:#888'>1m · 10:00</span> C 123.45" * 3, "x"):
        line.setText(t)
        QCoreApplication.sendPostedEvents()
        assert line.text() == t and line.height() == h
    assert layouts.n == 0


def test_a_drain_put_off_by_full_turns_still_delivers_every_event(qtbot):
    """Every turn reads as used up (a repaint per turn, or another manager's drain): the drain is put
    off once, then takes its minimum slice - it never starves, and no event is lost or reordered."""
    feed = FakeFeed().start()
    try:
        st = feed.state("AAPL")
        st["bars"] = [make_bar("AAPL", T0 + i * 60_000, 100, 101, 99, 100.5) for i in range(5)]
        st["seq"] = 10
        with recorded_manager(feed.control, "AAPL") as (m, rec):
            m.connect()
            qtbot.waitUntil(lambda: bool(rec.refreshes()) and m._transport is not None, timeout=5000)
            m._transport.turn.spent = lambda: 1.0  # every turn full
            ts = T0 + 5 * 60_000
            prices = [100.0 + i / 100 for i in range(400)]
            for k in range(0, 400, 40):
                feed.publish("AAPL", [["T", ts + i, prices[i], 1, 12, [], str(i)] for i in range(k, k + 40)])
            qtbot.waitUntil(lambda: m.stats["events"] >= 400, timeout=10000)
            assert m._transport.turns_full > 0  # it was put off...
            assert m.stats["events"] == 400  # ...and delivered everything
            qtbot.waitUntil(lambda: bool(rec.market) and rec.market[-1]["last_price"] == prices[-1], timeout=5000)
    finally:
        feed.stop()

"""The chart's drawing economies keep the picture right: cached candles and indicator lines paint
what a fresh item paints, a tick repaints only the forming bar, following scrolls in steps and a
panned view stays put, axes keep their drawing while their range is unchanged, hidden labels catch
up when shown, the tape formats only what it shows.

Real Qt (offscreen): items are painted into images and compared pixel for pixel.
"""

from __future__ import annotations

import pytest
from PyQt6.QtCore import QRectF
from PyQt6.QtGui import QColor, QImage, QPainter, QTransform

from tests.test_window_widgets import T0, bar
from ui_process.window.bar_series import BarSeries
from ui_process.window.follow import MIN_SPAN, RIGHT_MARGIN, follow_range


def series_with(n: int, forming_close: float | None = None) -> BarSeries:
    s = BarSeries(2000)
    s.set_bars([bar(i, 100 + (i % 9) * 0.3) for i in range(n)])
    for i in range(n):
        s.set_indicators({"timestamp": T0 + i * 60_000, "vwap": 100 + i * 0.01, "ema_9": 100.5 + (i % 5) * 0.1,
                          "ema_21": 101 - (i % 3) * 0.1, "rsi_14": 50 + (i % 11)})
    s.take_changes(), s.take_ind_changes()  # as the chart's first render does
    return s


def picture(item, s: BarSeries) -> QImage:
    """The whole item painted into a 900x300 image (x: every bar, y: 95..106)."""
    img = QImage(900, 300, QImage.Format.Format_RGB32)
    img.fill(QColor("#000000"))
    p = QPainter(img)
    x0, x1 = s.base - 1, s.last_x + 1
    p.setTransform(QTransform.fromScale(900 / (x1 - x0), -300 / 11).translate(-x0, -106))
    item.paint(p, None)
    p.end()
    return img


@pytest.fixture
def items(qapp):
    from ui_process.window.candles import CandleItem, VolumeItem
    from ui_process.window.overlays import OverlayLines

    def make(s: BarSeries) -> list:
        return [CandleItem(s, "#26a69a", "#ef5350"), VolumeItem(s, "#26a69a", "#ef5350"),
                OverlayLines(s, [("vwap", "#ffca28", 1.5), ("ema_9", "#29b6f6", 1.2), ("ema_21", "#ab47bc", 1.2)])]
    return make


def test_cached_items_paint_what_fresh_items_paint_after_ticks_and_a_bar_close(items):
    s = series_with(150)
    cached = items(s)
    for it in cached:
        it.reset()
        picture(it, s)  # chunks built and cached
    for k in range(5):  # the forming bar ticks, its indicators move
        s.upsert(bar(149, 101 + k * 0.2))
        s.set_indicators({"timestamp": T0 + 149 * 60_000, "vwap": 101 + k * 0.1, "ema_9": 101, "ema_21": 100.8})
        for it in cached:
            it.refresh(s.take_changes() if it is cached[0] else None)
    s.upsert(bar(150, 103))  # the bar closes: a new forming bar
    s.set_indicators({"timestamp": T0 + 149 * 60_000, "vwap": 100.9, "ema_9": 101.1, "ema_21": 100.7})
    s.set_indicators({"timestamp": T0 + 150 * 60_000, "vwap": 101.0, "ema_9": 101.3, "ema_21": 100.9})
    changed, ind_changed = s.take_changes(), s.take_ind_changes()
    cached[0].refresh(changed)
    cached[1].refresh(changed)
    cached[2].refresh(ind_changed)
    blank = picture(items(BarSeries())[0], BarSeries())
    for old, new in zip(cached, items(s)):
        new.reset()
        img = picture(old, s)
        assert img != blank and img == picture(new, s), type(old).__name__


def test_a_forming_bar_tick_rebuilds_no_chunk_and_marks_only_its_own_rectangle(items):
    s = series_with(300)
    candles, _, lines = items(s)
    for it in (candles, lines):
        it.reset()
        picture(it, s)
    built = (candles.chunk_builds, lines.chunk_builds)
    marked: list = []
    for it in (candles, lines):
        it.update = lambda *a, _m=marked: _m.append(a[0] if a else None)  # what Qt is asked to repaint
    s.upsert(bar(299, 101.0))
    s.set_indicators({"timestamp": T0 + 299 * 60_000, "vwap": 102.9, "ema_9": 100.9, "ema_21": 100.85})
    candles.refresh(s.take_changes())
    lines.refresh(s.take_ind_changes())
    for it in (candles, lines):
        picture(it, s)
    assert (candles.chunk_builds, lines.chunk_builds) == built
    assert len(marked) == 2 and all(isinstance(r, QRectF) for r in marked)
    assert all(r.left() >= 297.5 and r.right() <= 299.5 for r in marked)  # the forming bar and its segment


def test_following_scrolls_in_steps_and_keeps_the_width():
    visible, base = 120, 0
    cur = follow_range(500, base, visible, (0.0, 100.0))
    assert cur is not None and cur[1] >= 500 + RIGHT_MARGIN and cur[1] - cur[0] == visible + RIGHT_MARGIN
    moves = 0
    for last in range(501, 600):
        r = follow_range(last, base, visible, cur)
        if r is not None:
            moves += 1
            cur = r
        # the last bar in view with its margin, and at least visible - one step of bars before it
        assert cur[1] >= last + RIGHT_MARGIN and cur[0] <= last - (visible - visible // 24)
        assert cur[1] - cur[0] == visible + RIGHT_MARGIN
    assert moves <= 99 // (visible // 24) + 1  # one scroll per 5 bars, not per bar
    # a first few bars: the view is MIN_SPAN wide, the bars at its right edge
    r = follow_range(3, 0, visible, (0.0, 1.0))
    assert r == (3 - MIN_SPAN, 3 + RIGHT_MARGIN)


def test_the_view_follows_at_the_right_edge_and_stays_where_the_user_panned(qtbot):
    from ui_process.window.chart import ChartWidget

    c = ChartWidget()
    qtbot.addWidget(c)
    c.resize(900, 600)
    c.show()
    c.on_chart_data({"bars": [bar(i, 100 + i * 0.01) for i in range(400)], "is_update": False})
    c.render()
    vb = c.price.getViewBox()
    changes: list = []
    vb.sigXRangeChanged.connect(lambda *_: changes.append(1))
    for i in range(400, 430):
        c.on_chart_data({"bars": [bar(i, 104 + i * 0.01)], "is_update": True})
        c.render()
        (x0, x1), _ = vb.viewRange()
        assert x0 < i < x1  # the live bar is always on screen
    assert 0 < len(changes) <= 30 // 5 + 1
    vb.setXRange(100, 220, padding=0)  # the user pans back in time
    vb.sigRangeChangedManually.emit([True, False])
    assert c.follow is False
    for i in range(430, 440):
        c.on_chart_data({"bars": [bar(i, 105)], "is_update": True})
        c.render()
    assert [round(v) for v in vb.viewRange()[0]] == [100, 220]
    vb.setXRange(320, 443, padding=0)  # back at the right edge: following again
    vb.sigRangeChangedManually.emit([True, False])
    assert c.follow is True
    c.on_chart_data({"bars": [bar(440, 105)], "is_update": True})
    c.render()
    (x0, x1), _ = vb.viewRange()
    assert x0 < 440 < x1


def test_a_value_axis_keeps_its_drawing_until_its_own_range_moves(qapp):
    from ui_process.window.time_axis import FastAxis

    ax = FastAxis("right")
    ax.setRange(10.0, 20.0)
    ax.picture = object()  # stands for the drawn picture
    ax.setRange(10.0, 20.0)
    assert ax.picture is not None
    ax.setRange(10.0, 21.0)
    assert ax.picture is None
    [(step, ticks)] = ax.tickValues(191.37, 196.2, 440)
    assert step == 1 and ticks == [192, 193, 194, 195, 196]


def test_a_hidden_label_does_no_work_and_is_placed_when_shown(qtbot):
    import pyqtgraph as pg

    from ui_process.window.quiet_line import QuietLine

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(600, 400)
    plot.show()
    quiet = QuietLine(pos=5, angle=0, label="{value:.1f}", labelOpts={"position": 0.9})
    plain = pg.InfiniteLine(pos=5, angle=0, label="{value:.1f}", labelOpts={"position": 0.9})
    for line in (quiet, plain):
        plot.addItem(line, ignoreBounds=True)
    quiet.setVisible(False)
    calls: list = []
    real = pg.InfLineLabel.updatePosition
    quiet.label.updatePosition = lambda: (calls.append(1), real(quiet.label))
    plot.setXRange(0, 50, padding=0)
    plot.setYRange(0, 10, padding=0)
    qapp_process(qtbot)
    assert calls == []  # hidden: the view change cost it nothing
    quiet.setVisible(True)
    assert calls and quiet.label.pos() == plain.label.pos()


def qapp_process(qtbot) -> None:
    from PyQt6.QtWidgets import QApplication

    QApplication.processEvents()


def test_the_tape_formats_only_the_rows_it_shows(qtbot):
    from ui_process.window.tape_buffer import TapeBuffer
    from ui_process.window.tape_view import TapeView

    buf = TapeBuffer()
    buf.clear("AAPL")
    view = TapeView(buf)
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    for i in range(1000):
        buf.on_trade({"symbol": "AAPL", "timestamp": T0 + i, "price": 100 + i * 0.01, "size": 100, "exchange": "NYSE"})
    assert view.pull() == view.model.max_rows
    view.grab()  # paints the visible rows
    m = view.model
    formatted = [i for i, v in enumerate(m._shown) if v is not None]
    assert 0 < len(formatted) < 60 and formatted == list(range(len(formatted)))  # the screenful at the top
    assert m.data(m.index(200, 1)) == m._format(m.rows[200])[0][1] == f"{m.rows[200].price:,.2f}"

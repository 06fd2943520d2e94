"""The dashboard window on a real feed process and the simulator (real processes,
ZeroMQ sockets and Qt event loop, offscreen), plus `live-monitor ui --screenshot`."""

from __future__ import annotations

import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QImage

from shared.config import Settings
from tests.feed_process_util import clean_env, cli, run_feed
from tests.sim_process import run_sim
from tests.util import free_port, stop_process
from ui_process.window.main_window import MainWindow
from ui_process.window.tape_manager import TapeDataManager
from ui_process.window.tape_view import print_time
from ui_process.window.ticker import format_ticker


def until(qtbot, cond, timeout: int = 15_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


class RecordingManager(TapeDataManager):
    """The window's manager, also keeping what came off the wire (to compare with the panels)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.trades: list[dict] = []
        self.tickers: list[dict] = []
        self.market_data_updated.connect(self.tickers.append)

    def _process_trade(self, trade: dict) -> None:
        super()._process_trade(trade)
        self.trades.append(trade)


@pytest.fixture(scope="module")
def sim():
    with run_sim("--speed", "5") as s:
        yield s


@pytest.fixture
def feed_env():
    return clean_env(POLYGON_API_KEY="test-key")


def open_window(qtbot, control: str, tmp_path, symbol: str = "AAPL") -> MainWindow:
    m = RecordingManager(control, settings=Settings(feed=control), symbol=symbol)
    w = MainWindow(m, feed=control, symbol=symbol, state_file=str(tmp_path / "ui.ini"), spawner=lambda *a: None)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    m.connect()
    return w


def bars_loaded(w: MainWindow) -> bool:
    return w.chart.full_refreshes >= 1 and len(w.chart.series) > 0


def test_window_on_simulator_shows_what_was_sent(qtbot, sim, feed_env, tmp_path):
    with run_feed("--upstream", sim.url_polygon, env=feed_env) as feed:
        w = open_window(qtbot, feed.control, tmp_path)
        m: RecordingManager = w.manager  # type: ignore[assignment]
        try:
            # Finished bars, not only the forming one: the first snapshot can come before the
            # backfill (the feed waits up to 2 s for the data clock), with just the forming bar.
            until(qtbot, lambda: bars_loaded(w) and m.get_accumulated_bars() and m.tickers
                  and w.tape_view.model.rowCount() >= 3)
            w.refresh_status()
            # the sim runs at --speed 5: a virtual session, which the feed relays and the badge says
            assert sim.status()["session"] == "virtual"
            assert w.status.source.text() == "SIMULATED · virtual session"
            assert "Connected" in w.status.connection.text()
            assert w.status.feed.text() == f"feed pid {feed.pid} · epoch {feed.epoch}"

            # ticker: exactly the last market_data_updated dict
            last = m.tickers[-1]
            texts = format_ticker({**last, "bid_size": w.tape.bid_size, "ask_size": w.tape.ask_size})
            assert w.ticker.text("last_price") == texts["last_price"]
            assert w.ticker.text("volume") == texts["volume"]
            assert w.ticker.text("change_percent") == texts["change_percent"]
            assert w.ticker.state_badge.text() == last["market_state"].upper()

            # tape: newest first, the trades the manager received, with their exchange
            w.tape_view.timer.stop()
            w.tape_view.pull()
            model = w.tape_view.model
            top = [tuple(model.data(model.index(r, c)) for c in range(4)) for r in range(3)]
            sent = [(print_time(t["timestamp"]), f"{t['price']:,.2f}", f"{t['size']:,}", t.get("exchange") or "")
                    for t in reversed(m.trades[-3:])]
            assert top == sent

            # chart: the manager's bars (finished bars, plus the forming bar at the end)
            acc = m.get_accumulated_bars()
            assert len(w.chart.series) >= len(acc) > 0
            i = len(acc) - 1
            assert w.chart.series.t[i] == acc[-1]["timestamp"]
            assert w.chart.series.ohlcv[i][3] == acc[-1]["close"]
        finally:
            w.close()


def test_typing_a_symbol_switches_every_panel_and_invalid_keeps_it(qtbot, sim, feed_env, tmp_path):
    with run_feed("--upstream", sim.url_polygon, env=feed_env) as feed:
        w = open_window(qtbot, feed.control, tmp_path)
        m: RecordingManager = w.manager  # type: ignore[assignment]
        try:
            until(qtbot, lambda: bars_loaded(w) and w.tape_view.model.rowCount() > 0)
            aapl_close = w.chart.series.ohlcv[-1][3]

            # an invalid symbol: a clear message, the previous symbol stays and keeps updating
            w.symbol_entry.edit.clear()
            qtbot.keyClicks(w.symbol_entry.edit, "NOT A TICKER")
            qtbot.keyClick(w.symbol_entry.edit, Qt.Key.Key_Return)
            assert w.notice.text().startswith("Invalid symbol:") and "still showing AAPL" in w.notice.text()
            assert m.current_symbol == "AAPL" and w.symbol == "AAPL"
            n = len(m.trades)
            until(qtbot, lambda: len(m.trades) > n + 5)

            w.symbol_entry.edit.clear()
            qtbot.keyClicks(w.symbol_entry.edit, "nvda")
            qtbot.keyClick(w.symbol_entry.edit, Qt.Key.Key_Return)
            assert m.current_symbol == "NVDA" and w.ticker.symbol_label.text() == "NVDA"
            cut = len(m.trades)
            until(qtbot, lambda: bars_loaded(w) and w.tape_view.model.rowCount() >= 3
                  and m.tickers and w.ticker.text("last_price") != "—")
            # every panel now shows NVDA only
            assert all(t["symbol"] == "NVDA" for t in m.trades[cut:])
            assert {p.price for p in w.tape_view.model.rows} <= {t["price"] for t in m.trades[cut:]}
            assert w.chart.symbol == "NVDA" and w.chart.series.ohlcv[-1][3] != aapl_close
            acc = m.get_accumulated_bars()
            assert acc and w.chart.series.t[len(acc) - 1] == acc[-1]["timestamp"]
            assert w.windowTitle().startswith("NVDA") and w.symbol_entry.recent.items[:2] == ["NVDA", "AAPL"]
        finally:
            w.close()


def test_killing_the_feed_shows_reconnecting_and_recovers(qtbot, sim, feed_env, tmp_path):
    port = free_port()
    control = f"tcp://127.0.0.1:{port}"
    w = None
    try:
        with run_feed("--upstream", sim.url_polygon, env=feed_env, port=port) as f1:
            w = open_window(qtbot, control, tmp_path)
            until(qtbot, lambda: bars_loaded(w) and w.connected is True)
            until(qtbot, lambda: "Connected" in w.status.connection.text(), 5000)
            refreshes = w.chart.full_refreshes
            stop_process(f1.proc)
            until(qtbot, lambda: w.connected is False)
            until(qtbot, lambda: "reconnecting" in w.status.connection.text().lower(), 5000)
            assert w.status.source.text() == "OFFLINE"  # the badge never claims a source it cannot hear
            assert any("The feed process stopped answering" in t for t in w.errors.messages())  # plain words
        with run_feed("--upstream", sim.url_polygon, env=feed_env, port=port) as f2:
            until(qtbot, lambda: w.connected is True and w.chart.full_refreshes > refreshes)
            until(qtbot, lambda: "Connected" in w.status.connection.text(), 5000)
            assert w.status.feed.text() == f"feed pid {f2.pid} · epoch {f2.epoch}"
            until(qtbot, lambda: len(w.chart.series) > 0)  # the new feed's history arrives (backfill, resync)
    finally:
        if w is not None:
            w.close()


def test_screenshot_png_is_the_window_and_not_blank(sim, feed_env, tmp_path):
    png = tmp_path / "shot.png"
    env = clean_env(LIVE_MONITOR_UI_STATE_FILE=str(tmp_path / "ui.ini"), QT_QPA_PLATFORM="offscreen")
    with run_feed("--upstream", sim.url_polygon, env=feed_env) as feed:
        r = cli("ui", "--feed", feed.control, "--symbol", "AAPL", "--screenshot", str(png), "--after", "0.5",
                "--size", "1280x800", env=env, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    img = QImage(str(png))
    assert (img.width(), img.height()) == (1280, 800)
    # not blank: a real dashboard has many colours (candles, text, badges), not a flat fill
    small = img.scaled(160, 100)
    colours = {small.pixel(x, y) for x in range(small.width()) for y in range(small.height())}
    assert len(colours) > 50


def test_screenshot_with_unreachable_feed_fails_in_one_line(tmp_path):
    env = clean_env(LIVE_MONITOR_UI_STATE_FILE=str(tmp_path / "ui.ini"), QT_QPA_PLATFORM="offscreen")
    port = free_port()
    r = cli("ui", "--feed", f"tcp://127.0.0.1:{port}", "--screenshot", str(tmp_path / "x.png"),
            "--timeout", "2", "--log-level", "ERROR", env=env, timeout=60)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and "propagateSizeHints" not in ln]
    assert lines == [f"live-monitor ui: no screenshot: the feed did not answer at tcp://127.0.0.1:{port} within 2 s"]
    assert not (tmp_path / "x.png").exists()


def test_unreachable_feed_is_said_in_the_status_bar(qtbot, tmp_path):
    control = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    now = [1000.0]
    m = RecordingManager(control, settings=Settings(feed=control), symbol="AAPL")
    w = MainWindow(m, feed=control, symbol="AAPL", state_file=str(tmp_path / "ui.ini"), clock=lambda: now[0])
    qtbot.addWidget(w)
    try:
        m.connect()
        w.refresh_status()
        assert w.status.connection.text() == f"● Connecting to feed at {control}…"
        now[0] += 6
        w.refresh_status()
        assert w.status.connection.text() == (f"● Feed unreachable at {control} — retrying"
                                              " — start it with `live-monitor`, or check --feed")
        assert w.status.source.text() == "OFFLINE" and w.chart.message.text().startswith("Loading AAPL")
    finally:
        w.close()

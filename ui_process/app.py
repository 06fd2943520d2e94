"""``live-monitor ui``: one dashboard window on a running feed, or a PNG of it.

The window process owns a :class:`~ui_process.window.tape_manager.TapeDataManager`
(the data manager plus the tape capture) and a
:class:`~ui_process.window.main_window.MainWindow`. Nothing here blocks: an
unreachable feed is shown in the window's status bar while the manager keeps
retrying. ``--screenshot FILE`` renders the real window offscreen once the
first full chart refresh with bars has been drawn, waits ``--after`` seconds
more (so live ticks, tape and ticker have arrived), writes the PNG and exits
0; without data within ``--timeout`` it exits 1 with one line saying why.

Identity: the application is "Live Monitor" (X11 ``WM_CLASS`` instance
``live-monitor``, class ``Live Monitor``; desktop file ``live-monitor``; the
package's icon), so a desktop groups its windows and finds the launcher.
Before Qt is touched on an X11 desktop, :mod:`ui_process.window.qt_libs`
checks the system libraries of the xcb platform: a missing one ends the
process with the one install command instead of Qt's opaque abort.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from shared.cli import UserError
from shared.config import Settings
from shared.models.market_data import normalize_symbol

log = logging.getLogger(__name__)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--size must look like 1600x1000, got {text!r}", 2) from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise UserError(f"--size {text} is out of range (320x240 .. 8000x8000)", 2)
    return w, h


def _symbol(args: argparse.Namespace, settings: Settings) -> str:
    from ui_process.window.main_window import last_symbol

    raw = getattr(args, "symbol", None)
    if raw:
        try:
            return normalize_symbol(raw)
        except ValueError as e:
            raise UserError(f"--symbol: {e}", 2) from None
    for candidate in (last_symbol(settings.ui_state_file), *(settings.symbols or ()), "AAPL"):
        try:
            return normalize_symbol(candidate)
        except (ValueError, TypeError):
            continue
    return "AAPL"


def freeze_startup_heap() -> None:
    """Move everything built at start-up out of the cyclic GC's sight.

    Measured in bench/ui_window.py: with numpy, pyqtgraph and Qt wrappers
    loaded (and pandas, before the session table), each full (gen-2) collection scanned the
    whole start-up heap and froze the GUI thread for 50-105 ms, several times
    a minute at full feed rate. Those objects live as long as the process;
    ``gc.freeze()`` (the CPython idiom for this) leaves only what the session
    allocates to be scanned.
    """
    import gc

    gc.collect()
    gc.freeze()


FREEZE_LATEST_MS = 10_000  # without a first chart (no feed yet) the start-up heap is frozen after this


def _keep_running_on_errors(window) -> None:
    """An exception in a Qt slot must not end the window (PyQt's default aborts).

    It is logged with its traceback (at most once a second per message) and
    shown in the window's error panel; the event loop carries on.
    """
    import time
    import traceback

    last: dict[str, float] = {}

    def hook(etype, value, tb) -> None:
        msg = f"internal error: {etype.__name__}: {value}"
        now = time.monotonic()
        if now - last.get(msg, -1e9) >= 1.0:
            last[msg] = now
            log.error("%s\n%s", msg, "".join(traceback.format_tb(tb)))
            try:
                window.on_error(msg)
            except Exception:  # the window itself is broken: the log has it
                pass

    sys.excepthook = hook


APP_ID = "live-monitor"     # WM_CLASS instance, desktop file name, icon name
APP_NAME = "Live Monitor"   # WM_CLASS class, the name desktops show


def icon_path() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent / "window" / "assets" / f"{APP_ID}.png")


def _check_system_libs() -> None:
    from ui_process.window import qt_libs

    if not qt_libs.should_check():
        return
    plugin = qt_libs.plugin_path()
    missing = qt_libs.missing_sonames(qt_libs.run_ldd(plugin)) if plugin is not None else []
    if missing:
        is_root = hasattr(os, "geteuid") and os.geteuid() == 0
        p = qt_libs.plan(missing, is_root=is_root, has_apt=True, passwordless_sudo=False)
        raise UserError(qt_libs.message(p, missing) + "\n(`make run` installs them itself when it may)", 1)


def make_app():
    """The QApplication with the app's identity (WM_CLASS, desktop file, icon)."""
    from PyQt6.QtGui import QIcon
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        # argv[0]'s basename is the WM_CLASS instance name on X11 (ICCCM 4.1.2.5)
        app = QApplication([APP_ID])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName("LiveMonitor")
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(QIcon(icon_path()))
    return app


def watch_first_chart(window, manager, symbol: str, marks: dict[str, float]) -> None:
    """Send the supervisor ``window_ready`` once the first chart with bars is on screen.

    The chart calls ``on_bars_drawn`` after its first render with bars (its items hold the
    candles); the ready message goes after the next paint of the chart's view, so "ready" means
    painted. ``marks`` collects the start-up steps (wall clock) the supervisor logs as durations:
    where the time goes is visible in every launch's log, not only in a benchmark.
    """
    import time

    from PyQt6.QtCore import QEvent, QObject

    from shared.supervisor_client import report_ready, supervisor_endpoint

    def once(signal, name: str, cond=lambda *a: True) -> None:
        def slot(*a) -> None:
            if name not in marks and cond(*a):
                marks[name] = time.time()
                signal.disconnect(slot)
        signal.connect(slot)

    once(manager.connection_status_changed, "connected", lambda up: bool(up))
    once(manager.chart_data_updated, "chart_data", lambda d: bool(d.get("bars")))

    class PaintWatch(QObject):
        def eventFilter(self, obj, ev) -> bool:  # noqa: N802 (Qt's name)
            if ev.type() == QEvent.Type.Paint and "painted" not in marks:
                marks["painted"] = time.time()
                obj.removeEventFilter(self)
                QTimer.singleShot(0, send)  # after this paint, not inside it
            return False

    def send() -> None:
        import psutil

        try:
            marks["process"] = psutil.Process().create_time()
        except psutil.Error:
            pass
        log.info("first chart of %s painted", symbol)
        if supervisor_endpoint():
            report_ready(symbol, marks)
        freeze_startup_heap()  # after the first chart, not before it: the collection is ~30 ms of it

    from PyQt6.QtCore import QTimer

    view = window.chart.glw.viewport()
    watch = PaintWatch(window)

    def drawn() -> None:
        marks["rendered"] = time.time()
        view.installEventFilter(watch)
        view.update()

    window.chart.on_bars_drawn = drawn
    QTimer.singleShot(FREEZE_LATEST_MS, lambda: "painted" in marks or freeze_startup_heap())


def _wait_as_spare(window, marks: dict[str, float]) -> str:
    """A spare window (``--spare``, started by the supervisor after the first chart): imported, Qt
    up, widgets built, nothing shown or connected; block until the supervisor names the symbol a
    user asked a window for, then become that window. Exits 0 when there is no supervisor."""
    import time

    from shared.supervisor_client import wait_for_symbol

    freeze_startup_heap()
    symbol = wait_for_symbol()
    if not symbol:
        raise SystemExit(0)
    marks.clear()
    marks["started"] = time.time()  # this window's start is the request, not the spare's
    window.switch_symbol(symbol)
    return symbol


def run_ui(args: argparse.Namespace, settings: Settings) -> int:
    import time

    marks = {"started": time.time()}  # start-up steps: watch_first_chart
    shot = getattr(args, "screenshot", None)
    size = _size(getattr(args, "size", "1600x1000") or "1600x1000")
    if shot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        parent = os.path.dirname(os.path.abspath(shot))
        if not os.path.isdir(parent):
            raise UserError(f"--screenshot: directory {parent} does not exist", 2)

    else:
        _check_system_libs()
    from PyQt6.QtCore import QTimer

    from ui_process.window import qt_log

    qt_log.install()

    app = make_app()
    marks["qt"] = time.time()
    from ui_process.window import theme

    theme.apply(app, theme.LIGHT if getattr(args, "light", False) else theme.DARK)
    from ui_process.window.main_window import MainWindow
    from ui_process.window.tape_manager import TapeDataManager

    symbol = _symbol(args, settings)
    from shared import market_hours

    market_hours.warm()  # now, not on the GUI thread in the middle of the first snapshot
    manager = TapeDataManager(settings.feed, settings=settings, symbol=symbol)
    window = MainWindow(manager, feed=settings.feed, symbol=symbol,
                        restore=not (shot or getattr(args, "no_restore", False)), max_bars=settings.max_bars,
                        state_file=settings.ui_state_file, timeframe=getattr(args, "timeframe", None))
    _keep_running_on_errors(window)
    marks["window"] = time.time()
    if getattr(args, "spare", False) and not shot:
        symbol = _wait_as_spare(window, marks)
    watch_first_chart(window, manager, symbol, marks)  # ... which freezes the start-up heap once painted
    manager.connect()
    if not shot:
        window.show()
        return app.exec()

    # ---- --screenshot: the real window, offscreen
    result = {"code": 1}
    window.resize(*size)
    window.show()
    after_ms = int(float(getattr(args, "after", 1.0) or 0) * 1000)
    timeout_ms = int(float(getattr(args, "timeout", 20.0) or 20.0) * 1000)
    armed = {"done": False}

    def take() -> None:
        app.processEvents()  # what has arrived, then every panel's pending repaint, then the picture
        window.tape_view.pull()
        window.chart.render()
        window.refresh_status()
        img = window.grab()
        if not img.save(shot, "PNG"):
            print(f"live-monitor ui: could not write {shot}", file=sys.stderr)
            result["code"] = 1
        else:
            log.info("screenshot %s (%dx%d) written", shot, img.width(), img.height())
            result["code"] = 0
        window.close()
        app.quit()

    def check() -> None:
        if armed["done"]:
            return
        if window.chart.full_refreshes >= 1 and len(window.chart.series) > 0:
            armed["done"] = True
            poll.stop()
            QTimer.singleShot(after_ms, take)

    def give_up() -> None:
        if armed["done"]:
            return
        poll.stop()
        info = window.feed_info()
        why = ("the feed did not answer" if not info.get("feed_alive")
               else f"no chart data for {symbol} (upstream {info.get('upstream_state') or 'unknown'})")
        print(f"live-monitor ui: no screenshot: {why} at {settings.feed} within {timeout_ms / 1000:.0f} s",
              file=sys.stderr)
        result["code"] = 1
        window.close()
        app.quit()

    poll = QTimer(interval=50, timeout=check)
    poll.start()
    QTimer.singleShot(timeout_ms, give_up)
    app.exec()
    return result["code"]

"""A window stand-in for the supervisor's desktop tests: the real PolygonDataManager in a
real (offscreen) Qt event loop, without the dashboard widgets, that prints what an
outside observer needs on stdout (which the supervisor logs, prefixed with the child name):

    STATE pid=P connected=True epoch=E bars=N events=M synced=True   (on a change; every 0.5 s while events arrive)
    ERROR <every error_occurred message>

``--crash`` exits 3 at once (a window that crashes on start). SIGTERM exits 0
(as if the user closed the window).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--feed", required=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--crash", action="store_true")
    a = p.parse_args()
    if a.crash:
        print("probe window: crashing on purpose", flush=True)
        return 3
    from shared.parent_watch import start_parent_watch

    start_parent_watch()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from shared.config import load_settings
    from ui_process.polygon_data_manager import PolygonDataManager

    app = QApplication(sys.argv[:1])
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    m = PolygonDataManager(a.feed, settings=load_settings(flags={"feed": a.feed}), symbol=a.symbol)
    m.error_occurred.connect(lambda text: print(f"ERROR {text}", flush=True))
    last = {"key": None, "events": None, "at": 0.0}

    def report() -> None:
        # A line per change of state, per 20 events, and at least every 0.5 s while events arrive:
        # a quiet tape (a few events a second) must still show that a window keeps receiving.
        i = m.feed_info()
        key = (i["connected"], i["epoch"], i["bars"], i["events"] // 20)
        now = time.monotonic()
        if key != last["key"] or (i["events"] != last["events"] and now - last["at"] >= 0.5):
            last.update(key=key, events=i["events"], at=now)
            print(f"STATE pid={os.getpid()} connected={i['connected']} epoch={i['epoch']} bars={i['bars']} "
                  f"events={i['events']} synced={i['synced']}", flush=True)

    t = QTimer(interval=100, timeout=report)
    t.start()
    m.connect()
    app.exec()
    m.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())

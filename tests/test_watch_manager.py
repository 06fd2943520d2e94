"""PolygonDataManager's watch() and alerts against a real feed on the scripted tape (real Qt loop).

A manager that connects after the alerts fired gets every one from the feed's
log (``notify`` true: nobody showed them yet); after it has shown them, a manager
opened later still lists them but does not notify again. ``watch()`` brings the
summaries of the watched symbols.
"""

from __future__ import annotations

import pytest

from tests.alert_tape import EXPECT, SYM, frames
from tests.feed_process_util import clean_env, run_feed
from tests.polygon_standin import run_standin
from tests.test_alerts_feed import Client, expected_fires, feed_args
from tests.util import recorded_manager


def until(qtbot, cond, timeout: int = 15_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


@pytest.fixture
def fired_feed(tmp_path, monkeypatch):
    env = clean_env(POLYGON_API_KEY="k", LIVE_MONITOR_ALERTS_FILE=str(tmp_path / "alerts.json"))
    with run_standin(frames(), [SYM]) as up, run_feed(*feed_args(up), env=env) as feed:
        c = Client(feed.control, feed.data, [])
        try:
            for spec, _ in EXPECT:
                c.request(type="alert", op="add", symbol=SYM, **spec)
            until_log = lambda: len(c.request(type="alert", op="log")["log"]) >= expected_fires()  # noqa: E731
            from tests.util import wait_until
            wait_until(until_log, timeout=15, what="every alert fired with no window")
        finally:
            c.close()
        yield feed


def test_a_window_connecting_later_shows_what_fired_and_the_next_does_not_notify_again(qtbot, fired_feed):
    with recorded_manager(fired_feed.control, SYM) as (m, rec):
        got: list[dict] = []
        changed: list[dict] = []
        m.alert_fired.connect(got.append)
        m.alerts_changed.connect(changed.append)
        m.connect()
        until(qtbot, lambda: len(got) >= expected_fires())
        assert all(e["notify"] and not e["live"] for e in got)
        assert sorted(e["t"] for e in got) == sorted(t for _, ts in EXPECT for t in ts)
        until(qtbot, lambda: changed and len(changed[-1]["alerts"]) == len(EXPECT))
        # a refused request: one line on error_occurred
        m.add_alert(SYM, "above", -5)
        until(qtbot, lambda: any("Alert add" in e and "must be" in e for e in rec.errors))
        m.watch([SYM, "MSFT", "bad symbol"])
        assert m.watched == [SYM, "MSFT"]
        sums: list[dict] = []
        m.summary_updated.connect(sums.append)
        until(qtbot, lambda: any(s["sym"] == SYM and s["last"] == 102.05 for s in sums))
    # every window closed; one reopens: the alerts are listed, none notifies again (the first window acked)
    with recorded_manager(fired_feed.control, SYM) as (m2, _):
        again: list[dict] = []
        m2.alert_fired.connect(again.append)
        m2.connect()
        until(qtbot, lambda: len(again) >= expected_fires())
        assert not any(e["notify"] for e in again)

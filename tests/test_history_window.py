"""The window says history is queued: a feed on a tiny REST plan, a manager and the chart.

Two symbols take the plan's tokens first (a raw tap); the manager's symbol then
waits at the feed's rate limiter, and ``info()`` (what the window reads) says
``queued`` with the requests ahead; the chart turns that into the sentence.
"""

from __future__ import annotations

from tests.feed_process_util import clean_env, run_feed
from tests.feed_tap import Tap
from tests.sim_process import run_sim
from tests.util import recorded_manager
from ui_process.window.messages import history_queued


def test_the_window_says_history_is_queued(qtbot, tmp_path):
    env = clean_env(POLYGON_API_KEY="k", LIVE_MONITOR_HISTORY_DB=str(tmp_path / "h.sqlite3"))
    with run_sim("--speed", "30") as sim, \
            run_feed("--upstream", sim.url_polygon, "--rest-rate", "2/60s", env=env) as feed:
        tap = Tap(feed.control, ["AAPL", "NVDA"])
        try:
            qtbot.waitUntil(lambda: (tap.pump(20), tap.status()["rest"]["queued"] >= 1)[1], timeout=15_000)
            with recorded_manager(feed.control, "MSFT") as (m, rec):
                m.connect()
                qtbot.waitUntil(lambda: m.feed_info().get("backfill_state") == "queued", timeout=15_000)
                info = m.feed_info()
                assert isinstance(info["backfill_ahead"], int) and info["backfill_ahead"] >= 1
                assert "rate limit" in info["backfill_message"]
                from ui_process.window.chart import ChartWidget

                chart = ChartWidget()
                qtbot.addWidget(chart)
                chart.set_history_state(info["backfill_state"], info["backfill_message"], True,
                                        info["backfill_ahead"])
                assert chart.message.text() == history_queued(info["backfill_ahead"])
                assert chart.message.text().startswith(
                    "Loading history: waiting for the data provider's rate limit (")
                chart.set_history_state("done")
                assert chart.message.text() == ""
        finally:
            tap.ctl.close(0)
            tap.sub.close(0)

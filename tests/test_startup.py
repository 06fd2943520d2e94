"""Start-up: no pandas at run time in any process, and the window's ``window_ready`` word to the supervisor.

Why these tests: time to first chart (``bench/startup.py``) depends on what each process imports;
pandas (via exchange_calendars) held the GIL ~1 s in every feed and window and cost the feed
~58 MiB. The processes are asked themselves: a real simulator, feed and window run with
``PYTHONPROFILEIMPORTTIME=1``, so each one lists on stderr every module it ever imported while
it served (the feed its backfill, the window its first chart). No timing here: the figures are
the benchmark's.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys

import zmq

from shared.feed_probe import request
from shared.models import wire
from tests.feed_process_util import clean_env, cli, run_feed
from tests.sim_process import run_sim
from tests.supervisor_util import Proc, cli_env
from tests.util import REPO, free_port, stop_process, wait_until

NEVER_AT_RUN_TIME = ("pandas", "exchange_calendars")


def imported(stderr_lines: list[str]) -> set[str]:
    """Top-level module names from ``-X importtime`` lines (``import time: self | cumulative | name``)."""
    out = set()
    for ln in stderr_lines:
        m = re.match(r"import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)", ln)
        if m:
            out.add(m.group(1).split(".")[0])
    return out


def test_the_simulator_feed_and_window_never_import_pandas(tmp_path):
    env = {"PYTHONPROFILEIMPORTTIME": "1"}
    with run_sim(env=env) as sim:
        feed_env = clean_env(POLYGON_API_KEY="test-key", **env)
        with run_feed("--upstream", sim.url_polygon, env=feed_env) as feed:
            ctx = zmq.Context()
            sub = ctx.socket(zmq.SUB)
            try:
                sub.connect(feed.data)
                sub.setsockopt(zmq.SUBSCRIBE, b"md|AAPL|")  # the feed subscribes upstream and backfills

                def backfilled():
                    st = request(feed.control, wire.status_request(1), 2.0) or {}
                    return (st.get("symbols") or {}).get("AAPL", {}).get("backfill") == "done"

                wait_until(backfilled, 60, interval=0.1, what="AAPL backfilled")
            finally:
                sub.close(0)
                ctx.term()
            png = tmp_path / "shot.png"
            ui_env = clean_env(LIVE_MONITOR_UI_STATE_FILE=str(tmp_path / "ui.ini"), QT_QPA_PLATFORM="offscreen", **env)
            r = cli("ui", "--feed", feed.control, "--symbol", "AAPL", "--screenshot", str(png), "--after", "0",
                    env=ui_env, timeout=90)
            assert r.returncode == 0, r.stderr[-2000:]
            feed_mods = imported(feed.stderr_lines)
        sim_mods = imported(sim.stderr_lines)
    window_mods = imported(r.stderr.splitlines())
    assert {"zmq", "shared", "feed_process"} <= feed_mods  # the profile is there: the check means something
    assert {"PyQt6", "pyqtgraph", "ui_process"} <= window_mods
    assert "aiohttp" in sim_mods  # the simulator serves with it
    for name, mods in (("simulator", sim_mods), ("feed", feed_mods), ("window", window_mods)):
        assert not mods & set(NEVER_AT_RUN_TIME), f"the {name} imported {sorted(mods & set(NEVER_AT_RUN_TIME))}"
    assert "aiohttp" not in feed_mods  # history over stdlib http.client (feed_process/rest_client.py)


def test_the_supervisor_never_imports_pandas():
    code = ("import sys\n"
            "import supervisor.commands, supervisor.core, supervisor.control, supervisor.reporter\n"
            "from shared import market_hours\n"
            "market_hours.warm(); market_hours.is_active(1751029504042)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'exchange_calendars', 'aiohttp')))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_window_ready_reaches_the_window_server():
    """``report_ready`` (the window's notification) arrives at the supervisor's ROUTER with the
    window's pid, the normalised symbol and its marks; it is never answered."""
    from shared import supervisor_client
    from supervisor.control import WindowServer

    async def run() -> list:
        got: list = []
        srv = WindowServer(lambda s: None, lambda pid, s: None, lambda pid, s, marks: got.append((pid, s, marks)))
        endpoint = srv.start()
        try:
            assert supervisor_client.report_ready("msft", {"started": 1.0, "painted": 2.5, "bad": "x"}, endpoint)
            for _ in range(500):
                if got:
                    break
                await asyncio.sleep(0.01)
        finally:
            await srv.close()
        return got

    got = asyncio.run(run())
    import os

    assert got == [(os.getpid(), "MSFT", {"started": 1.0, "painted": 2.5})]
    assert not supervisor_client.report_ready("AAPL", {}, endpoint="")  # no supervisor: nothing to tell


def test_the_desktop_logs_each_windows_first_chart(tmp_path):
    """The real ``live-monitor`` desktop on the simulator: the window paints its first chart with
    bars and says so; the supervisor logs it with the window's start-up steps (bench/startup.py
    reads that line). Then the spare window takes a New window's symbol and a new spare waits."""
    feed = f"tcp://127.0.0.1:{free_port()}"
    env = cli_env(tmp_path)
    sup = Proc([sys.executable, "-m", "supervisor", "--feed", feed, "--symbols", "AAPL"], env)
    try:
        wait_until(lambda: sup.has("ui-AAPL first chart:"), 90, interval=0.05, what="the first chart line")
        line = next(ln for ln in sup.err if "ui-AAPL first chart:" in ln)
        m = re.search(r"first chart: AAPL in ([\d.]+) s from launch, ([\d.]+) s from its spawn \((.*)\)", line)
        assert m, line
        steps = [s.rsplit(" ", 1)[0] for s in m.group(3).split(", ")]
        assert steps[-1] == "painted" and {"qt", "window", "chart_data"} <= set(steps)
        assert float(m.group(1)) >= float(m.group(2))
        # the simulator serves the socket the supervisor bound and warms the chart's symbol; the feed
        # was started beside it, not after its LISTENING line (feed_process.sim.listen)
        started = {k: i for i, ln in enumerate(sup.err) for k in ("started sim", "started feed", "sim ready:")
                   if k in ln}
        sim_line = next(ln for ln in sup.err if "started sim" in ln)
        assert "--listen-fd" in sim_line and "--warm AAPL" in sim_line, sim_line
        assert started["started feed"] < started["sim ready:"]
        # after the first chart a spare window waits; New window (open_window) makes it ui-MSFT
        wait_until(lambda: sup.has("spare window ready"), 60, interval=0.05, what="the spare window")
        spare_pid = int(re.search(r"spare window ready \(pid (\d+)\)", "\n".join(sup.err)).group(1))
        endpoint = next(ln for ln in sup.err if "window requests at" in ln).rsplit(" ", 1)[1]
        from shared.supervisor_client import request_window

        assert request_window("msft", endpoint, timeout=5.0)
        wait_until(lambda: sup.has(f"the spare window (pid {spare_pid}) is ui-MSFT now"), 15, what="spare taken")
        wait_until(lambda: sup.has("ui-MSFT first chart: MSFT in"), 60, interval=0.05, what="its first chart")
        wait_until(lambda: sup.count("spare window ready") >= 2, 60, interval=0.05, what="the next spare")
        sup.p.send_signal(signal.SIGTERM)
        assert sup.p.wait(20) == 0
    finally:
        stop_process(sup.p, timeout=10)


def test_the_start_up_heap_is_frozen_after_the_first_chart_is_painted_not_before(qtbot, tmp_path, monkeypatch):
    """``run_ui`` no longer collects and freezes the heap before connecting (~30 ms of the first
    chart): the window's first-chart watch does it once the chart with bars is painted."""
    import datetime as dt

    from shared.market_hours import NY
    from ui_process import app
    from ui_process.polygon_data_manager import PolygonDataManager
    from ui_process.window.main_window import MainWindow

    frozen: list[int] = []
    monkeypatch.setattr(app, "freeze_startup_heap", lambda: frozen.append(1))
    monkeypatch.delenv("LIVE_MONITOR_SUPERVISOR", raising=False)
    m = PolygonDataManager("tcp://127.0.0.1:1", symbol="AAPL")
    w = MainWindow(m, feed="tcp://127.0.0.1:1", symbol="AAPL", state_file=str(tmp_path / "ui.ini"),
                   spawner=lambda *a: None, restore=False)
    qtbot.addWidget(w)
    marks: dict[str, float] = {}
    app.watch_first_chart(w, m, "AAPL", marks)
    w.show()
    qtbot.waitExposed(w)
    assert frozen == [] and "painted" not in marks  # no chart with bars yet
    t0 = int(dt.datetime(2025, 6, 27, 10, 0, tzinfo=NY).timestamp() * 1000)
    for i in range(30):
        m._process_aggregate({"event_type": "aggregate", "symbol": "AAPL", "timestamp": t0 + i * 60_000,
                              "open": 100.0, "high": 100.5, "low": 99.5, "close": 100.2, "volume": 1000,
                              "vwap": 100.1, "transactions": 10})
    m.set_timeframe("1m")  # a full refresh, as a snapshot sends
    qtbot.waitUntil(lambda: frozen == [1], timeout=10_000)
    assert marks["painted"] >= marks["rendered"]

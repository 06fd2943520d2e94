"""PolygonDataManager with an upstream URL: one feed per URL per application, and no feed left behind.

Real processes (simulator, feeds, a Qt application in its own process), free
ports, condition waits; everything started here is stopped here.
"""

from __future__ import annotations

import logging

import pytest

from shared.config import load_settings
from shared.feed_probe import probe_feed, request
from tests.feed_process_util import clean_env, run_feed
from tests.seed_util import APP_PRELUDE, app_env, pid_alive, reports, run_app
from tests.sim_process import run_sim
from tests.util import free_port, wait_until


@pytest.fixture(scope="module")
def sim():
    with run_sim("--speed", "5") as s:
        yield s


def until(qtbot, cond, timeout: int = 30_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


def test_two_managers_with_one_url_share_one_feed_and_one_upstream_connection(qtbot, sim):
    from ui_process.polygon_data_manager import PolygonDataManager
    from ui_process.private_feed import REGISTRY

    # The configured feed address has nothing on it: the managers must start their own feed.
    settings = load_settings(env={"LIVE_MONITOR_FEED": f"tcp://127.0.0.1:{free_port()}"}, use_default_file=False)
    a = PolygonDataManager(sim.url_relay, settings=settings, symbol="AAPL")
    b = PolygonDataManager(sim.url_relay, settings=settings, symbol="MSFT")
    ticks: dict[str, list] = {"a": [], "b": []}
    a.market_data_updated.connect(ticks["a"].append)
    b.market_data_updated.connect(ticks["b"].append)
    started = []
    try:
        a.connect()
        b.connect()
        until(qtbot, lambda: a.feed_info()["connected"] and b.feed_info()["connected"] and ticks["a"] and ticks["b"])
        assert a.feed_address == b.feed_address != settings.feed
        started = [f for f in REGISTRY.feeds if f.address == a.feed_address]
        assert len(started) == 1 and started[0].alive()
        assert a.feed_info()["pid"] == started[0].pid == b.feed_info()["pid"]
        st = request(a.feed_address, {"type": "status"}, timeout=3.0)
        assert st is not None and st["upstream"]["state"] == "connected" and st["upstream"]["connects"] == 1
        assert set(st["symbols"]) == {"AAPL", "MSFT"}  # both symbols over the one upstream connection
        assert sim.status()["connections"]["relay"] == 1
    finally:
        a.disconnect()
        b.disconnect()
        REGISTRY.stop_all()
    assert started and not any(pid_alive(f.pid) for f in started)  # the feed we started is gone


ATTACH_APP = '''
from live_monitor.data import PolygonDataManager
from ui_process.private_feed import REGISTRY
dm = PolygonDataManager(URL)
ticks = []
dm.market_data_updated.connect(ticks.append)
dm.connect()
wait_for(lambda: dm.feed_info()["connected"] and ticks,
         lambda: (report(pid=dm.feed_info()["pid"], address=dm.feed_address,
                         private_feeds=[f.pid for f in REGISTRY.feeds]), app.quit()))
'''


def test_an_attached_feed_stays_running_after_the_application_quits(tmp_path, sim):
    """The configured feed already serves the URL: attach, start nothing, and leave it running."""
    with run_feed("--upstream", sim.url_relay, "--protocol", "relay", env=clean_env()) as feed:
        script = "\n".join((APP_PRELUDE, f"URL = {sim.url_relay!r}", ATTACH_APP, "sys.exit(app.exec())"))
        rc, lines, err = run_app(script, app_env(LIVE_MONITOR_FEED=feed.control), tmp_path)
        assert rc == 0, err[-2000:]
        (r,) = reports(lines)
        assert r["pid"] == feed.pid and r["address"] == feed.control and r["private_feeds"] == []
        assert feed.proc.poll() is None
        info = probe_feed(feed.control)
        assert info is not None and info.pid == feed.pid and info.epoch == feed.epoch


def test_a_private_feed_ends_when_the_application_is_killed(tmp_path, sim):
    """No quit at all (SIGKILL): the private feed's parent watch ends it."""
    import os
    import signal
    import subprocess
    import sys

    script = "\n".join((APP_PRELUDE, f"URL = {sim.url_relay!r}", '''
from live_monitor.data import PolygonDataManager
from ui_process.private_feed import REGISTRY
dm = PolygonDataManager(URL)
dm.connect()
wait_for(lambda: dm.feed_info()["connected"], lambda: report(private_feeds=[f.pid for f in REGISTRY.feeds]))
''', "sys.exit(app.exec())"))
    f = tmp_path / "killed_app.py"
    f.write_text(script)
    env = app_env(LIVE_MONITOR_FEED=f"tcp://127.0.0.1:{free_port()}")
    proc = subprocess.Popen([sys.executable, "-P", str(f)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    pids: list[int] = []
    try:
        line = ""
        while not line.startswith("@@ "):
            line = proc.stdout.readline()
            assert line, "the app ended before its feed was connected"
        pids = reports([line.strip()])[0]["private_feeds"]
        assert len(pids) == 1 and pid_alive(pids[0])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        wait_until(lambda: not pid_alive(pids[0]), 15, what="the orphaned private feed to end")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        for p in pids:
            if pid_alive(p):
                os.kill(p, signal.SIGKILL)


def test_a_handler_on_live_monitor_data_receives_the_records(qtbot, sim):
    from live_monitor.data import PolygonDataManager, PolygonWebSocketClient

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    parent = logging.getLogger("live_monitor.data")
    h = Keep(logging.DEBUG)
    parent.addHandler(h)
    old = parent.level
    parent.setLevel(logging.DEBUG)
    m = PolygonDataManager(f"tcp://127.0.0.1:{free_port()}", symbol="AAPL")
    c = PolygonWebSocketClient(sim.url_relay, "live_monitor")
    got: list[dict] = []
    c.data_received.connect(got.append)
    try:
        m.connect()
        m.change_symbol("MSFT")
        c.connect_to_server()
        c.change_symbol("AAPL")
        until(qtbot, lambda: len(got) >= 5)
    finally:
        m.disconnect()
        c.disconnect()
        parent.removeHandler(h)
        parent.setLevel(old)
    names = {r.name for r in records}
    assert {"live_monitor.data.polygon_data_manager", "live_monitor.data.websocket_client"} <= names
    assert any("symbol AAPL -> MSFT" in r.getMessage() for r in records)


DEFAULT_APP = '''
import psutil
from live_monitor.data import PolygonDataManager
from ui_process.private_feed import REGISTRY
dm = PolygonDataManager()  # the configured feed; upstream sim (the default): a simulator too
ticks = []
dm.market_data_updated.connect(ticks.append)
dm.connect()

def finish():
    (owner,) = REGISTRY.feeds
    kids = [p.pid for p in psutil.Process(owner.pid).children(recursive=True)]
    report(private_feeds=[owner.pid], children=kids, feed_pid=dm.feed_info()["pid"], source=dm.feed_info()["source"],
           address=dm.feed_address)
    app.quit()

wait_for(lambda: dm.feed_info()["connected"] and ticks, finish)
'''


def test_default_manager_starts_the_configured_feed_with_a_simulator_and_stops_them_on_quit(tmp_path):
    address = f"tcp://127.0.0.1:{free_port()}"
    script = "\n".join((APP_PRELUDE, DEFAULT_APP, "sys.exit(app.exec())"))
    rc, lines, err = run_app(script, app_env(LIVE_MONITOR_FEED=address), tmp_path, timeout=120)
    assert rc == 0, err[-3000:]
    (r,) = reports(lines)
    assert r["address"] == address and r["source"] == "simulated"
    assert r["feed_pid"] in r["children"] and len(r["children"]) >= 2  # the daemon's simulator and feed
    everything = r["private_feeds"] + r["children"]
    wait_until(lambda: not any(pid_alive(p) for p in everything), 15, what="the daemon, its feed and simulator to end")
    assert probe_feed(address) is None

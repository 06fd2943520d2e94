"""PolygonDataManager against the real feed process and the simulator (real processes, sockets, Qt loop)."""

from __future__ import annotations

import datetime as dt

import pytest
import zmq

from shared.models import wire
from shared.models.market_data import AGGREGATE_KEYS, TICKER_KEYS
from tests.feed_process_util import clean_env, run_feed
from tests.sim_process import run_sim
from tests.util import free_port, recorded_manager
from ui_process.indicators import CALC_KEYS


def until(qtbot, cond, timeout: int = 10_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


def feed_snapshot(control: str, symbol: str) -> dict:
    """Ask the feed for a snapshot with a plain DEALER (what any subscriber would do)."""
    ctx = zmq.Context.instance()
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.connect(control)
    try:
        d.send(wire.pack(wire.snapshot_request(symbol, 42)))
        if not d.poll(5000):
            raise AssertionError("feed did not answer the snapshot request")
        return wire.unpack(d.recv())
    finally:
        d.close(0)


@pytest.fixture(scope="module")
def sim():
    with run_sim("--speed", "5") as s:
        yield s


@pytest.fixture(scope="module")
def feed_env():
    return clean_env(POLYGON_API_KEY="test-key")


@pytest.fixture(scope="module")
def feed(sim, feed_env):
    """One feed for the tests that don't kill it (each test has its own manager)."""
    with run_feed("--upstream", sim.url_polygon, env=feed_env) as f:
        yield f


@pytest.fixture
def manager(qtbot, feed):
    with recorded_manager(feed.control, "AAPL") as m_rec:
        yield m_rec


def test_signals_have_spec_keys_and_bars_equal_feed(qtbot, feed, manager):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: rec.conn == [True])
    until(qtbot, lambda: any(r["bars"] for r in rec.refreshes()))
    mine = m.get_accumulated_bars()
    assert mine and all(set(b) == AGGREGATE_KEYS for b in mine)
    snap = feed_snapshot(feed.control, "AAPL")
    theirs = {b["timestamp"]: b for b in snap["bars"]}
    # The feed may have finished a bar since: every bar we hold is the feed's, and we miss at most the newest.
    assert all(theirs[b["timestamp"]] == b for b in mine)
    assert len(theirs) - len(mine) <= 2
    assert [b["timestamp"] for b in mine] == sorted(b["timestamp"] for b in mine)

    until(qtbot, lambda: rec.market)
    t = rec.market[-1]
    assert set(t) == TICKER_KEYS
    for k in ("last_price", "bid", "ask", "spread", "mid_price"):
        assert isinstance(t[k], float), k
    assert isinstance(t["volume"], int)
    assert t["market_state"] in ("pre", "open", "post", "closed")
    dt.datetime.strptime(t["last_update"], "%H:%M:%S")
    until(qtbot, lambda: rec.calc)
    assert set(rec.calc[-1]) == CALC_KEYS and rec.calc[-1]["symbol"] == "AAPL"
    # live updates flow: forming-bar chart updates and new ticker values
    n = len(rec.market)
    until(qtbot, lambda: len(rec.market) > n + 3 and any(c["is_update"] for c in rec.chart))
    upd = [c for c in rec.chart if c["is_update"]][-1]
    assert len(upd["bars"]) == 1 and set(upd["bars"][0]) == AGGREGATE_KEYS
    info = m.feed_info()
    assert info["pid"] == feed.pid and info["epoch"] == feed.epoch and info["source"] == "simulated"
    assert info["upstream_state"] == "connected" and info["events"] > 0
    assert not rec.errors


def test_change_symbol_twice_quickly(qtbot, manager):
    m, rec = manager
    m.connect()
    until(qtbot, lambda: any(r["bars"] for r in rec.refreshes()))
    m.change_symbol("MSFT")
    m.change_symbol("TSLA")
    n_chart, n_calc, n_market = len(rec.chart), len(rec.calc), len(rec.market)
    until(qtbot, lambda: any(not c["is_update"] and c["bars"] for c in rec.chart[n_chart:]))
    until(qtbot, lambda: len(rec.market) > n_market + 3 and any(c["is_update"] for c in rec.chart[n_chart:]))
    assert all(b["symbol"] == "TSLA" for c in rec.chart[n_chart:] for b in c["bars"])
    assert all(c["symbol"] == "TSLA" for c in rec.calc[n_calc:])
    assert all(b["symbol"] == "TSLA" for b in m.get_accumulated_bars())


def test_feed_killed_and_restarted(qtbot, sim, feed_env):
    port = free_port()
    with recorded_manager(f"tcp://127.0.0.1:{port}", "AAPL") as (m, rec):
        with run_feed("--upstream", sim.url_polygon, env=feed_env, port=port) as f1:
            m.connect()
            until(qtbot, lambda: rec.conn == [True] and any(r["bars"] for r in rec.refreshes()))
            first_epoch = m.feed_info()["epoch"]
            f1.proc.kill()  # a crash: no goodbye, the heartbeats just stop
            f1.proc.wait(5)
            until(qtbot, lambda: rec.conn == [True, False])
            assert any("Feed process gone" in e for e in rec.errors)
            assert m.feed_info()["feed_alive"] is False
        n_ref = len(rec.refreshes())
        with run_feed("--upstream", sim.url_polygon, env=feed_env, port=port) as f2:
            until(qtbot, lambda: rec.conn == [True, False, True], 15_000)
            until(qtbot, lambda: len(rec.refreshes()) > n_ref and rec.refreshes()[-1]["bars"], 15_000)
            assert m.feed_info()["epoch"] == f2.epoch != first_epoch
            n = len(rec.market)
            until(qtbot, lambda: len(rec.market) > n + 2)


def test_window_reaches_a_curve_feed_bound_to_a_wildcard_address(qtbot, sim, feed_env, tmp_path):
    """A remote desk: the feed binds 0.0.0.0 with CURVE keys; a window with the keys gets data, one without none."""
    import zmq.auth

    from shared.config import load_settings
    from ui_process.polygon_data_manager import PolygonDataManager

    keys = tmp_path / "curve"
    keys.mkdir()
    zmq.auth.create_certificates(str(keys), "server")
    zmq.auth.create_certificates(str(keys), "client")
    (keys / "authorized_clients").mkdir()
    (keys / "authorized_clients" / "client.key").write_bytes((keys / "client.key").read_bytes())
    port = free_port("0.0.0.0")
    with run_feed("--upstream", sim.url_polygon, "--curve-dir", str(keys), "--no-backfill",
                  port=port, host="0.0.0.0", env=feed_env) as feed:
        assert feed.data.startswith("tcp://0.0.0.0:")
        address = f"tcp://127.0.0.1:{port}"
        keyed = PolygonDataManager(address, settings=load_settings(flags={"curve_dir": str(keys)}, env={},
                                                                     use_default_file=False), symbol="AAPL")
        bare = PolygonDataManager(address, settings=load_settings(env={}, use_default_file=False), symbol="AAPL")
        try:
            keyed.connect()
            bare.connect()
            qtbot.waitUntil(lambda: keyed.feed_info()["connected"] and keyed.feed_info()["events"] > 0,
                            timeout=20_000)
            # the data address the feed announced (0.0.0.0) was rewritten to the host we reached it at
            assert keyed.feed_info()["data"] is not None
            assert not bare.feed_info()["feed_alive"] and bare.feed_info()["events"] == 0
        finally:
            keyed.disconnect()
            bare.disconnect()

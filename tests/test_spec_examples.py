"""The seed README's usage examples, run verbatim in their own Qt application processes.

The snippets below are copied from the original module's README (Usage
Examples and the client's Connection Flow) and run unchanged, with the seed's
own import (``from live_monitor.data import ...``, the installed package), in a
real QApplication event loop (``python -P``: the installed code). Around each
snippet the test adds only what the README leaves to the reader: the imports of
Qt/datetime, ``_check_entry_condition``, the widget's labels and chart,
``process_data``, and a driver that waits for data and reports it as ``@@``
lines. The one edit inside a snippet: the client example's literal
``ws://localhost:8200/ws/{client_id}`` becomes the test simulator's relay
address of the same shape (tests use free ports).

Upstream: the simulator replaying a real AAPL capture through the relay
protocol (``ws://127.0.0.1:PORT/ws/{client_id}``). ``PolygonDataManager()``
finds its upstream through the configuration (``LIVE_MONITOR_UPSTREAM=relay``,
``LIVE_MONITOR_SERVER_URL``, ``LIVE_MONITOR_FEED`` a free address), as on a
user's machine: no feed answers there, so it starts one, which ends with the
application. Every price the examples show is one of the replayed file's.
"""

from __future__ import annotations

import ast

import pytest

from tests.seed_util import APP_PRELUDE, app_env, pid_alive, replay_prices, replay_sim, reports, run_app, AAPL_REPLAY
from tests.util import free_port, wait_until

BASIC_SETUP = '''
from live_monitor.data import PolygonDataManager

# Initialize data manager
data_manager = PolygonDataManager()

# Connect status monitoring
data_manager.connection_status_changed.connect(
    lambda connected: print(f"Connected: {connected}")
)

# Market data updates
data_manager.market_data_updated.connect(
    lambda data: print(f"Price: ${data['last_price']}")
)

# Chart updates
data_manager.chart_data_updated.connect(
    lambda data: print(f"New bar: {data['bars']}")
)

# Connect and start receiving data
data_manager.connect()

# Change symbol
data_manager.change_symbol("AAPL")
'''

TRADING_WIDGET = '''
class TradingWidget(QWidget):
    def __init__(self, data_manager):
        super().__init__()
        self.data_manager = data_manager
        
        # Connect to data updates
        self.data_manager.market_data_updated.connect(
            self.update_ticker_display
        )
        self.data_manager.chart_data_updated.connect(
            self.update_chart
        )
        
    def update_ticker_display(self, data: dict):
        # Update UI with latest prices
        self.price_label.setText(f"${data['last_price']:.2f}")
        self.spread_label.setText(f"Spread: ${data['spread']:.2f}")
        
    def update_chart(self, data: dict):
        if data['is_update']:
            # Append new bar to existing chart
            self.chart.append_bar(data['bars'][0])
        else:
            # Full chart refresh
            self.chart.set_data(data['bars'])
'''

CUSTOM_DATA_MANAGER = '''
# Extend PolygonDataManager for custom signals
class CustomDataManager(PolygonDataManager):
    def _process_trade(self, trade):
        super()._process_trade(trade)
        
        # Add custom signal logic
        if self._check_entry_condition(trade):
            signal = {
                'time': datetime.now().strftime("%H:%M:%S"),
                'signal_type': 'LONG',
                'price': str(trade['price']),
                'signal': 'Custom indicator triggered',
                'strength': 'Medium',
                'symbol': trade['symbol']
            }
            self.entry_signal_generated.emit(signal)
'''

CLIENT_FLOW = '''
# 1. Initialize client
client = PolygonWebSocketClient(
    server_url="ws://localhost:8200/ws/{client_id}",
    client_id="live_monitor"
)

# 2. Connect
client.connect_to_server()

# 3. Subscribe to symbols
client.subscribe(["AAPL", "MSFT"])
# Or single symbol
client.change_symbol("AAPL")

# 4. Receive data via signals
client.data_received.connect(process_data)
'''
SEED_URL = "ws://localhost:8200/ws/{client_id}"


@pytest.fixture(scope="module")
def sim(replay_dir):
    with replay_sim(replay_dir) as s:
        yield s


@pytest.fixture(scope="module")
def prices(replay_dir):
    return replay_prices(replay_dir / AAPL_REPLAY)


@pytest.fixture
def env(sim):
    """The user's configuration: the relay upstream, and a feed address where nothing runs yet."""
    return app_env(LIVE_MONITOR_UPSTREAM="relay", LIVE_MONITOR_SERVER_URL=sim.url_relay,
                   LIVE_MONITOR_FEED=f"tcp://127.0.0.1:{free_port()}")


def run(tmp_path, env, *parts: str) -> list[str]:
    rc, lines, err = run_app("\n".join((APP_PRELUDE, *parts, "sys.exit(app.exec())")), env, tmp_path)
    assert rc == 0 and "Traceback" not in err, f"exit {rc}; stderr tail:\n{err[-3000:]}"
    return lines


def started_feeds_are_gone(lines: list[str]) -> None:
    pids = [p for r in reports(lines) for p in r.get("private_feeds", [])]
    assert pids, "the application started no feed of its own"
    wait_until(lambda: not any(pid_alive(p) for p in pids), 10, what="the application's feed to end with it")


def bar_prices(bars: list[dict]) -> set[float]:
    return {b[k] for b in bars for k in ("open", "high", "low", "close")}


BASIC_DRIVER = '''
from ui_process.private_feed import REGISTRY
seen = {"conn": False, "prices": 0}
data_manager.connection_status_changed.connect(lambda c: seen.update(conn=seen["conn"] or c))
data_manager.market_data_updated.connect(lambda d: seen.update(prices=seen["prices"] + 1))

def finish():
    before = data_manager.get_accumulated_bars()
    print("TEST_CHART_UPDATE", flush=True)
    data_manager.test_chart_update()
    report(before=before[-1], after=data_manager.get_accumulated_bars()[-1],
           private_feeds=[f.pid for f in REGISTRY.feeds], info=data_manager.feed_info())
    app.quit()

wait_for(lambda: seen["conn"] and seen["prices"] >= 3 and data_manager.get_accumulated_bars(), finish)
'''


def test_basic_setup_and_test_chart_update(tmp_path, env, prices):
    lines = run(tmp_path, env, BASIC_SETUP, BASIC_DRIVER)
    assert "Connected: True" in lines
    cut = lines.index("TEST_CHART_UPDATE")
    # the replay's prices: what was shown before test_chart_update (its synthetic bar, close = last x 1.001,
    # may reach market_data_updated before the application quits - it is not from the file)
    shown = [float(x.split("$", 1)[1]) for x in lines[:cut] if x.startswith("Price: $")]
    assert len(shown) >= 3 and set(shown) <= prices
    bars = [b for x in lines[:cut] if x.startswith("New bar: ") for b in ast.literal_eval(x[9:])]
    assert bars and all(b["symbol"] == "AAPL" for b in bars) and bar_prices(bars) <= prices
    (r,) = [r for r in reports(lines) if "after" in r]
    assert r["after"]["timestamp"] == r["before"]["timestamp"] + 60_000  # the synthetic bar, through the pipeline
    synthetic = [ast.literal_eval(x[9:]) for x in lines[cut:] if x.startswith("New bar: ")]
    assert [b["timestamp"] for b in synthetic[0]] == [r["after"]["timestamp"]]
    assert r["info"]["source"] == "replay" and r["info"]["upstream_state"] == "connected"
    started_feeds_are_gone(lines)


TRADING_DRIVER = '''
from PyQt6.QtWidgets import QLabel
from ui_process.private_feed import REGISTRY

class Chart:  # the example's `self.chart`: whatever chart the user has
    def __init__(self):
        self.bars, self.refreshes = [], 0
    def set_data(self, bars):
        self.bars, self.refreshes = list(bars), self.refreshes + 1
    def append_bar(self, bar):
        if self.bars and self.bars[-1]["timestamp"] == bar["timestamp"]:
            self.bars[-1] = bar
        else:
            self.bars.append(bar)

dm = PolygonDataManager(URL)
w = TradingWidget(dm)
w.price_label, w.spread_label, w.chart = QLabel(w), QLabel(w), Chart()
dm.connect()
dm.change_symbol("AAPL")

def finish():
    report(price=w.price_label.text(), spread=w.spread_label.text(), refreshes=w.chart.refreshes,
           bars=w.chart.bars, private_feeds=[f.pid for f in REGISTRY.feeds])
    app.quit()

wait_for(lambda: w.price_label.text().startswith("$") and len(w.chart.bars) > 1, finish)
'''


def test_trading_widget_example(tmp_path, env, sim, prices):
    lines = run(tmp_path, env, "from PyQt6.QtWidgets import QWidget", "from live_monitor.data import "
                "PolygonDataManager", f"URL = {sim.url_relay!r}", TRADING_WIDGET, TRADING_DRIVER)
    (r,) = reports(lines)
    assert r["spread"].startswith("Spread: $") and r["refreshes"] >= 1
    assert any(abs(float(r["price"][1:]) - p) < 0.006 for p in prices)  # shown rounded to cents
    assert all(b["symbol"] == "AAPL" for b in r["bars"]) and bar_prices(r["bars"]) <= prices
    started_feeds_are_gone(lines)


CUSTOM_DRIVER = '''
from ui_process.private_feed import REGISTRY

class MyManager(CustomDataManager):
    """The README leaves _check_entry_condition to the user: every 50th trade here."""
    trades = 0
    def _check_entry_condition(self, trade):
        self.trades += 1
        return self.trades % 50 == 0

dm = MyManager(URL)
dm.entry_signal_generated.connect(lambda s: report(entry=s))
dm.connect()
dm.change_symbol("AAPL")
wait_for(lambda: dm.trades >= 120, lambda: (report(trades=dm.trades, bars=len(dm.get_accumulated_bars()),
                                                   private_feeds=[f.pid for f in REGISTRY.feeds]), app.quit()))
'''


def test_custom_data_manager_example(tmp_path, env, sim, prices):
    lines = run(tmp_path, env, "from datetime import datetime", "from live_monitor.data import PolygonDataManager",
                f"URL = {sim.url_relay!r}", CUSTOM_DATA_MANAGER, CUSTOM_DRIVER)
    entries = [r["entry"] for r in reports(lines) if "entry" in r]
    custom = [e for e in entries if e["signal"] == "Custom indicator triggered"]
    assert len(custom) >= 2
    assert all(e["signal_type"] == "LONG" and e["symbol"] == "AAPL" and float(e["price"]) in prices for e in custom)
    (done,) = [r for r in reports(lines) if "trades" in r]
    assert done["trades"] >= 120 and done["bars"] >= 1  # super() kept the pipeline: bars still accumulate
    started_feeds_are_gone(lines)


CLIENT_PRELUDE = '''
from live_monitor.data import PolygonWebSocketClient
received = []

def process_data(data):
    received.append(data)
'''
CLIENT_DRIVER = '''
def finish():
    client.disconnect()
    report(received=received[:300], connected=client.is_connected)
    app.quit()

wait_for(lambda: len(received) >= 300, finish)
'''


def test_websocket_client_connection_flow(tmp_path, env, sim, prices):
    assert SEED_URL in CLIENT_FLOW
    lines = run(tmp_path, env, CLIENT_PRELUDE, CLIENT_FLOW.replace(SEED_URL, sim.url_relay), CLIENT_DRIVER)
    (r,) = reports(lines)
    got = r["received"]
    assert len(got) == 300 and r["connected"] is False
    assert all(m["type"] == "market_data" and m["data"]["sym"] == "AAPL" for m in got)
    kinds = {m["data"]["ev"] for m in got}
    assert {"T", "Q"} <= kinds
    for m in got:
        d = m["data"]
        shown = {"T": ("p",), "Q": ("bp", "ap"), "AM": ("o", "h", "l", "c")}[d["ev"]]
        assert all(d[k] in prices for k in shown), d

"""The seed README's usage examples, run as written with only the import path changed.

The snippets below are copied from ``../shared/spec/live_monitor_data_README.md``
(Usage Examples). The one edit is ``from live_monitor.data import
PolygonDataManager`` -> ``from ui_process.polygon_data_manager import
PolygonDataManager``. They run against the real feed process and simulator;
the feed address reaches ``PolygonDataManager()`` through the configuration
(``LIVE_MONITOR_FEED``), as it would on a user's machine.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.feed_process_util import clean_env, run_feed
from tests.sim_process import run_sim

SPEC_IMPORT = "from live_monitor.data import PolygonDataManager"
OUR_IMPORT = "from ui_process.polygon_data_manager import PolygonDataManager"

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


def as_ours(snippet: str) -> str:
    code = textwrap.dedent(snippet)
    return code.replace(SPEC_IMPORT, OUR_IMPORT)


def until(qtbot, cond, timeout: int = 15_000) -> None:
    qtbot.waitUntil(lambda: bool(cond()), timeout=timeout)


@pytest.fixture(scope="module")
def feed_address():
    with run_sim("--speed", "5") as sim:
        with run_feed("--upstream", sim.url_polygon, env=clean_env(POLYGON_API_KEY="test-key")) as feed:
            yield feed.control


@pytest.fixture
def configured(feed_address, monkeypatch):
    monkeypatch.setenv("LIVE_MONITOR_FEED", feed_address)
    monkeypatch.setenv("LIVE_MONITOR_CONFIG", "/dev/null")
    return feed_address


def test_basic_setup_example(qtbot, configured, capsys):
    ns: dict = {}
    exec(compile(as_ours(BASIC_SETUP), "spec-basic-setup", "exec"), ns)
    dm = ns["data_manager"]
    try:
        assert dm.server_url == configured  # the default came from the configuration
        until(qtbot, lambda: "Price: $" in capsys.readouterr().out)
        out = capsys.readouterr().out
        until(qtbot, lambda: dm.get_accumulated_bars())
        assert "Traceback" not in out
    finally:
        dm.disconnect()


def test_trading_widget_example(qtbot, configured):
    from PyQt6.QtWidgets import QLabel, QWidget

    from ui_process.polygon_data_manager import PolygonDataManager

    ns: dict = {"QWidget": QWidget}
    exec(compile(TRADING_WIDGET, "spec-trading-widget", "exec"), ns)

    class Chart:  # the example's `self.chart`: whatever chart the user has
        def __init__(self):
            self.bars: list[dict] = []
            self.refreshes = 0

        def set_data(self, bars):
            self.bars = list(bars)
            self.refreshes += 1

        def append_bar(self, bar):
            if self.bars and self.bars[-1]["timestamp"] == bar["timestamp"]:
                self.bars[-1] = bar
            else:
                self.bars.append(bar)

    dm = PolygonDataManager()
    w = ns["TradingWidget"](dm)
    qtbot.addWidget(w)
    w.price_label, w.spread_label, w.chart = QLabel(w), QLabel(w), Chart()
    try:
        dm.connect()
        dm.change_symbol("MSFT")
        until(qtbot, lambda: w.price_label.text().startswith("$") and w.chart.bars)
        assert w.spread_label.text().startswith("Spread: $")
        assert w.chart.refreshes >= 1 and all(b["symbol"] == "MSFT" for b in w.chart.bars)
        n = len(w.chart.bars)
        until(qtbot, lambda: len(w.chart.bars) > n or w.chart.bars[-1] is not None)
    finally:
        dm.disconnect()


def test_custom_data_manager_example(qtbot, configured):
    from datetime import datetime

    from ui_process.polygon_data_manager import PolygonDataManager

    ns: dict = {"PolygonDataManager": PolygonDataManager, "datetime": datetime}
    exec(compile(CUSTOM_DATA_MANAGER, "spec-custom-data-manager", "exec"), ns)

    class MyManager(ns["CustomDataManager"]):
        """The example leaves ``_check_entry_condition`` to the user: every 50th trade here."""

        trades = 0

        def _check_entry_condition(self, trade):
            self.trades += 1
            return self.trades % 50 == 0

    dm = MyManager()
    signals: list[dict] = []
    market: list[dict] = []
    dm.entry_signal_generated.connect(signals.append)
    dm.market_data_updated.connect(market.append)
    try:
        dm.connect()
        dm.change_symbol("AAPL")
        until(qtbot, lambda: signals and market)
        s = signals[0]
        assert s["signal_type"] == "LONG" and s["symbol"] == "AAPL" and float(s["price"]) > 0
        assert dm.trades >= 50  # the hook saw every trade (super() kept the state: market data flows)
    finally:
        dm.disconnect()

"""One symbol's processing in a window: state, indicators, signal strategies, coalesced emissions.

Why it looks like this
----------------------
Qt-free and socket-free (half of the manager's core, the other half being the
feed link in :mod:`ui_process.manager_core`): seed dicts in, emissions out
through an :class:`Emit` of plain callables (the facade passes its signals'
``emit``), so each rule is a unit test with an injected clock.

Emission rules: finished bars (``is_update: True``), their
``calculation_updated`` and entry/exit signals go out at once and are never
dropped. The ticker (``market_data_updated``) and the forming bar (+ its
indicator preview) are coalesced: marked dirty per event, emitted by
:meth:`display_tick` at most ``ui_update_hz`` times a second and only when
changed. A full refresh (``is_update: False``) is the finished bars, then the
forming bar. The symbol's market state lives in
:class:`ui_process.symbol_state.WindowSymbol` (the core helper's; only its public
API is used here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from .indicators import IndicatorSet
from .signal_engine import SignalEngine
from .symbol_state import MINUTE_MS, WindowSymbol

logger = logging.getLogger("live_monitor.data.polygon_data_manager")


def _nothing(*_a: Any) -> None:
    return None


@dataclass
class Emit:
    """Where results go (the facade's signals, or lists in a test)."""

    market: Callable[[dict], Any] = _nothing
    chart: Callable[[dict], Any] = _nothing
    calc: Callable[[dict], Any] = _nothing
    entry: Callable[[dict], Any] = _nothing
    exit: Callable[[dict], Any] = _nothing
    connection: Callable[[bool], Any] = _nothing
    error: Callable[[str], Any] = _nothing
    luld: Callable[[dict], Any] = _nothing
    second: Callable[[dict], Any] = _nothing


class SymbolPipeline:
    def __init__(self, symbol: str, *, max_bars: int, ui_update_hz: float, clock: Callable[[], float],
                 wall_clock: Callable[[], float], emit: Emit, stats: dict):
        self.symbol = symbol
        self.max_bars = max_bars
        self.ui_update_hz = ui_update_hz
        self.clock, self.wall = clock, wall_clock
        self.emit = emit
        self.stats = stats
        self.state = WindowSymbol(symbol, max_bars)
        self.indicators = IndicatorSet(symbol)
        self.signal_engine = SignalEngine()
        self.signal_engine.reset(symbol)
        self.dirty_ticker = self.dirty_forming = False
        self._last_ticker: dict | None = None
        self._last_emit_at = -1e9

    def reset(self, symbol: str | None = None) -> None:
        """Forget everything of the current symbol (and switch to ``symbol``)."""
        if symbol is not None:
            self.symbol = symbol
        sym = self.symbol
        self.state = WindowSymbol(sym, self.max_bars)
        self.indicators.reset(sym)
        self.signal_engine.reset(sym)
        self.dirty_ticker = self.dirty_forming = False
        self._last_ticker = None

    # ------------------------------------------------------------ the seed's default hook bodies

    def trade(self, trade: dict) -> None:
        if trade["symbol"] != self.symbol:
            return
        if self.state.on_trade(trade):  # type: ignore[arg-type]
            self.dirty_forming = True
        self.dirty_ticker = True
        if self.state.finished:  # the trade finished the previous minute (or a late print changed a bar)
            for kind, bar in self.state.take_finished():
                self.bar(kind, bar)

    def quote(self, quote: dict) -> None:
        if quote["symbol"] != self.symbol:
            return
        if self.state.on_quote(quote):  # type: ignore[arg-type]
            self.dirty_ticker = True

    def aggregate(self, agg: dict) -> None:
        if agg["symbol"] != self.symbol:
            return
        kind, bar = self.state.on_aggregate(agg)  # type: ignore[arg-type]
        for k, b in self.state.take_finished():  # a forming minute before this bar, closed by it
            self.bar(k, b)
        self.bar(kind, bar)

    def second_aggregate(self, agg: dict) -> None:
        """An ``A`` (per-second) bar: day statistics only, never a minute bar."""
        if agg["symbol"] == self.symbol:
            self.state.on_second_aggregate(agg)
            self.dirty_ticker = True

    def bar(self, kind: str, bar: dict) -> None:
        """A finished bar (official, or provisional from trades): chart, indicators, signals."""
        self.dirty_ticker = True
        ind = self.indicators
        prev = ind.values()
        if kind in ("append", "replace_last") and ind.can_commit(bar["timestamp"]):
            values = ind.commit(bar)
        else:
            values = ind.load(self.state.bars)[-1]
        self.stats["chart_emits"] += 1
        self.emit.chart({"bars": [dict(bar)], "is_update": True})
        self.emit.calc(values)
        if kind == "append":
            for e in self.signal_engine.on_bar(bar, values, prev if prev["bar_count"] else None, self.state.bars):
                self.stats["signals"] += 1
                (self.emit.entry if e.kind == "entry" else self.emit.exit)(e.signal)
        if self.state.forming is not None:
            self.dirty_forming = True  # its preview indicators depend on this bar

    def synthetic_bar(self) -> dict:
        """test_chart_update's bar: one minute after the last, at its close (or the wall clock's minute)."""
        st = self.state
        last = st.bars[-1] if st.bars else None
        ts = (last["timestamp"] + MINUTE_MS) if last else int(self.wall() * 1000) // MINUTE_MS * MINUTE_MS
        p = last["close"] if last else (st.last_price or 100.0)
        return {"event_type": "aggregate", "symbol": self.symbol, "timestamp": ts, "open": p,
                "high": round(p * 1.002, 4), "low": round(p * 0.998, 4), "close": round(p * 1.001, 4),
                "volume": 1000, "vwap": p, "transactions": 10}

    # ------------------------------------------------------------ snapshot and coalescing

    def load_snapshot(self, snap: dict) -> bool:
        """Replace the state with the feed's snapshot and emit the full refresh; True if it held data."""
        self.reset()
        st = self.state
        st.load_snapshot(snap)
        values = self.indicators.load(st.bars)
        self.signal_engine.warm_up(st.bars, values)  # history is a silent warm-up: no signals
        refresh = [dict(b) for b in st.bars]
        if st.forming is not None:
            refresh.append(dict(st.forming))
        logger.info("snapshot %s: %d bars, seq %s, epoch %s, source %s", self.symbol, len(st.bars),
                    snap.get("seq"), snap.get("epoch"), snap.get("source"))
        self.stats["chart_emits"] += 1
        self.emit.chart({"bars": refresh, "is_update": False})
        calc = self.indicators.preview(st.forming) if st.forming is not None else self.indicators.values()
        self.emit.calc(calc)
        self.dirty_ticker = True
        return bool(st.bars) or st.last_price is not None

    def display_tick(self, market_state: Callable[[], str]) -> None:
        now = self.clock()
        if now - self._last_emit_at < 1.0 / self.ui_update_hz:
            return
        emitted = False
        st = self.state
        if self.dirty_forming:
            self.dirty_forming = False
            if st.forming is not None:
                self.stats["chart_emits"] += 1
                self.emit.chart({"bars": [dict(st.forming)], "is_update": True})
                self.emit.calc(self.indicators.preview(st.forming))
                emitted = True
        if self.dirty_ticker:
            self.dirty_ticker = False
            t = st.ticker(market_state())
            if t is not None and t != self._last_ticker:
                self._last_ticker = t
                self.stats["market_data_emits"] += 1
                self.emit.market(dict(t))
                emitted = True
        if emitted:
            self._last_emit_at = now

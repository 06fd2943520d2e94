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
forming bar, with ``indicators``: the calculation dict of every one of them
(the manager computes indicators once; the chart draws these, never its own).

Timeframes: bars, indicators and signals are those of the chosen timeframe
(:meth:`SymbolPipeline.configure`); every chart dict says which
(``timeframe``). The minute state stays the one source: other timeframes are
merged from its finished minutes by :class:`shared.market.timeframes.
TimeframeBars` (O(1) per finished minute; the forming bar is merged at the
display rate, never per trade). 1m with extended hours takes the minute bars
as they are (the seed's path, unchanged). Key levels (prior day, pre-market,
opening range: :mod:`shared.market.levels`) go out as ``levels`` when they
change. The symbol's market state lives in
:class:`ui_process.symbol_state.WindowSymbol` (the core helper's; only its public
API is used here).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from shared.market.levels import OPENING_RANGES, key_levels
from shared.market.timeframes import HOUR_ANCHORS, TIMEFRAMES, TimeframeBars, span_ms
from shared.market_hours import latest_session_on_or_before, ny_date

from .indicators import VWAP_ANCHORS, IndicatorSet
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
    levels: Callable[[dict], Any] = _nothing


# The chart options a window chooses (persisted by the window, applied by configure()).
DEFAULT_OPTIONS = {"extended_hours": True, "vwap_anchor": "open", "hour_anchor": "open", "opening_range": 15}


def check_options(tf: str, opts: dict) -> None:
    """Raise ValueError for an unknown timeframe or option value (one message naming it)."""
    if tf not in TIMEFRAMES:
        raise ValueError(f"unknown timeframe {tf!r} (known: {', '.join(TIMEFRAMES)})")
    for k, v in opts.items():
        ok = {"extended_hours": lambda x: isinstance(x, bool), "vwap_anchor": lambda x: x in VWAP_ANCHORS,
              "hour_anchor": lambda x: x in HOUR_ANCHORS, "opening_range": lambda x: x in OPENING_RANGES}.get(k)
        if ok is None or not ok(v):
            raise ValueError(f"bad chart option {k}={v!r}")


class SymbolPipeline:
    def __init__(self, symbol: str, *, max_bars: int, ui_update_hz: float, clock: Callable[[], float],
                 wall_clock: Callable[[], float], emit: Emit, stats: dict):
        self.symbol = symbol
        self.max_bars = max_bars
        self.ui_update_hz = ui_update_hz
        self.clock, self.wall = clock, wall_clock
        self.emit = emit
        self.stats = stats
        self.tf = "1m"
        self.options = dict(DEFAULT_OPTIONS)
        self.state = WindowSymbol(symbol, max_bars)
        self.indicators = self._new_indicators()
        self.frames = self._new_frames()
        self.signal_engine = SignalEngine()
        self.signal_engine.reset(symbol)
        self._clear_extras()
        self._last_emit_at = -1e9

    def _clear_extras(self) -> None:
        self.dirty_ticker = self.dirty_forming = False
        self._last_ticker: dict | None = None
        self._fs: int | None = None          # start of the forming minute last seen (bucket changes)
        self.prev_day: dict | None = None    # the snapshot's previous-day bar, when the feed sends one
        self.day_bars: list[dict] = []       # the snapshot's day aggregates (D timeframe)
        self.levels: dict | None = None
        self.dirty_levels = False
        self._live_levels_until = 0          # the forming minute moves levels until then (pre-market, OR)

    def _new_indicators(self) -> IndicatorSet:
        return IndicatorSet(self.symbol, vwap_anchor=self.options["vwap_anchor"], span_ms=span_ms(self.tf))

    def _new_frames(self) -> TimeframeBars | None:
        if self.tf == "1m" and self.options["extended_hours"]:
            return None  # the minute bars as they are
        return TimeframeBars(self.tf, self.symbol, hour_anchor=self.options["hour_anchor"],
                             extended=self.options["extended_hours"], max_bars=self.max_bars)

    def reset(self, symbol: str | None = None) -> None:
        """Forget everything of the current symbol (and switch to ``symbol``)."""
        if symbol is not None:
            self.symbol = symbol
        sym = self.symbol
        self.state = WindowSymbol(sym, self.max_bars)
        self.indicators = self._new_indicators()
        self.frames = self._new_frames()
        self.signal_engine.reset(sym)
        self._clear_extras()

    def configure(self, tf: str | None = None, **options: Any) -> None:
        """Choose the timeframe and chart options; a full refresh follows when bars are held."""
        tf = self.tf if tf is None else tf
        check_options(tf, options)
        if tf == self.tf and all(self.options[k] == v for k, v in options.items()):
            return
        self.tf = tf
        self.options.update(options)
        self.indicators = self._new_indicators()
        self.frames = self._new_frames()
        self.signal_engine.reset(self.symbol)
        self._fs = None
        self.levels = None  # the opening range may have changed
        if self.state.bars or self.state.forming is not None:
            self.refresh()

    @property
    def bars(self) -> list[dict]:
        """The finished bars of the chosen timeframe (the minute bars themselves on the fast path)."""
        return self.frames.bars if self.frames is not None else self.state.bars

    def forming_bar(self) -> dict | None:
        f = self.state.forming
        return self.frames.forming(f) if self.frames is not None else f

    # ------------------------------------------------------------ the seed's default hook bodies

    def trade(self, trade: dict) -> None:
        if trade["symbol"] != self.symbol:
            return
        st = self.state
        if st.on_trade(trade):  # type: ignore[arg-type]
            self.dirty_forming = True
        self.dirty_ticker = True
        if st.finished:  # the trade finished the previous minute (or a late print changed a bar)
            for kind, bar in st.take_finished():
                self.minute(kind, bar)
        if self.frames is not None:  # a new forming minute may end the open bucket
            f = st.market.forming
            if f is not None and f[0] != self._fs:
                self._fs = f[0]
                for k, b in self.frames.on_forming(f[0]):
                    self.bar(k, b)

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
            self.minute(k, b)
        self.minute(kind, bar)

    def second_aggregate(self, agg: dict) -> None:
        """An ``A`` (per-second) bar: day statistics only, never a minute bar."""
        if agg["symbol"] == self.symbol:
            self.state.on_second_aggregate(agg)
            self.dirty_ticker = True

    def minute(self, kind: str, bar: dict) -> None:
        """A finished minute arrived or changed: the chosen timeframe's bars follow."""
        self.dirty_levels = True
        if self.frames is None:
            self.bar(kind, bar)
            return
        self.dirty_forming = True  # the open bucket (part of the forming bar) changed
        for k, b in self.frames.on_minute(kind, bar, self.state.bars):
            self.bar(k, b)

    def bar(self, kind: str, bar: dict) -> None:
        """A finished bar of the timeframe (official, or provisional from trades): chart, indicators, signals."""
        self.dirty_ticker = True
        ind = self.indicators
        prev = ind.values()
        if kind in ("append", "replace_last") and ind.can_commit(bar["timestamp"]):
            values = ind.commit(bar)
        else:
            values = ind.load(self.bars)[-1]
        self.stats["chart_emits"] += 1
        self.emit.chart({"bars": [dict(bar)], "is_update": True, "timeframe": self.tf})
        self.emit.calc(values)
        if kind == "append":
            for e in self.signal_engine.on_bar(bar, values, prev if prev["bar_count"] else None, self.bars,
                                               span_ms(self.tf)):
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

    # ------------------------------------------------------------ snapshot, refresh and coalescing

    def load_snapshot(self, snap: dict) -> bool:
        """Replace the state with the feed's snapshot and emit the full refresh; True if it held data."""
        self.reset()
        st = self.state
        st.load_snapshot(snap)
        pd, db = snap.get("prev_day"), snap.get("day_bars")
        self.prev_day = pd if isinstance(pd, dict) else None
        self.day_bars = [b for b in db if isinstance(b, dict) and st._valid_bar(b) is not None] \
            if isinstance(db, list) else []
        logger.info("snapshot %s: %d bars, seq %s, epoch %s, source %s", self.symbol, len(st.bars),
                    snap.get("seq"), snap.get("epoch"), snap.get("source"))
        self.refresh()
        self.dirty_ticker = True
        return bool(st.bars) or st.last_price is not None

    def refresh(self) -> None:
        """The full refresh of the chosen timeframe: bars, forming bar, every bar's indicators."""
        st = self.state
        if self.frames is not None:
            self.frames.set_day_bars(self.day_bars)
            self.frames.load(st.bars, st.forming)
            f = st.market.forming
            self._fs = f[0] if f is not None else None
        bars = self.bars
        values = self.indicators.load(bars)
        self.signal_engine.warm_up(bars, values, span_ms(self.tf))  # history is a silent warm-up: no signals
        refresh = [dict(b) for b in bars]
        forming = self.forming_bar()
        calc = self.indicators.preview(forming) if forming is not None else self.indicators.values()
        if forming is not None:
            refresh.append(dict(forming))
            values = values + [calc]
        self.stats["chart_emits"] += 1
        self.emit.chart({"bars": refresh, "is_update": False, "timeframe": self.tf, "indicators": values})
        self.emit.calc(calc)
        self.dirty_levels = True

    def update_levels(self) -> None:
        """Recompute the key levels; emit them when they changed."""
        st = self.state
        ref = st.last_event_ms or 0
        lv = key_levels(st.bars, st.forming, ref, prev_day=self.prev_day, prev_close=st.prev_close,
                        opening_range=self.options["opening_range"])
        today = latest_session_on_or_before(ny_date(ref)) if ref else None
        self._live_levels_until = today.open + self.options["opening_range"] * MINUTE_MS if today else 0
        if lv != self.levels:
            self.levels = lv
            self.emit.levels({"symbol": self.symbol, **lv})

    def display_tick(self, market_state: Callable[[], str]) -> None:
        now = self.clock()
        if now - self._last_emit_at < 1.0 / self.ui_update_hz:
            return
        emitted = False
        st = self.state
        if self.dirty_forming:
            self.dirty_forming = False
            forming = self.forming_bar()
            if forming is not None:
                self.stats["chart_emits"] += 1
                self.emit.chart({"bars": [dict(forming)], "is_update": True, "timeframe": self.tf})
                self.emit.calc(self.indicators.preview(forming))
                emitted = True
                f = st.market.forming
                if f is not None and f[0] < self._live_levels_until:
                    self.dirty_levels = True  # pre-market / opening range still forming
        if self.dirty_levels:
            self.dirty_levels = False
            self.update_levels()
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

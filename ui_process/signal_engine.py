"""Entry/exit signal engine with pluggable strategies.

Why it looks like this
----------------------
* **Bars in, signal dicts out, no Qt.** ``SignalEngine.on_bar`` is called by
  ``PolygonDataManager`` for every finished bar of the chosen timeframe with the
  committed indicator values; it returns :class:`Emission` s, which the manager
  emits as ``entry_signal_generated`` / ``exit_signal_generated`` at once (never
  coalesced, so never dropped). Strategies are therefore plain unit-testable
  objects.
* **Finished bars only.** Deciding on the forming bar would flip signals on and
  off with every trade. One decision per bar, and the engine drops any repeat of
  the same (strategy, condition, bar) - e.g. when the feed re-sends a bar -
  so a signal storm cannot happen by construction.
* **History is a warm-up.** After a snapshot the strategies see the history
  with ``live=False`` (to build their position state); what they return for it
  is discarded - a window opening at 15:00 must not fire 300 old signals.

The strategy interface (small on purpose)::

    class MyStrategy:
        name = "my_strategy"
        def reset(self, symbol: str) -> None: ...
        def on_bar(self, ctx: BarContext) -> list[Emission]: ...

Register it with ``@register_strategy("my_strategy")`` and select it with
``SignalEngine(["my_strategy"])`` or ``manager.signal_engine.add(MyStrategy())``.
Build the dicts with :func:`shared.models.signals.make_entry` /
:func:`~shared.models.signals.make_exit` so every strategy emits the seed's
exact EntrySignal / ExitSignal shape.

The default strategy, ``rsi_reversal``:

* **Entry LONG** when RSI(14) crosses back *up* through 30 (an oversold
  reversal) and at least one confirmation holds: close above EMA(9), close above
  the session VWAP. **SHORT** mirrors it (down through 70, below EMA 9 / VWAP).
  Strength: *Strong* = both confirmations and relative volume >= 1.5;
  *Medium* = both, or one with relative volume >= 1.5; *Weak* = one.
* **Exits** for the open position, checked on each later bar's range:
  STOP at 1 ATR against the entry (Urgent), TARGET at 2 ATR in favour
  (Normal), and a TRAIL stop 1.5 ATR behind the best close once the trade is
  1 ATR in profit (Warning). A stop is checked before the target, which is the
  conservative reading of a bar that touched both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Literal, Protocol, Sequence

from shared.market_hours import ny_datetime
from shared.models.signals import make_entry, make_exit

__all__ = ["BarContext", "Emission", "Strategy", "register_strategy", "create_strategy", "strategies",
           "SignalEngine", "RsiReversal"]

MINUTE_MS = 60_000


@dataclass(frozen=True)
class BarContext:
    """What a strategy sees for one finished bar."""

    symbol: str
    bar: dict                 # AggregateData of the bar that just finished
    values: dict              # calculation_updated dict after this bar
    prev_values: dict | None  # the same before this bar
    history: Sequence[dict]   # finished bars (read-only; oldest first); this bar is history[index]
    live: bool                # False during warm-up over history
    index: int = -1
    span_ms: int = MINUTE_MS  # the bar's timeframe (the manager's chosen one): signals follow it

    @property
    def bars(self) -> Sequence[dict]:
        """All finished bars up to and including this one (a copy, made only when asked for)."""
        return self.history[: self.index + 1] if self.index >= 0 else self.history

    @property
    def when(self) -> datetime:
        """The bar's close time, America/New_York (the signal's ``timestamp``)."""
        return ny_datetime(self.bar["timestamp"] + self.span_ms)


@dataclass(frozen=True)
class Emission:
    kind: Literal["entry", "exit"]
    condition: str  # what fired, unique per strategy (dedup key with the bar time)
    signal: dict    # EntrySignal / ExitSignal


class Strategy(Protocol):
    name: str

    def reset(self, symbol: str) -> None: ...

    def on_bar(self, ctx: BarContext) -> list[Emission]: ...


_REGISTRY: dict[str, Callable[..., Strategy]] = {}


def register_strategy(name: str) -> Callable[[Callable[..., Strategy]], Callable[..., Strategy]]:
    """Class decorator: make a strategy available by ``name``."""
    def deco(factory: Callable[..., Strategy]) -> Callable[..., Strategy]:
        _REGISTRY[name] = factory
        return factory
    return deco


def create_strategy(name: str, **params: Any) -> Strategy:
    try:
        return _REGISTRY[name](**params)
    except KeyError:
        raise ValueError(f"unknown strategy {name!r} (known: {', '.join(sorted(_REGISTRY))})") from None


def strategies() -> list[str]:
    return sorted(_REGISTRY)


@dataclass
class _Position:
    side: int          # +1 long, -1 short
    entry: float
    atr: float
    best: float
    opened_ts: int


@register_strategy("rsi_reversal")
@dataclass
class RsiReversal:
    """RSI reversal with VWAP/EMA confirmation; ATR stop/target and trailing stop (module doc)."""

    oversold: float = 30.0
    overbought: float = 70.0
    strong_volume: float = 1.5
    stop_atr: float = 1.0
    target_atr: float = 2.0
    trail_atr: float = 1.5
    trail_after_atr: float = 1.0
    name: str = "rsi_reversal"
    symbol: str = ""
    position: _Position | None = field(default=None, repr=False)

    def reset(self, symbol: str) -> None:
        self.symbol = symbol
        self.position = None

    def on_bar(self, ctx: BarContext) -> list[Emission]:
        out: list[Emission] = []
        if self.position is not None and ctx.bar["timestamp"] > self.position.opened_ts:
            ex = self._exit(ctx)
            if ex is not None:
                out.append(ex)
                self.position = None
        if self.position is None:
            en = self._entry(ctx)
            if en is not None:
                out.append(en)
        return out

    def _entry(self, ctx: BarContext) -> Emission | None:
        v, pv = ctx.values, ctx.prev_values or {}
        rsi, prsi, atr = v.get("rsi_14"), pv.get("rsi_14"), v.get("atr_14")
        if rsi is None or prsi is None or not atr:
            return None
        close = ctx.bar["close"]
        ema, vwap, rvol = v.get("ema_9"), v.get("vwap"), v.get("relative_volume")
        if prsi < self.oversold <= rsi:
            side, name = 1, "RSI Oversold Reversal"
            conf = [(ema is not None and close > ema, "EMA9"), (vwap is not None and close > vwap, "VWAP")]
        elif prsi > self.overbought >= rsi:
            side, name = -1, "RSI Overbought Reversal"
            conf = [(ema is not None and close < ema, "EMA9"), (vwap is not None and close < vwap, "VWAP")]
        else:
            return None
        held = [label for ok, label in conf if ok]
        if not held:
            return None
        vol_ok = rvol is not None and rvol >= self.strong_volume
        if len(held) == 2 and vol_ok:
            strength = "Strong"
        elif len(held) == 2 or vol_ok:
            strength = "Medium"
        else:
            strength = "Weak"
        notes = (f"Volume confirmation present ({rvol:.1f}x avg)" if vol_ok
                 else f"No volume confirmation ({rvol:.1f}x avg)" if rvol is not None
                 else "Volume history too short")
        notes += f"; RSI {prsi:.1f} -> {rsi:.1f}; ATR {atr:.2f}"
        self.position = _Position(side, close, atr, close, ctx.bar["timestamp"])
        sig = make_entry(ctx.symbol, ctx.when, "LONG" if side > 0 else "SHORT", close,
                         f"{name} + {' & '.join(held)} confirmation", strength, notes)
        return Emission("entry", "long" if side > 0 else "short", sig)

    def _exit(self, ctx: BarContext) -> Emission | None:
        p = self.position
        assert p is not None
        b = ctx.bar
        s = p.side
        stop = p.entry - s * self.stop_atr * p.atr
        target = p.entry + s * self.target_atr * p.atr
        adverse = b["low"] if s > 0 else b["high"]
        favour = b["high"] if s > 0 else b["low"]
        if (adverse - stop) * s <= 0:
            return self._make(ctx, "STOP", stop, f"Stop loss hit ({self.stop_atr:g} ATR)", "Urgent")
        if (favour - target) * s >= 0:
            return self._make(ctx, "TARGET", target, f"Price target reached ({self.target_atr:g} ATR)", "Normal")
        if (b["close"] - p.best) * s > 0:
            p.best = b["close"]
        if (p.best - p.entry) * s >= self.trail_after_atr * p.atr:
            trail = p.best - s * self.trail_atr * p.atr
            if (b["close"] - trail) * s <= 0:
                return self._make(ctx, "TRAIL", b["close"],
                                  f"Trailing stop hit ({self.trail_atr:g} ATR from best {p.best:.2f})", "Warning")
        return None

    def _make(self, ctx: BarContext, exit_type: str, price: float, text: str, urgency: str) -> Emission:
        p = self.position
        assert p is not None
        pnl_value = (price - p.entry) * p.side
        sig = make_exit(ctx.symbol, ctx.when, exit_type, price, pnl_value / p.entry * 100.0, text, urgency,
                        round(pnl_value, 6))
        return Emission("exit", exit_type.lower(), sig)


class SignalEngine:
    """Runs the strategies over finished bars; one emission per (strategy, condition, bar)."""

    def __init__(self, names: Iterable[str] = ("rsi_reversal",)):
        self.strategies: list[Strategy] = [create_strategy(n) for n in names]
        self.symbol = ""
        self._seen: dict[tuple[str, str, int], None] = {}  # insertion-ordered, bounded
        self.emitted = 0

    def add(self, strategy: Strategy) -> None:
        strategy.reset(self.symbol)
        self.strategies.append(strategy)

    def reset(self, symbol: str) -> None:
        self.symbol = symbol
        self._seen.clear()
        for s in self.strategies:
            s.reset(symbol)

    def warm_up(self, bars: Sequence[dict], values: Sequence[dict], span_ms: int = MINUTE_MS) -> None:
        """Feed history (bars with their indicator values) without emitting anything."""
        prev = None
        for i, (bar, v) in enumerate(zip(bars, values)):
            ctx = BarContext(self.symbol, bar, v, prev, bars, live=False, index=i, span_ms=span_ms)
            for s in self.strategies:
                for e in s.on_bar(ctx):
                    self._mark(s.name, e, bar["timestamp"])
            prev = v

    def on_bar(self, bar: dict, values: dict, prev_values: dict | None, bars: Sequence[dict],
               span_ms: int = MINUTE_MS) -> list[Emission]:
        ctx = BarContext(self.symbol, bar, values, prev_values, bars, live=True, span_ms=span_ms)
        out: list[Emission] = []
        for s in self.strategies:
            for e in s.on_bar(ctx):
                if self._mark(s.name, e, bar["timestamp"]):
                    out.append(e)
        self.emitted += len(out)
        return out

    def _mark(self, name: str, e: Emission, ts: int) -> bool:
        key = (name, e.kind + ":" + e.condition, ts)
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > 10_000:
            del self._seen[next(iter(self._seen))]
        return True

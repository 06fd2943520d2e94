"""Signal engine: the default strategy's entries/exits, the seed's exact dict shapes, no storms, plug-ins."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.models.signals import ENTRY_KEYS, EXIT_KEYS
from ui_process.indicators import IndicatorSet
from ui_process.signal_engine import (BarContext, Emission, RsiReversal, SignalEngine, create_strategy,
                                      register_strategy, strategies)
from shared.models.signals import make_entry

T0 = int(dt.datetime(2025, 7, 1, 14, 0, tzinfo=dt.timezone.utc).timestamp() * 1000)  # 10:00 NY


def bar(i: int, o: float, h: float, lo: float, c: float, v: int = 1000) -> dict:
    return {"event_type": "aggregate", "symbol": "TEST", "timestamp": T0 + i * 60_000, "open": o, "high": h,
            "low": lo, "close": c, "volume": v, "vwap": None, "transactions": None}


def vals(rsi=None, ema=None, vwap=None, atr=1.0, rvol=None) -> dict:
    return {"rsi_14": rsi, "ema_9": ema, "vwap": vwap, "atr_14": atr, "relative_volume": rvol}


def run(strategy: RsiReversal, steps: list[tuple[dict, dict]]) -> list[list[Emission]]:
    strategy.reset("TEST")
    out, prev = [], None
    for b, v in steps:
        out.append(strategy.on_bar(BarContext("TEST", b, v, prev, [b], live=True)))
        prev = v
    return out


def check_entry(sig: dict) -> None:
    assert set(sig) == ENTRY_KEYS
    assert sig["signal_type"] in ("LONG", "SHORT") and sig["strength"] in ("Strong", "Medium", "Weak")
    assert isinstance(sig["price"], str) and float(sig["price"]) > 0
    assert isinstance(sig["timestamp"], dt.datetime) and sig["timestamp"].tzinfo is not None
    assert sig["time"] == sig["timestamp"].strftime("%H:%M:%S") and sig["symbol"] == "TEST"
    assert isinstance(sig["notes"], str) and isinstance(sig["signal"], str)


def check_exit(sig: dict) -> None:
    assert set(sig) == EXIT_KEYS
    assert sig["exit_type"] in ("TARGET", "STOP", "TRAIL") and sig["urgency"] in ("Urgent", "Warning", "Normal")
    assert isinstance(sig["price"], str) and isinstance(sig["pnl_value"], float)
    assert sig["pnl"][0] in "+-" and sig["pnl"].endswith("%")
    assert isinstance(sig["timestamp"], dt.datetime) and sig["time"] == sig["timestamp"].strftime("%H:%M:%S")


@pytest.mark.parametrize("ema,vwap,rvol,strength", [
    (99.0, 98.0, 2.0, "Strong"),   # both confirmations + volume
    (99.0, 98.0, 1.0, "Medium"),   # both, no volume
    (99.0, 101.0, 2.0, "Medium"),  # one + volume
    (99.0, 101.0, 1.0, "Weak"),    # one
])
def test_long_entry_strength(ema, vwap, rvol, strength):
    s = RsiReversal()
    out = run(s, [(bar(0, 99, 100, 98, 99), vals(rsi=25)), (bar(1, 99, 100.5, 98.9, 100), vals(35, ema, vwap, 1.0, rvol))])
    assert out[0] == []
    (e,) = out[1]
    assert e.kind == "entry"
    check_entry(e.signal)
    assert e.signal["signal_type"] == "LONG" and e.signal["strength"] == strength and e.signal["price"] == "100.00"
    assert e.signal["signal"].startswith("RSI Oversold Reversal")
    assert e.signal["time"] == "10:02:00"  # the bar's close, New York time


def test_no_entry_without_confirmation_or_without_a_cross():
    s = RsiReversal()
    out = run(s, [(bar(0, 99, 100, 98, 99), vals(rsi=25)), (bar(1, 99, 100.5, 98.9, 100), vals(35, 101, 102))])
    assert out == [[], []]
    out = run(s, [(bar(0, 99, 100, 98, 99), vals(rsi=35)), (bar(1, 99, 100.5, 98.9, 100), vals(40, 90, 90))])
    assert out == [[], []]


def test_long_target_exit():
    s = RsiReversal()
    out = run(s, [(bar(0, 99, 100, 98, 99), vals(rsi=25)),
                  (bar(1, 99, 100.5, 98.9, 100), vals(35, 99, 98, 1.0, 2.0)),
                  (bar(2, 100, 102.5, 99.5, 102.2), vals(55, 100, 99, 1.0))])
    (x,) = out[2]
    check_exit(x.signal)
    assert x.signal["exit_type"] == "TARGET" and x.signal["urgency"] == "Normal"
    assert x.signal["price"] == "102.00" and x.signal["pnl"] == "+2.00%" and x.signal["pnl_value"] == pytest.approx(2.0)


def test_short_stop_exit():
    s = RsiReversal()
    out = run(s, [(bar(0, 101, 102, 100, 101), vals(rsi=75)),
                  (bar(1, 101, 101.2, 99.5, 100), vals(65, 101, 102, 1.0, 1.0)),
                  (bar(2, 100, 101.3, 99.8, 101.1), vals(70, 100.5, 101, 1.0))])
    (e,) = out[1]
    assert e.signal["signal_type"] == "SHORT" and e.signal["signal"].startswith("RSI Overbought Reversal")
    (x,) = out[2]
    check_exit(x.signal)
    assert x.signal["exit_type"] == "STOP" and x.signal["urgency"] == "Urgent"
    assert x.signal["pnl"] == "-1.00%" and x.signal["pnl_value"] == pytest.approx(-1.0)


def test_trailing_stop_exit():
    s = RsiReversal()
    out = run(s, [(bar(0, 99, 100, 98, 99), vals(rsi=25)),
                  (bar(1, 99, 100.5, 98.9, 100), vals(35, 99, 98, 1.0)),
                  (bar(2, 100, 101.5, 100, 101.4), vals(50, 100, 99, 1.0)),   # +1.4 ATR: trail armed at 99.9
                  (bar(3, 101.4, 101.4, 99.5, 99.8), vals(45, 100, 99, 1.0))])  # above the stop (99), below trail
    assert out[2] == []
    (x,) = out[3]
    check_exit(x.signal)
    assert x.signal["exit_type"] == "TRAIL" and x.signal["urgency"] == "Warning" and x.signal["pnl"] == "-0.20%"


def test_engine_one_signal_per_condition_per_bar_and_silent_warm_up():
    eng = SignalEngine()
    eng.reset("TEST")
    b0, b1 = bar(0, 99, 100, 98, 99), bar(1, 99, 100.5, 98.9, 100)
    v0, v1 = vals(rsi=25), vals(35, 99, 98, 1.0, 2.0)
    assert eng.on_bar(b0, v0, None, [b0]) == []
    first = eng.on_bar(b1, v1, v0, [b0, b1])
    assert [e.kind for e in first] == ["entry"]
    eng.strategies[0].position = None  # even if a strategy would fire again for the same bar...
    assert eng.on_bar(b1, v1, v0, [b0, b1]) == []  # ...the engine drops the repeat
    eng.reset("TEST")
    eng.warm_up([b0, b1], [v0, v1])  # history: builds state, emits nothing
    assert eng.strategies[0].position is not None
    assert eng.emitted == 1


def test_through_real_indicators_a_decline_then_reversal_fires_entry_then_exit():
    """Indicators + strategy together on a plain price path (no hand-made indicator values)."""
    bars = [bar(i, 110 - 0.5 * i + 0.5, 110 - 0.5 * i + 0.7, 110 - 0.5 * i - 0.2, 110 - 0.5 * i) for i in range(21)]
    bars.append(bar(21, 100, 104.2, 99.9, 104.0, 3000))   # reversal bar on volume
    bars.append(bar(22, 104, 110.0, 103.8, 109.5, 1500))  # runs to the target
    ind, eng = IndicatorSet("TEST"), SignalEngine()
    eng.reset("TEST")
    emitted, prev = [], None
    for b in bars:
        v = ind.commit(b)
        emitted += eng.on_bar(b, v, prev, bars)
        prev = v
    kinds = [(e.kind, e.signal.get("signal_type") or e.signal.get("exit_type")) for e in emitted]
    assert kinds == [("entry", "LONG"), ("exit", "TARGET")]
    check_entry(emitted[0].signal)
    check_exit(emitted[1].signal)


def test_strategies_are_pluggable():
    @register_strategy("always_long_once")
    class AlwaysLongOnce:
        name = "always_long_once"

        def reset(self, symbol):
            self.done = False

        def on_bar(self, ctx):
            if self.done:
                return []
            self.done = True
            return [Emission("entry", "first_bar", make_entry(ctx.symbol, ctx.when, "LONG", ctx.bar["close"],
                                                                "First bar", "Weak", "demo"))]

    assert "always_long_once" in strategies() and "rsi_reversal" in strategies()
    eng = SignalEngine(["rsi_reversal", "always_long_once"])
    eng.reset("TEST")
    out = eng.on_bar(bar(0, 1, 2, 1, 2), vals(), None, [])
    assert [e.condition for e in out] == ["first_bar"]
    check_entry(out[0].signal)
    with pytest.raises(ValueError, match="unknown strategy"):
        create_strategy("nope")
    eng2 = SignalEngine([])
    eng2.add(AlwaysLongOnce())
    assert len(eng2.on_bar(bar(0, 1, 2, 1, 2), vals(), None, [])) == 1


def test_context_bars_are_the_history_up_to_the_bar():
    seen: list[int] = []

    class Recorder:
        name = "recorder"

        def reset(self, symbol):
            pass

        def on_bar(self, ctx):
            seen.append(len(ctx.bars))
            assert ctx.bars[-1] is ctx.bar
            return []

    eng = SignalEngine([])
    eng.add(Recorder())
    bars = [bar(i, 1, 2, 1, 1.5) for i in range(5)]
    eng.warm_up(bars, [vals()] * 5)
    eng.on_bar(bars[-1], vals(), vals(), bars)
    assert seen == [1, 2, 3, 4, 5, 5]

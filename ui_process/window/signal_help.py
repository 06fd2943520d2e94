"""Why a signal fired: the trigger rule of each entry/exit, in words, for tooltips.

The texts restate ``ui_process.signal_engine.RsiReversal`` (the default
strategy) exactly, with its parameters read from a live instance so a changed
threshold changes the words too. A signal from another strategy gets its own
``signal``/``notes`` text only: the window never explains a rule it does not know.
"""

from __future__ import annotations

from typing import Any, Mapping

from ui_process.signal_engine import RsiReversal

_P = RsiReversal()


def entry_rule(signal_type: str, p: RsiReversal = _P) -> str:
    if signal_type == "LONG":
        return (f"LONG: on a finished 1-minute bar, RSI(14) crossed back up through {p.oversold:g} "
                f"(previous bar below {p.oversold:g}, this bar at or above it), and the close is above "
                "EMA(9) and/or above the session VWAP (from 04:00 New York).")
    return (f"SHORT: on a finished 1-minute bar, RSI(14) crossed back down through {p.overbought:g} "
            f"(previous bar above {p.overbought:g}, this bar at or below it), and the close is below "
            "EMA(9) and/or below the session VWAP (from 04:00 New York).")


def strength_rule(p: RsiReversal = _P) -> str:
    return (f"Strength: Strong = both confirmations (EMA9 and VWAP) and relative volume >= {p.strong_volume:g}x "
            f"the last 20 bars' average; Medium = both, or one with volume >= {p.strong_volume:g}x; "
            "Weak = one confirmation.")


def exit_rule(exit_type: str, p: RsiReversal = _P) -> str:
    return {
        "STOP": (f"STOP (Urgent): the bar's range reached the stop, {p.stop_atr:g} ATR(14) against the entry "
                 "price (ATR at entry). Checked before the target, so a bar touching both is a stop."),
        "TARGET": (f"TARGET (Normal): the bar's range reached {p.target_atr:g} ATR(14) in favour of the entry."),
        "TRAIL": (f"TRAIL (Warning): once the best close was {p.trail_after_atr:g} ATR in profit, a close fell "
                  f"back {p.trail_atr:g} ATR from that best close."),
    }.get(exit_type, f"{exit_type}: exit by the strategy's own rule.")


def explain(sig: Mapping[str, Any]) -> str:
    """Tooltip text for one EntrySignal / ExitSignal dict."""
    known = "RSI" in str(sig.get("signal", "")) or sig.get("exit_type") in ("STOP", "TARGET", "TRAIL")
    lines: list[str] = []
    if "exit_type" in sig:
        if known:
            lines.append(exit_rule(str(sig.get("exit_type"))))
        lines.append(f"Fired: {sig.get('signal', '')}")
        if sig.get("pnl") not in (None, ""):
            lines.append(f"P&L at the exit price: {sig.get('pnl')}")
    else:
        if known:
            lines += [entry_rule(str(sig.get("signal_type"))), strength_rule()]
        lines.append(f"Fired: {sig.get('signal', '')} — {sig.get('strength', '')}")
        if sig.get("notes"):
            lines.append(str(sig["notes"]))
    lines.append("Signals are decided on finished bars only; they are not trading advice.")
    return "\n".join(lines)


def trigger_list() -> list[str]:
    """The rules as a list (the USER_GUIDE section is written from this)."""
    return [entry_rule("LONG"), entry_rule("SHORT"), strength_rule(),
            exit_rule("STOP"), exit_rule("TARGET"), exit_rule("TRAIL")]

"""Trading signal models: the seed's EntrySignal and ExitSignal dicts.

The keys and value types are the public API of the original module and are
kept exactly: prices travel as *strings* ('150.25'), ``pnl`` is a signed
percent string ('+0.83%') beside the numeric ``pnl_value``, ``timestamp`` is a
``datetime`` (timezone-aware, America/New_York) and ``time`` its HH:MM:SS.
Builders here are the one way to make them, so every strategy emits the same
shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypedDict

__all__ = ["EntrySignal", "ExitSignal", "make_entry", "make_exit", "format_pnl",
           "ENTRY_KEYS", "EXIT_KEYS", "SIGNAL_TYPES", "STRENGTHS", "EXIT_TYPES", "URGENCIES"]

SIGNAL_TYPES = ("LONG", "SHORT")
STRENGTHS = ("Strong", "Medium", "Weak")
EXIT_TYPES = ("TARGET", "STOP", "TRAIL")
URGENCIES = ("Urgent", "Warning", "Normal")


class EntrySignal(TypedDict):
    time: str
    signal_type: Literal["LONG", "SHORT"]
    price: str
    signal: str
    strength: Literal["Strong", "Medium", "Weak"]
    notes: str
    timestamp: datetime
    symbol: str


class ExitSignal(TypedDict):
    time: str
    exit_type: Literal["TARGET", "STOP", "TRAIL"]
    price: str
    pnl: str
    signal: str
    urgency: Literal["Urgent", "Warning", "Normal"]
    timestamp: datetime
    symbol: str
    pnl_value: float


ENTRY_KEYS = frozenset(EntrySignal.__annotations__)
EXIT_KEYS = frozenset(ExitSignal.__annotations__)


def _price(p: float) -> str:
    return f"{p:.2f}" if p >= 1 else f"{p:.4f}"


def format_pnl(pct: float) -> str:
    """+0.83% style, sign always shown."""
    return f"{pct:+.2f}%"


def make_entry(symbol: str, when: datetime, signal_type: str, price: float, signal: str,
               strength: str, notes: str = "") -> EntrySignal:
    if signal_type not in SIGNAL_TYPES:
        raise ValueError(f"signal_type must be one of {SIGNAL_TYPES}, got {signal_type!r}")
    if strength not in STRENGTHS:
        raise ValueError(f"strength must be one of {STRENGTHS}, got {strength!r}")
    return {"time": when.strftime("%H:%M:%S"), "signal_type": signal_type, "price": _price(price),
            "signal": signal, "strength": strength, "notes": notes, "timestamp": when, "symbol": symbol}


def make_exit(symbol: str, when: datetime, exit_type: str, price: float, pnl_pct: float, signal: str,
              urgency: str, pnl_value: float) -> ExitSignal:
    if exit_type not in EXIT_TYPES:
        raise ValueError(f"exit_type must be one of {EXIT_TYPES}, got {exit_type!r}")
    if urgency not in URGENCIES:
        raise ValueError(f"urgency must be one of {URGENCIES}, got {urgency!r}")
    return {"time": when.strftime("%H:%M:%S"), "exit_type": exit_type, "price": _price(price),
            "pnl": format_pnl(pnl_pct), "signal": signal, "urgency": urgency, "timestamp": when,
            "symbol": symbol, "pnl_value": float(pnl_value)}

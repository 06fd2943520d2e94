"""Flags of ``live-monitor sim`` (Qt-free, import-light: ``--help`` stays fast)."""

from __future__ import annotations

import argparse

from shared.cli import positive_float, positive_int
from shared.models.market_data import normalize_symbol


def _hhmm(v: str) -> str:
    parts = v.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > 23 or int(parts[1]) > 59:
        raise argparse.ArgumentTypeError(f"expected HH:MM (New York time), got {v!r}")
    return v


def _tickers(v: str) -> str:
    """``AAPL,bacPL``-style lists by the project's one ticker rule (``normalize_symbol``: ``aapl`` ->
    ``AAPL``, ``BACpL`` stays ``BACpL``); a bad one is a one-line usage error, not a silent no-op."""
    try:
        return ",".join(normalize_symbol(s) for s in v.split(",") if s.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_sim_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulator")
    g.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    g.add_argument("--port", type=int, default=8200, help="port; 0 = any free port (default 8200)")
    g.add_argument("--listen-fd", type=int, default=None, metavar="FD",
                   help="serve on this inherited listening socket instead of binding --host/--port "
                        "(the supervisor's: it starts the feed beside the simulator)")
    g.add_argument("--warm", type=_tickers, default="", metavar="SYM,SYM",
                   help="catch these symbols up to the clock at once, before anyone subscribes "
                        "(the desktop's chart symbols; the tape is the same either way)")
    g.add_argument("--seed", type=int, default=None,
                   help="synthetic market seed (same seed, same tape; default: a fresh one each launch, "
                        "logged and shown in /sim/status)")
    g.add_argument("--replay", metavar="FILE", help="replay a recorded file (one Polygon event per line, gzip or plain)")
    sp = g.add_mutually_exclusive_group()
    sp.add_argument("--speed", type=positive_float, default=1.0,
                    help="clock speed multiplier (default 1; another speed implies a virtual session)")
    sp.add_argument("--max", action="store_true", help="replay as fast as the client reads")
    g.add_argument("--loop", action="store_true", help="replay: start over at the end")
    g.add_argument("--keep-time", action="store_true",
                   help="replay: keep original timestamps (default: shift to the latest session day)")
    g.add_argument("--key", metavar="K", default=None,
                   help="require this Polygon API key (default: any key is accepted)")
    g.add_argument("--clock", choices=["auto", "wall", "virtual", "real", "sim"], default="auto",
                   help="auto (default): the wall clock while the NYSE is open, else a virtual session "
                        "(--start on the latest session day, at --speed); wall / virtual force one "
                        "(real / sim: older names)")
    g.add_argument("--start", type=_hhmm, default=None,
                   help="virtual session start, New York time (default 10:00; implies a virtual session)")
    g.add_argument("--rate", type=positive_float, default=None, metavar="N",
                   help="load test: target N events/s across subscribed symbols")
    g.add_argument("--frame-events", type=positive_int, default=None, metavar="N",
                   help="events per Polygon data frame, at most (default 1000; real frames for a few "
                        "symbols carry 1-20)")
    g.add_argument("--symbols-hint", nargs="*", type=_tickers, default=[], metavar="SYM",
                   help="symbols served to wildcard subscriptions (T.*); default AAPL MSFT NVDA TSLA SPY")
    f = p.add_argument_group("fault injection (also POST /sim/fault)")
    d = f.add_mutually_exclusive_group()
    d.add_argument("--drop-after", type=int, metavar="N", help="drop each connection after N events")
    d.add_argument("--drop-every", type=positive_float, metavar="T", help="drop each connection every T seconds")
    f.add_argument("--stall-after", type=int, metavar="N", help="stop sending (socket stays open) after N events")
    f.add_argument("--malformed-every", type=int, metavar="N", help="send a malformed frame every N frames")
    f.add_argument("--max-connections", type=int, metavar="N",
                   help="answer max_connections beyond N open connections per protocol")
    f.add_argument("--close-1011-after", type=int, metavar="N", help="close with code 1011 after N events")

"""Flags of ``live-monitor ui`` (Qt-free, so ``--help`` never imports Qt)."""

from __future__ import annotations

import argparse

from shared.market.timeframes import TIMEFRAMES


def _seconds(v: str) -> float:
    try:
        f = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {v!r}") from None
    if not (0 <= f <= 3600):
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, got {v}")
    return f


def add_ui_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("ui")
    g.add_argument("--symbol", metavar="S", default=None,
                   help="symbol to open (default: the last one used, else the first of `symbols`)")
    g.add_argument("--screenshot", metavar="FILE", default=None,
                   help="render the window offscreen once it has data, write a PNG and exit")
    g.add_argument("--after", metavar="SECONDS", type=_seconds, default=1.0,
                   help="with --screenshot: seconds to wait after the first full chart refresh (default 1)")
    g.add_argument("--timeout", metavar="SECONDS", type=_seconds, default=20.0,
                   help="with --screenshot: give up when no data arrived within this time (default 20)")
    g.add_argument("--size", metavar="WxH", default="1600x1000",
                   help="with --screenshot: window size in pixels (default 1600x1000)")
    g.add_argument("--timeframe", metavar="TF", default=None,
                   choices=TIMEFRAMES,
                   help="chart timeframe to open with: 1m 2m 5m 15m 30m 1h 4h D (default: the last one used)")
    g.add_argument("--light", action="store_true", help="light theme instead of the default dark one")
    g.add_argument("--curve-dir", dest="curve_dir", metavar="DIR", default=None,
                   help="CURVE keys (server.key, client.key_secret) for a remote feed that requires them")
    g.add_argument("--spare", action="store_true", help=argparse.SUPPRESS)  # supervisor.core: a spare window
    g.add_argument("--no-restore", dest="no_restore", action="store_true",
                   help="ignore the saved layout and geometry")

"""Flags of ``live-monitor feed``, ``tap``, ``status`` and ``record`` (Qt-free, import-light).

A flag whose ``dest`` names a setting (``shared.config.FIELDS``) overrides the
environment and the config file; the others are read by the run functions.
Defaults are ``None`` so an unset flag never overrides a configured value.
"""

from __future__ import annotations

import argparse

from shared.cli import positive_float, positive_int


def add_feed_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("feed")
    g.add_argument("--insecure", action="store_true", default=None,
                   help="allow binding a non-loopback address without CURVE encryption")
    g.add_argument("--curve-dir", dest="curve_dir", metavar="DIR", default=None,
                   help="CURVE keys: server.key_secret (+ authorized_clients/) for non-loopback binds")
    g.add_argument("--client-id", dest="client_id", metavar="ID", default=None, help="client id on the relay path")
    g.add_argument("--rest-url", dest="rest_url", metavar="URL", default=None,
                   help="history REST base URL (default: derived from the upstream URL)")
    g.add_argument("--max-reconnect-attempts", dest="max_reconnect_attempts", type=int, metavar="N", default=None,
                   help="consecutive failed connects before giving up (0 = forever; default 10)")
    g.add_argument("--reconnect-delay", dest="reconnect_delay", type=float, metavar="S", default=None,
                   help="first reconnect delay in seconds (doubles up to --max-reconnect-delay)")
    g.add_argument("--max-reconnect-delay", dest="max_reconnect_delay", type=float, metavar="S", default=None,
                   help="reconnect delay cap in seconds (default 30)")
    g.add_argument("--stall-timeout", dest="no_data_threshold", type=float, metavar="S", default=None,
                   help="silence (while subscribed and the market is active) that forces a reconnect (default 30)")
    g.add_argument("--auth-retry-delay", dest="auth_retry_delay", type=positive_float, metavar="S", default=300.0,
                   help="wait after auth_failed before trying again (default 300)")
    g.add_argument("--busy-retry-delay", dest="busy_retry_delay", type=positive_float, metavar="S", default=60.0,
                   help="wait after max_connections before trying again (default 60)")
    g.add_argument("--hwm", dest="sndhwm", type=positive_int, metavar="N", default=None,
                   help="data messages queued per subscriber before the feed drops for it (default 1000)")
    g.add_argument("--channels", dest="channels", metavar="CODES", default=None,
                   help="upstream channels: T,Q,AM (default) plus A, LULD (bands and halts), NOI")
    g.add_argument("--upstream-transport", dest="upstream_transport", metavar="LIB",
                   default=None, help="upstream WebSocket library: picows (default) or websockets (portable)")
    g.add_argument("--no-backfill", dest="backfill", action="store_false", default=True,
                   help="don't load minute-bar history on first subscribe")
    g.add_argument("--history-db", dest="history_db", metavar="FILE", default=None,
                   help="history store file (default: history.sqlite3 in the user data dir; 'off' = none)")
    g.add_argument("--history-days", dest="history_days", type=int, metavar="N", default=None,
                   help="days of bars the history store keeps (default 30)")
    g.add_argument("--rest-rate", dest="rest_rate", metavar="N/PERIOD", default=None,
                   help="REST requests allowed, e.g. 5/min, 100/s, unlimited (default: 5/min on Polygon)")
    g.add_argument("--store-flush", dest="store_flush", type=float, metavar="S", default=None,
                   help=argparse.SUPPRESS)  # seconds between history-store writes (tests)


def add_feed_client_flags(p: argparse.ArgumentParser) -> None:
    """How a command reaches a running feed: its answer timeout and, for a remote feed, the CURVE keys."""
    p.add_argument("--timeout", type=float, metavar="S", default=3.0,
                   help="seconds to wait for the feed to answer (default 3)")
    p.add_argument("--curve-dir", dest="curve_dir", metavar="DIR", default=None,
                   help="CURVE keys for a remote feed: server.key and client.key_secret")


def _add_subscriber_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("symbols", nargs="+", metavar="SYMBOL", help="symbols to watch (e.g. AAPL BRK.B)")
    p.add_argument("--channels", default="T,Q,AM", metavar="CODES",
                   help="event codes to show: T, Q, AM, A, LULD, NOI (default T,Q,AM)")
    p.add_argument("--count", type=positive_int, metavar="N", default=None, help="stop after N events")
    p.add_argument("--duration", type=positive_float, metavar="S", default=None, help="stop after S seconds")
    add_feed_client_flags(p)


def add_tap_arguments(p: argparse.ArgumentParser) -> None:
    _add_subscriber_flags(p)
    p.add_argument("--json", action="store_true", help="one seed-format dict per line (TradeData/QuoteData/...)")
    p.add_argument("--record", metavar="FILE", default=None,
                   help="also write the events as a replay file (one Polygon event per line; .gz = gzip)")


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    _add_subscriber_flags(p)
    p.add_argument("--out", required=True, metavar="FILE",
                   help="replay file to write (one Polygon event per line; .gz = gzip)")


def add_status_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="the status reply as JSON")
    add_feed_client_flags(p)


def add_bars_arguments(p: argparse.ArgumentParser) -> None:
    from shared.market.timeframes import HOUR_ANCHORS, TIMEFRAMES

    p.add_argument("symbol", metavar="SYMBOL", help="the symbol (e.g. AAPL)")
    p.add_argument("--timeframe", default="1m", choices=TIMEFRAMES, metavar="TF",
                   help=f"bar size: {' '.join(TIMEFRAMES)} (default 1m; aggregated from the feed's minute bars)")
    p.add_argument("--hour-anchor", dest="hour_anchor", default="open", choices=HOUR_ANCHORS,
                   help="1h/4h buckets from 09:30 (open, default) or on the clock hour (clock)")
    p.add_argument("--no-forming", dest="forming", action="store_false", default=True,
                   help="leave out the bar still forming")
    p.add_argument("--json", action="store_true", help="one bar dict per line (the snapshot's aggregate dicts)")
    add_feed_client_flags(p)


def add_history_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "export", "prune"),
                   help="list: sources, symbols, ranges, counts; export: CSV / Parquet; prune: drop old bars")
    p.add_argument("--history-db", dest="history_db", metavar="FILE", default=None,
                   help="the store file (default: history.sqlite3 in the user data dir)")
    p.add_argument("--symbol", default=None, help="export: only this symbol")
    p.add_argument("--source", default=None, help="export / prune: only this source (simulated, replay, live, ...)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="export: write FILE (.parquet = Parquet, needs pyarrow; else CSV); default CSV on stdout")
    p.add_argument("--days", type=int, default=None, metavar="N",
                   help="prune: keep N days before each source's newest bar (0 = delete everything)")
    p.add_argument("--json", action="store_true", help="list: as JSON")

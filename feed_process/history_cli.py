"""``live-monitor bars SYMBOL`` and ``live-monitor history list|export|prune``.

Why here, and thin
------------------
* ``bars`` prints what the feed serves: it asks the feed for the symbol's
  snapshot (the one request client, :func:`.tools.ask`: an absent feed is one
  line, exit 1) and aggregates with :func:`shared.market.timeframes.aggregate`,
  the chart's own aggregator (the D timeframe takes the snapshot's
  ``day_bars``), so what a user exports and what a test compares is what the
  window draws. A symbol the feed does not watch yet is subscribed for a moment
  (a SUB on its topic) so the feed loads its history; ``bars`` waits for the
  backfill to settle (``pending``/``queued`` -> ``done``/``failed``) up to
  ``--timeout``.
* ``history`` reads the store file directly (:mod:`.store`; WAL lets it read
  while a feed writes). ``prune`` is the one other writer (a short
  transaction; the feed waits for it through ``busy_timeout``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sqlite3
import sys
import time

import orjson
import zmq

from shared.cli import UserError
from shared.config import Settings
from shared.market.timeframes import aggregate
from shared.market_hours import NY
from shared.models import wire
from shared.models.market_data import normalize_symbol
from shared.zmq_client import apply_curve, data_endpoint

from .store import HistoryStore, StoreError, resolve_path
from .tools import ask

COLUMNS = ("source", "target", "symbol", "timeframe", "timestamp", "time_et", "open", "high", "low", "close",
           "volume", "vwap", "transactions", "kind")


# ------------------------------------------------------------------ bars


def _settled(settings: Settings, sym: str, timeout: float, ctx: zmq.Context) -> bool:
    """Is ``sym`` watched by the feed with its history settled (done, failed, or no backfill)?"""
    info = (ask(settings, wire.status_request(), timeout, ctx).get("symbols") or {}).get(sym)
    return isinstance(info, dict) and info.get("backfill") in ("done", "failed", "none")


def _snapshot(settings: Settings, sym: str, timeout: float) -> dict:
    ctx = zmq.Context.instance()
    hello = ask(settings, wire.hello_request(client="bars"), timeout, ctx)
    if not _settled(settings, sym, timeout, ctx):
        # Not watched (or history still loading): hold a subscription until the backfill settles.
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        apply_curve(sub, settings.curve_dir)
        sub.connect(data_endpoint(hello.get("data") or "", settings.feed))
        sub.setsockopt(zmq.SUBSCRIBE, wire.topic_for(sym))
        t_end = time.monotonic() + timeout
        try:
            while time.monotonic() < t_end and not _settled(settings, sym, timeout, ctx):
                if sub.poll(100):
                    while sub.poll(0):
                        sub.recv_multipart()
            return ask(settings, wire.snapshot_request(sym), timeout, ctx)
        finally:
            sub.close(linger=0)
    return ask(settings, wire.snapshot_request(sym), timeout, ctx)


def _line(b: dict) -> str:
    t = dt.datetime.fromtimestamp(b["timestamp"] / 1000, NY).strftime("%Y-%m-%d %H:%M")
    vw = b.get("vwap")
    return (f"{t} ET  o={b['open']:<10g} h={b['high']:<10g} l={b['low']:<10g} c={b['close']:<10g} "
            f"v={b['volume']:<10} vw={vw if vw is None else round(vw, 4)}" + ("  (forming)" if b.get("forming") else "")
            + ("  provisional" if b.get("provisional") and not b.get("forming") else ""))


def feed_bars(snap: dict, tf: str, hour_anchor: str = "open", forming: bool = True) -> list[dict]:
    """The snapshot's bars at ``tf`` (the chart's aggregator); the forming bar last, marked ``forming``."""
    sym = snap.get("symbol", "")
    minutes = list(snap.get("bars") or [])
    f = snap.get("forming") if forming else None
    if f:
        minutes.append(dict(f, provisional=True, forming=True))
    out = aggregate(minutes, tf, sym, hour_anchor=hour_anchor, day_bars=snap.get("day_bars") or None) \
        if tf != "1m" else [dict(b, timeframe="1m") for b in minutes]
    if f and out and tf != "1m":
        out[-1]["forming"] = out[-1]["timestamp"] <= f["timestamp"]
    return out


def run_bars(args: argparse.Namespace, settings: Settings) -> int:
    try:
        sym = normalize_symbol(args.symbol)
    except ValueError as e:
        raise UserError(str(e), 2) from None
    snap = _snapshot(settings, sym, args.timeout)
    bars = feed_bars(snap, args.timeframe, args.hour_anchor, args.forming)
    out = sys.stdout
    if args.json:
        for b in bars:
            out.write(orjson.dumps(b).decode() + "\n")
    else:
        bf = snap.get("backfill") or {}
        print(f"# {sym} {args.timeframe}: {len(bars)} bars from {settings.feed} (source {snap.get('source')}, "
              f"history {bf.get('state')}{': ' + bf['message'] if bf.get('message') else ''})", file=sys.stderr)
        for b in bars:
            out.write(_line(b) + "\n")
    out.flush()
    return 0


# ------------------------------------------------------------------ history


def _open(settings: Settings) -> HistoryStore:
    path = resolve_path(settings.history_db)
    if path is None:
        raise UserError("history_db is 'off': there is no history store", 2)
    try:
        return HistoryStore(path, create=False)
    except StoreError as e:
        raise UserError(str(e)) from None


def _et(ms: int | None) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, NY).strftime("%Y-%m-%d %H:%M") if ms else "-"


def _list(store: HistoryStore, as_json: bool) -> None:
    rows = store.summary()
    if as_json:
        sys.stdout.write(orjson.dumps({"path": str(store.path), "series": rows}, option=orjson.OPT_INDENT_2).decode()
                         + "\n")
        return
    print(f"# {store.path}")
    if not rows:
        print("(empty)")
    for r in rows:
        print(f"{r['source']:<10} {r['target'][:40]:<40} {r['symbol']:<8} {r['timeframe']:<2} "
              f"{_et(r['first_ms'])} .. {_et(r['last_ms'])} ET  {r['count']} bars")


def _export(store: HistoryStore, args: argparse.Namespace) -> int:
    rows = store.rows(args.symbol and normalize_symbol(args.symbol), args.source)
    out = args.out
    if out and out.endswith(".parquet"):
        try:
            import pyarrow as pa  # type: ignore[import-not-found]
            import pyarrow.parquet as pq  # type: ignore[import-not-found]
        except ImportError:
            raise UserError("Parquet export needs pyarrow (pip install pyarrow); or use --out FILE.csv", 2) from None
        data = list(rows)
        pq.write_table(pa.Table.from_pylist(data) if data else pa.table({c: [] for c in COLUMNS}), out)
        print(f"# {len(data)} bars -> {out} (Parquet)", file=sys.stderr)
        return 0
    try:
        fh = open(out, "w", newline="") if out else sys.stdout
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    n = 0
    try:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow(r)
            n += 1
    finally:
        if out:
            fh.close()
    if out:
        print(f"# {n} bars -> {out} (CSV)", file=sys.stderr)
    return 0


def run_history(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "prune" and args.days is None:
        raise UserError("prune needs --days N (bars older than N days before each source's newest are deleted)", 2)
    if args.action != "prune" and args.days is not None:
        raise UserError("--days is for prune", 2)
    if args.action != "export" and (args.out or args.symbol):
        raise UserError("--out and --symbol are for export", 2)
    store = _open(settings)
    try:
        if args.action == "list":
            _list(store, args.json)
        elif args.action == "export":
            return _export(store, args)
        else:
            m, d = store.prune(args.days, args.source)
            print(f"pruned {m} minute bars and {d} day bars (kept {args.days} days"
                  f"{' of ' + args.source if args.source else ''})")
    except ValueError as e:  # a bad --symbol
        raise UserError(str(e), 2) from None
    except sqlite3.Error as e:
        raise UserError(f"history store {store.path}: {e}") from None
    finally:
        store.close()
    return 0

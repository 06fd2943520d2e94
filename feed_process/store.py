"""The local history store: minute and day bars per (source, symbol) in one SQLite file.

Why it looks like this
----------------------
* **stdlib sqlite3, WAL, synchronous=NORMAL, one writer (the feed)**: readers
  (``live-monitor history``) never block the feed and the feed never waits on
  a reader; a ``kill -9`` loses at most the last transaction, never the file
  (every write is one transaction; the tests SIGKILL a feed mid-burst and run
  ``PRAGMA integrity_check``). NORMAL in WAL mode can lose the last commits on
  a power cut, which only means asking the upstream for them again.
* **A source is (label, target)**: the upstream's source label (``simulated``,
  ``replay``, ``live``, ``delayed``) *and* the upstream it came from (``sim``,
  ``polygon``, a relay's redacted URL), so simulated, replayed and live bars,
  or two relays, never mix. Rows carry a small source id (table ``sources``).
* **Only finished bars.** ``level`` is the market core's merge level
  (:mod:`shared.market.history`: 0 provisional = built by the feed from trades
  once its minute is over, 1 backfill = REST, 2 official = the upstream's AM).
  A write replaces a stored bar unless that one is more official - the same
  rule as ``BarHistory.put`` (``WHERE excluded.level >= level``), so an official
  bar replaces a provisional one and never the other way round. Day bars are
  the upstream's day aggregates of *finished* days (the current day forms from
  its minutes).
* **Versioned** (``PRAGMA user_version``): a file from a newer build is refused
  with one line, never rewritten. **Bounded**: :meth:`HistoryStore.prune` keeps
  ``days`` days before the newest bar *of the same source* (a replay of a June
  session is not pruned away because the calendar moved on).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Iterator

from shared.paths import data_dir
from shared.market.timeframes import day_date
from shared.market_hours import NY

SCHEMA = 1
FILENAME = "history.sqlite3"
DAY_MS = 86_400_000
KINDS = {0: "provisional", 1: "backfill", 2: "official"}

_DDL = """
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, label TEXT NOT NULL, target TEXT NOT NULL, UNIQUE (label, target));
CREATE TABLE IF NOT EXISTS minute_bars (
    src INTEGER NOT NULL, symbol TEXT NOT NULL, start INTEGER NOT NULL,
    o REAL NOT NULL, h REAL NOT NULL, l REAL NOT NULL, c REAL NOT NULL, v INTEGER NOT NULL,
    vw REAL, n INTEGER, level INTEGER NOT NULL, PRIMARY KEY (src, symbol, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS day_bars (
    src INTEGER NOT NULL, symbol TEXT NOT NULL, day TEXT NOT NULL, start INTEGER NOT NULL,
    o REAL NOT NULL, h REAL NOT NULL, l REAL NOT NULL, c REAL NOT NULL, v INTEGER NOT NULL,
    vw REAL, n INTEGER, PRIMARY KEY (src, symbol, day)) WITHOUT ROWID;
"""
_PUT_MINUTE = """INSERT INTO minute_bars VALUES (?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (src, symbol, start) DO UPDATE SET o=excluded.o, h=excluded.h, l=excluded.l, c=excluded.c,
    v=excluded.v, vw=excluded.vw, n=excluded.n, level=excluded.level WHERE excluded.level >= minute_bars.level"""
_PUT_DAY = "INSERT OR REPLACE INTO day_bars VALUES (?,?,?,?,?,?,?,?,?,?,?)"


class StoreError(Exception):
    """The store cannot be used; the message is one line for the user."""


def default_path() -> Path:
    return data_dir() / FILENAME


def resolve_path(setting: str) -> Path | None:
    """The store's file from the ``history_db`` setting ('' = default, 'off' = none)."""
    if setting.strip().lower() in ("off", "none", "no"):
        return None
    return Path(setting).expanduser() if setting else default_path()


class HistoryStore:
    def __init__(self, path: Path | str, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no history store at {self.path}")
        try:
            if create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout = 5000")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA:
                self.db.close()
                raise StoreError(f"{self.path} was written by a newer Live Monitor (schema {version}, "
                                 f"this build reads {SCHEMA}); use another history_db")
            if version < SCHEMA:
                with self._tx():
                    for stmt in _DDL.split(";"):
                        if stmt.strip():
                            self.db.execute(stmt)
                    self.db.execute(f"PRAGMA user_version = {SCHEMA}")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open the history store {self.path}: {e}") from None
        except OSError as e:
            raise StoreError(f"cannot create the history store {self.path}: {e.strerror or e}") from None
        self._ids: dict[tuple[str, str], int] = {}
        self.writes = 0      # rows written, for status
        self.errors = 0

    # ------------------------------------------------------------ plumbing

    def _tx(self):
        return _Tx(self.db)

    def close(self) -> None:
        try:
            self.db.close()
        except sqlite3.Error:
            pass

    def source_id(self, label: str, target: str, create: bool = True) -> int | None:
        k = (label, target)
        sid = self._ids.get(k)
        if sid is None:
            row = self.db.execute("SELECT id FROM sources WHERE label=? AND target=?", k).fetchone()
            if row is None and create:
                with self._tx():
                    self.db.execute("INSERT OR IGNORE INTO sources (label, target) VALUES (?, ?)", k)
                row = self.db.execute("SELECT id FROM sources WHERE label=? AND target=?", k).fetchone()
            if row is None:
                return None
            sid = self._ids[k] = row[0]
        return sid

    # ------------------------------------------------------------ the feed's writes and reads

    def put_minutes(self, src: int, symbol: str, rows: list[list]) -> int:
        """Rows ``[start, o, h, l, c, v, vwap, n, level]`` in one transaction; return how many were offered."""
        data = [(src, symbol, r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], r[8]) for r in rows
                if r[1] is not None]
        if data:
            with self._tx():
                self.db.executemany(_PUT_MINUTE, data)
            self.writes += len(data)
        return len(data)

    def put_days(self, src: int, symbol: str, rows: list[list]) -> int:
        """Finished day bars ``[start, o, h, l, c, v, vwap, n]`` (start: any time of that New York date)."""
        data = [(src, symbol, day_date(r[0]), r[0], r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7]) for r in rows]
        if data:
            with self._tx():
                self.db.executemany(_PUT_DAY, data)
            self.writes += len(data)
        return len(data)

    def load_minutes(self, src: int, symbol: str, limit: int) -> list[list]:
        """The latest ``limit`` minute rows ``[start, o, h, l, c, v, vwap, n, level]``, oldest first."""
        cur = self.db.execute("SELECT start, o, h, l, c, v, vw, n, level FROM minute_bars WHERE src=? AND symbol=? "
                              "ORDER BY start DESC LIMIT ?", (src, symbol, limit))
        return [list(r) for r in reversed(cur.fetchall())]

    def load_days(self, src: int, symbol: str, limit: int = 400) -> list[list]:
        """The latest ``limit`` day rows ``[start, o, h, l, c, v, vwap, n]``, oldest first."""
        cur = self.db.execute("SELECT start, o, h, l, c, v, vw, n FROM day_bars WHERE src=? AND symbol=? "
                              "ORDER BY day DESC LIMIT ?", (src, symbol, limit))
        return [list(r) for r in reversed(cur.fetchall())]

    # ------------------------------------------------------------ upkeep (feed start, daily; the CLI)

    def prune(self, days: int, label: str | None = None) -> tuple[int, int]:
        """Keep ``days`` days before each source's newest bar; return (minute rows, day rows) deleted."""
        cut = days * DAY_MS
        ids = [r[0] for r in self.db.execute("SELECT id FROM sources" + (" WHERE label=?" if label else ""),
                                             (label,) if label else ())]
        gone_m = gone_d = 0
        with self._tx():
            for sid in ids:
                gone_m += self.db.execute(
                    "DELETE FROM minute_bars WHERE src=?1 AND start < "
                    "(SELECT MAX(start) FROM minute_bars WHERE src=?1) - ?2 + ?3",
                    (sid, cut, 0 if days else 1)).rowcount
                gone_d += self.db.execute(
                    "DELETE FROM day_bars WHERE src=?1 AND start < "
                    "(SELECT MAX(start) FROM day_bars WHERE src=?1) - ?2 + ?3",
                    (sid, cut, 0 if days else 1)).rowcount
        return gone_m, gone_d

    def summary(self) -> list[dict]:
        """One dict per (source, symbol, timeframe): first and last bar times, count."""
        out = []
        q = ("SELECT s.label, s.target, b.symbol, MIN(b.start), MAX(b.start), COUNT(*) FROM {t} b "
             "JOIN sources s ON s.id = b.src GROUP BY b.src, b.symbol ORDER BY s.label, s.target, b.symbol")
        for tf, table in (("1m", "minute_bars"), ("D", "day_bars")):
            for label, target, sym, first, last, n in self.db.execute(q.format(t=table)):
                out.append({"source": label, "target": target, "symbol": sym, "timeframe": tf, "first_ms": first,
                            "last_ms": last, "count": n})
        return out

    def rows(self, symbol: str | None = None, label: str | None = None) -> Iterator[dict]:
        """Every stored bar (minute, then day), for an export."""
        where, args = ["1=1"], []
        if symbol:
            where.append("b.symbol = ?")
            args.append(symbol)
        if label:
            where.append("s.label = ?")
            args.append(label)
        w = " AND ".join(where)
        for tf, table, lvl in (("1m", "minute_bars", "b.level"), ("D", "day_bars", "1")):
            cur = self.db.execute(f"SELECT s.label, s.target, b.symbol, b.start, b.o, b.h, b.l, b.c, b.v, b.vw, b.n, "
                                  f"{lvl} FROM {table} b JOIN sources s ON s.id = b.src WHERE {w} "
                                  f"ORDER BY s.label, s.target, b.symbol, b.start", args)
            for label_, target, sym, start, o, h, lo, c, v, vw, n, level in cur:
                yield {"source": label_, "target": target, "symbol": sym, "timeframe": tf, "timestamp": start,
                       "time_et": dt.datetime.fromtimestamp(start / 1000, NY).isoformat(), "open": o, "high": h,
                       "low": lo, "close": c, "volume": v, "vwap": vw, "transactions": n,
                       "kind": KINDS.get(level, str(level))}

    def integrity(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on an exception): one write, all or nothing."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def open_store(setting: str) -> HistoryStore | None:
    """The feed's store from the setting (None when 'off'); StoreError when it cannot be used."""
    path = resolve_path(setting)
    return None if path is None else HistoryStore(path)


__all__ = ["HistoryStore", "StoreError", "open_store", "resolve_path", "default_path", "SCHEMA", "KINDS"]

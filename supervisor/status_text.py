"""The text of ``live-monitor status``: what a trader reads when something looks wrong.

Why it looks like this
----------------------
* **Times in New York time, with the zone named** (``09:31:02 ET``): the market
  runs on that clock whatever the desk's own zone is, and a bare ``09:31:02``
  is ambiguous. An age is added where it helps ("last event 3 s ago").
* **Windows under the symbol they show**: the supervisor's report carries each
  window's current symbol (the window reports its switches,
  ``shared.supervisor_client.report_symbol``), so "which window is stuck on what"
  is one glance. Windows whose symbol the feed doesn't serve (yet) are listed
  too, marked, so a missing subscription shows.
* Pure: a status dict in, text out (``feed_process/tools.py`` prints it; the
  ``--json`` form is the raw dict).
"""

from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")


def et_time(ms: float | None, now_ms: float | None = None) -> str:
    """``09:31:02 ET``; older than a day: ``2026-01-02 09:31:02 ET``; ``-`` when unknown."""
    if not ms:
        return "-"
    d = dt.datetime.fromtimestamp(ms / 1000, NY)
    now = dt.datetime.fromtimestamp((now_ms if now_ms is not None else time.time() * 1000) / 1000, NY)
    return d.strftime("%H:%M:%S ET" if d.date() == now.date() else "%Y-%m-%d %H:%M:%S ET")


def _age(ms: float | None, now_ms: float) -> str:
    if not ms:
        return ""
    s = max(0.0, (now_ms - ms) / 1000)
    return f" ({s:.0f} s ago)" if s < 3600 else ""


def _child(c: dict, now_ms: float) -> str:
    started = c.get("started_at")
    since = f" since {et_time(started * 1000, now_ms)}" if isinstance(started, (int, float)) and started else ""
    return (f"{c.get('name')} pid={c.get('pid')} {c.get('state')} cpu={c.get('cpu_percent', '-')}% "
            f"rss={c.get('rss_mb', '-')}MB restarts={c.get('restarts', 0)}{since}")


def format_status(st: dict, now_ms: float | None = None) -> str:
    now_ms = time.time() * 1000 if now_ms is None else now_ms
    up = st.get("upstream") or {}
    lines = [
        f"feed      pid {st.get('pid')}  epoch {st.get('epoch')}  up {st.get('uptime_s')}s  "
        f"(now {et_time(now_ms, now_ms)})",
        f"address   {st.get('control', '')}  data {st.get('data')}",
        f"upstream  {up.get('state')}  {up.get('protocol')} {up.get('url')}  source={up.get('source')}"
        + ("  REPLAY" if up.get("source") == "replay" else "")
        + (f" session={up.get('session')}" if up.get("session") else "")
        + f"  connects={up.get('connects')} attempts={up.get('attempts')}"
        + (f" restarts={up.get('restarts')}" if up.get("restarts") else "")
        + (f"  since {et_time(up['since_ms'], now_ms)}" if up.get("since_ms") else "")
        + (f"  ({up.get('message')})" if up.get("message") else ""),
        f"clients   {st.get('subscribers')} data connection(s)",
    ]
    rest = st.get("rest") if isinstance(st.get("rest"), dict) else None
    if rest:
        lines.append(f"rest      limit {rest.get('limit')}" + (f" ({rest['why']})" if rest.get("why") else "")
                     + (f"  tokens {rest['tokens']}" if rest.get("tokens") is not None else "")
                     + f"  queued {rest.get('queued')}  requests {rest.get('requests')}")
    if "store" in st:
        store = st.get("store") if isinstance(st.get("store"), dict) else None
        lines.append(f"history   {store.get('path')} ({store.get('days')} days kept)  loaded {store.get('loaded')}  "
                     f"written {store.get('writes')}  errors {store.get('errors')}" if store else "history   off")
    sup = st.get("supervisor") if isinstance(st.get("supervisor"), dict) else {}
    children = [c for c in (sup.get("children") or []) if isinstance(c, dict)]
    windows: dict[str, list[dict]] = {}
    for c in children:
        if c.get("role") == "ui" and c.get("symbol"):
            windows.setdefault(str(c["symbol"]), []).append(c)
    syms = st.get("symbols") or {}
    if syms or windows:
        lines.append("symbols")
        for s, v in syms.items():
            v = v if isinstance(v, dict) else {}
            last = v.get("last_ms", 0)
            bf = v.get("backfill")
            if bf == "queued":
                bf = f"queued({v.get('backfill_ahead')} ahead)"
            lines.append(f"  {s:<8} seq={v.get('seq')} bars={v.get('bars')} backfill={bf} "
                         f"last={et_time(last, now_ms)}{_age(last, now_ms)}")
            lines += [f"           window {_child(w, now_ms)}" for w in windows.pop(s, [])]
        for s, ws in windows.items():  # a window on a symbol the feed does not serve (yet)
            lines.append(f"  {s:<8} (not subscribed on the feed)")
            lines += [f"           window {_child(w, now_ms)}" for w in ws]
    else:
        lines.append("symbols   (none watched)")
    counters = st.get("counters") or {}
    if counters:
        lines.append("counters  " + "  ".join(f"{k}={v}" for k, v in sorted(counters.items())))
    if children:
        at = f" (reported {et_time(sup.get('ts'), now_ms)})" if sup.get("ts") else ""
        lines.append(f"children{at}")
        lines += [f"  {_child(c, now_ms)}" + (f" symbol={c.get('symbol')}" if c.get("role") == "ui" else "")
                  for c in children]
    return "\n".join(lines)

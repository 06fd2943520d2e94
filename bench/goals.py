"""Issue 17's goals, read from one run's results: the figure, the target, met / not met / not measured.

Why a module of its own: the benchmarks each print their own table, in their
own words; the issue's check asks for every goal in *one* table, with the
ratios taken in the same run. Measuring stays in the bench modules; this
module only reads what they returned (``report["results"]``, keyed by the
runner's bench names), so it runs as well on a saved results file
(``python -m bench --goals bench/results/latest.json``) as at the end of a run.

Each ``goal_*`` function takes the results dict and returns goal rows
``{"goal", "bench", "measured", "value", "target", "verdict"}``. A bench that
was not run, failed, or lacks the row (an older or a ``--quick`` run) gives
``verdict: "not measured"`` with the reason in ``measured``: never an
exception, never a guess. ``verdict: "info"`` marks a figure the issue asks to
report without a target of its own (the ratio to massive, the desk's
saturation point). Every target lives here, once.
"""

from __future__ import annotations

import re
from typing import Callable

MET, NOT_MET, NOT_MEASURED, INFO = "met", "not met", "not measured", "info"
SIZES = (5, 50, 1000)  # upstream frame sizes of bench.feed_throughput (issue 17: real frames are small)
RATES = ("1k", "5k", "20k")  # bench.latency's rates, as its row names spell them
FLAT_MIB = 5.0  # "RSS flat over 2M events": growth after the warm-up quarter at or under this


class Missing(Exception):
    """A figure is not in the results: the goal reads "not measured" with this reason."""


def _rows(results: dict, bench: str) -> list[dict]:
    res = results.get(bench)
    if res is None:
        raise Missing(f"{bench}: not run")
    if not isinstance(res, dict):
        raise Missing(f"{bench}: unreadable result")
    if "error" in res:
        raise Missing(f"{bench}: failed ({str(res['error'])[:60]})")
    rows = [r for r in res.get("rows") or [] if isinstance(r, dict)]
    if not rows:
        raise Missing(f"{bench}: no rows ({'; '.join(res.get('notes') or [])[:60]})")
    return rows


def _row(results: dict, bench: str, match: Callable[[dict], bool], what: str) -> dict:
    for r in _rows(results, bench):
        if match(r):
            return r
    raise Missing(f"{bench}: no row {what}")


def _num(row: dict, key: str) -> float:
    v = row.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Missing(f"no {key} in row {row.get('name', '?')!r}")
    return float(v)


def _named(name: str) -> Callable[[dict], bool]:
    return lambda r: r.get("name") == name


def _starts(prefix: str) -> Callable[[dict], bool]:
    return lambda r: str(r.get("name", "")).startswith(prefix)


def _verdict(value: float, op: str, target: float) -> str:
    ok = {">=": value >= target, "<=": value <= target, "<": value < target}[op]
    return MET if ok else NOT_MET


def _goal(goal: str, bench: str, figure: Callable[[], tuple[float, str]], op: str | None = None,
          target: float | None = None, target_text: str = "") -> dict:
    """One goal row: ``figure()`` returns (value, how it reads[, a verdict of its own]); a Missing figure
    is "not measured"."""
    text = target_text or (f"{op} {target:g}" if op else "-")
    try:
        value, measured, *own = figure()
    except Missing as e:
        return {"goal": goal, "bench": bench, "measured": str(e), "value": None, "target": text,
                "verdict": NOT_MEASURED}
    verdict = own[0] if own else _verdict(value, op, target) if op else INFO
    return {"goal": goal, "bench": bench, "measured": measured, "value": round(value, 3), "target": text,
            "verdict": verdict}


def _k(v: float) -> str:
    """Events and rates as the docs write them: 460k, 2.0M."""
    return f"{v / 1e6:.1f}M" if v >= 1e6 else f"{v / 1000:,.0f}k" if v >= 10_000 else f"{v:,.0f}"


# -- feed -> subscriber throughput (bench.feed_throughput: "feed") ------------------------------------------

FEED_ROW = "feed -> ZeroMQ -> subscriber process"
BARE_ROW = "bare websockets + orjson"
MASSIVE_ROW = "massive client (json)"


def _feed_rows(results: dict, size: int) -> tuple[dict, dict, dict]:
    def at(name: str) -> dict:
        return _row(results, "feed", lambda r: r.get("name") == name and r.get("frame_events") == size,
                    f"{name!r} at {size}-event frames")

    return at(FEED_ROW), at(BARE_ROW), at(MASSIVE_ROW)


def goal_feed_vs_bare(results: dict) -> list[dict]:
    def figure(size: int):
        def f():
            feed, bare, _ = _feed_rows(results, size)
            fr, br = _num(feed, "events_per_s"), _num(bare, "events_per_s")
            if not br:
                raise Missing("feed: bare loop read 0 events/s")
            return fr / br, f"{fr / br:.2f}x ({_k(fr)} vs {_k(br)} ev/s)"
        return f

    return [_goal(f"feed -> subscriber / bare loop, {n}-event frames", "feed", figure(n), ">=", 1.0, ">= 1.0x")
            for n in SIZES]


def goal_feed_vs_massive(results: dict) -> list[dict]:
    def figure(size: int):
        def f():
            feed, _, official = _feed_rows(results, size)
            fr, mr = _num(feed, "events_per_s"), _num(official, "events_per_s")
            if not mr:
                raise Missing("feed: massive read 0 events/s")
            cpu = ""
            if feed.get("events_per_cpu_s") and official.get("events_per_cpu_s"):
                cpu = f", {_num(feed, 'events_per_cpu_s') / _num(official, 'events_per_cpu_s'):.2f}x per CPU-s"
            return fr / mr, f"{fr / mr:.2f}x ({_k(fr)} vs {_k(mr)} ev/s{cpu})"
        return f

    return [_goal(f"feed -> subscriber / massive, {n}-event frames", "feed", figure(n),
                  target_text="(reported)") for n in SIZES]


# -- latency (bench.latency: "latency"; rows "<consumer> @ <rate> ev/s") -----------------------------------

def _lat(results: dict, consumer: str, rate: str, bench: str = "latency") -> dict:
    name = f"{consumer} @ {rate} ev/s"
    row = _row(results, bench, _named(name), repr(name))
    if row.get("p50_ms") is None:
        raise Missing(f"{bench}: {name} has no matched trades")
    return row


def goal_latency(results: dict) -> list[dict]:
    def figure(rate: str, q: str):
        def f():
            feed, official = _lat(results, "feed", rate), _lat(results, "massive", rate)
            fv, mv = _num(feed, q), _num(official, q)
            return fv - mv, f"{fv - mv:+.2f} ms ({fv:.2f} vs {mv:.2f})"
        return f

    out = []
    for rate in RATES:
        out.append(_goal(f"latency p50, feed minus massive, {rate} ev/s", "latency", figure(rate, "p50_ms"),
                         "<=", 0.1, "<= +0.10 ms"))
        out.append(_goal(f"latency p99, feed minus massive, {rate} ev/s", "latency", figure(rate, "p99_ms"),
                         "<=", 0.0, "<= +0.00 ms"))
    return out


def goal_gui_latency(results: dict) -> list[dict]:
    """GUI-thread latency: the ``ui`` consumer (feed -> PolygonDataManager) of bench.gui_latency ("guilat"),
    or of bench.latency when a saved run took its --variant."""
    def f():
        try:
            row = _lat(results, "ui", "20k", "guilat")
        except Missing as e:
            try:
                row = _lat(results, "ui", "20k")
            except Missing:
                raise e from None
        v = _num(row, "p99_ms")
        return v, f"{v:.2f} ms (p50 {_num(row, 'p50_ms'):.2f})"

    return [_goal("GUI-thread latency p99 at 20k ev/s", "guilat", f, "<=", 3.0, "<= 3 ms")]


# -- the command-line tools (bench.cli: "cli") --------------------------------------------------------------

def goal_tap(results: dict) -> list[dict]:
    """One row per frame size bench.cli ran (its default frames; 50-event frames in a full run)."""
    def taps() -> list[dict]:
        rows = [r for r in _rows(results, "cli") if re.match(r"tap \S+ --json", str(r.get("name", "")))]
        if not rows:
            raise Missing("cli: no 'tap SYM --json' row")
        return rows

    def figure(tap: dict):
        def f():
            label = str(tap["name"]).rsplit(", ", 1)[-1]
            massive = next((m for m in _rows(results, "cli") if str(m.get("name", "")).startswith("massive")
                            and str(m["name"]).endswith(label)), None)
            v = _num(tap, "x_massive")
            rates = f" ({_k(_num(tap, 'events_per_s'))} vs {_k(_num(massive, 'events_per_s'))} ev/s)" if massive else ""
            return v, f"{v:.2f}x{rates}"
        return f

    try:
        rows = taps()
    except Missing as e:
        def missing(e=e):
            raise e
        return [_goal("tap --json / massive", "cli", missing, ">=", 1.0, ">= 1.0x")]
    return [_goal(f"tap --json / massive, {str(r['name']).rsplit(', ', 1)[-1]}", "cli", figure(r), ">=", 1.0,
                  ">= 1.0x") for r in rows]


def goal_answer_times(results: dict) -> list[dict]:
    def wall(pattern: str, nonzero_exit: bool = False):
        def f():
            r = _row(results, "cli", lambda r: re.match(pattern, str(r.get("name", ""))) is not None, repr(pattern))
            v = _num(r, "seconds")
            if nonzero_exit and r.get("exit") == 0:
                return v, f"{v:.2f} s but exit 0 (it must fail)", NOT_MET
            return v, f"{v:.2f} s"
        return f

    return [_goal("status, feed up", "cli", wall(r"status, feed up"), "<", 0.3, "< 0.3 s"),
            _goal("tap SYM --count 1, feed up", "cli", wall(r"tap \S+ --count 1"), "<", 0.3, "< 0.3 s"),
            _goal("status, no feed", "cli", wall(r"status, no feed", nonzero_exit=True), "<", 1.0, "< 1 s")]


# -- start-up (bench.startup: "startup") --------------------------------------------------------------------

def goal_startup(results: dict) -> list[dict]:
    def median(name: str):
        def f():
            v = _num(_row(results, "startup", _named(name), repr(name)), "median_s")
            return v, f"{v:.2f} s (median)"
        return f

    return [_goal("first chart, live-monitor -> candles painted", "startup",
                  median("first chart (launch -> painted)"), "<=", 2.0, "<= 2.0 s"),
            _goal("second window, New window -> painted", "startup",
                  median("second window (New window -> painted)"), "<=", 1.0, "<= 1.0 s"),
            _goal("second window, live-monitor ui -> painted", "startup",
                  median("second window (live-monitor ui -> painted)"), target_text="(a new process)")]


# -- the window (bench.ui_window: "window"; bench.chart_panzoom: "panzoom") ---------------------------------

def goal_window_stall(results: dict) -> list[dict]:
    def stall(match: Callable[[dict], bool], what: str):
        def f():
            r = _row(results, "window", match, what)
            v = _num(r, "stall_p99_ms")
            cpu = f", CPU stall p99 {_num(r, 'cpu_stall_p99_ms'):.1f}" if r.get("cpu_stall_p99_ms") is not None else ""
            return v, f"{v:.1f} ms{cpu} ({r['name']})"
        return f

    paced = lambda r: re.match(r"\S+ at 20k events/s", str(r.get("name", ""))) is not None  # noqa: E731
    full = lambda r: str(r.get("name", "")).endswith(" shared cores")  # noqa: E731
    return [_goal("window stall p99 at 20k ev/s", "window", stall(paced, "'<SYM> at 20k events/s'"), "<=", 16.0,
                  "<= 16 ms"),
            _goal("window stall p99 at full rate", "window", stall(full, "'<SYM> shared cores'"), "<=", 16.0,
                  "<= 16 ms")]


def goal_panzoom(results: dict) -> list[dict]:
    def fps(name: str):
        def f():
            r = _row(results, "panzoom", _named(name), repr(name))
            v = _num(r, "frames_per_s")
            p99 = f", p99 {_num(r, 'frame_p99_ms'):.1f} ms" if r.get("frame_p99_ms") is not None else ""
            return v, f"{v:.0f} frames/s{p99}"
        return f

    return [_goal(f"{tf} {mode} over 2000 bars", "panzoom", fps(f"{tf} {mode}, 2000 bars"), ">=", 60.0,
                  ">= 60 frames/s") for tf in ("1m", "5m") for mode in ("pan", "zoom")]


# -- memory (bench.memory: "memory") ------------------------------------------------------------------------

def goal_memory(results: dict) -> list[dict]:
    def feed_rss(n: int):
        name = f"feed, {n} symbol{'s' if n > 1 else ''} subscribed"
        v = lambda: _num(_row(results, "memory", _named(name), repr(name)), "rss_end_mib")  # noqa: E731
        return lambda: (v(), f"{v():.1f} MiB")

    def window_row(n: int) -> dict:  # bench.window_memory's synthetic runs: a watchlist of n + the chart
        return _row(results, "memory", lambda r: re.match(rf"window, {n} symbols? \(", str(r.get("name", "")))
                    is not None, f"'window, {n} symbol{'s' if n > 1 else ''} (...)'")

    def window_rss(n: int):
        def f():
            r, _ = window_row(n), _growth(window_row(n))  # _growth: a failed run (its row's error) is not measured
            return _num(r, "rss_end_mib"), f"{_num(r, 'rss_end_mib'):.1f} MiB (peak {_num(r, 'peak_mib'):.1f})"
        return f

    window_growth = lambda: _growth(_row(results, "memory", lambda r: str(r.get("name", "")).startswith(  # noqa: E731
        "window") and "TSLA" in str(r["name"]), "'window ... TSLA ...'"))  # TSLA at --max: the chart's worst case
    feed_growth = lambda: _growth(_row(results, "memory", _named("feed process"), "'feed process'"))  # noqa: E731
    return [_goal("feed RSS, 1 symbol", "memory", feed_rss(1), target_text="(reported)"),
            _goal("feed RSS, 10 symbols", "memory", feed_rss(10), target_text="(reported)"),
            _goal("feed RSS, 50 symbols", "memory", feed_rss(50), "<=", 60.0, "<= 60 MiB"),
            # bench.memory's own premise (every feed buffer is bounded): flat after warm-up, as the window
            _goal("feed RSS growth over the run", "memory", feed_growth, "<=", FLAT_MIB,
                  f"flat (<= {FLAT_MIB:g} MiB)"),
            _goal("window RSS growth over the run", "memory", window_growth, "<=", FLAT_MIB,
                  f"flat (<= {FLAT_MIB:g} MiB)"),
            _goal("window RSS, 1 symbol", "memory", window_rss(1), target_text="(reported)"),
            _goal("window RSS, 10 symbols", "memory", window_rss(10), target_text="(reported)"),
            _goal("window RSS, 50 symbols", "memory", window_rss(50), target_text="(reported)")] + [
            _goal(f"window RSS growth, {n} symbol{'s' if n > 1 else ''}", "memory",
                  lambda n=n: _growth(window_row(n)), "<=",
                  FLAT_MIB, f"flat (<= {FLAT_MIB:g} MiB)") for n in (1, 10, 50)]


def _growth(r: dict) -> tuple[float, str]:
    """A memory row's growth after warm-up, with its run's length, end and second-half slope when it has one."""
    if r.get("error"):
        raise Missing(f"memory: {r.get('name')!r}: {r['error']}")
    v = _num(r, "growth_mib")
    slope = f", slope {r['slope_mib_per_m']:+.1f} MiB/M" if isinstance(r.get("slope_mib_per_m"), (int, float)) else ""
    return v, f"{v:+.1f} MiB over {_k(_num(r, 'events'))} events (end {_num(r, 'rss_end_mib'):.1f} MiB{slope})"


# -- the desk of a hundred screens (bench.desk: "desk") -----------------------------------------------------

def goal_desk(results: dict) -> list[dict]:
    def first() -> dict:  # the goal's load: 20 symbols + the burst at 20k ev/s (the first rate tried)
        return _row(results, "desk", _named("burst 20k ev/s"), "'burst 20k ev/s'")

    def cpu():
        r = first()
        v = _num(r, "feed_cpu_pct")
        split = ""
        if r.get("feed_python_pct") is not None and r.get("feed_zmq_io_pct") is not None:
            split = f" (Python {_num(r, 'feed_python_pct'):.0f}, ZeroMQ I/O {_num(r, 'feed_zmq_io_pct'):.0f})"
        return v, f"{v:.0f} % of a core{split}"

    def p99():
        r = first()
        v = _num(r, "p99_ms_worst")
        med = f", median {_num(r, 'p99_ms_median'):.2f}" if r.get("p99_ms_median") is not None else ""
        return v, f"worst {v:.2f} ms{med} of {r.get('screens', '?')} screens"

    def gaps():
        r = first()
        v = _num(r, "gaps")
        return v, f"{v:.0f} ({r.get('screens_with_gaps', '?')} screens)"

    def saturation():  # the burst ramp's first row with a limit (frames grow at 4,000/s, as Polygon's do)
        rows = [r for r in _rows(results, "desk") if re.fullmatch(r"burst [\d.]+k ev/s", str(r.get("name", "")))]
        hit = next((r for r in rows if r.get("limit")), None)
        if hit is None:
            raise Missing(f"desk: no limit up to {rows[-1].get('name', '?') if rows else 'any burst row'}"
                          " (the saturation point was not reached)")
        v = _num(hit, "offered_ev_s")
        below = [r for r in rows if not r.get("limit") and r.get("offered_ev_s", 0) < v]
        kept = f"; kept up at {below[-1].get('name', '?')}" if below else ""
        return v, f"{hit.get('name', '?')}: {hit['limit']} ({_k(v)} ev/s offered{kept})"

    return [_goal("desk of 100: feed CPU at 20k burst", "desk", cpu, target_text="(reported)"),
            _goal("desk of 100: subscribers' p99 at 20k burst", "desk", p99, target_text="(reported)"),
            _goal("desk of 100: gaps at 20k burst", "desk", gaps, "<=", 0.0, "0"),
            _goal("desk of 100: where the feed saturates", "desk", saturation, target_text="(reported)")]


GOALS = [goal_feed_vs_bare, goal_feed_vs_massive, goal_latency, goal_gui_latency, goal_tap, goal_answer_times,
         goal_startup, goal_window_stall, goal_panzoom, goal_memory, goal_desk]


def extract(results: dict) -> list[dict]:
    """Every goal of issue 17 from one run's ``results`` (the runner's ``report["results"]``)."""
    out: list[dict] = []
    for fn in GOALS:
        try:
            out += fn(results)
        except Exception as e:  # noqa: BLE001 - a malformed result must not hide the other goals
            out.append({"goal": fn.__name__, "bench": "?", "measured": f"unreadable: {type(e).__name__}: {e}",
                        "value": None, "target": "-", "verdict": NOT_MEASURED})
    return out


def counts(goals: list[dict]) -> dict[str, int]:
    c = {MET: 0, NOT_MET: 0, NOT_MEASURED: 0, INFO: 0}
    for g in goals:
        c[g["verdict"]] = c.get(g["verdict"], 0) + 1
    return c


def print_goals(goals: list[dict], title: str = "issue 17 goals") -> None:
    print(f"\n== {title}")
    cols = ("goal", "measured", "target", "verdict", "bench")
    widths = [max(len(c), *(len(str(g[c])) for g in goals)) for c in cols] if goals else [len(c) for c in cols]
    widths[1] = min(widths[1], 72)
    print("   " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip())
    for g in goals:
        cells = [str(g[c]) for c in cols]
        if len(cells[1]) > widths[1]:
            cells[1] = cells[1][:widths[1] - 1] + "…"
        print("   " + "  ".join(v.ljust(w) for v, w in zip(cells, widths)).rstrip())
    c = counts(goals)
    print(f"   - {c[MET]} met, {c[NOT_MET]} not met, {c[NOT_MEASURED]} not measured "
          f"(and {c[INFO]} figures reported without a target of their own)")

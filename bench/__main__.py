"""``python -m bench`` (``make bench``): every benchmark in one run, one table.

Why one runner: figures only mean something side by side - the feed against
the official client on the same stream, in the same minute, on the same
machine. Each benchmark is a module with ``measure(quick: bool) -> dict``
returning ``{"title": str, "rows": [{"name": ..., <figure>: value, ...}],
"notes": [...]}``; the runner prints them and writes
``bench/results/<timestamp>.json`` (and ``latest.json``) with the machine and
package versions, so a result can be compared with another machine's.
At the end of a run, one more table: issue 17's goals, each with the figure
this run measured, its target and met / not met / not measured
(:mod:`bench.goals`; also in the JSON as ``"goals"``). ``--goals FILE [FILE...]``
prints that table from saved results files without running anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

BENCHES = [
    ("sim", "bench.sim_rate"),
    ("feed", "bench.feed_throughput"),
    ("transports", "bench.transports"),
    ("wire", "bench.wire_codec"),
    ("latency", "bench.latency"),
    ("guilat", "bench.gui_latency"),
    ("fanout", "bench.fanout"),
    ("desk", "bench.desk"),
    ("ui", "bench.ui_ingest"),
    ("window", "bench.ui_window"),
    ("chart", "bench.chart_timeframes"),
    ("panzoom", "bench.chart_panzoom"),
    ("watchlist", "bench.watchlist"),
    ("memory", "bench.memory"),
    ("recovery", "bench.supervisor_recovery"),
    ("startup", "bench.startup"),
    ("cli", "bench.cli"),
]
PACKAGES = ["pyzmq", "PyQt6", "websockets", "picows", "msgpack", "msgspec", "orjson", "aiohttp", "pyqtgraph", "massive",
            "psutil"]
RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    import psutil

    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "packages": versions,
    }


def fmt(v) -> str:
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n== {title}")
    if not rows:
        print("   (no rows)")
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("   " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths))))
    for row in cells:
        print("   " + "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))


def show_goals(paths: list[str]) -> int:
    """The goals table of saved runs, extracted afresh from their results (so older files read too).

    Several files (``--only`` runs in pieces): a bench's figures come from the last file that has it,
    whole - its ratios stay those of one run.
    """
    from bench import goals

    results, runs = {}, []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
            results.update(report["results"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"python -m bench --goals: cannot read {path}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
        runs.append(f"{report.get('started', '?')} ({'quick' if report.get('quick') else 'full'}; {path})")
    goals.print_goals(goals.extract(results), "issue 17 goals, run of " + " + ".join(runs))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter runs (1M instead of 2M events for memory, etc.)")
    ap.add_argument("--only", metavar="NAME[,NAME]", help="run only these: " + ", ".join(n for n, _ in BENCHES))
    ap.add_argument("--goals", metavar="FILE", nargs="+",
                    help="print issue 17's goals table from saved results JSON (e.g. bench/results/latest.json; "
                         "several: each bench from the last file that has it) and exit; runs nothing")
    args = ap.parse_args(argv)
    if args.goals:
        return show_goals(args.goals)
    only = set(args.only.split(",")) if args.only else None
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    report = {"started": dt.datetime.now().isoformat(timespec="seconds"), "quick": args.quick,
              "machine": machine(), "results": {}}
    print(f"Live Monitor benchmarks ({'quick' if args.quick else 'full'}) on {report['machine']['cores']} cores, "
          f"Python {report['machine']['python']}")
    failed = 0
    for name, modname in BENCHES:
        if only and name not in only:
            continue
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                print(f"\n== {name}: not available in this build")
                continue
            raise
        t0 = time.perf_counter()
        try:
            res = mod.measure(quick=args.quick)
        except Exception as e:  # one broken benchmark must not hide the others
            failed += 1
            print(f"\n== {name}: FAILED: {type(e).__name__}: {e}")
            traceback.print_exc(limit=3)
            report["results"][name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        res["seconds"] = round(time.perf_counter() - t0, 1)
        report["results"][name] = res
        print_table(res.get("title", name), res.get("rows", []))
        for note in res.get("notes", []):
            print(f"   - {note}")
    from bench import goals

    report["goals"] = goals.extract(report["results"])
    goals.print_goals(report["goals"], f"issue 17 goals, this run ({'quick' if args.quick else 'full'})")
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for p in (RESULTS / f"{stamp}.json", RESULTS / "latest.json"):
        p.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwritten: bench/results/{stamp}.json")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

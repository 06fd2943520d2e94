"""``python -m bench.window_probe OUT.jsonl <live-monitor args>``: the real window, with a memory probe.

Why a wrapper and not a flag of the window: the probe is for the bench only
(tracemalloc slows every allocation 2-3x), so the product never carries it.
This starts tracemalloc when ``LM_BENCH_TRACEMALLOC`` is set (frames kept:
its value), then runs ``live-monitor`` as ``python -m supervisor`` would. On
each ``SIGUSR1`` (sent by :mod:`bench.window_memory` at points of the run) it
appends one JSON line to OUT: RSS; glibc's ``mallinfo2`` (heap in use / free
but kept / mmapped: RSS the allocator holds but nothing uses is a plateau, not
a leak); gc counts and the object types that grew since the first probe; the
largest Python containers; the Qt side (graphics items per scene, widgets,
the pixmap cache limit); the manager's own buffers; and, with tracemalloc, the
source lines whose allocations grew most since the first probe. The handler
runs on the GUI thread between two Python slots (CPython runs signal handlers
there), so it reads the window's objects without a lock.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import json
import os
import signal
import sys
import time
import tracemalloc

_FIRST: dict = {}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                  "fsmblks", "uordblks", "fordblks", "keepcost")]


def mallinfo() -> dict:
    try:
        libc = ctypes.CDLL("libc.so.6")
        f = libc.mallinfo2
    except (OSError, AttributeError):
        return {}
    f.restype = _Mallinfo2
    m = f()
    mib = 1 / 2**20
    return {"heap_mib": round(m.arena * mib, 1), "in_use_mib": round(m.uordblks * mib, 1),
            "free_kept_mib": round(m.fordblks * mib, 1), "mmapped_mib": round(m.hblkhd * mib, 1)}


def _qt() -> dict:
    try:
        from PyQt6.QtGui import QPixmapCache
        from PyQt6.QtWidgets import QApplication, QGraphicsView
    except ImportError:
        return {}
    app = QApplication.instance()
    if app is None:
        return {}
    widgets = app.allWidgets()
    scenes = {}
    for w in widgets:
        if isinstance(w, QGraphicsView) and w.scene() is not None:
            scenes[id(w.scene())] = len(w.scene().items())
    return {"widgets": len(widgets), "scene_items": sorted(scenes.values(), reverse=True)[:6],
            "pixmap_cache_kib": QPixmapCache.cacheLimit()}


def _manager() -> dict:
    """Lengths of the window's known buffers (whatever of them exists in this version)."""
    try:
        from PyQt6.QtWidgets import QApplication
    except ImportError:
        return {}
    app = QApplication.instance()
    out: dict = {}
    for w in (app.topLevelWidgets() if app else []):
        m = getattr(w, "manager", None)
        if m is None:
            continue
        for path in ("tape.prints", "core.backlog", "_core.backlog", "core.watched", "core.alerts",
                     "core.summaries", "core._ops"):
            o = m
            for part in path.split("."):
                o = getattr(o, part, None)
            if o is not None and hasattr(o, "__len__"):
                out[path] = len(o)
        core = getattr(m, "_core", None)
        if core is not None:
            out.update(events=core.stats.get("events"), messages=core.stats.get("messages"),
                       gaps=core.link.counters.get("gaps"), resnapshots=core.link.counters.get("resnapshots"),
                       bars=len(core.state.bars))
    return out


def _owner(o: object) -> str:
    """``Class.attr`` of the object holding ``o`` (through its ``__dict__``), as far as one step finds."""
    for r in gc.get_referrers(o):
        if isinstance(r, dict):
            names = [k for k, v in r.items() if v is o]
            for rr in gc.get_referrers(r):
                if getattr(rr, "__dict__", None) is r:
                    return f"{type(rr).__module__}.{type(rr).__qualname__}.{names[0] if names else '?'}"
            if names:
                return f"dict[{names[0]!r}]"
        elif hasattr(r, "__len__") and not isinstance(r, (str, bytes)):
            continue
        else:
            return type(r).__qualname__
    return "?"


def _containers(limit: int = 8) -> list:
    big = [o for o in gc.get_objects() if isinstance(o, (list, dict, set, collections.deque)) and len(o) > 2000]
    big.sort(key=len, reverse=True)
    out = []
    for o in big[:limit]:
        sample = next(iter(o), None) if not isinstance(o, dict) else next(iter(o.items()), None)
        out.append({"type": type(o).__name__, "len": len(o), "sample": repr(sample)[:80], "owner": _owner(o)})
    return out


def probe(label: str) -> dict:
    import psutil

    types = collections.Counter(type(o).__name__ for o in gc.get_objects())
    rec = {"label": label, "t": time.time(), "rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1),
           "malloc": mallinfo(), "gc_objects": sum(types.values()), "gc_frozen": gc.get_freeze_count(),
           "gc_counts": gc.get_count(), "qt": _qt(), "manager": _manager(), "containers": _containers()}
    if not _FIRST:
        _FIRST["types"] = types
    rec["types_grown"] = [(k, v - _FIRST["types"].get(k, 0)) for k, v in
                          (types - _FIRST["types"]).most_common(10)]
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        cur, peak = tracemalloc.get_traced_memory()
        rec["traced_mib"], rec["traced_peak_mib"] = round(cur / 2**20, 1), round(peak / 2**20, 1)
        if "snap" not in _FIRST:
            _FIRST["snap"] = snap
        rec["traced_grown"] = [(str(s.traceback[0]), round(s.size_diff / 2**10, 1), s.count_diff)
                               for s in snap.compare_to(_FIRST["snap"], "lineno")[:12]]
    return rec


def main() -> None:
    out = sys.argv[1]
    frames = os.environ.get("LM_BENCH_TRACEMALLOC")
    if frames and frames != "0":  # "0": the probe without tracemalloc (the window at its own speed)
        tracemalloc.start(int(frames) if frames.isdigit() else 1)
    n = {"i": 0}

    def on_signal(*_a) -> None:
        if n.get("busy"):
            return  # a probe is under way (a handler can interrupt itself)
        n["i"] += 1
        n["busy"] = True
        try:
            line = json.dumps(probe(f"p{n['i']}"), default=str)
            with open(out, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        finally:
            n["busy"] = False

    signal.signal(signal.SIGUSR1, on_signal)
    hwm = os.environ.get("LM_BENCH_RCVHWM")  # an experiment: the window's receive queue at another bound
    if hwm:
        import ui_process.polygon_data_manager as pdm

        pdm.RCVHWM = int(hwm)
    sys.argv = ["live-monitor"] + sys.argv[2:]
    from supervisor import main as lm_main

    lm_main()


if __name__ == "__main__":
    main()

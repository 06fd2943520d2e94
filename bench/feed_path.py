"""The feed's own CPU per event on its hot path, in one process: frames -> Publisher -> payloads.

Why in-process: ``bench.feed_throughput`` measures the goal (feed -> subscriber process against
the bare loop) but its wall figures move with whatever else shares the 2 cores. This drives the
real boundary - ``Publisher.handle_frames`` with a ``PolygonCore`` and a ``FeedSymbol`` per
symbol, as the feed's upstream client calls it - over a replay file cut into the simulator's
frames (``--frame-events``), ``--per-read`` frames per call (what one socket read hands over),
and counts ``time.process_time`` per event: a figure that survives contention. The XPUB is a
stand-in that keeps a digest of every ``[topic, payload]`` it is given, so two versions of the
path can be compared byte for byte (``--digest``).

GC is set as the feed process sets it (``feed_process.main.tune_gc``: freeze, threshold 50k)
unless ``--gc off`` (disabled: the path's own cost) or ``--gc default`` (the interpreter's
thresholds); ``gc_collections`` says how many collections the run paid for.

  python -m bench.feed_path [--file TSLA-2025-07-01.jsonl.gz] [--frames 50] [--per-read 12]
                            [--repeat 5] [--gc feed|off|default] [--stages] [--digest]
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from bench.common import replay_dir


class _Sink:
    """The XPUB: counts sends and, when asked, digests every frame pair in order."""

    closed = False

    def __init__(self, digest: bool) -> None:
        self.n = 0
        self.bytes = 0
        self.h = hashlib.sha256() if digest else None

    def send_multipart(self, parts: list, flags: int = 0) -> None:
        self.n += 1
        self.bytes += len(parts[1])
        if self.h is not None:
            for p in parts:
                self.h.update(len(p).to_bytes(4, "little"))
                self.h.update(p)


@functools.lru_cache(maxsize=1)  # the payload test cuts one file several ways
def _replay(path: Path):
    from feed_process.sim.replay import load_replay

    return load_replay(path, keep_time=True)


def frames_of(path: Path, frame_events: int) -> list[bytes]:
    """The simulator's data frames for ``path`` at ``--frame-events frame_events``."""
    return [c.frame for c in _replay(Path(path)).framed(frame_events).chunks]


def one_pass(frames: list[bytes], per_read: int, digest: bool = False) -> dict[str, Any]:
    """A fresh core, states and publisher over every frame; CPU seconds of the pass."""
    from feed_process.protocols import PolygonCore
    from feed_process.publisher import Publisher
    from feed_process.state import FeedSymbol

    core = PolygonCore("bench")
    syms = {"TSLA", "AAPL"}
    core.subscribe(syms)
    core.ready = core.authenticated = True
    states = {s: FeedSymbol(s) for s in syms}
    pub = Publisher(core, states, epoch=1)
    sink = pub.xpub = _Sink(digest)  # type: ignore[assignment]
    reads = [frames[i:i + per_read] for i in range(0, len(frames), per_read)]
    handle = pub.handle_frames
    g0 = sum(s["collections"] for s in gc.get_stats())
    c0 = time.process_time()
    for r in reads:
        handle(r)
    cpu = time.process_time() - c0
    return {"cpu_s": cpu, "events": pub.counters["events"], "batches": sink.n, "bytes": sink.bytes,
            "gc_collections": sum(s["collections"] for s in gc.get_stats()) - g0,
            "digest": sink.h.hexdigest() if sink.h is not None else None,
            "errors": dict(core.counters)}


def stages(frames: list[bytes]) -> dict[str, float]:
    """us/event of decode, build, fold and pack alone (gc off), each stage fed by the one before."""
    from feed_process.protocols import FRAME, Output, PolygonCore
    from feed_process.state import FeedSymbol
    from shared.models import wire

    core = PolygonCore("bench")
    core.subscribe({"TSLA", "AAPL"})
    t = time.process_time()
    decoded = [FRAME.decode(f) for f in frames]
    t_dec = time.process_time() - t
    outs = []
    t = time.process_time()
    for evs in decoded:
        o = Output()
        core._finish(o, evs)
        outs.append(o)
    t_build = time.process_time() - t
    st = {s: FeedSymbol(s) for s in ("TSLA", "AAPL")}
    t = time.process_time()
    for o in outs:
        for s, lst in o.batches.items():
            st[s].apply_batch(lst)
    t_fold = time.process_time() - t
    t = time.process_time()
    for o in outs:
        for s, lst in o.batches.items():
            wire.pack_batch(s, 1, 1, lst)
    t_pack = time.process_time() - t
    n = sum(len(x) for x in decoded)
    return {k: round(v / n * 1e6, 3) for k, v in
            (("decode", t_dec), ("build", t_build), ("fold", t_fold), ("pack", t_pack))}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.feed_path")
    ap.add_argument("--file", default="TSLA-2025-07-01.jsonl.gz")
    ap.add_argument("--frames", type=int, default=50, help="events per upstream frame (the sim's --frame-events)")
    ap.add_argument("--per-read", type=int, default=12, help="frames per handle_frames call (one socket read)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--gc", choices=("feed", "off", "default"), default="feed")
    ap.add_argument("--stages", action="store_true")
    ap.add_argument("--digest", action="store_true")
    a = ap.parse_args(argv)
    d = replay_dir()
    path = Path(a.file) if Path(a.file).is_file() else d / a.file  # type: ignore[operator]
    frames = frames_of(path, a.frames)
    if a.gc == "feed":
        from feed_process.main import tune_gc

        tune_gc()
    elif a.gc == "off":
        gc.disable()
    runs = [one_pass(frames, a.per_read, a.digest) for _ in range(a.repeat)]
    best = min(runs, key=lambda r: r["cpu_s"])
    out = {"file": path.name, "frame_events": a.frames, "per_read": a.per_read, "gc": a.gc,
           "events": best["events"], "batches": best["batches"], "bytes": best["bytes"],
           "us_per_event": round(best["cpu_s"] / best["events"] * 1e6, 3),
           "us_per_event_runs": [round(r["cpu_s"] / r["events"] * 1e6, 3) for r in runs],
           "gc_collections": best["gc_collections"], "digest": best["digest"], "errors": best["errors"]}
    if a.stages:
        gc.disable()
        out["stages_us"] = stages(frames)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))

"""Wire codec: encode and decode of one 50-event TSLA batch, msgpack-python maps vs the msgspec structs.

Why: the feed encodes every data message and every window decodes it; the
typed model (shared/models/messages.py) must cost no more than the maps and
hand checks it replaced. Rows, per batch of 50 events of the TSLA replay
(trades and quotes as the feed publishes them):

* encode: ``msgpack.Packer`` of the batch map (before) vs ``wire.pack_batch``
  (the msgspec Encoder of the ``Batch`` struct); the bytes decode to the same map.
* decode: ``msgpack.unpackb`` with the strict options of a map reader (no
  event checks at all) vs ``wire.decode_data`` (types and bounds of every
  field checked, event structs out).
* decode + seed dicts: the window's whole path. Before: the map reader plus
  a per-field check and a seed dict per event in Python (what
  ``wire.event_to_dict`` did on arrays); after: ``decode_data`` plus
  ``wire.event_to_dict`` of each struct.

Best of several repeats (the machine is shared: compare the ratios).
"""

from __future__ import annotations

import gzip
import json
import time
from math import isfinite
from pathlib import Path

import msgpack

from shared.models import wire
from shared.models.events import build, decode_dict
from shared.models.market_data import exchange_name

REPLAY = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "replay" / "TSLA-2025-06-27.jsonl.gz"
N_EVENTS = 50


def tsla_batch(n: int = N_EVENTS) -> list[list]:
    evs = []
    with gzip.open(REPLAY, "rt") as f:
        for line in f:
            e, why = decode_dict(json.loads(line), None)
            if why is None and type(e).__name__ in ("Trade", "Quote"):
                evs.append(e)
            if len(evs) == n:
                break
    batches: dict[str, list[list]] = {}
    build(evs, batches, None, None, [])
    return batches["TSLA"]


def _num(v) -> bool:
    return isfinite(v) if isinstance(v, float) else isinstance(v, int) and not isinstance(v, bool)


def _before_to_dict(sym: str, a: list) -> dict:
    """The hand-written path the structs replaced (checks, then a seed dict), trades and quotes only."""
    if a[0] == "T":
        t, p, s, x, c = a[1], a[2], a[3], a[4], a[5]
        i, z, q, trfi, trft = (list(a[6:11]) + [None] * 5)[:5]
        if not (type(t) is int and _num(p) and _num(s) and (x is None or type(x) is int)
                and all(type(k) is int for k in c) and (i is None or type(i) is str)
                and all(v is None or type(v) is int for v in (z, q, trfi, trft))):
            raise ValueError("bad trade")
        return {"event_type": "trade", "symbol": sym, "timestamp": t, "price": float(p), "size": int(s),
                "conditions": list(c), "exchange": exchange_name(x), "id": i, "tape": z, "sequence": q,
                "trf_id": trfi, "trf_timestamp": trft}
    t, bp, bs, ap, as_, bx = a[1], a[2], a[3], a[4], a[5], a[6]
    ax, c, ind, z, q = (list(a[7:12]) + [None] * 5)[:5]
    if not (type(t) is int and _num(bp) and _num(bs) and _num(ap) and _num(as_)
            and all(v is None or type(v) is int for v in (bx, ax, c, z, q))
            and (ind is None or all(type(k) is int for k in ind))):
        raise ValueError("bad quote")
    return {"event_type": "quote", "symbol": sym, "timestamp": t, "bid_price": float(bp), "bid_size": int(bs),
            "ask_price": float(ap), "ask_size": int(as_), "exchange": exchange_name(bx),
            "ask_exchange": exchange_name(ax), "conditions": [] if c is None else [c],
            "indicators": list(ind or ()), "tape": z, "sequence": q}


def _unpack_map(b: bytes) -> dict:
    return msgpack.unpackb(b, raw=False, strict_map_key=True, max_str_len=wire.MAX_STR_LEN,
                           max_bin_len=wire.MAX_STR_LEN, max_array_len=wire.MAX_ARRAY_LEN,
                           max_map_len=wire.MAX_MAP_LEN, max_ext_len=0)


def _best(fn, loops: int, repeats: int) -> float:
    """Best seconds per call over ``repeats`` runs of ``loops`` calls."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - t0) / loops)
    return best


def measure(quick: bool = False) -> dict:
    arrays = tsla_batch()
    n = len(arrays)
    packer = msgpack.Packer(use_bin_type=True)
    old_map = {"v": 1, "type": "batch", "sym": "TSLA", "epoch": 1, "seq": 1, "ev": arrays}
    payload = wire.pack_batch("TSLA", 1, 1, arrays)
    assert _unpack_map(payload) == old_map and _unpack_map(packer.pack(old_map)) == old_map
    to_dict = wire.event_to_dict

    def before_window() -> None:
        msg = _unpack_map(payload)
        for a in msg["ev"]:
            _before_to_dict("TSLA", a)

    def after_window() -> None:
        for e in wire.decode_data(payload).ev:
            to_dict("TSLA", e)

    pairs = [
        ("encode", lambda: packer.pack({"v": 1, "type": "batch", "sym": "TSLA", "epoch": 1, "seq": 1, "ev": arrays}),
         lambda: wire.pack_batch("TSLA", 1, 1, arrays)),
        ("decode", lambda: _unpack_map(payload), lambda: wire.decode_data(payload)),
        ("decode + seed dicts", before_window, after_window),
    ]
    loops, repeats = (500, 5) if quick else (2000, 7)
    rows = []
    for name, before, after in pairs:
        tb, ta = _best(before, loops, repeats), _best(after, loops, repeats)
        rows.append({"name": f"{name} ({n} events)", "msgpack_us": round(tb * 1e6, 1), "msgspec_us": round(ta * 1e6, 1),
                     "msgspec_events_per_s": round(n / ta), "speedup": round(tb / ta, 2)})
    return {"title": f"wire codec: one {n}-event TSLA batch ({len(payload)} bytes), before (msgpack-python maps) "
                     "vs after (msgspec structs)",
            "rows": rows,
            "notes": ["best of repeats; before = msgpack-python (+ the per-field Python checks for seed dicts), "
                      "after = the typed decoders of shared/models/messages.py, which check every field",
                      "the machine is shared: read the speedup column"]}


if __name__ == "__main__":
    from bench.__main__ import print_table

    r = measure(quick=False)
    print_table(r["title"], r["rows"])

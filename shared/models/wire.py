"""The ZeroMQ wire codec between the feed and its subscribers (protocol v1).

Why it looks like this
----------------------
* **msgpack, strict and bounded.** Decoding never builds arbitrary types (no ext
  types, string map keys only, bounded sizes) and every failure becomes one
  :class:`WireError`, so a subscriber can count and skip a bad message.
* **Events travel as short positional arrays**, not dicts. Measured on this
  machine (TSLA replay): unpacking seed-format dicts runs ~150k events/s, the
  same events as arrays ~2M events/s. A subscriber expands an array into the
  seed dict (:func:`event_to_dict`) only when it needs one.
* **Per-symbol batches with a sequence number.** One data message carries the
  next events of one symbol: ``seq`` is the sequence number of its first
  event, each following event is ``seq + i``. With the feed's ``epoch`` this
  gives the zguide "Clone" pattern: subscribe, buffer, snapshot, drop buffered
  events with ``seq <= snapshot.seq``; a gap or a new epoch -> re-snapshot.

Sockets (see docs/PROTOCOL.md):
  data    XPUB -> SUB, multipart ``[topic, payload]``; topics ``md|SYM|`` (events), ``sum|SYM|``
          (summaries), ``alert|`` (fired alerts) and ``sys|`` (heartbeats, status, errors)
  control ROUTER <-> DEALER, single-frame payloads; every request carries ``id``
          and the reply echoes it.

Event arrays (protocol v1, APPEND-ONLY: an index never changes meaning; a newer
feed may add trailing fields, an older one sends shorter arrays - read missing
trailing fields as None). Index 0 is the Polygon event code; names in brackets
are the spec's fields (``/stocks/T,Q,A,AM,LULD,NOI``):
  ``["T", t, price(p), size(s), exchange_id(x), conditions(c), trade_id(i: str|None),
    tape(z), seq(q), trf_id(trfi), trf_ts(trft)]``
  ``["Q", t, bid(bp), bid_size(bs), ask(ap), ask_size(as), bid_exchange_id(bx), ask_exchange_id(ax),
    condition(c: int|None), indicators(i: list[int]), tape(z), seq(q)]``
  ``["AM", start_ms(s), o, h, l, c, volume(v), vwap(vw), transactions(n), day_volume(av),
    official_open(op), day_vwap(a), end_ms(e), avg_size(z), otc]``
  ``["A", ...]``   second aggregates, the AM layout: never a minute bar
  ``["LULD", t, limit_up(h), limit_down(l), indicators(i), tape(z), seq(q)]``
  ``["NOI", t, auction_type(a: str), imbalance_qty(o), exchange_id(x), paired_qty(p),
    book_clearing_price(b), auction_time(at: hhmm Eastern), seq(i)]``
Exchange ids are Polygon's; every field but t and the T/Q/bar prices and sizes
may be None (transactions are None for streamed bars: Polygon's ``z`` is an
average size). Timestamps are epoch ms (LULD/NOI arrive in µs/ns and are scaled
by the decoder). :func:`event_to_dict` expands each into its seed dict
(``trade``, ``quote``, ``aggregate``, ``second_aggregate``, ``luld``,
``imbalance``; keys in docs/PROTOCOL.md).
"""

from __future__ import annotations

from math import isfinite
from typing import Any, Iterable

import msgpack

from .market_data import exchange_name, valid_symbol

PROTOCOL_VERSION = 1

# Hard bounds. A feed batch is at most a few thousand events; snapshots carry
# 2000 bars. 16 MiB leaves room and still stops a hostile or broken peer.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_ARRAY_LEN = 200_000
MAX_MAP_LEN = 10_000
MAX_STR_LEN = 1 * 1024 * 1024

SYS_TOPIC = b"sys|"
MD_PREFIX = b"md|"
SUM_PREFIX = b"sum|"     # sum|SYM|: one symbol's compact summary (watchlists), no events
ALERT_TOPIC = b"alert|"  # fired alerts of every symbol

# Message types on the data socket
BATCH = "batch"          # events of one symbol
HEARTBEAT = "heartbeat"  # every second on sys|
STATUS = "status"        # upstream state changed (same body as heartbeat), or a status reply
ERROR = "error"          # an input error the feed counted (sys|), or an error reply
RESYNC = "resync"        # per-symbol: state changed outside the stream (backfill done) -> re-snapshot
SUMMARY = "summary"      # sum|SYM|: last, change, volume, rel. volume, quote, day range, sparkline
ALERT = "alert"          # alert|: one fired alert; also the control request for the alert book (op)
# Control requests / replies
HELLO = "hello"
SNAPSHOT = "snapshot"

CONTROL_TYPES = frozenset({HELLO, SNAPSHOT, STATUS, "ping", "command", ALERT})
DATA_TYPES = frozenset({BATCH, HEARTBEAT, STATUS, ERROR, RESYNC, SUMMARY, ALERT})
# The summary's keys (docs/PROTOCOL.md); every figure may be None.
SUMMARY_KEYS = ("sym", "ts", "seq", "last", "change", "change_pct", "volume", "rel_volume", "bid", "ask", "spread",
                "high", "low", "prev_close", "spark")


class WireError(ValueError):
    """Bytes that are not a valid protocol-v1 message."""


# ---------------------------------------------------------------- topics


def topic_for(symbol: str) -> bytes:
    """``md|AAPL|``: the trailing delimiter stops AAPL matching AAPLW."""
    return MD_PREFIX + symbol.encode("ascii") + b"|"


def summary_topic(symbol: str) -> bytes:
    """``sum|AAPL|``: delimiter-terminated like ``md|``."""
    return SUM_PREFIX + symbol.encode("ascii") + b"|"


def watched_symbol(topic: bytes) -> str | None:
    """The symbol of an ``md|SYM|`` or ``sum|SYM|`` topic (both subscribe the symbol upstream); else None."""
    if topic.startswith(SUM_PREFIX):
        topic = MD_PREFIX + topic[len(SUM_PREFIX):]
    return symbol_from_topic(topic)


def symbol_from_topic(topic: bytes) -> str | None:
    """Inverse of :func:`topic_for`; ``None`` for the system topic or garbage."""
    if not topic.startswith(MD_PREFIX) or not topic.endswith(b"|"):
        return None
    try:
        sym = topic[len(MD_PREFIX):-1].decode("ascii")
    except UnicodeDecodeError:
        return None
    return sym if valid_symbol(sym) else None


# ---------------------------------------------------------------- sequences


class SeqTracker:
    """Subscriber side of the per-symbol sequence: detects gaps and epoch changes.

    ``check(epoch, seq, n)`` returns ``"ok"`` for the next batch in order,
    ``"dup"`` for a batch wholly at or before what was already applied (drop it),
    ``"overlap"`` when the batch starts before but ends after (apply the tail),
    and ``"gap"`` / ``"epoch"`` when the subscriber must re-snapshot.
    """

    __slots__ = ("epoch", "last")

    def __init__(self, epoch: int | None = None, last: int = 0):
        self.epoch = epoch
        self.last = last  # last applied sequence number

    def reset(self, epoch: int, last: int) -> None:
        self.epoch, self.last = epoch, last

    def check(self, epoch: int, seq: int, n: int) -> str:
        if self.epoch is None or epoch != self.epoch:
            return "epoch"
        end = seq + n - 1
        if end <= self.last:
            return "dup"
        if seq == self.last + 1:
            return "ok"
        if seq <= self.last:
            return "overlap"
        return "gap"

    def advance(self, seq: int, n: int) -> None:
        self.last = max(self.last, seq + n - 1)


# ---------------------------------------------------------------- events


def event_to_wire(ev: dict) -> list:
    """Seed dict (any kind :func:`event_to_dict` makes) -> wire array, through the decoder's rules
    (``shared.models.events``: the one place arrays are made). WireError if it breaks them."""
    from .events import build, decode_dict

    ev_struct, why = decode_dict(ev, None)
    errors: list[tuple[str, str]] = []
    batches: dict[str, list[list]] = {}
    if why is None:
        build([ev_struct], batches, None, None, errors)
    if why or errors or not batches:
        raise WireError(f"cannot make a wire array: {(why or (errors or [('', 'not a market event')])[0])[1]}"[:200])
    (arr,), = batches.values()
    return arr


def _n(v: Any) -> bool:
    """A finite number (bool is not one; inf/nan would poison every average)."""
    if isinstance(v, float):
        return isfinite(v)
    return isinstance(v, int) and not isinstance(v, bool)


def _i(v: Any) -> bool:
    return type(v) is int  # msgpack yields exact ints; excludes bool


def _oi(v: Any) -> bool:
    return v is None or type(v) is int


def _on(v: Any) -> bool:
    return v is None or _n(v)


def _int_list(c: Any) -> bool:
    if not isinstance(c, (list, tuple)):
        return False
    for k in c:
        if type(k) is not int:
            return False
    return True


def _tail(a: Any, start: int, n: int) -> list:
    """Fields ``a[start:start+n]``, None where an older (shorter) array has none."""
    got = list(a[start:start + n])
    return got + [None] * (n - len(got))


def _trade(symbol: str, a: Any) -> dict:
    t, p, s, x, c = a[1], a[2], a[3], a[4], a[5]
    i, z, q, trfi, trft = _tail(a, 6, 5)
    if not (_i(t) and _n(p) and _n(s) and _oi(x) and _int_list(c) and (i is None or type(i) is str)
            and _oi(z) and _oi(q) and _oi(trfi) and _oi(trft)):
        raise WireError("bad trade array")
    return {"event_type": "trade", "symbol": symbol, "timestamp": t, "price": float(p), "size": int(s),
            "conditions": list(c), "exchange": exchange_name(x), "id": i, "tape": z, "sequence": q,
            "trf_id": trfi, "trf_timestamp": trft}


def _quote(symbol: str, a: Any) -> dict:
    t, bp, bs, ap, as_, bx = a[1], a[2], a[3], a[4], a[5], a[6]
    ax, c, ind, z, q = _tail(a, 7, 5)
    if not (_i(t) and _n(bp) and _n(bs) and _n(ap) and _n(as_) and _oi(bx) and _oi(ax) and _oi(c)
            and (ind is None or _int_list(ind)) and _oi(z) and _oi(q)):
        raise WireError("bad quote array")
    return {"event_type": "quote", "symbol": symbol, "timestamp": t, "bid_price": float(bp), "bid_size": int(bs),
            "ask_price": float(ap), "ask_size": int(as_), "exchange": exchange_name(bx),
            "ask_exchange": exchange_name(ax), "conditions": [] if c is None else [c],
            "indicators": list(ind or ()), "tape": z, "sequence": q}


def _bar(symbol: str, a: Any, second: bool) -> dict:
    t, o, h, lo, c, v, vw, n = a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]
    av, op, da, e, z, otc = _tail(a, 9, 6)
    if not (_i(t) and _n(o) and _n(h) and _n(lo) and _n(c) and _n(v) and _on(vw) and _oi(n) and _oi(av)
            and _on(op) and _on(da) and _oi(e) and _oi(z) and (otc is None or type(otc) is bool)):
        raise WireError("bad aggregate array")
    return {"event_type": "second_aggregate" if second else "aggregate", "symbol": symbol, "timestamp": t,
            "open": float(o), "high": float(h), "low": float(lo), "close": float(c), "volume": int(v),
            "vwap": None if vw is None else float(vw), "transactions": n, "accumulated_volume": av,
            "official_open": None if op is None else float(op), "day_vwap": None if da is None else float(da),
            "end_timestamp": e, "average_size": z, "otc": otc, "timeframe": "1s" if second else "1m"}


def _luld(symbol: str, a: Any) -> dict:
    t, h, lo = a[1], a[2], a[3]
    ind, z, q = _tail(a, 4, 3)
    if not (_i(t) and _n(h) and _n(lo) and (ind is None or _int_list(ind)) and _oi(z) and _oi(q)):
        raise WireError("bad LULD array")
    return {"event_type": "luld", "symbol": symbol, "timestamp": t, "limit_up": float(h), "limit_down": float(lo),
            "indicators": list(ind or ()), "tape": z, "sequence": q}


def _imbalance(symbol: str, a: Any) -> dict:
    t = a[1]
    at_type, imb, x, paired, price, at_time, q = _tail(a, 2, 7)
    if not (_i(t) and (at_type is None or type(at_type) is str) and _oi(imb) and _oi(x) and _oi(paired)
            and _on(price) and _oi(at_time) and _oi(q)):
        raise WireError("bad NOI array")
    return {"event_type": "imbalance", "symbol": symbol, "timestamp": t, "auction_type": at_type,
            "imbalance_quantity": imb, "exchange": exchange_name(x), "paired_quantity": paired,
            "book_clearing_price": None if price is None else float(price), "auction_time": at_time,
            "sequence": q}


def event_to_dict(symbol: str, a: Any) -> dict:
    """Compact wire array -> its seed dict (the seed's keys, plus the added ones). WireError on a bad array.

    Arrays of an older feed (shorter) expand with the added keys None."""
    if not isinstance(a, (list, tuple)) or not a:
        raise WireError("event is not an array")
    code, n = a[0], len(a)
    if code == "T" and n >= 6:
        return _trade(symbol, a)
    if code == "Q" and n >= 7:
        return _quote(symbol, a)
    if code in ("AM", "A") and n >= 9:
        return _bar(symbol, a, code == "A")
    if code == "LULD" and n >= 4:
        return _luld(symbol, a)
    if code == "NOI" and n >= 2:
        return _imbalance(symbol, a)
    raise WireError(f"unknown or short event array {code!r}"[:120])

# ---------------------------------------------------------------- messages


def _ext_refused(code: int, data: bytes) -> Any:
    raise WireError(f"msgpack ext type {code} not allowed")


def _str_keys_only(d: dict) -> dict:
    # strict_map_key still admits bin (bytes) keys; the protocol allows text only.
    for k in d:
        if type(k) is not str:
            raise WireError(f"map key of type {type(k).__name__} not allowed")
    return d


def pack(msg: dict) -> bytes:
    """Encode one message (adds the protocol version)."""
    if "v" not in msg:
        msg = {"v": PROTOCOL_VERSION, **msg}
    try:
        return msgpack.packb(msg, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise WireError(f"cannot encode message: {e}") from None


def unpack(data: bytes) -> dict:
    """Decode and check one message. Any problem -> WireError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("message is not bytes")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        msg = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            ext_hook=_ext_refused,
            object_hook=_str_keys_only,
            max_str_len=MAX_STR_LEN,
            max_bin_len=MAX_STR_LEN,
            max_array_len=MAX_ARRAY_LEN,
            max_map_len=MAX_MAP_LEN,
            max_ext_len=0,
        )
    except WireError:
        raise
    except Exception as e:  # msgpack raises a zoo: ExtraData, FormatError, ValueError, ...
        raise WireError(f"undecodable message: {type(e).__name__}: {e}") from None
    if not isinstance(msg, dict):
        raise WireError("message is not a map")
    v = msg.get("v")
    if type(v) is not int or v != PROTOCOL_VERSION:  # True == 1 and 1.0 == 1 are not versions
        raise WireError(f"unsupported protocol version {v!r} (this side speaks {PROTOCOL_VERSION})")
    t = msg.get("type")
    if not isinstance(t, str):
        raise WireError("message has no type")
    if t == BATCH:
        if not (isinstance(msg.get("sym"), str) and isinstance(msg.get("epoch"), int)
                and isinstance(msg.get("seq"), int) and isinstance(msg.get("ev"), list)):
            raise WireError("malformed batch")
    return msg


def batch(symbol: str, epoch: int, seq: int, events: list) -> dict:
    """A data message: ``events`` (wire arrays) of ``symbol`` numbered from ``seq``."""
    return {"v": PROTOCOL_VERSION, "type": BATCH, "sym": symbol, "epoch": epoch, "seq": seq, "ev": events}


def encode_batch(symbol: str, epoch: int, seq: int, events: list) -> list[bytes]:
    """Multipart frames ready for ``send_multipart`` on the data socket."""
    return [topic_for(symbol), msgpack.packb(batch(symbol, epoch, seq, events), use_bin_type=True)]


def heartbeat(epoch: int, pid: int, upstream: dict, symbols: dict, counters: dict, ts_ms: int, **extra: Any) -> dict:
    """Heartbeat body: ``upstream`` = {state, kind, source, url, attempts, message}."""
    return {"v": PROTOCOL_VERSION, "type": HEARTBEAT, "epoch": epoch, "pid": pid, "upstream": upstream,
            "symbols": symbols, "counters": counters, "ts": ts_ms, **extra}


def hello_request(req_id: int | str = 0, client: str = "") -> dict:
    return {"v": PROTOCOL_VERSION, "type": HELLO, "id": req_id, "client": client}


def snapshot_request(symbol: str, req_id: int | str = 0) -> dict:
    return {"v": PROTOCOL_VERSION, "type": SNAPSHOT, "id": req_id, "symbol": symbol}


def status_request(req_id: int | str = 0) -> dict:
    return {"v": PROTOCOL_VERSION, "type": STATUS, "id": req_id}


def error_reply(req_id: Any, message: str, code: str = "bad_request") -> dict:
    return {"v": PROTOCOL_VERSION, "type": ERROR, "id": req_id, "code": code, "message": message}


def iter_events(msg: dict) -> Iterable[tuple[int, list]]:
    """``(seq, event_array)`` pairs of a batch message."""
    seq = msg["seq"]
    for i, a in enumerate(msg["ev"]):
        yield seq + i, a

"""The ZeroMQ wire codec between the feed and its subscribers (protocol v1).

Why it looks like this
----------------------
* **One typed model.** Every message is a msgspec Struct of
  :mod:`shared.models.messages`; the feed encodes them with one
  ``msgspec.msgpack.Encoder`` and a subscriber decodes with typed decoders
  (:func:`decode_data`, :func:`decode_reply`, :func:`decode_request`), which
  check types and bounds in C in the same pass. Every failure becomes one
  :class:`WireError`, so a subscriber can count and skip a bad message.
  :func:`unpack` is the strict map reader for tools (text keys only, no ext
  types, bounded sizes).
* **Events travel as short positional arrays**, not dicts. Measured on this
  machine (TSLA replay): unpacking seed-format dicts runs ~150k events/s, the
  same events as arrays ~2M events/s. A subscriber expands an event into the
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
feed may add trailing fields, an older one sends shorter arrays, read as None)
are declared in :mod:`shared.models.messages` (``TradeEv`` ... ``ImbalanceEv``),
documented in docs/PROTOCOL.md. :func:`event_to_dict` expands each into its seed
dict (``trade``, ``quote``, ``aggregate``, ``second_aggregate``, ``luld``,
``imbalance``).
"""

from __future__ import annotations

from typing import Any, Callable, get_args

import msgpack
import msgspec

from . import messages as m
from .control_msgs import (alert_request, command, error_reply, hello_request, snapshot_request,  # noqa: F401
                           status_request, summary_request)
from .messages import batch, error_event, heartbeat, resync  # noqa: F401
from .market_data import exchange_name, valid_symbol

PROTOCOL_VERSION = 1

# Hard bounds. A feed batch is at most a few thousand events; snapshots carry
# 2000 bars. 16 MiB leaves room and still stops a hostile or broken peer.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_ARRAY_LEN = m.MAX_ARRAY_LEN
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

CONTROL_TYPES = frozenset(c.__struct_config__.tag for c in get_args(m.Request))  # requests
DATA_TYPES = frozenset(c.__struct_config__.tag for c in get_args(m.DataMessage))
# The summary's keys (docs/PROTOCOL.md); every figure may be None.
SUMMARY_KEYS = tuple(f for f in m.Summary.__struct_fields__ if f != "v")


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
    from .arrays import build
    from .events import decode_dict

    ev_struct, why = decode_dict(ev, None)
    errors: list[tuple[str, str]] = []
    batches: dict[str, list[list]] = {}
    if why is None:
        build([ev_struct], batches, None, None, errors)
    if why or errors or not batches:
        raise WireError(f"cannot make a wire array: {(why or (errors or [('', 'not a market event')])[0])[1]}"[:200])
    (arr,), = batches.values()
    return arr


_as_event = msgspec.convert  # a list (a snapshot's last trade, a tap's array) -> its event struct


def as_event(a: Any) -> Any:
    """A wire array (list) -> its event struct, by the same rules as the decoders. WireError if bad."""
    try:
        return _as_event(a, m.Event)
    except (msgspec.ValidationError, TypeError) as e:
        raise WireError(f"bad event array: {e}"[:200]) from None


def _trade(symbol: str, e: m.TradeEv) -> dict:
    return {"event_type": "trade", "symbol": symbol, "timestamp": e.t, "price": e.p, "size": e.s,
            "conditions": e.c, "exchange": exchange_name(e.x), "id": e.i, "tape": e.z, "sequence": e.q,
            "trf_id": e.trfi, "trf_timestamp": e.trft}


def _quote(symbol: str, e: m.QuoteEv) -> dict:
    c, ind = e.c, e.i
    return {"event_type": "quote", "symbol": symbol, "timestamp": e.t, "bid_price": e.bp, "bid_size": e.bs,
            "ask_price": e.ap, "ask_size": e.as_, "exchange": exchange_name(e.bx),
            "ask_exchange": exchange_name(e.ax), "conditions": [] if c is None else [c],
            "indicators": [] if ind is None else ind, "tape": e.z, "sequence": e.q}


def _bar(symbol: str, e: m.MinuteEv) -> dict:
    second = type(e) is m.SecondEv
    return {"event_type": "second_aggregate" if second else "aggregate", "symbol": symbol, "timestamp": e.s,
            "open": e.o, "high": e.h, "low": e.l, "close": e.c, "volume": e.v, "vwap": e.vw,
            "transactions": e.n, "accumulated_volume": e.av, "official_open": e.op, "day_vwap": e.a,
            "end_timestamp": e.e, "average_size": e.z, "otc": e.otc, "timeframe": "1s" if second else "1m"}


def _luld(symbol: str, e: m.LuldEv) -> dict:
    return {"event_type": "luld", "symbol": symbol, "timestamp": e.t, "limit_up": e.h, "limit_down": e.l,
            "indicators": [] if e.i is None else e.i, "tape": e.z, "sequence": e.q}


def _imbalance(symbol: str, e: m.ImbalanceEv) -> dict:
    return {"event_type": "imbalance", "symbol": symbol, "timestamp": e.t, "auction_type": e.a,
            "imbalance_quantity": e.o, "exchange": exchange_name(e.x), "paired_quantity": e.p,
            "book_clearing_price": e.b, "auction_time": e.at, "sequence": e.i}


_SEED = {m.TradeEv: _trade, m.QuoteEv: _quote, m.MinuteEv: _bar, m.SecondEv: _bar, m.LuldEv: _luld,
         m.ImbalanceEv: _imbalance}
CODE = {m.TradeEv: "T", m.QuoteEv: "Q", m.MinuteEv: "AM", m.SecondEv: "A", m.LuldEv: "LULD",
        m.ImbalanceEv: "NOI"}  # event struct -> its code (index 0 of its array)


def event_to_dict(symbol: str, a: Any) -> dict:
    """An event (a decoded struct, or a wire array) -> its seed dict (the seed's keys, plus the added
    ones): the one place seed dicts are made. WireError on a bad array.

    Arrays of an older feed (shorter) expand with the added keys None; a newer feed's extra
    trailing fields are ignored."""
    f = _SEED.get(type(a))
    if f is None:
        a = as_event(a)
        f = _SEED[type(a)]
    return f(symbol, a)


# ---------------------------------------------------------------- messages

def _ext_refused(code: int, data: Any) -> Any:
    raise WireError(f"msgpack ext type {code} not allowed")


def _str_keys_only(d: dict) -> dict:
    # strict_map_key still admits bin (bytes) keys; the protocol allows text only.
    for k in d:
        if type(k) is not str:
            raise WireError(f"map key of type {type(k).__name__} not allowed")
    return d


_ENCODER = msgspec.msgpack.Encoder()
_encode = _ENCODER.encode


def pack(msg: Any) -> bytes:
    """Encode one message: a message struct, or a map (the protocol version is added)."""
    if type(msg) is dict and "v" not in msg:
        msg = {"v": PROTOCOL_VERSION, **msg}
    try:
        return _encode(msg)
    except (TypeError, ValueError, OverflowError) as e:
        raise WireError(f"cannot encode message: {e}") from None


def pack_batch(symbol: str, epoch: int, seq: int, events: list) -> bytes:
    """The payload of one data message: ``events`` (wire arrays) of ``symbol`` numbered from ``seq``.
    Raises (TypeError, OverflowError ...) on what msgpack cannot carry; the publisher drops that event."""
    return _encode(m.Batch(v=1, sym=symbol, epoch=epoch, seq=seq, ev=events))


def unpack(data: Any) -> dict:
    """Decode and check one message of any type into a map (tools, the supervisor, a map's own
    checker such as the alert book). Text keys only, no ext types, bounded sizes; a batch is
    checked by :class:`~shared.models.messages.Batch`. Any problem -> WireError."""
    _check_size(data)
    try:
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_ext_refused,
                              object_hook=_str_keys_only, max_str_len=MAX_STR_LEN, max_bin_len=MAX_STR_LEN,
                              max_array_len=MAX_ARRAY_LEN, max_map_len=MAX_MAP_LEN, max_ext_len=0)
    except WireError:
        raise
    except Exception as e:  # msgpack raises a zoo: ExtraData, FormatError, ValueError, ...
        raise WireError(f"undecodable message: {type(e).__name__}: {e}") from None
    if not isinstance(msg, dict):
        raise WireError("message is not a map")
    v = msg.get("v")
    if type(v) is not int or v != PROTOCOL_VERSION:  # True == 1 and 1.0 == 1 are not versions
        raise WireError(f"unsupported protocol version {v!r} (this side speaks {PROTOCOL_VERSION})")
    if not isinstance(msg.get("type"), str):
        raise WireError("message has no type")
    if msg["type"] == BATCH:
        try:
            msgspec.convert(msg, m.Batch)
        except msgspec.ValidationError as e:
            raise WireError(f"malformed batch: {e}"[:200]) from None
    return msg


def _check_size(data: Any) -> None:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise WireError("message is not bytes")
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")


def _typed(decode: Callable[[Any], Any], data: Any) -> Any:
    """Decode with a typed decoder; a message of a type that decoder does not know -> the checked map
    (:func:`unpack`), so a newer peer's new message is skipped, not counted as an error."""
    _check_size(data)
    try:
        return decode(data)
    except msgspec.ValidationError as e:
        why = str(e)
        if why.startswith("Invalid value") and why.endswith("`$.type`"):
            return unpack(data)
        raise WireError(f"invalid message: {why}"[:240]) from None
    except WireError:
        raise
    except Exception as e:  # msgspec.DecodeError (truncated, trailing bytes, too deep), ...
        raise WireError(f"undecodable message: {type(e).__name__}: {e}"[:240]) from None


_DATA = msgspec.msgpack.Decoder(m.DataMessage, ext_hook=_ext_refused).decode
_REPLY = msgspec.msgpack.Decoder(m.Reply, ext_hook=_ext_refused).decode
_REQUEST = msgspec.msgpack.Decoder(m.Request, ext_hook=_ext_refused).decode


def decode_data(data: Any) -> Any:
    """A data-socket payload -> its message struct (:data:`~shared.models.messages.DataMessage`: a
    batch's events are event structs), or a map for a type not declared there. WireError if bad."""
    return _typed(_DATA, data)


def decode_reply(data: Any) -> Any:
    """A control reply -> its struct (hello, snapshot, ok, pong, error, status, summary, alert), or the
    map of a type not declared. WireError if bad."""
    return _typed(_REPLY, data)


def decode_request(data: Any) -> Any:
    """A control request -> its struct, or the map of a type not declared (the feed answers
    ``unknown_type``). WireError if bad."""
    return _typed(_REQUEST, data)


def type_of(msg: Any) -> str | None:
    """The ``type`` of a message struct or map."""
    if isinstance(msg, dict):
        t = msg.get("type")
        return t if isinstance(t, str) else None
    return getattr(getattr(msg, "__struct_config__", None), "tag", None)


def as_dict(msg: Any) -> dict:
    """A message struct -> its map (``type`` and the fields; values as they are); a map passes through."""
    return msg if isinstance(msg, dict) else m.as_map(msg)


def reply_id(msg: Any) -> Any:
    """The ``id`` a reply echoes (a struct or a map)."""
    return msg.get("id") if isinstance(msg, dict) else getattr(msg, "id", None)


def with_id(msg: Any, req_id: Any) -> Any:
    """A copy of a reply with another ``id`` (a client that multiplexes requests on one socket)."""
    return {**msg, "id": req_id} if isinstance(msg, dict) else msgspec.structs.replace(msg, id=req_id)


def to_arrays(events: list) -> list[list]:
    """Event structs -> their wire arrays (lists), for a reader that indexes them."""
    return msgspec.to_builtins(events)


# ---------------------------------------------------------------- message builders
# (the constructors live beside the declarations, shared.models.messages)

def encode_batch(symbol: str, epoch: int, seq: int, events: list) -> list[bytes]:
    """Multipart frames ready for ``send_multipart`` on the data socket."""
    return [topic_for(symbol), pack_batch(symbol, epoch, seq, events)]

"""Sans-I/O upstream protocol cores: the relay's and Polygon/Massive's.

Why sans-I/O: all protocol logic (handshake, auth, subscribe bookkeeping,
parsing, filtering, error counting) lives in plain objects that take the
frames a WebSocket delivered and return what to do - events to publish,
messages to send, a state change, errors to count. No sockets, no clock, no
asyncio: the unit and fuzz tests drive them directly, and the one I/O layer
(``websocket_client.py``) serves both.

Contract of a core (both classes):

* ``on_open() -> list[str]``: a new connection is open; messages to send.
* ``receive(frame) -> Output``: one WebSocket frame (text or bytes). Never
  raises: bad input is counted in ``counters`` by kind and listed in
  ``Output.errors``.
* ``subscribe(symbols)`` / ``unsubscribe(symbols) -> list[str]``: change the
  wanted set; messages to send now (none while not yet ready - the whole set is
  sent once the connection is ready, so a reconnect re-subscribes the union).
* ``wanted``: the symbols subscribers asked for. Events of other symbols are
  dropped (a real relay may ignore ``unsubscribe``) and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Annotated, Any, Iterable

import msgspec
import orjson

from shared.models.market_data import InvalidEvent

from .events import _CONVERT, INF, polygon_array, standard_array

log = logging.getLogger(__name__)

CHANNELS = ("T", "Q", "AM")

# Upstream states (docs/PROTOCOL.md); the cores report the protocol-level ones.
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"
AUTH_FAILED = "auth_failed"
MAX_CONNECTIONS = "max_connections"
STALLED = "stalled"
FAILED = "failed"
STOPPED = "stopped"


# ---- the typed fast path for Polygon frames (msgspec decodes and validates in C)
# A frame is decoded straight into these structs; a field that is missing, of the
# wrong type, out of range (prices > 0 and finite, sizes >= 0, ms timestamps > 0), or
# an unknown ``ev`` makes msgspec refuse the whole frame, and the orjson path below
# re-reads it event by event to keep the good ones and count the bad ones by kind.
# Unknown fields (``z``, ``q``, ``av`` ...) are skipped without being built.
_MAX_PRICE = 1e12  # finite bound (msgspec needs one); the slow path refuses only inf beyond it
_Price = Annotated[float, msgspec.Meta(gt=0, lt=_MAX_PRICE)]
_Quote = Annotated[float, msgspec.Meta(ge=0, lt=_MAX_PRICE)]  # one-sided quotes have a 0 side
_Size = Annotated[int, msgspec.Meta(ge=0)]
_Ms = Annotated[int, msgspec.Meta(gt=0)]


class _T(msgspec.Struct, tag_field="ev", tag="T", kw_only=True):
    sym: str
    p: _Price
    s: _Size
    t: _Ms
    x: int | None = None
    c: list[int] | None = None
    i: str | None = None


class _Q(msgspec.Struct, tag_field="ev", tag="Q", kw_only=True):
    sym: str
    bp: _Quote
    ap: _Quote
    t: _Ms
    bs: _Size = 0
    as_: _Size = msgspec.field(default=0, name="as")
    bx: int | None = None
    ax: int | None = None


class _AM(msgspec.Struct, tag_field="ev", tag="AM", kw_only=True):
    sym: str
    o: _Price
    h: _Price
    l: _Price  # noqa: E741 - Polygon's field name
    c: _Price
    v: _Size
    s: _Ms
    vw: _Price | None = None
    n: int | None = None


class _A(_AM, tag="A"):
    pass


class _Status(msgspec.Struct, tag_field="ev", tag="status", kw_only=True):
    status: str
    message: str = ""
    source: str | None = None


_POLYGON_FRAME = msgspec.json.Decoder(list[_T | _Q | _AM | _A | _Status])


class Output:
    """What one frame produced.

    ``batches`` maps each symbol to its events (wire arrays) in arrival order -
    exactly the unit the feed publishes (per-symbol order is what sequence
    numbers promise; order across symbols is not kept). ``events`` is the flat
    ``(symbol, array)`` view for tests and tools.
    """

    __slots__ = ("batches", "count", "last_ms", "send", "state", "message", "errors", "source")

    def __init__(self) -> None:
        self.batches: dict[str, list[list]] = {}
        self.count = 0                  # events in batches
        self.last_ms = 0                # data time of the last event
        self.send: list[str] = []
        self.state: str | None = None   # a new upstream state, if this frame changed it
        self.message: str = ""          # human text for the state / last info
        self.errors: list[tuple[str, str]] = []
        self.source: str | None = None  # the sim's data-source label, when announced

    def add(self, sym: str, arr: list) -> None:
        lst = self.batches.get(sym)
        if lst is None:
            self.batches[sym] = [arr]
        else:
            lst.append(arr)
        self.count += 1
        self.last_ms = arr[1]

    def seal(self, appended: int) -> Output:
        """End of a frame whose hot path appended ``appended`` events straight to ``batches``:
        drop symbols left empty (all their events were bad), count, note the data time."""
        batches = self.batches
        for sym in [k for k, v in batches.items() if not v]:
            del batches[sym]
        self.count += appended
        if batches:
            self.last_ms = max(lst[-1][1] for lst in batches.values())
        return self

    @property
    def events(self) -> list[tuple[str, list]]:
        return [(sym, a) for sym, lst in self.batches.items() for a in lst]


def _ints(c: list) -> bool:
    for k in c:
        if type(k) is not int:
            return False
    return True


def _short(v: Any, n: int = 80) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


class _Core:
    kind = ""

    def __init__(self, channels: Iterable[str] = CHANNELS) -> None:
        self.channels = tuple(channels)
        self.wanted: set[str] = set()
        self.ready = False
        self.counters: Counter[str] = Counter()

    def _error(self, out: Output, kind: str, message: str) -> None:
        self.counters[kind] += 1
        out.errors.append((kind, message))

    def subscribe(self, symbols: Iterable[str]) -> list[str]:
        new = [s for s in symbols if s not in self.wanted]
        self.wanted.update(new)
        return self._sub_messages("subscribe", new) if (new and self.ready) else []

    def unsubscribe(self, symbols: Iterable[str]) -> list[str]:
        gone = [s for s in symbols if s in self.wanted]
        self.wanted.difference_update(gone)
        return self._sub_messages("unsubscribe", gone) if (gone and self.ready) else []

    def _sub_messages(self, action: str, symbols: list[str]) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _market(self, out: Output, d: dict, polygon_spelling: bool) -> None:
        """One market event dict -> ``out.events`` (or a counted error)."""
        try:
            if polygon_spelling:
                sym = d["sym"]
                if sym not in self.wanted:
                    self._unwanted(out, sym)
                    return
                out.add(sym, polygon_array(d))
            else:
                sym, arr = standard_array(d)
                if sym not in self.wanted:
                    self._unwanted(out, sym)
                    return
                out.add(sym, arr)
        except InvalidEvent as e:
            self._error(out, e.kind, str(e))
        except KeyError:
            self._error(out, "missing_symbol", f"event without a symbol: {_short(d)}")
        except TypeError:  # unhashable symbol and friends
            self._error(out, "wrong_type", f"event with a malformed field: {_short(d)}")

    def _unwanted(self, out: Output, sym: Any) -> None:
        self._error(out, "unknown_symbol", f"event for {_short(sym, 24)} which nobody subscribed")

    def _load(self, out: Output, frame: str | bytes) -> Any:
        try:
            return orjson.loads(frame)
        except (orjson.JSONDecodeError, TypeError) as e:
            self._error(out, "malformed_json", f"frame is not JSON ({e}): {_short(frame, 60)}")
            return None


class PolygonCore(_Core):
    """Polygon/Massive ``/stocks``: status ``connected`` -> auth -> ``auth_success`` -> subscribe.

    Every frame is a JSON array batching events; a lone object is accepted too.
    ``auth_failed`` and ``max_connections`` become states the I/O layer shows
    and backs off on (long waits, never a tight loop).
    """

    kind = "polygon"

    def __init__(self, api_key: str, channels: Iterable[str] = CHANNELS) -> None:
        super().__init__(channels)
        self._key = api_key  # sent in the auth message only; never logged
        self.authenticated = False

    def on_open(self) -> list[str]:
        self.ready = False
        self.authenticated = False
        return []  # the server speaks first (status "connected")

    def _auth(self) -> str:
        return orjson.dumps({"action": "auth", "params": self._key}).decode()

    def _sub_messages(self, action: str, symbols: list[str]) -> list[str]:
        params = ",".join(f"{ch}.{s}" for s in sorted(symbols) for ch in self.channels)
        return [orjson.dumps({"action": action, "params": params}).decode()]

    def receive(self, frame: str | bytes) -> Output:
        """Clean frames take the typed decoder; any frame it refuses is re-read by the thorough path."""
        try:
            evs = _POLYGON_FRAME.decode(frame)
        except (msgspec.ValidationError, msgspec.DecodeError, TypeError):
            return self._receive_slow(frame)
        out = Output()
        wanted = self.wanted
        batches = out.batches
        n = 0
        for e in evs:
            cls = type(e)
            if cls is _Status:
                self._status(out, {"status": e.status, "message": e.message, "source": e.source})
                continue
            sym = e.sym
            lst = batches.get(sym)
            if lst is None:
                if sym not in wanted:
                    self._unwanted(out, sym)
                    continue
                lst = batches[sym] = []
            if cls is _T:
                c = e.c
                lst.append(["T", e.t, e.p, e.s, e.x, c if c is not None else [], e.i])
            elif cls is _Q:
                lst.append(["Q", e.t, e.bp, e.bs, e.ap, e.as_, e.bx, e.ax])
            else:
                o, h, lo, c = e.o, e.h, e.l, e.c
                if not (lo <= o <= h and lo <= c <= h):
                    self._error(out, "inconsistent_bar", f"bar OHLC inconsistent (o={o} h={h} l={lo} c={c})")
                    continue
                lst.append(["AM", e.s, o, h, lo, c, e.v, e.vw, e.n])
            n += 1
        return out.seal(n)

    def _receive_slow(self, frame: str | bytes) -> Output:
        out = Output()
        msgs = self._load(out, frame)
        if msgs is None and not out.errors:
            self._error(out, "wrong_type", "frame is JSON null")
        if msgs is None:
            return out
        if type(msgs) is dict:
            msgs = [msgs]
        elif type(msgs) is not list:
            self._error(out, "wrong_type", f"frame is not an array of events: {_short(msgs, 40)}")
            return out
        wanted = self.wanted
        batches = out.batches
        convert = _CONVERT
        n = 0
        for d in msgs:
            # The hot path, inlined: a T or Q of a wanted symbol with sane fields becomes its wire
            # array right here; anything unusual falls to the converters, which say what is wrong.
            try:
                ev = d["ev"]
                sym = d["sym"]
                lst = batches.get(sym)
                if lst is None:
                    if sym not in wanted:
                        raise KeyError
                    lst = batches[sym] = []
                if ev == "T":
                    p = d["p"]
                    s = d["s"]
                    t = d["t"]
                    c = d.get("c")
                    if ((type(p) is float or type(p) is int) and 0 < p < INF and type(s) is int and s >= 0
                            and type(t) is int and t > 0 and (c is None or (type(c) is list and _ints(c)))):
                        x = d.get("x")
                        i = d.get("i")
                        arr = ["T", t, p, s, x if type(x) is int else None, c or [], i if type(i) is str else None]
                    else:
                        arr = convert["T"](d)
                elif ev == "Q":
                    bp = d["bp"]
                    ap = d["ap"]
                    bs = d["bs"]
                    as_ = d["as"]
                    t = d["t"]
                    if ((type(bp) is float or type(bp) is int) and 0 <= bp < INF
                            and (type(ap) is float or type(ap) is int) and 0 <= ap < INF
                            and type(bs) is int and bs >= 0 and type(as_) is int and as_ >= 0
                            and type(t) is int and t > 0):
                        bx = d.get("bx")
                        ax = d.get("ax")
                        arr = ["Q", t, bp, bs, ap, as_, bx if type(bx) is int else None,
                               ax if type(ax) is int else None]
                    else:
                        arr = convert["Q"](d)
                else:
                    arr = convert[ev](d)
                lst.append(arr)
                n += 1
                continue
            except InvalidEvent as e:
                self._error(out, e.kind, str(e))
                continue
            except (KeyError, TypeError):
                pass  # not a market event, an unwanted symbol, or a malformed one: the slow path says which
            if type(d) is not dict:
                self._error(out, "wrong_type", f"event is not an object: {_short(d, 40)}")
            elif d.get("ev") == "status":
                self._status(out, d)
            elif type(d.get("ev")) is str and d.get("ev") in convert:
                self._market(out, d, True)
            else:
                self._error(out, "unknown_event", f"unknown event type {_short(d.get('ev'), 24)}")
        return out.seal(n)

    def _status(self, out: Output, d: dict) -> None:
        status = d.get("status")
        message = d.get("message")
        message = message if isinstance(message, str) else ""
        if isinstance(d.get("source"), str):
            out.source = d["source"]
        if status == "connected":
            out.send.append(self._auth())
        elif status == "auth_success":
            self.authenticated = self.ready = True
            out.state, out.message = CONNECTED, "authenticated"
            if self.wanted:
                out.send.extend(self._sub_messages("subscribe", sorted(self.wanted)))
        elif status == "auth_failed":
            self.ready = False
            out.state, out.message = AUTH_FAILED, message or "authentication failed: check the API key"
        elif status == "max_connections":
            self.ready = False
            out.state = MAX_CONNECTIONS
            out.message = message or "another connection is using this API key (max_connections)"
        elif status in ("success", "auth_timeout", "error", "unsubscribed", "subscribed"):
            if status in ("auth_timeout", "error"):
                self._error(out, "upstream_error", f"upstream {status}: {message[:120]}")
            else:
                out.message = message
        else:
            self._error(out, "unknown_status", f"unknown status {_short(status, 40)}")


class RelayCore(_Core):
    """The seed relay at ``/ws/{client_id}``: ``{"type": ...}`` messages, market data in ``data``."""

    kind = "relay"

    def on_open(self) -> list[str]:
        # The relay accepts subscriptions at once; send the whole union.
        self.ready = True
        return self._sub_messages("subscribe", sorted(self.wanted)) if self.wanted else []

    def _sub_messages(self, action: str, symbols: list[str]) -> list[str]:
        msg: dict[str, Any] = {"action": action, "symbols": sorted(symbols)}
        if action == "subscribe":
            msg["channels"] = list(self.channels)
        return [orjson.dumps(msg).decode()]

    def ping(self) -> str:
        return '{"action":"ping"}'

    def receive(self, frame: str | bytes) -> Output:
        out = Output()
        msg = self._load(out, frame)
        if out.errors:
            return out
        if type(msg) is list:  # a batching relay: several messages in one frame
            for m in msg:
                self._one(out, m)
        else:
            self._one(out, msg)
        return out

    def _one(self, out: Output, msg: Any) -> None:
        if type(msg) is not dict:
            self._error(out, "wrong_type", f"message is not an object: {_short(msg, 40)}")
            return
        t = msg.get("type")
        if t == "market_data":
            data = msg.get("data")
            items = data if type(data) is list else [data]
            for d in items:
                if type(d) is not dict:
                    self._error(out, "wrong_type", f"market_data without an object: {_short(d, 40)}")
                elif "ev" in d:
                    self._market(out, d, True)
                else:
                    self._market(out, d, False)
        elif t == "connected":
            if isinstance(msg.get("source"), str):
                out.source = msg["source"]
            out.state, out.message = CONNECTED, "connected"
        elif t in ("subscribed", "unsubscribed", "pong"):
            pass
        elif t == "error":
            m = msg.get("message")
            self._error(out, "upstream_error", f"relay error: {str(m)[:120]}")
        else:
            self._error(out, "unknown_message", f"unknown message type {_short(t, 24)}")


def make_core(protocol: str, api_key: str = "", channels: Iterable[str] = CHANNELS) -> _Core:
    if protocol == "polygon":
        return PolygonCore(api_key, channels)
    if protocol == "relay":
        return RelayCore(channels)
    raise ValueError(f"unknown protocol {protocol!r}")

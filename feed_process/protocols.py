"""Sans-I/O upstream protocol cores: the relay's and Polygon/Massive's.

Why sans-I/O: all protocol logic (handshake, auth, subscribe bookkeeping,
parsing, filtering, de-duplication, error counting) lives in plain objects
that take the frames a WebSocket delivered and return what to do - events to
publish, messages to send, a state change, errors to count. No sockets, no
clock, no asyncio: the unit and fuzz tests drive them directly, and the one
I/O layer (``websocket_client.py``) serves both.

Validation is not here: every event goes through ``shared.models.events`` (the
one declaration of the spec's schemas). A clean Polygon frame is one typed
decode in C; a frame it refuses is re-read element by element with the same
decoder, so the good events survive and each bad one is counted by kind.

Contract of a core (both classes; ``channels=`` picks the spec's channels,
default ``CHANNELS``, any of ``ALL_CHANNELS``):

* ``on_open() -> list[str]``: a new connection is open; messages to send.
* ``receive(frame) -> Output``: one WebSocket frame (text or bytes). Never
  raises: bad input is counted in ``counters`` by kind and listed in
  ``Output.errors``.
* ``subscribe(symbols)`` / ``unsubscribe(symbols) -> list[str]``: change the
  wanted set; messages to send now (none while not yet ready - the whole set is
  sent once the connection is ready, so a reconnect re-subscribes the union).
* ``wanted``: the symbols subscribers asked for. Events of other symbols are
  dropped (a real relay may ignore ``unsubscribe``; the official mock server
  sends unrequested AMZN trades) and counted as ``unknown_symbol``.
* ``pending``: topics (``"T.AAPL"``) asked for on this connection and not yet
  acknowledged. ``Output.acks`` lists the topics a frame acknowledged,
  ``Output.sub_errors`` the upstream's error replies to requests (Polygon
  ``status: error`` once authenticated, relay ``{"type": "error"}``); with
  ``Output.state`` (``connected`` = authenticated / relay greeting) that lets
  the runtime tell "subscribed and healthy" from "subscribe_failed".
* Trades are de-duplicated by (symbol, exchange, trade id) over the last
  ``DEDUP_WINDOW``..2x trade ids per symbol of this connection (``duplicate``);
  trades without an id are never dropped.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, Iterable

import msgspec
import orjson

from shared.models.arrays import build
from shared.models.events import (ANY, EVENT, FRAME, MAX_DEPTH, RAW_LIST, Status, decode_dict, diagnose, short,
                                   too_deep)

log = logging.getLogger(__name__)

ALL_CHANNELS = ("T", "Q", "AM", "A", "LULD", "NOI")
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

_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, TypeError, RecursionError)


class Output:
    """What one frame produced.

    ``batches`` maps each symbol to its events (wire arrays) in arrival order -
    exactly the unit the feed publishes (per-symbol order is what sequence
    numbers promise; order across symbols is not kept). ``events`` is the flat
    ``(symbol, array)`` view for tests and tools.
    """

    __slots__ = ("batches", "count", "last_ms", "send", "state", "message", "errors", "source", "session",
                 "acks", "sub_errors")

    def __init__(self) -> None:
        self.batches: dict[str, list[list]] = {}
        self.count = 0                  # events in batches
        self.last_ms = 0                # data time of the last event
        self.send: list[str] = []
        self.state: str | None = None   # a new upstream state, if this frame changed it
        self.message: str = ""          # human text for the state / last info
        self.errors: list[tuple[str, str]] = []
        self.source: str | None = None  # the sim's data-source label, when announced
        self.session: str | None = None  # the sim's clock ("wall" / "virtual"), when announced
        self.acks: list[str] = []       # topics acknowledged ("T.AAPL")
        self.sub_errors: list[str] = []  # the upstream's error replies to our requests

    def seal(self, appended: int) -> Output:
        """End of a frame: drop symbols left empty (all their events were bad), count, note the data time."""
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


class _Core:
    kind = ""

    def __init__(self, channels: Iterable[str] = CHANNELS) -> None:
        chans = tuple(dict.fromkeys(channels))
        bad = [c for c in chans if c not in ALL_CHANNELS]
        if bad or not chans:
            raise ValueError(f"unknown channels {bad} (known: {','.join(ALL_CHANNELS)})" if bad else "no channels")
        self.channels = chans
        self.wanted: set[str] = set()
        self.ready = False
        self.counters: Counter[str] = Counter()
        self.pending: set[str] = set()
        self._seen: dict[str, list[dict]] = {}  # de-dup memory per symbol (arrays.build)

    def _new_connection(self) -> None:
        self.ready = False
        self.pending.clear()
        self._seen.clear()  # an upstream that restarted may reuse ids for other trades

    def _finish(self, out: Output, evs: list) -> Output:
        n, statuses = build(evs, out.batches, self.wanted, self._seen, out.errors)
        for st in statuses:
            self._status(out, st.status, st.message, st.source, st.session)
        for kind, _ in out.errors:
            self.counters[kind] += 1
        return out.seal(n)

    def _status(self, out: Output, status: Any, message: str, source: Any, session: Any) -> None:
        pass  # only Polygon frames carry status events (the relay's dicts refuse them)

    def _topics(self, symbols: Iterable[str]) -> list[str]:
        return [f"{ch}.{s}" for s in sorted(symbols) for ch in self.channels]

    def subscribe(self, symbols: Iterable[str]) -> list[str]:
        new = [s for s in symbols if s not in self.wanted]
        self.wanted.update(new)
        return self._sub_messages("subscribe", new) if (new and self.ready) else []

    def unsubscribe(self, symbols: Iterable[str]) -> list[str]:
        gone = [s for s in symbols if s in self.wanted]
        self.wanted.difference_update(gone)
        for s in gone:
            self._seen.pop(s, None)
        return self._sub_messages("unsubscribe", gone) if (gone and self.ready) else []

    def _sub_messages(self, action: str, symbols: list[str]) -> list[str]:
        topics = self._topics(symbols)
        if action == "subscribe":
            self.pending.update(topics)
        else:
            self.pending.difference_update(topics)
        return [self._request(action, symbols, topics)]

    def _request(self, action: str, symbols: list[str], topics: list[str]) -> str:  # pragma: no cover
        raise NotImplementedError

    def _ack(self, out: Output, topic: str) -> None:
        self.pending.discard(topic)
        out.acks.append(topic)


class PolygonCore(_Core):
    """Polygon/Massive ``/stocks``: status ``connected`` -> auth -> ``auth_success`` -> subscribe.

    Every frame is a JSON array batching events; a lone object is accepted too.
    ``auth_failed`` and ``max_connections`` become states the I/O layer shows
    and backs off on (long waits, never a tight loop). Subscribe params are
    ``T.AAPL,A.AAPL,LULD.AAPL,...`` (per symbol, the core's channels in order);
    the server acknowledges each topic with ``status: success``,
    ``message: "subscribed to: T.AAPL"``.
    """

    kind = "polygon"

    def __init__(self, api_key: str, channels: Iterable[str] = CHANNELS) -> None:
        super().__init__(channels)
        self._key = api_key  # sent in the auth message only; never logged
        self.authenticated = False

    def on_open(self) -> list[str]:
        self._new_connection()
        self.authenticated = False
        return []  # the server speaks first (status "connected")

    def _auth(self) -> str:
        return orjson.dumps({"action": "auth", "params": self._key}).decode()

    def _request(self, action: str, symbols: list[str], topics: list[str]) -> str:
        return orjson.dumps({"action": action, "params": ",".join(topics)}).decode()

    def receive(self, frame: str | bytes) -> Output:
        """Clean frames take one typed decode; any frame it refuses is re-read event by event."""
        out = Output()
        try:
            evs = FRAME.decode(frame)
        except _DECODE_ERRORS:
            evs = self._per_event(out, frame)
        return self._finish(out, evs)

    def receive_many(self, frames: list[bytes]) -> list[Output]:
        """The frames one socket read brought, each decoded alone exactly as :meth:`receive` would, in
        order: one Output per run of data frames, their events built in one pass (one de-dup, one
        lookup per symbol run); a frame with a status (it changes the connection's state, so it keeps
        its own Output) or one the typed decode refused (re-read event by event) gets its own Output.
        So a bad frame or event costs only itself, and the result is what frame-by-frame gives."""
        outs: list[Output] = []
        evs: list = []
        decode = FRAME.decode
        for f in frames:
            try:
                got = decode(f)
            except _DECODE_ERRORS:
                got = None
            else:
                if Status not in map(type, got):  # in C, per event: cheaper than a scan of the bytes
                    evs += got
                    continue
            if evs:
                outs.append(self._finish(Output(), evs))
                evs = []
            out = Output()
            outs.append(self._finish(out, got if got is not None else self._per_event(out, f)))
        if evs:
            outs.append(self._finish(Output(), evs))
        return outs

    def _receive_slow(self, frame: str | bytes) -> Output:
        """The per-event path on its own (tests compare it with the fast path)."""
        out = Output()
        return self._finish(out, self._per_event(out, frame))

    def _per_event(self, out: Output, frame: Any) -> list:
        if too_deep(frame):
            out.errors.append(("malformed_json", f"frame nested deeper than {MAX_DEPTH}: {short(frame[:60], 60)}"))
            return []
        try:
            raws: list = RAW_LIST.decode(frame)
        except msgspec.ValidationError:  # JSON, but not an array: a lone object is one event
            try:
                top = ANY.decode(frame)
            except _DECODE_ERRORS:
                top = None
            if type(top) is not dict:
                out.errors.append(("wrong_type", f"frame is not an array of events: {short(top, 40)}"))
                return []
            raws = [frame]
        except _DECODE_ERRORS as e:
            out.errors.append(("malformed_json", f"frame is not JSON ({e}): {short(frame, 60)}"[:200]))
            return []
        good = []
        for raw in raws:
            try:
                good.append(EVENT.decode(raw))
            except _DECODE_ERRORS as err:
                try:
                    obj = ANY.decode(raw)
                except _DECODE_ERRORS as e:  # 1e999 (no float holds it), or nesting too deep
                    kind = "bad_value" if "out of range" in str(e) else "wrong_type"
                    out.errors.append((kind, f"unreadable event ({e}): {short(bytes(raw), 60)}"[:200]))
                    continue
                why = diagnose(obj, err, self.wanted)
                if why is None:  # a status message with odd fields
                    m, src, ses = obj.get("message"), obj.get("source"), obj.get("session")
                    self._status(out, obj.get("status"), m if type(m) is str else "",
                                 src if type(src) is str else None, ses if type(ses) is str else None)
                else:
                    out.errors.append(why)
        return good

    def _status(self, out: Output, status: Any, message: str, source: Any, session: Any) -> None:
        message = message[:200]  # shown in status and logs: a 1 MB message is not
        if source is not None:
            out.source = source[:40]
        if session is not None:
            out.session = session[:40]
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
        elif status in ("auth_timeout", "error"):
            out.errors.append(("upstream_error", f"upstream {status}: {message[:120]}"))
            if status == "error" and self.authenticated:
                out.sub_errors.append(message[:200])
        elif status in ("success", "unsubscribed", "subscribed"):
            out.message = message
            if message.startswith("subscribed to: "):
                self._ack(out, message[15:].strip())
        else:
            out.errors.append(("unknown_status", f"unknown status {short(status, 40)}"))


class RelayCore(_Core):
    """The seed relay at ``/ws/{client_id}``: ``{"type": ...}`` messages, market data in ``data``.

    ``data`` is one event or a list, in either spelling (Polygon ``ev, sym, p ...`` or the
    standard ``event_type, symbol, price ...``); both go through the same rules."""

    kind = "relay"

    def on_open(self) -> list[str]:
        # The relay accepts subscriptions at once; send the whole union.
        self._new_connection()
        self.ready = True
        return self._sub_messages("subscribe", sorted(self.wanted)) if self.wanted else []

    def _request(self, action: str, symbols: list[str], topics: list[str]) -> str:
        msg: dict[str, Any] = {"action": action, "symbols": sorted(symbols)}
        if action == "subscribe":
            msg["channels"] = list(self.channels)
        return orjson.dumps(msg).decode()

    def ping(self) -> str:
        return '{"action":"ping"}'

    def receive(self, frame: str | bytes) -> Output:
        out = Output()
        try:
            if too_deep(frame):
                raise msgspec.DecodeError(f"nested deeper than {MAX_DEPTH}")
            msg = ANY.decode(frame)
        except _DECODE_ERRORS as e:
            out.errors.append(("malformed_json", f"frame is not JSON ({e}): {short(frame[:80], 60)}"[:200]))
            return self._finish(out, [])
        evs: list = []
        for m in (msg if type(msg) is list else [msg]):  # a batching relay: several messages in one frame
            self._one(out, m, evs)
        return self._finish(out, evs)

    def _one(self, out: Output, msg: Any, evs: list) -> None:
        if type(msg) is not dict:
            out.errors.append(("wrong_type", f"message is not an object: {short(msg, 40)}"))
            return
        t = msg.get("type")
        if t == "market_data":
            data = msg.get("data")
            for d in (data if type(data) is list else [data]):
                ev, why = decode_dict(d, self.wanted)
                if why is None:
                    evs.append(ev)
                else:
                    out.errors.append(why)
        elif t == "connected":
            for k in ("source", "session"):
                if isinstance(msg.get(k), str):
                    setattr(out, k, msg[k][:40])
            out.state, out.message = CONNECTED, "connected"
        elif t == "subscribed":
            syms, chans = msg.get("symbols"), msg.get("channels")
            chans = chans if type(chans) is list else list(self.channels)
            if type(syms) is not list:  # a relay that does not say which: it acknowledged what was asked
                for topic in sorted(self.pending):
                    self._ack(out, topic)
            for s in (syms if type(syms) is list else []):
                for c in chans:
                    if type(s) is str and type(c) is str:
                        self._ack(out, f"{c}.{s}")
        elif t in ("unsubscribed", "pong"):
            pass
        elif t == "error":
            m = str(msg.get("message"))[:200]
            out.errors.append(("upstream_error", f"relay error: {m[:120]}"))
            out.sub_errors.append(m)
        else:
            out.errors.append(("unknown_message", f"unknown message type {short(t, 24)}"))


def make_core(protocol: str, api_key: str = "", channels: Iterable[str] = CHANNELS) -> _Core:
    if protocol == "polygon":
        return PolygonCore(api_key, channels)
    if protocol == "relay":
        return RelayCore(channels)
    raise ValueError(f"unknown protocol {protocol!r}")

"""``live-monitor tap`` / ``record`` / ``status``: small clients of a running feed.

Why it looks like this
----------------------
* **Plain blocking pyzmq**: these are one-shot command-line tools; a poll loop
  with a timeout is the simplest correct thing (no event loop, no edge
  triggering). Requests go through ``shared.feed_probe.ask_feed`` (DEALER,
  LINGER 0, timeout): an absent feed is one line and exit 1, never a hang, and
  it is told at once - a refused connect means nothing listens - while a feed
  that accepts connections but is busy or starting up gets the whole
  ``--timeout`` (a different line: it is there, just not answering).
* **tap follows the protocol with the window's own logic.** Each symbol is a
  ``ui_process.feed_link.FeedLink`` (the Qt-free Clone-pattern core the
  windows use: hello, snapshot, buffering, gaps, epochs, ``resync``, a feed
  that dies and comes back on a new data port); this module is only its I/O
  adapter (one SUB, one DEALER, request ids made unique across the links). So
  tap re-snapshots after a gap and prints each event once, exactly like a
  window would see it.
* ``tap`` prints live events (``--json``: one seed dict per line, the
  documented format); gaps, upstream states and feed errors go to stderr.
  ``--channels`` takes the feed's codes T, Q, AM, A, LULD, NOI as they are
  (``A`` is second aggregates, never minute bars). ``--record`` / ``record --out``
  write the replay format (one Polygon event per line, gzip for ``.gz``).
* **tap --json at the feed's speed** (bench/cli.py, against the official
  client): per event only the seed dict (``wire.event_to_dict``, from the
  events as the link hands them over) and one orjson call (:func:`.tap_lines.json_lines`,
  tap's one decode step); every data message waiting is taken in one poll round, and the
  round's lines leave in one write to the binary stdout (no text layer, no
  flush per line). A reader that leaves (``| head``) ends tap quietly, exit 0.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import time
from typing import IO, Any

import zmq

from shared.cli import UserError
from shared.config import Settings
from shared.feed_probe import NothingListens, ask_feed
from shared.models import wire
from shared.models.market_data import normalize_symbol
from shared.zmq_client import apply_curve, data_endpoint

from .tap_lines import EVENT_TYPE, json_lines, other_lines
from .tap_lines import say as _say

CHANNELS = ("T", "Q", "AM", "A", "LULD", "NOI")
TICK_S = 0.1


def ask(settings: Settings, msg: dict, timeout: float, ctx: zmq.Context | None = None) -> dict:
    """One control request; a missing feed or an error reply is a :class:`UserError`.

    Nothing listening at the address (loopback refuses a TCP connect at once) is "no feed" without
    waiting; a feed that is busy or starting up (it accepts connections) gets the whole ``timeout``."""
    try:
        reply = ask_feed(settings.feed, msg, timeout, ctx, curve_dir=settings.curve_dir)
    except NothingListens:
        raise UserError(f"no feed answering at {settings.feed}: nothing listens there (start one with "
                        "`live-monitor daemon` or `live-monitor feed`)") from None
    if reply is None:
        raise UserError(f"no feed answering at {settings.feed} within {timeout:g} s: something listens there "
                        "but did not answer (a feed busy or starting up: try a longer --timeout; "
                        "a remote feed needs its --curve-dir keys)")
    if reply.get("type") == wire.ERROR:
        raise UserError(f"the feed refused {msg.get('type')}: {reply.get('message')}")
    return reply


# ------------------------------------------------------------------ status


def format_status(st: dict) -> str:
    from supervisor.status_text import format_status as text  # times in ET, windows under their symbols

    return text(st)


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    st = ask(settings, wire.status_request(), args.timeout)
    st.pop("v", None)
    st.pop("id", None)
    if args.json:
        import orjson

        sys.stdout.write(orjson.dumps(st, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n")
    else:
        print(format_status(st))
    return 0


# ------------------------------------------------------------------ tap / record


def _channels(spec: str) -> set[str]:
    out = set()
    for c in spec.replace(" ", "").split(","):
        if not c:
            continue
        code = c.upper()
        if code not in CHANNELS:  # no aliases: "A" is second aggregates, never "AM"
            raise UserError(f"unknown channel {c!r} (use {', '.join(CHANNELS)})", 2)
        out.add(code)
    return out


def _open_record(path: str) -> IO[bytes]:
    import gzip  # only a recording to .gz needs it

    try:
        return gzip.open(path, "wb") if path.endswith(".gz") else open(path, "wb")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


class TapLinks:
    """The I/O adapter of one :class:`FeedLink` per symbol: one SUB, one DEALER, unique request ids."""

    def __init__(self, settings: Settings, symbols: list[str], ctx: zmq.Context, now: float) -> None:
        from ui_process.feed_link import FeedLink  # tap only: status and the others never load it

        self.settings, self.ctx = settings, ctx
        self.links = {s: FeedLink(client="tap") for s in symbols}
        for s, link in self.links.items():
            link.set_symbol(s, now)
        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, 100_000)
        self.sub.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        apply_curve(self.sub, settings.curve_dir)
        self.dealer: zmq.Socket | None = None
        self.endpoint: str | None = None
        self._ids = itertools.count(1)
        self._route: dict[int, tuple[Any, object]] = {}
        self.poller = zmq.Poller()
        self.poller.register(self.sub, zmq.POLLIN)
        self._next_tick = 0.0
        self._new_dealer()

    def _new_dealer(self) -> None:
        if self.dealer is not None:
            self.poller.unregister(self.dealer)
            self.dealer.close(linger=0)
        d = self.dealer = self.ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        apply_curve(d, self.settings.curve_dir)
        d.connect(self.settings.feed)
        self.poller.register(d, zmq.POLLIN)
        self._route.clear()  # replies to the old socket never come

    def carry(self, link: Any, outputs: list) -> list:
        """Do the link's socket actions; return what is for the user (snapshot, events, link, error)."""
        rest = []
        for o in outputs:
            kind = o[0]
            if kind == "send":
                msg = dict(o[1])
                gid = next(self._ids)
                self._route[gid] = (link, msg.get("id"))
                msg["id"] = gid
                try:
                    self.dealer.send(wire.pack(msg), zmq.NOBLOCK)  # type: ignore[union-attr]
                except zmq.Again:
                    pass  # the link's timeout asks again
            elif kind == "subscribe":
                self.sub.setsockopt(zmq.SUBSCRIBE, o[1])
            elif kind == "unsubscribe":
                self.sub.setsockopt(zmq.UNSUBSCRIBE, o[1])
            elif kind == "connect_data":
                ep = data_endpoint(o[1], self.settings.feed)
                if ep != self.endpoint:
                    if self.endpoint is not None:
                        self.sub.disconnect(self.endpoint)
                    self.sub.connect(ep)
                    self.endpoint = ep
            elif kind == "reset_control":
                self._new_dealer()
            else:
                rest.append((link, o))
        return rest

    def start(self, now: float) -> list:
        return [x for link in self.links.values() for x in self.carry(link, link.start(now))]

    def poll(self, timeout_ms: int, budget: int = 256) -> list:
        """Wait up to ``timeout_ms``, then handle replies, up to ``budget`` data messages (all that
        wait, in one go: no wait between them) and, every ``TICK_S``, the links' timeouts."""
        ready = dict(self.poller.poll(timeout_ms))
        now = time.monotonic()
        out: list = []
        if self.dealer in ready:
            while True:
                try:
                    reply = wire.decode_reply(self.dealer.recv(zmq.NOBLOCK))  # type: ignore[union-attr]
                except zmq.Again:
                    break
                except wire.WireError:
                    continue
                route = self._route.pop(wire.reply_id(reply), None)  # type: ignore[arg-type]
                if route is not None:
                    link, rid = route
                    out += self.carry(link, link.on_reply(wire.with_id(reply, rid), now))
        if self.sub in ready:
            for _ in range(budget):
                try:
                    topic, payload = self.sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                except ValueError:
                    continue
                try:
                    msg = wire.decode_data(payload)
                except wire.WireError as e:
                    _say(f"bad message from the feed: {e}")
                    continue
                if topic == wire.SYS_TOPIC:
                    for link in self.links.values():
                        out += self.carry(link, link.on_data(topic, msg, now))
                else:
                    link = self.links.get(getattr(msg, "sym", None))  # type: ignore[arg-type]
                    if link is not None:
                        out += self.carry(link, link.on_data(topic, msg, now))
        if now >= self._next_tick:  # the links' timeouts are seconds: no need to look per message
            self._next_tick = now + TICK_S
            for link in self.links.values():
                out += self.carry(link, link.tick(now))
        return out

    def close(self) -> None:
        self.sub.close(linger=0)
        if self.dealer is not None:
            self.dealer.close(linger=0)


OUT_CHUNK = 1 << 20  # write out the pending lines at this size even inside one poll round (bounded memory)


def subscribe_and_print(args: argparse.Namespace, settings: Settings, *, show: bool, record: str | None) -> int:
    try:
        symbols = [normalize_symbol(s) for s in args.symbols]
    except ValueError as e:
        raise UserError(str(e), 2) from None
    types = {EVENT_TYPE[c] for c in _channels(args.channels)}
    ctx = zmq.Context.instance()
    hello = ask(settings, wire.hello_request(client="tap"), args.timeout, ctx)  # fail fast: one line, exit 1
    up = hello.get("upstream") or {}
    src = up.get("source")
    _say(f"tap {' '.join(symbols)} on {settings.feed} (epoch {hello.get('epoch')}, upstream {up.get('state')}, "
         f"source {src}{' - SIMULATED DATA' if src in ('simulated', 'replay') else ''})")

    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    rec = _open_record(record) if record else None
    # Bytes straight to the binary stdout, one write per poll round: no per-line text encoding or flush.
    write, flush = sys.stdout.buffer.write, sys.stdout.buffer.flush
    buf = bytearray()
    fast = show and args.json and rec is None
    want = args.count
    n = 0
    t_end = time.monotonic() + args.duration if args.duration else None
    state = {"up": up.get("state"), "epoch": hello.get("epoch"), "alive": True}
    gaps: dict[str, int] = {s: 0 for s in symbols}
    links = TapLinks(settings, symbols, ctx, time.monotonic())

    def out() -> None:
        if buf:
            write(buf)
            flush()
            buf.clear()

    def show_events(sym: str, events: list) -> None:
        nonlocal n
        limit = want - n if want is not None else len(events)
        if fast:
            n += json_lines(sym, events, types, limit, buf)
        else:
            n += other_lines(sym, events, types, limit, buf if show else None, args.json, rec)
        if len(buf) >= OUT_CHUNK:
            out()

    def handle(items: list) -> None:
        for link, o in items:
            if want is not None and n >= want:
                break
            kind = o[0]
            if kind == "events":  # as the link hands them over: event_to_dict reads them as they come
                show_events(link.symbol, o[1])
            elif kind == "snapshot" and link.counters["snapshots"] > 1:
                _say(f"{link.symbol}: re-snapshot at seq {o[1].seq}")
            elif kind == "error":
                _say(o[1])
            elif kind == "link":
                if link.epoch != state["epoch"]:
                    _say(f"the feed restarted (epoch {link.epoch}); following it")
                    state["epoch"] = link.epoch
                if link.alive != state["alive"]:
                    state["alive"] = link.alive
                    if not link.alive:
                        _say(f"the feed at {settings.feed} is not answering; retrying")
                st = link.upstream.get("state")
                if st != state["up"]:
                    m = link.upstream.get("message") or ""
                    _say(f"upstream {st}{': ' + m if m else ''}")
                    state["up"] = st
        out()
        for sym, link in links.links.items():
            if link.counters["gaps"] > gaps[sym]:
                gaps[sym] = link.counters["gaps"]
                _say(f"{sym}: gap in the stream; re-snapshot")

    try:
        handle(links.start(time.monotonic()))
        while not stopping and (want is None or n < want):
            if t_end is not None and time.monotonic() >= t_end:
                break
            handle(links.poll(200))
    except KeyboardInterrupt:
        pass
    finally:
        links.close()
        if rec is not None:
            rec.close()
    if want is not None and n < want:
        print(f"# stopped after {n} of {want} events", file=sys.stderr)
        return 1
    return 0


def run_tap(args: argparse.Namespace, settings: Settings) -> int:
    return subscribe_and_print(args, settings, show=True, record=args.record)


def run_record(args: argparse.Namespace, settings: Settings) -> int:
    return subscribe_and_print(args, settings, show=False, record=args.out)

"""``live-monitor tap`` / ``record`` / ``status``: small clients of a running feed.

Why it looks like this
----------------------
* **Plain blocking pyzmq**: these are one-shot command-line tools; a poll loop
  with a timeout is the simplest correct thing (no event loop, no edge
  triggering). Requests go through the project's one request client,
  ``shared.feed_probe.request`` (DEALER, LINGER 0, timeout): an absent feed is
  one line and exit 1, never a hang.
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
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import signal
import sys
import time
from typing import IO

import orjson
import zmq

from shared.cli import UserError
from shared.config import Settings
from shared.feed_probe import request
from shared.models import wire
from shared.models.market_data import normalize_symbol, to_polygon
from shared.zmq_client import apply_curve, data_endpoint
from ui_process.feed_link import FeedLink

CHANNELS = ("T", "Q", "AM", "A", "LULD", "NOI")


def ask(settings: Settings, msg: dict, timeout: float, ctx: zmq.Context | None = None) -> dict:
    """One control request; a missing feed or an error reply is a :class:`UserError`."""
    reply = request(settings.feed, msg, timeout, ctx, curve_dir=settings.curve_dir)
    if reply is None:
        raise UserError(f"no feed answering at {settings.feed} (start one with "
                        "`live-monitor daemon` or `live-monitor feed`)")
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


def _human(sym: str, a: list) -> str:
    t = time.strftime("%H:%M:%S", time.gmtime(a[1] / 1000)) + f".{a[1] % 1000:03d}Z"
    code = a[0]
    if code == "T":
        return f"{t} {sym:<6} T  {a[2]:>10} x {a[3]:<6} ex={a[4]} c={a[5]}"
    if code == "Q":
        return f"{t} {sym:<6} Q  {a[2]:>10} x {a[3]:<5} / {a[4]:>10} x {a[5]}"
    if code in ("AM", "A"):
        return f"{t} {sym:<6} {code:<2} o={a[2]} h={a[3]} l={a[4]} c={a[5]} v={a[6]} vw={a[7]}"
    return f"{t} {sym:<6} {code} {a[2:]}"


def _open_record(path: str) -> IO[bytes]:
    try:
        return gzip.open(path, "wb") if path.endswith(".gz") else open(path, "wb")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def _say(text: str) -> None:
    print(f"# {text}", file=sys.stderr, flush=True)


class TapLinks:
    """The I/O adapter of one :class:`FeedLink` per symbol: one SUB, one DEALER, unique request ids."""

    def __init__(self, settings: Settings, symbols: list[str], ctx: zmq.Context, now: float) -> None:
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
        self._route: dict[int, tuple[FeedLink, object]] = {}
        self._new_dealer()

    def _new_dealer(self) -> None:
        if self.dealer is not None:
            self.dealer.close(linger=0)
        d = self.dealer = self.ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        apply_curve(d, self.settings.curve_dir)
        d.connect(self.settings.feed)
        self._route.clear()  # replies to the old socket never come

    def carry(self, link: FeedLink, outputs: list) -> list:
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

    def poll(self, timeout_ms: int, budget: int = 2000) -> list:
        """Wait up to ``timeout_ms``, then handle replies, data and timeouts."""
        poller = zmq.Poller()
        poller.register(self.sub, zmq.POLLIN)
        poller.register(self.dealer, zmq.POLLIN)
        ready = dict(poller.poll(timeout_ms))
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
        for link in self.links.values():
            out += self.carry(link, link.tick(now))
        return out

    def close(self) -> None:
        self.sub.close(linger=0)
        if self.dealer is not None:
            self.dealer.close(linger=0)


def _to_dict(sym: str, a: list) -> dict:
    try:
        return wire.event_to_dict(sym, a)
    except wire.WireError:
        if a and a[0] in ("T", "Q", "AM"):
            raise
        return {"event_type": str(a[0]).lower(), "symbol": sym, "array": a}  # a kind this build can't expand


def subscribe_and_print(args: argparse.Namespace, settings: Settings, *, show: bool, record: str | None) -> int:
    try:
        symbols = [normalize_symbol(s) for s in args.symbols]
    except ValueError as e:
        raise UserError(str(e), 2) from None
    channels = _channels(args.channels)
    ctx = zmq.Context.instance()
    hello = ask(settings, wire.hello_request(client="tap"), args.timeout, ctx)  # fail fast: one line, exit 1
    up = hello.get("upstream") or {}
    src = up.get("source")
    _say(f"tap {' '.join(symbols)} on {settings.feed} (epoch {hello.get('epoch')}, upstream {up.get('state')}, "
         f"source {src}{' - SIMULATED DATA' if src in ('simulated', 'replay') else ''})")

    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    rec = _open_record(record) if record else None
    out = sys.stdout
    want = args.count
    n = 0
    t_end = time.monotonic() + args.duration if args.duration else None
    state = {"up": up.get("state"), "epoch": hello.get("epoch"), "alive": True}
    gaps: dict[str, int] = {s: 0 for s in symbols}
    links = TapLinks(settings, symbols, ctx, time.monotonic())

    def show_events(sym: str, arrays: list) -> None:
        nonlocal n
        for a in arrays:
            if a[0] not in channels:
                continue
            if show or rec is not None:
                try:
                    d = _to_dict(sym, a)
                except wire.WireError as e:
                    _say(f"bad event: {e}")
                    continue
                if show:
                    out.write(orjson.dumps(d).decode() + "\n" if args.json else _human(sym, a) + "\n")
                if rec is not None:
                    try:
                        rec.write(orjson.dumps(to_polygon(d)) + b"\n")
                    except (KeyError, TypeError, ValueError):
                        _say(f"cannot record a {a[0]} event")
            n += 1
            if want is not None and n >= want:
                return
        out.flush()

    def handle(items: list) -> None:
        for link, o in items:
            if want is not None and n >= want:
                return
            kind = o[0]
            if kind == "events":
                show_events(link.symbol, wire.to_arrays(o[1]))
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
        out.flush()
    if want is not None and n < want:
        print(f"# stopped after {n} of {want} events", file=sys.stderr)
        return 1
    return 0


def run_tap(args: argparse.Namespace, settings: Settings) -> int:
    return subscribe_and_print(args, settings, show=True, record=args.record)


def run_record(args: argparse.Namespace, settings: Settings) -> int:
    return subscribe_and_print(args, settings, show=False, record=args.out)

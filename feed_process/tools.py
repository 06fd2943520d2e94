"""``live-monitor tap`` / ``record`` / ``status``: small clients of a running feed.

Why plain blocking pyzmq: these are one-shot command-line tools; a poll loop
with a timeout is the simplest correct thing (no event loop, no edge
triggering). Every request uses a DEALER with ``LINGER 0`` and a receive
timeout, so an absent feed is one line and exit 1, never a hang.

``tap`` prints live events as they arrive (``--json``: one seed dict per line,
the documented format). It does not re-snapshot: it reports a sequence gap
(a slow terminal, the feed's high-water mark) on stderr and keeps going.
``--record`` / ``record --out`` write the replay format (one Polygon event per
line, gzip for ``.gz``) via ``shared.models.market_data.to_polygon``.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import signal
import sys
import time
from typing import IO, Any

import orjson
import zmq

from shared.cli import UserError
from shared.config import Settings
from shared.feed_probe import request
from shared.models import wire
from shared.models.market_data import normalize_symbol, to_polygon
from shared.zmq_client import apply_curve, data_endpoint

_ids = itertools.count(1)
SILENT_FEED_S = 3.0  # no message (heartbeats are 1/s) for this long: say hello again


class FeedConnection:
    """Control requests to a feed (DEALER, LINGER 0, receive timeout)."""

    def __init__(self, endpoint: str, timeout: float = 3.0, ctx: zmq.Context | None = None, curve_dir: str = ""):
        self.endpoint = endpoint
        self.timeout = timeout
        self.ctx = ctx or zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        apply_curve(self.sock, curve_dir)
        self.sock.setsockopt(zmq.RCVTIMEO, int(timeout * 1000))
        self.sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        try:
            self.sock.connect(endpoint)
        except zmq.ZMQError as e:
            self.sock.close()
            raise UserError(f"bad feed address {endpoint}: {e.strerror}") from None

    def request(self, msg: dict) -> dict:
        rid = next(_ids)
        self.sock.send(wire.pack({**msg, "id": rid}))
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                reply = wire.unpack(self.sock.recv())
            except zmq.Again:
                raise UserError(f"no feed answering at {self.endpoint} (start one with "
                                "`live-monitor daemon` or `live-monitor feed`)") from None
            except wire.WireError as e:
                raise UserError(f"the feed at {self.endpoint} sent a bad reply: {e}") from None
            if reply.get("id") == rid:
                if reply.get("type") == wire.ERROR:
                    raise UserError(f"the feed refused {msg.get('type')}: {reply.get('message')}")
                return reply
            if time.monotonic() > deadline:  # pragma: no cover - stale replies only
                raise UserError(f"no reply from the feed at {self.endpoint}")

    def close(self) -> None:
        self.sock.close(linger=0)


# ------------------------------------------------------------------ status


def format_status(st: dict) -> str:
    from supervisor.status_text import format_status as text  # times in ET, windows under their symbols

    return text(st)


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    conn = FeedConnection(settings.feed, args.timeout, curve_dir=settings.curve_dir)
    try:
        st = conn.request(wire.status_request())
    finally:
        conn.close()
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
        c = c.upper()
        if c == "A":
            c = "AM"
        if c not in ("T", "Q", "AM"):
            raise UserError(f"unknown channel {c!r} (use T, Q, AM)", 2)
        out.add(c)
    return out


def _human(sym: str, a: list) -> str:
    t = time.strftime("%H:%M:%S", time.gmtime(a[1] / 1000)) + f".{a[1] % 1000:03d}Z"
    if a[0] == "T":
        return f"{t} {sym:<6} T  {a[2]:>10} x {a[3]:<6} ex={a[4]} c={a[5]}"
    if a[0] == "Q":
        return f"{t} {sym:<6} Q  {a[2]:>10} x {a[3]:<5} / {a[4]:>10} x {a[5]}"
    return f"{t} {sym:<6} AM o={a[2]} h={a[3]} l={a[4]} c={a[5]} v={a[6]} vw={a[7]}"


def _open_record(path: str) -> IO[bytes]:
    try:
        return gzip.open(path, "wb") if path.endswith(".gz") else open(path, "wb")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror}") from None


def subscribe_and_print(args: argparse.Namespace, settings: Settings, *, show: bool, record: str | None) -> int:
    try:
        symbols = [normalize_symbol(s) for s in args.symbols]
    except ValueError as e:
        raise UserError(str(e), 2) from None
    channels = _channels(args.channels)
    ctx = zmq.Context.instance()
    conn = FeedConnection(settings.feed, args.timeout, ctx, curve_dir=settings.curve_dir)
    try:
        hello = conn.request(wire.hello_request(client="tap"))
    finally:
        conn.close()
    def connect_sub(hello: dict) -> zmq.Socket:
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.setsockopt(zmq.MAXMSGSIZE, wire.MAX_MESSAGE_BYTES)
        apply_curve(sock, settings.curve_dir)
        sock.connect(data_endpoint(hello["data"], settings.feed))
        for s_ in symbols:
            sock.setsockopt(zmq.SUBSCRIBE, wire.topic_for(s_))
        sock.setsockopt(zmq.SUBSCRIBE, wire.SYS_TOPIC)
        return sock

    def rehello() -> dict | None:
        """Say hello again (the feed may have restarted on a new data port); None if nobody answers."""
        r = request(settings.feed, wire.hello_request(client="tap"), min(args.timeout, 1.0), ctx,
                    curve_dir=settings.curve_dir)
        return r if r is not None and r.get("type") == wire.HELLO else None

    sub = connect_sub(hello)
    up = hello.get("upstream") or {}
    src = up.get("source")
    print(f"# tap {' '.join(symbols)} on {settings.feed} (epoch {hello.get('epoch')}, upstream "
          f"{up.get('state')}, source {src}{' - SIMULATED DATA' if src in ('simulated', 'replay') else ''})",
          file=sys.stderr, flush=True)

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    rec = _open_record(record) if record else None
    out = sys.stdout
    seqs: dict[str, wire.SeqTracker] = {}
    n = 0
    last_state = up.get("state")
    last_msg = time.monotonic()
    t_end = time.monotonic() + args.duration if args.duration else None
    epoch = hello.get("epoch")
    want = args.count
    try:
        while not stopping and (want is None or n < want):
            now = time.monotonic()
            if t_end is not None and now >= t_end:
                break
            if not sub.poll(200):
                if now - last_msg > SILENT_FEED_S:
                    # Heartbeats come every second: the feed is gone or was restarted (new data port).
                    again = rehello()
                    last_msg = now
                    if again is None:
                        print(f"# the feed at {settings.feed} is not answering; retrying", file=sys.stderr,
                              flush=True)
                    elif again.get("epoch") != epoch or again.get("data") != hello.get("data"):
                        print(f"# the feed restarted (epoch {again.get('epoch')}); following it", file=sys.stderr,
                              flush=True)
                        sub.close(linger=0)
                        hello, epoch = again, again.get("epoch")
                        sub = connect_sub(hello)
                        seqs.clear()
                continue
            while want is None or n < want:
                try:
                    topic, payload = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                except ValueError:
                    continue
                last_msg = time.monotonic()
                try:
                    msg = wire.unpack(payload)
                except wire.WireError as e:
                    print(f"# bad message from the feed: {e}", file=sys.stderr)
                    continue
                t = msg["type"]
                if t == wire.BATCH:
                    sym = msg["sym"]
                    tr = seqs.get(sym)
                    if tr is None:
                        tr = seqs[sym] = wire.SeqTracker(msg["epoch"], msg["seq"] - 1)
                    verdict = tr.check(msg["epoch"], msg["seq"], len(msg["ev"]))
                    if verdict == "gap":
                        print(f"# {sym}: gap of {msg['seq'] - tr.last - 1} events", file=sys.stderr, flush=True)
                    elif verdict == "epoch":
                        print(f"# {sym}: the feed restarted (new epoch)", file=sys.stderr, flush=True)
                        tr.reset(msg["epoch"], msg["seq"] - 1)
                    elif verdict == "dup":
                        continue
                    tr.advance(msg["seq"], len(msg["ev"]))
                    for a in msg["ev"]:
                        if a[0] not in channels:
                            continue
                        if show or rec is not None:
                            try:
                                d = wire.event_to_dict(sym, a)
                            except wire.WireError as e:
                                print(f"# bad event: {e}", file=sys.stderr)
                                continue
                            if show:
                                out.write(orjson.dumps(d).decode() + "\n" if args.json else _human(sym, a) + "\n")
                            if rec is not None:
                                rec.write(orjson.dumps(to_polygon(d)) + b"\n")
                        n += 1
                        if want is not None and n >= want:
                            break
                    out.flush()
                elif t in (wire.STATUS, wire.HEARTBEAT):
                    st = (msg.get("upstream") or {}).get("state")
                    if st != last_state:
                        m = (msg.get("upstream") or {}).get("message") or ""
                        print(f"# upstream {st}{': ' + m if m else ''}", file=sys.stderr, flush=True)
                        last_state = st
                elif t == wire.ERROR:
                    print(f"# feed: {msg.get('kind')}: {msg.get('message')}", file=sys.stderr, flush=True)
                elif t == wire.RESYNC:
                    print(f"# {msg.get('sym')}: {msg.get('reason')} (history loaded)", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(linger=0)
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


def tap_lines(text: str) -> list[dict[str, Any]]:
    """Parse ``tap --json`` output (for tests and scripts)."""
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]

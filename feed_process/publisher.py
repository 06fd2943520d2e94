"""The frame boundary: one upstream frame -> decoded, folded into state, encoded, published. Nothing escapes.

Why it looks like this
----------------------
* **One containment boundary per frame.** :meth:`Publisher.handle_frame` is
  the only way a frame enters the feed. An exception while decoding
  (the core), folding into a symbol's state, encoding or publishing is caught,
  counted by kind (``internal_<ExceptionName>``, in ``status.counters``),
  logged through the project's one rate-limited logger (with the stage, the
  symbol and the raising line) and published on ``sys|``; the loop goes on.
* **Per-symbol isolation, then per event.** Each symbol's batch is folded and
  published on its own, so one symbol's trouble never costs another's
  events. If folding a batch raises, the event that raised is found from the
  traceback (the fold's frame holds it: no cost on the good path), the
  events before it stay folded, it is dropped and counted, and the rest are
  folded one by one (each dropped alone if it raises). If encoding a batch
  raises, its events are encoded one by one and the bad ones dropped. A
  sequence number is given only to events that are actually sent, so
  subscribers see no gap for a dropped bad event.
* **Per frame, not per event, on the good path.** One ``apply_batch`` and one
  msgpack message (``wire.pack_batch``, the one builder) per symbol per frame
  (<= ``MAX_BATCH`` events); sends never block: at the XPUB's high-water mark
  the message is dropped for that subscriber, which sees a seq gap and
  re-snapshots.
* Errors the cores report (bad input) are logged at a limited rate and
  published at most once per kind per second; ``QUIET_KINDS`` are only
  counted: ``unknown_symbol`` (events of a symbol just unsubscribed keep
  arriving for a moment) and ``duplicate`` (a relay's double sends: the
  de-dup doing its job, possibly on every trade, is not news).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from typing import Any, Callable

import zmq

from shared.models import wire
from shared.ratelimit import RateLimitedLog

from .protocols import Output, _Core
from .state import FeedSymbol

log = logging.getLogger(__name__)

MAX_BATCH = 10_000       # events per data message
QUIET_KINDS = frozenset({"unknown_symbol", "duplicate"})  # counted, never logged or published


def _where(e: BaseException) -> str:
    tb = traceback.extract_tb(e.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f" at {f.filename.rsplit('/', 1)[-1]}:{f.lineno}"


def failing_index(e: BaseException, lst: list) -> int | None:
    """Which event of ``lst`` the fold was at when it raised, from the fold's frames.

    The frames' locals that are events of ``lst`` (by identity) are the current event and
    ones already passed (``last_trade`` ...): the current one has the highest index."""
    ids = {id(a): i for i, a in enumerate(lst)}
    best = None
    tb = e.__traceback__
    while tb is not None:
        for v in tb.tb_frame.f_locals.values():
            i = ids.get(id(v))
            if i is not None and lst[i] is v and (best is None or i > best):
                best = i
        tb = tb.tb_next
    return best


class Publisher:
    """Folds and publishes frames; owns the feed's counters of what it did and what went wrong."""

    def __init__(self, core: _Core, states: dict[str, FeedSymbol], epoch: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.core = core
        self.states = states
        self.epoch = epoch
        self.clock = clock
        self.xpub: zmq.Socket | None = None
        self.counters: Counter[str] = Counter()
        self._log = RateLimitedLog(log, period=5.0, clock=clock)
        self._error_published: dict[str, float] = {}
        self.after_send: Callable[[], None] = lambda: None  # the feed re-checks the XPUB (edge-triggered FD)

    # ------------------------------------------------------------ the boundary

    def handle_frame(self, frame: bytes) -> Output | None:
        """One upstream frame. Never raises; None when the frame could not be decoded at all."""
        try:
            out = self.core.receive(frame)
        except Exception as e:  # the cores promise not to raise; if one does, count and go on
            self.internal("decode", e)
            return None
        try:
            if out.batches:
                self.publish_events(out.batches)
            if out.errors:
                self.report(out.errors)
                out.errors = []
        except Exception as e:  # a bug outside the per-symbol guards (counting, reporting)
            self.internal("frame", e)
        return out

    def handle_frames(self, frames: list[bytes]) -> list[Output | None]:
        """The frames one socket read brought, as one: every event decoded once, then one fold and one
        message per symbol for all of them (a symbol's events in the frames' order). Never raises.

        Returns the Outputs for the client's bookkeeping (data time, acks, replies): the core's
        ``receive_many`` gives one per run of data frames built together and one per frame that must
        stay alone (a status); a core without it, one per frame."""
        if len(frames) == 1:
            return [self.handle_frame(frames[0])]
        outs: list[Output | None] = []
        try:
            outs = self._decode_all(frames)
            merged: dict[str, list[list]] | None = None
            copied: set[str] = set()
            for out in outs:
                if out is None:
                    continue
                if out.batches:
                    if merged is None:
                        merged = dict(out.batches)  # the lists are the Output's: copied before extending
                    else:
                        for sym, lst in out.batches.items():
                            m = merged.get(sym)
                            if m is None:
                                merged[sym] = lst
                            elif sym in copied:
                                m.extend(lst)
                            else:
                                merged[sym] = m + lst
                                copied.add(sym)
                if out.errors:
                    self.report(out.errors)
                    out.errors = []
            if merged:
                self.publish_events(merged)
        except Exception as e:  # a bug outside the per-symbol guards (counting, reporting)
            self.internal("frame", e)
        return outs

    def _decode_all(self, frames: list[bytes]) -> list[Output | None]:
        many = getattr(self.core, "receive_many", None)
        if many is None:
            return [self._receive_one(f) for f in frames]
        try:
            return many(frames)
        except Exception as e:  # the cores promise not to raise; if one does, count and go on
            self.internal("decode", e)
            return [None]

    def _receive_one(self, frame: bytes) -> Output | None:
        try:
            return self.core.receive(frame)
        except Exception as e:  # the cores promise not to raise; if one does, count and go on
            self.internal("decode", e)
            return None

    def internal(self, stage: str, e: BaseException, sym: str = "") -> None:
        kind = f"internal_{type(e).__name__}"
        self.counters[kind] += 1
        msg = f"{stage}{' ' + sym if sym else ''}: {type(e).__name__}: {str(e)[:160]}{_where(e)}"
        self._log(kind, f"internal error ({kind}) {msg}", level=logging.ERROR)
        self._publish_error(kind, msg)

    def publish_events(self, batches: dict[str, list[list]]) -> None:
        """Fold each symbol's events into its state and publish them: one batch per symbol."""
        states = self.states
        n = 0
        for sym, lst in batches.items():
            st = states.get(sym)
            if st is None:
                continue  # unsubscribed a moment ago; the core already filters most of these
            try:
                st.apply_batch(lst)
            except Exception as e:
                lst = self._fold_each(st, sym, lst, e)
                if not lst:
                    continue
            n += len(lst)
            self._send_batch(sym, st, lst)
        self.counters["events"] += n
        self.after_send()

    def _fold_each(self, st: FeedSymbol, sym: str, lst: list, e: Exception) -> list:
        self.internal("fold", e, sym)
        k = failing_index(e, lst)
        # Events before the one that raised were folded by the batch; without the index
        # (a fold that keeps its event elsewhere) every event is tried alone.
        kept, rest = (lst[:k], lst[k + 1:]) if k is not None else ([], lst)
        for a in rest:
            try:
                st.apply_batch([a])
                kept.append(a)
            except Exception as e2:
                self.internal("fold", e2, sym)
        return kept

    def _send_batch(self, sym: str, st: FeedSymbol, lst: list) -> None:
        topic = wire.topic_for(sym)
        for i in range(0, len(lst), MAX_BATCH):
            chunk = lst[i:i + MAX_BATCH] if len(lst) > MAX_BATCH else lst
            try:
                payload = wire.pack_batch(sym, self.epoch, st.seq + 1, chunk)
            except Exception as e:
                self.internal("encode", e, sym)
                for a in chunk:  # one by one: only the unencodable ones are lost
                    try:
                        payload = wire.pack_batch(sym, self.epoch, st.seq + 1, [a])
                    except Exception:
                        self.counters["internal_unencodable_event"] += 1
                        continue
                    st.seq += 1
                    self._send(topic, payload)
                continue
            st.seq += len(chunk)
            self._send(topic, payload)

    def _send(self, topic: bytes, payload: bytes) -> None:
        try:
            self.xpub.send_multipart([topic, payload], zmq.NOBLOCK)  # type: ignore[union-attr]
            self.counters["batches"] += 1
        except zmq.Again:
            self.counters["dropped_batches"] += 1
            self.counters["batches"] += 1
        except zmq.ZMQError as e:
            if self.xpub is not None and not self.xpub.closed:
                self.internal("publish", e)

    # ------------------------------------------------------------ other messages

    def publish(self, topic: bytes, msg: Any) -> None:
        """A non-batch message (status, error, resync): a ``wire`` message struct, or a map (``wire.pack``
        adds the protocol version)."""
        if self.xpub is None or self.xpub.closed:
            return
        try:
            self.xpub.send_multipart([topic, wire.pack(msg)], zmq.NOBLOCK)
        except zmq.Again:
            self.counters["dropped_batches"] += 1
        except (zmq.ZMQError, wire.WireError) as e:
            if not self.xpub.closed:
                log.error("cannot publish %s: %s", wire.type_of(msg), e)

    def resync(self, sym: str, reason: str) -> None:
        self.publish(wire.topic_for(sym), wire.resync(sym, self.epoch, reason))

    def report(self, errors: list[tuple[str, str]]) -> None:
        """Bad input the cores counted: log (rate-limited) and publish (1/s per kind)."""
        for kind, message in errors:
            if kind in QUIET_KINDS:
                continue  # counted only (the core's counters): normal upstream behaviour, not news
            self._log(kind, f"bad input ({kind}): {message}")
            self._publish_error(kind, message)

    def _publish_error(self, kind: str, message: str) -> None:
        now = self.clock()
        if now - self._error_published.get(kind, -1e18) >= 1.0:
            self._error_published[kind] = now
            self.publish(wire.SYS_TOPIC, wire.error_event(kind, message[:200],
                                                          self.core.counters.get(kind, 0) + self.counters.get(kind, 0)))

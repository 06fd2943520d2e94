"""The Qt transport of PolygonDataManager: two ZeroMQ sockets read on the GUI thread.

Why it looks like this
----------------------
A SUB (data) and a DEALER (control) socket, watched through
``QSocketNotifier`` s on ``ZMQ_FD``. That FD is *edge*-triggered and only says
"look at ZMQ_EVENTS", so each slot disables its notifier, drains while
``EVENTS & POLLIN`` under a 5 ms budget and re-enables it. The core
(:mod:`ui_process.manager_core`) queues accepted events in a backlog applied in
32-event slices, so even a 10,000-event batch never freezes the window; when
the budget runs out the notifier stays off and a zero-interval ``QTimer``
continues (a timer rather than posted calls, so the display timers still get
their turn).

The budget is per *loop turn*, not per slice (:class:`LoopTurn`): a turn of
Qt's event loop first delivers the posted events - the chart's repaint among
them (3-8 ms at full rate) - then the due timers and socket notifiers, so a
slice that took its full 5 ms after a repaint made one 9-13 ms stall
(``bench.ui_window``, 2026-12-02). The slice takes what the turn has left of
``TURN_BUDGET_S`` after the GUI thread's CPU time already spent in it; a
turn that is full drains nothing and leaves the rest to the next turn (once:
the drain after a put-off one takes at least ``MIN_SLICE_S``, so two managers
in one process can never starve each other). 3 ms rather than 5: an empty
turn costs the loop ~2 us (125k turns/s on a zero timer), so the shorter slice
cost no measurable CPU per event (11.6 vs 12.9 us, interleaved A/B) and cut
the p95 turn by a third.

After every send or (un)subscribe the sockets are drained once more (the FD
edge may have passed meanwhile), and a 250 ms safety timer drains and then
runs the link's timeouts. The receive queue is bounded (``RCVHWM``):
a UI slower than the feed drops, sees the gap and re-snapshots rather than
growing and lagging. No thread, no blocking call.

This class holds no protocol or market logic: it moves bytes between the
sockets and the core, and carries out the core's socket actions (it is the
core's ``io``).
"""

from __future__ import annotations

import logging
import time
from time import thread_time
from typing import Callable

import zmq
from PyQt6.QtCore import QAbstractEventDispatcher, QObject, QSocketNotifier, QTimer

from shared.models import wire
from shared.zmq_client import apply_curve, data_endpoint

from .manager_core import ManagerCore

logger = logging.getLogger("live_monitor.data.polygon_data_manager")

DRAIN_BUDGET_S = 0.003      # one drain slice at most (the whole turn when nothing else ran in it)
TURN_BUDGET_S = 0.003       # a loop turn's work, the drain included (the timers after it and a repaint fit a frame)
MIN_SLICE_S = 0.0005        # less than this left in the turn: drain in the next one
RCVHWM = 100                # data messages queued here before ZeroMQ pushes back (see open())
SAFETY_INTERVAL_MS = 250    # drain + link timeouts even if an FD edge was missed


class LoopTurn(QObject):
    """CPU time the GUI thread spent in the current turn of its event loop.

    The dispatcher's ``aboutToBlock`` starts a turn (it is emitted before
    every poll, whether the poll then waits or not). CPU time, not wall time:
    a wait in the poll is not work, and the turn's work is what the drain
    must leave room for.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._cpu0 = thread_time()
        d = QAbstractEventDispatcher.instance()
        self._live = d is not None  # no dispatcher (no Qt app yet): no turns, nothing spent
        if d is not None:
            d.aboutToBlock.connect(self._start)

    def _start(self) -> None:
        self._cpu0 = thread_time()

    def spent(self) -> float:
        return thread_time() - self._cpu0 if self._live else 0.0


class FeedTransport(QObject):
    """Sockets + notifiers + drain scheduling for one :class:`ManagerCore`."""

    def __init__(self, core: ManagerCore, address: str, curve_dir: str = "", rcvhwm: int = RCVHWM,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.rcvhwm = rcvhwm
        self.core = core
        self.address = address
        self.curve_dir = curve_dir
        self._ctx = zmq.Context.instance()
        self._sub: zmq.Socket | None = None
        self._dealer: zmq.Socket | None = None
        self._sub_notifier: QSocketNotifier | None = None
        self._dealer_notifier: QSocketNotifier | None = None
        self._data_endpoint: str | None = None
        self._continue_timer = QTimer(self)
        self._continue_timer.setSingleShot(True)
        self._continue_timer.setInterval(0)
        self._continue_timer.timeout.connect(self.drain_all)
        self._safety_timer = QTimer(self)
        self._safety_timer.setInterval(SAFETY_INTERVAL_MS)
        self._safety_timer.timeout.connect(self.safety_tick)
        self.turn = LoopTurn(self)
        self.turns_full = 0  # drains put off to the next turn because this one was used up (bench, tests)
        self._put_off = False

    # ------------------------------------------------------------ lifecycle

    def open(self) -> None:
        """Create the sockets (raises zmq.ZMQError); the core then starts the link through us."""
        try:
            self._sub = self._ctx.socket(zmq.SUB)
            self._sub.setsockopt(zmq.LINGER, 0)
            # Bounded receive queue (messages of ~1-500 events): a UI slower than the feed drops at
            # the high-water mark, sees the gap and re-snapshots, instead of growing and lagging.
            # Counted in messages, so the bytes are RCVHWM x the message size: at --max the feed's
            # 1000-event batches are ~40 KB, and 1000 of them were the window's largest buffer. At 100
            # the rest of a burst waits in the kernel and the feed's queue (its SNDHWM), outside us.
            self._sub.setsockopt(zmq.RCVHWM, self.rcvhwm)
            apply_curve(self._sub, self.curve_dir)  # a remote feed bound with CURVE keys
            self._sub_notifier = self._notifier(self._sub, self.drain_data)
            self._open_control()
        except zmq.ZMQError:
            self.close()
            raise
        self._safety_timer.start()

    def close(self) -> None:
        self._safety_timer.stop()
        self._continue_timer.stop()
        self._close_control()
        self._drop_notifier(self._sub_notifier)
        self._sub_notifier = None
        if self._sub is not None:
            self._sub.close(0)
            self._sub = None
        self._data_endpoint = None

    @property
    def is_open(self) -> bool:
        return self._dealer is not None

    # ------------------------------------------------------------ the core's io

    def send(self, request: dict) -> bool:
        if self._dealer is None:
            return False
        try:
            self._dealer.send(wire.pack(request), zmq.NOBLOCK)
        except zmq.Again:
            logger.debug("control request not sent (feed not connected); the link retries")
        return True

    def subscribe(self, topic: bytes) -> bool:
        if self._sub is None:
            return False
        self._sub.setsockopt(zmq.SUBSCRIBE, topic)
        return True

    def unsubscribe(self, topic: bytes) -> bool:
        if self._sub is None:
            return False
        self._sub.setsockopt(zmq.UNSUBSCRIBE, topic)
        return True

    def connect_data(self, endpoint: str, epoch: int | None) -> bool:
        if self._sub is None:
            return False
        if self._data_endpoint is not None:
            try:
                self._sub.disconnect(self._data_endpoint)
            except zmq.ZMQError:
                pass
        self._data_endpoint = data_endpoint(endpoint, self.address)
        self._sub.connect(self._data_endpoint)
        logger.info("feed data endpoint %s (epoch %s)", self._data_endpoint, epoch)
        return True

    def reset_control(self) -> bool:
        if self._dealer is not None:
            self._close_control()
            self._open_control()
        return False

    def after(self, touched: bool) -> None:
        """The core did something that may have moved an FD edge, or left a backlog: drain again soon."""
        if touched:
            self.schedule_drain()

    # ------------------------------------------------------------ sockets

    def _notifier(self, sock: zmq.Socket, slot: Callable[[], None]) -> QSocketNotifier:
        n = QSocketNotifier(sock.getsockopt(zmq.FD), QSocketNotifier.Type.Read, self)
        n.activated.connect(lambda *_: slot())
        return n

    def _open_control(self) -> None:
        d = self._ctx.socket(zmq.DEALER)
        d.setsockopt(zmq.LINGER, 0)
        d.setsockopt(zmq.SNDHWM, 100)
        apply_curve(d, self.curve_dir)
        d.connect(self.address)
        self._dealer = d
        self._dealer_notifier = self._notifier(d, self.drain_control)

    @staticmethod
    def _drop_notifier(n: QSocketNotifier | None) -> None:
        if n is not None:
            n.setEnabled(False)
            n.deleteLater()

    def _close_control(self) -> None:
        self._drop_notifier(self._dealer_notifier)
        self._dealer_notifier = None
        if self._dealer is not None:
            self._dealer.close(0)
            self._dealer = None

    # ------------------------------------------------------------ draining

    def schedule_drain(self) -> None:
        # A zero-interval timer, not a posted call: it takes its turn with the display and other
        # timers, so a flood of data can't starve them.
        if not self._continue_timer.isActive():
            self._continue_timer.start()

    def drain_all(self) -> None:
        self.drain_control()
        self.drain_data()

    def drain_control(self) -> None:
        d, n = self._dealer, self._dealer_notifier
        if d is None or n is None:
            return
        n.setEnabled(False)
        touched = False
        try:
            while self._dealer is d and d.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                try:
                    raw = d.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                touched |= self.core.on_control(raw, self.core.clock())
        finally:
            if self._dealer_notifier is n:
                n.setEnabled(True)
        self.after(touched)

    def drain_data(self) -> None:
        s, n = self._sub, self._sub_notifier
        if s is None or n is None:
            return
        n.setEnabled(False)
        left = min(DRAIN_BUDGET_S, TURN_BUDGET_S - self.turn.spent())
        if left < MIN_SLICE_S:
            if not self._put_off:  # a repaint (or other timers) used this turn up: drain in the next one
                self._put_off = True
                self.turns_full += 1
                self.schedule_drain()
                return
            left = MIN_SLICE_S  # put off once already: another drain (a second window) may fill every turn
        self._put_off = False
        deadline = time.perf_counter() + left
        drained = False
        core = self.core
        touched = False
        try:
            if not core.process_backlog(deadline):
                return
            while self._sub is s and s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                try:
                    frames = s.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                touched |= core.on_data(frames, core.clock())
                if not core.process_backlog(deadline) or time.perf_counter() > deadline:
                    return
            drained = True
        finally:
            if not drained:
                # Out of budget: yield to the event loop (paint, timers, input) and continue from
                # the continuation timer. The notifier stays off meanwhile: it would only fire
                # again at once and double the work done per loop iteration.
                self.schedule_drain()
            elif self._sub_notifier is n:
                n.setEnabled(True)
        self.after(touched and self._sub is s)

    def safety_tick(self) -> None:
        # Drain first: after the GUI thread was busy (a modal dialog, a slow paint) the heartbeats
        # are waiting in the socket, and the feed must not be declared gone for our own delay.
        self.drain_all()
        self.after(self.core.tick())

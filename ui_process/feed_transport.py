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
their turn). After every send or (un)subscribe the sockets are drained once
more (the FD edge may have passed meanwhile), and a 250 ms safety timer drains
and then runs the link's timeouts. The receive queue is bounded (``RCVHWM``):
a UI slower than the feed drops, sees the gap and re-snapshots rather than
growing and lagging. No thread, no blocking call.

This class holds no protocol or market logic: it moves bytes between the
sockets and the core, and carries out the core's socket actions (it is the
core's ``io``).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

import zmq
from PyQt6.QtCore import QObject, QSocketNotifier, QTimer

from shared.models import wire
from shared.zmq_client import apply_curve, data_endpoint

from .manager_core import ManagerCore

logger = logging.getLogger("live_monitor.data.polygon_data_manager")

DRAIN_BUDGET_S = 0.005      # one drain slice (with a paint and the display timers it must fit a 60 Hz frame)
RCVHWM = 100                # data messages queued here before ZeroMQ pushes back (see open())
SAFETY_INTERVAL_MS = 250    # drain + link timeouts even if an FD edge was missed


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
        deadline = time.perf_counter() + DRAIN_BUDGET_S
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

"""A paced Polygon-protocol stand-in and the consumers the latency and desk benchmarks put behind it.

Why a stand-in of its own (not the simulator): a latency figure needs the exact
send time of every frame, a steady pace (a frame every 250 µs at 20k events/s,
which ``asyncio.sleep`` cannot keep: its epoll timeout has 1 ms steps, so
frames would leave in clumps) and nothing else on the sending side. So the
server is the ``websockets`` *sync* server: one thread per connection,
``time.sleep`` to an absolute schedule (nanosleep, µs resolution), and
``time.monotonic_ns()`` (CLOCK_MONOTONIC, one clock for every process of the
machine) taken right before each ``send``.

Two ways to carry the send time to a consumer, both through the trade id:

* ``log`` (the latency bench): trade ids are the Polygon ``q`` (index 8 of the
  wire ``T`` array), ``i`` is ``str(q)``, and the server writes each frame's
  first ``q`` and send time to a JSON file when it stops. Consumers report
  ``(q, receive ns)`` and the bench matches them: exact and consumer-neutral.
* ``stamp`` (the desk bench, 100 subscribers and millions of events): ``i`` is
  the frame's send time in ns plus the event's place in the frame (ids must
  stay unique: the feed de-duplicates trades by symbol, exchange and id), so a
  subscriber computes its latency itself from wire index 6, a few ns high.

The stream starts at the consumer's first ``subscribe`` and runs ``seconds``.
Config (one JSON argument): ``rate`` (burst symbol events/s), ``batch`` (events
per burst frame at up to ``max_fps`` frames/s; above that the frames grow),
``burst`` (its symbol), ``symbols`` ({SYM: events/s}: Poisson trades and
quotes, about 1 trade per 3 quotes, ridden on the burst frames' ticks),
``compression`` ("deflate" offered or null), ``mode``, ``log``, ``close_after``
(close the connection when the stream ends).
"""

from __future__ import annotations

import textwrap

from bench.common import FEED_SUB

STANDIN = textwrap.dedent(r"""
    import json, os, random, sys, time
    from websockets.sync.server import serve
    cfg = json.loads(sys.argv[1])
    rate, batch, seconds = float(cfg["rate"]), int(cfg.get("batch", 5)), float(cfg["seconds"])
    burst, others, stamp = cfg.get("burst", "LAT"), cfg.get("symbols", {}), cfg.get("mode") == "stamp"
    fps = min(rate / batch, float(cfg.get("max_fps", 4000))) if rate else 1000.0
    per = max(1, round(rate / fps)) if rate else 0
    period = 1.0 / fps
    burst_tmpl = ",".join('{"ev":"T","sym":"%s","x":4,"i":"%%d","z":3,"p":%.2f,"s":100,"t":%%d,"q":%%d}'
                          % (burst, 100.0 + (k % 7) * 0.01) for k in range(per))
    def handler(ws):
        ws.send('[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
        ws.recv()
        ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]')
        while '"subscribe"' not in ws.recv():
            pass
        rng = random.Random(7)
        nxt_ev = {s: time.monotonic() + rng.expovariate(r) for s, r in others.items() if r > 0}
        log_q, log_ns = [], []
        base_ms = int(time.time() * 1000)
        q = 0
        t0 = nxt = time.monotonic()
        t_end = t0 + seconds
        mono = time.monotonic_ns
        while True:
            now = time.monotonic()
            if now >= t_end:
                break
            parts = []
            q0 = q
            ns = mono()
            if stamp and per:  # the desk's burst, up to 1M events/s: one format per frame, not per event
                tms = base_ms + q // 1000
                parts.append(burst_tmpl % tuple(v for k in range(per) for v in (ns + k, tms, q + k)))
                q += per
            for _ in range(0 if stamp else per):
                # ids are unique (the feed de-duplicates by symbol, exchange and id): stamp + the event's
                # place in the frame, a few ns off the send time
                parts.append('{"ev":"T","sym":"%s","x":4,"i":"%d","z":3,"p":%.2f,"s":100,"t":%d,"q":%d}'
                             % (burst, ns + q - q0 if stamp else q, 100.0 + (q % 7) * 0.01, base_ms + q // 1000, q))
                q += 1
            for s, due in nxt_ev.items():
                while due <= now:
                    if rng.random() < 0.25:
                        parts.append('{"ev":"T","sym":"%s","x":4,"i":"%d","z":1,"p":%.2f,"s":%d,"t":%d,"q":%d}'
                                     % (s, ns + q - q0 if stamp else q, 50.0 + rng.random(), rng.choice((1, 10, 100, 200)),
                                        base_ms + q // 1000, q))
                    else:
                        b = 50.0 + rng.random()
                        parts.append('{"ev":"Q","sym":"%s","bx":4,"bp":%.2f,"bs":%d,"ax":7,"ap":%.2f,"as":%d,'
                                     '"t":%d,"q":%d,"z":1}' % (s, b, rng.randint(1, 9), b + 0.01,
                                                                rng.randint(1, 9), base_ms + q // 1000, q))
                    q += 1
                    due += rng.expovariate(others[s])
                nxt_ev[s] = due
            if parts:
                ns = mono()
                ws.send("[" + ",".join(parts) + "]")
                log_q.append(q0); log_ns.append(ns)
            nxt += period
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
        if cfg.get("log"):  # written aside and renamed: the bench never reads half a log
            with open(cfg["log"] + ".part", "w") as f:
                json.dump({"q": log_q, "ns": log_ns, "events": q, "seconds": time.monotonic() - t0}, f)
            os.replace(cfg["log"] + ".part", cfg["log"])
        if cfg.get("close_after"):  # a direct client ends on the close; a feed would reconnect, so not there
            ws.close()
            return
        try:
            ws.recv(timeout=30)
        except Exception:
            pass
    with serve(handler, "127.0.0.1", 0, compression=cfg.get("compression"), max_size=2**24) as srv:
        print("LISTENING", srv.socket.getsockname()[1], flush=True)
        srv.serve_forever()  # until the bench's SIGTERM
""")

# Consumers, each its own process: argv ... expected idle_s; print READY when about to subscribe, then one
# JSON line {"q": [...], "ns": [...], "cpu_s": process CPU from the first to the last event, "wall_s"}.

MASSIVE = textwrap.dedent("""
    import asyncio, json, sys, time
    from massive import WebSocketClient
    port, expected, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    c = WebSocketClient(api_key="bench", feed="127.0.0.1:" + port, market="stocks", secure=False,
                        subscriptions=["T.LAT"], max_reconnects=0)  # as shipped: stdlib json, websockets defaults
    qs, ns = [], []
    st = {}
    mono = time.monotonic_ns
    class Done(Exception): pass
    async def handle(msgs):
        now = mono()
        if not qs:
            st["cpu0"] = time.process_time(); st["t0"] = time.perf_counter()
        for m in msgs:
            if m.sequence_number is not None:
                qs.append(m.sequence_number); ns.append(now)
        st["cpu1"] = time.process_time(); st["t1"] = time.perf_counter()
        if len(qs) >= expected:
            raise Done()
    async def main():
        print("READY", flush=True)
        try:
            await asyncio.wait_for(c.connect(handle), idle + expected / 500 + 10)
        except (Done, asyncio.TimeoutError):
            pass
    asyncio.run(main())
    print(json.dumps({"q": qs, "ns": ns, "cpu_s": st.get("cpu1", 0) - st.get("cpu0", 0),
                      "wall_s": st.get("t1", 0) - st.get("t0", 0)}))
""")

BARE = textwrap.dedent("""
    import asyncio, json, sys, time, orjson, websockets
    port, expected, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    compression = None if (sys.argv[4:] or ["deflate"])[0] == "none" else "deflate"
    async def main():
        qs, ns = [], []
        mono = time.monotonic_ns
        cpu0 = t0 = cpu1 = t1 = 0.0
        async with websockets.connect("ws://127.0.0.1:" + port, compression=compression, max_size=2**24) as ws:
            await ws.recv(); await ws.send('{"action":"auth","params":"bench"}'); await ws.recv()
            print("READY", flush=True)
            await ws.send('{"action":"subscribe","params":"T.LAT"}')
            while len(qs) < expected:
                try:
                    raw = await asyncio.wait_for(ws.recv(decode=False), idle)
                except (asyncio.TimeoutError, websockets.ConnectionClosed):
                    break
                now = mono()
                if not qs:
                    cpu0 = time.process_time(); t0 = time.perf_counter()
                for e in orjson.loads(raw):
                    q = e.get("q")
                    if q is not None:
                        qs.append(q); ns.append(now)
                cpu1 = time.process_time(); t1 = time.perf_counter()
        return {"q": qs, "ns": ns, "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}
    print(json.dumps(asyncio.run(main())))
""")

# The subscriber a window is: DEALER hello -> SUB md|LAT| on the data endpoint; q is wire index 8.
SUBSCRIBER = FEED_SUB + textwrap.dedent("""
    ctl, expected, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    ctx = zmq.Context()
    s = sub_socket(ctx, data_endpoint(ctx, ctl, 10000))
    print("READY", flush=True)
    s.setsockopt(zmq.SUBSCRIBE, b"md|LAT|")
    unpackb, recv, mono = msgpack.unpackb, s.recv_multipart, time.monotonic_ns
    qs, ns = [], []
    cpu0 = t0 = cpu1 = t1 = 0.0
    first_wait = 20000
    while len(qs) < expected:
        if not s.poll(first_wait if not qs else int(idle * 1000)):
            break
        topic, payload = recv()
        now = mono()
        m = unpackb(payload)
        if m.get("type") != "batch":
            continue
        if not qs:
            cpu0 = time.process_time(); t0 = time.perf_counter()
        for a in m["ev"]:
            if a[0] == "T" and len(a) > 8 and a[8] is not None:
                qs.append(a[8]); ns.append(now)
        cpu1 = time.process_time(); t1 = time.perf_counter()
    print(json.dumps({"q": qs, "ns": ns, "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}))
""")

# The floor of any "feed -> ZeroMQ -> subscriber" design, for the latency bench: a relay process that does
# nothing but forward each upstream frame's bytes (picows, as the feed reads; published from inside picows'
# frame callback, no decode, no loop turn) on a ZeroMQ PUB, and a subscriber process that decodes them with
# orjson. Same wake-ups as the feed path (relay loop, its ZeroMQ I/O thread, the subscriber's I/O thread,
# the subscriber), the least Python per frame. argv: port; prints "LISTENING <data endpoint>" once bound,
# then waits for the subscriber's subscription before it subscribes upstream (the stream starts then).
RELAY = textwrap.dedent("""
    import asyncio, sys, picows, zmq
    port = sys.argv[1]
    ctx = zmq.Context()
    pub = ctx.socket(zmq.XPUB); pub.setsockopt(zmq.LINGER, 0); pub.setsockopt(zmq.SNDHWM, 0)
    pub.bind("tcp://127.0.0.1:*")
    print("LISTENING", pub.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    pub.recv()  # the subscriber's subscription
    send, TOPIC, TEXT = pub.send_multipart, b"md|LAT|", picows.WSMsgType.TEXT
    class L(picows.WSListener):
        step = 0
        def on_ws_frame(self, t, frame):
            if frame.msg_type is not TEXT:
                return
            if self.step == 2:
                send([TOPIC, frame.get_payload_as_bytes()])
            elif self.step == 0:
                t.send(TEXT, b'{"action":"auth","params":"bench"}'); self.step = 1
            elif b"auth_success" in frame.get_payload_as_bytes():
                t.send(TEXT, b'{"action":"subscribe","params":"T.LAT"}'); self.step = 2
    async def main():
        t, _ = await picows.ws_connect(L, "ws://127.0.0.1:" + port, max_frame_size=2**24)
        await t.wait_disconnected()
    asyncio.run(main())
""")

# The relay's subscriber: SUB on the relay's endpoint, orjson per frame, q per trade (argv: endpoint ...).
RELAY_SUB = textwrap.dedent("""
    import json, sys, time, orjson, zmq
    ep, expected, idle = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    ctx = zmq.Context()
    s = ctx.socket(zmq.SUB); s.setsockopt(zmq.RCVHWM, 0); s.connect(ep)
    print("READY", flush=True)
    s.setsockopt(zmq.SUBSCRIBE, b"md|LAT|")
    recv, loads, mono = s.recv_multipart, orjson.loads, time.monotonic_ns
    qs, ns = [], []
    cpu0 = t0 = cpu1 = t1 = 0.0
    while len(qs) < expected:
        if not s.poll(20000 if not qs else int(idle * 1000)):
            break
        topic, payload = recv()
        now = mono()
        if not qs:
            cpu0 = time.process_time(); t0 = time.perf_counter()
        for e in loads(payload):
            q = e.get("q")
            if q is not None:
                qs.append(q); ns.append(now)
        cpu1 = time.process_time(); t1 = time.perf_counter()
    print(json.dumps({"q": qs, "ns": ns, "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}))
""")

"""The desk bench's child processes: the screens (many SUB sockets in one process) and a ZeroMQ proxy.

Why the screens read the wire by hand: the point of the desk is the *feed's* limit, so the 100
screens must be as cheap as a subscriber can be, or they (sharing the machine's cores with the
feed) run out first. A screen does not decode a message: it reads ``seq`` and the event count from
the batch's fixed header (``shared.models.wire.pack_batch``: a map ``type, sym, epoch, seq, ev`` in
that order; ``seq`` sits at the same offset in every message of a topic, since ``sym`` and the
run's ``epoch`` do not change), so every message is checked for a gap and counted at a few
hundred ns; and it drains all its sockets at most every ``nap_ms`` (a poll over 50 sockets costs more
than the messages it finds one at a time). Every ``every``-th message is decoded whole: its first trade's id is the stand-in's
send time (:mod:`bench.paced` ``stamp`` mode), the latency sample, and the decode is checked against
the header read (``misread`` counts any disagreement: it must stay 0 for the counts to stand).

The proxy is what a floor of screens would run to take the fan-out off the feed: ``zmq.proxy``
between an XSUB connected once to the feed's XPUB and an XPUB of its own (subscriptions travel up,
so the feed still subscribes upstream to the union of what the screens watch).
"""

from __future__ import annotations

import textwrap

from bench.common import FEED_SUB

# argv: ctl data|- first n symbols watch burst_every idle_s every nap_ms
SCREENS = FEED_SUB + textwrap.dedent("""
    ctl, data, first, n, symbols, watch, burst_every, idle, every = (
        sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(","), int(sys.argv[6]),
        int(sys.argv[7]), float(sys.argv[8]), int(sys.argv[9]))
    nap = float(sys.argv[10]) / 1000
    ctx = zmq.Context()
    ep = data_endpoint(ctx, ctl, 20000)
    ep = ep if data == "-" else data  # a proxy in front of the feed: the hello still comes from the feed
    socks, poller, BURST = [], zmq.Poller(), b"md|BURST|"
    for g in range(first, first + n):
        s = sub_socket(ctx, ep)
        for k in range(watch):
            s.setsockopt(zmq.SUBSCRIBE, ("md|%s|" % symbols[(g * watch + k) % len(symbols)]).encode())
        if g % burst_every == 0:
            s.setsockopt(zmq.SUBSCRIBE, BURST)
        socks.append(s); poller.register(s, zmq.POLLIN)
    print("READY", flush=True)
    unpackb, mono, NB, Again, frombytes = msgpack.unpackb, time.monotonic_ns, zmq.NOBLOCK, zmq.Again, int.from_bytes
    INT = {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}
    ARR = {0xdc: 2, 0xdd: 4}
    nxt = [{} for _ in socks]; gaps = [0] * len(socks); msgs = [0] * len(socks)
    events = [0] * len(socks); burst_ev = [0] * len(socks); lat = [[] for _ in socks]
    offs = {}; index = {s: i for i, s in enumerate(socks)}
    k = misread = 0; t_first = t_last = None; warm_ns = 1_000_000_000; cpu0 = py0 = 0.0
    wait = 30000
    while True:
        ready = poller.poll(wait)
        if not ready:
            break
        wait = int(idle * 1000)
        for s, _ in ready:
            i = index[s]; nx = nxt[i]; recv = s.recv_multipart
            while True:
                try:
                    topic, p = recv(NB)
                except Again:
                    break
                if p[6:12] != b"\\xa5batch":
                    continue
                o = offs.get(topic)
                if o is None:
                    o = offs[topic] = p.index(b"\\xa3seq") + 4
                    if t_first is None:
                        t_first = mono(); cpu0 = time.process_time(); py0 = time.thread_time()
                b = p[o]
                if b < 0x80:
                    seq = b; j = o + 4
                else:
                    w = INT[b]; seq = frombytes(p[o + 1:o + 1 + w], "big"); j = o + 4 + w
                h = p[j]
                if 0x90 <= h <= 0x9f:
                    ne = h & 0x0f
                else:
                    w = ARR[h]; ne = frombytes(p[j + 1:j + 1 + w], "big")
                want = nx.get(topic)
                if want is not None and seq != want:
                    gaps[i] += 1
                nx[topic] = seq + ne
                msgs[i] += 1; events[i] += ne
                if topic == BURST:
                    burst_ev[i] += ne
                k += 1
                if k >= every:
                    k = 0
                    now = mono()
                    m = unpackb(p)
                    if m["seq"] != seq or len(m["ev"]) != ne:
                        misread += 1
                    if now - t_first >= warm_ns:
                        for a in m["ev"]:  # the message's first trade (a frame carries one send time)
                            if a[0] == "T" and a[6] is not None:
                                lat[i].append((now - int(a[6])) / 1e6)
                                break
        t_last = mono()
        if nap:
            time.sleep(nap)  # a screen drains its sockets at most 1/nap times a second, as a window's timer does
    cpu, py = time.process_time() - cpu0, time.thread_time() - py0  # the process; its Python thread
    out = []
    for i in range(len(socks)):
        ls = sorted(lat[i])
        q = (lambda f: ls[min(len(ls) - 1, int(f * len(ls)))]) if ls else (lambda f: None)
        out.append({"events": events[i], "burst_events": burst_ev[i], "msgs": msgs[i], "gaps": gaps[i],
                    "samples": len(ls), "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": ls[-1] if ls else None})
    print(json.dumps({"screens": out, "cpu_s": cpu, "py_s": py, "misread": misread,
                      "first_ns": t_first, "last_ns": t_last}))
""")

# argv: data endpoint of the feed; prints "LISTENING <its own XPUB endpoint>"
PROXY = textwrap.dedent("""
    import sys, zmq
    ctx = zmq.Context()
    up = ctx.socket(zmq.XSUB); up.setsockopt(zmq.RCVHWM, 0); up.connect(sys.argv[1])
    down = ctx.socket(zmq.XPUB); down.setsockopt(zmq.SNDHWM, 1000); down.bind("tcp://127.0.0.1:*")
    print("LISTENING", down.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    zmq.proxy(up, down)
""")

"""A stand-in child for the supervisor tests (a real process that behaves as told).

    python -m tests.standin_child --tag T [--ready] [--exit-code N --after S] [--ignore-term] [--watch]
                                  [--spam N] [--fail-if-exists FILE]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--tag", required=True)            # lets tests find this process by its cmdline
    p.add_argument("--ready", action="store_true")    # print a LISTENING line like the sim and feed
    p.add_argument("--exit-code", type=int, default=None)
    p.add_argument("--after", type=float, default=0.0)
    p.add_argument("--ignore-term", action="store_true")
    p.add_argument("--watch", action="store_true")    # start the parent watch like shared.cli.main does
    p.add_argument("--fail-if-exists", default=None)  # exit 2 at once while this file exists
    p.add_argument("--spam", type=int, default=0)     # print this many lines as fast as it can
    a = p.parse_args()
    if a.fail_if_exists and os.path.exists(a.fail_if_exists):
        print(f"standin {a.tag}: refusing to start: {a.fail_if_exists} exists", flush=True)
        return 2
    if a.watch:
        from shared.parent_watch import start_parent_watch

        start_parent_watch(interval=0.1)
    if a.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"standin {a.tag} pid {os.getpid()} starting", flush=True)
    for i in range(a.spam):
        print(f"spam line {i}")
    sys.stdout.flush()
    if a.ready:
        print(f"LISTENING ws://127.0.0.1:{40000 + os.getpid() % 1000} source=standin tag={a.tag}", flush=True)
    deadline = time.monotonic() + a.after if a.exit_code is not None else None
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.05)
    return a.exit_code or 0


if __name__ == "__main__":
    sys.exit(main())

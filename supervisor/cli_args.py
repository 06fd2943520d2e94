"""Flags of ``live-monitor`` (desktop) and ``live-monitor daemon`` (Qt-free, import-light:
``--help`` imports only argparse).

Every flag here names a setting (``dest`` in ``shared.config.FIELDS``), so the
environment and the config file can set it too, and its range is the one
declared there (``shared.cli`` applies it to the argparse ``type``).
Defaults are ``None``: an unset flag never overrides a configured value.
"""

from __future__ import annotations

import argparse


def add_desktop_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("desktop")
    g.add_argument("--symbols", metavar="A,B", help="one window per symbol (default: the last used)")
    _add_backend_arguments(p)


def add_daemon_arguments(p: argparse.ArgumentParser) -> None:
    _add_backend_arguments(p)


def _add_backend_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulator (when --upstream is sim, the default)")
    g.add_argument("--sim-port", dest="sim_port", type=int, metavar="P", help="simulator port (default: a free port)")
    g.add_argument("--seed", dest="sim_seed", type=int, metavar="N",
                   help="synthetic market seed: the same tape every launch (default: a fresh one per launch)")
    g.add_argument("--replay", dest="sim_replay", metavar="FILE",
                   help="the simulator replays FILE (one Polygon event per line, gzip or plain), labelled REPLAY")
    g.add_argument("--speed", dest="sim_speed", type=float, metavar="X", help="clock / replay speed (default 1)")
    g.add_argument("--clock", dest="sim_clock", choices=("auto", "wall", "virtual"), default=None,
                   help="the simulator's clock: auto (default) follows the wall clock while the NYSE is open, "
                        "else plays a virtual session; wall / virtual force one")
    g.add_argument("--max", dest="sim_max", action="store_true", default=None,
                   help="with --replay: as fast as the feed reads")
    g.add_argument("--loop", dest="sim_loop", action="store_true", default=None,
                   help="with --replay: start over at the end")
    u = p.add_argument_group("upstream")
    u.add_argument("--channels", dest="channels", metavar="CODES", default=None,
                   help="upstream channels: T,Q,AM (default) plus A (second bars), LULD (bands and halts), NOI")
    u.add_argument("--upstream-transport", dest="upstream_transport", metavar="LIB",
                   default=None, help="the feed's upstream WebSocket library: picows (default) or websockets")
    s = p.add_argument_group("security")
    s.add_argument("--curve-dir", dest="curve_dir", metavar="DIR", default=None,
                   help="CURVE keys: the feed serves (and windows connect) encrypted with these")
    s.add_argument("--insecure", action="store_true", default=None,
                   help="allow a non-loopback feed address without CURVE keys")

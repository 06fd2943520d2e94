"""The ``live-monitor`` command line: one parser, sub-commands per DESIGN.md.

Each part owns its sub-command's flags in a Qt-free ``cli_args`` module, so
``--help`` never imports Qt or asyncio servers. A flag whose ``dest`` names a
setting (``shared.config.FIELDS``) is passed to :func:`load_settings` with the
highest precedence; argparse defaults are ``None`` so unset flags don't
override the environment or the file.

Errors the user can fix are :class:`UserError`: one line on stderr, exit 2
(usage) or 1 (runtime), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import Callable, Sequence

from .config import FIELD_BY_NAME, PORT, SEED, ConfigError, Range, Settings, load_settings

log = logging.getLogger(__name__)


class UserError(Exception):
    """A problem to tell the user in one line. ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports bad flags in one line (plus the usage hint)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive_int(v: str) -> int:
    """argparse ``type=`` for counts: an integer >= 1."""
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {v!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return n


def positive_float(v: str) -> float:
    """argparse ``type=`` for durations and rates: a number > 0 (NaN refused too)."""
    try:
        x = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {v!r}") from None
    if not x > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return x


# The ranges of the numeric flags that are not settings (a setting's range is declared
# with it in shared.config.FIELDS and used for its flag too). Keyed by ``dest``;
# "COMMAND.dest" is for one sub-command only. build_parser wraps the ``type=`` of every
# int/float flag with its range, so a bad number is one argparse line, exit 2, before
# any socket is opened (``status --timeout -1`` once reached ZeroMQ as a traceback).
# A numeric flag missing here is still refused when not finite; tests/test_cli.py fails.
FLAG_RANGES: dict[str, Range] = {
    "timeout": Range(above=0, hi=3600),          # status / tap / record: seconds to wait for the feed
    "count": Range(1, 10**12),
    "duration": Range(above=0, hi=10**7),
    "sndhwm": Range(1, 10**7),
    "auth_retry_delay": Range(above=0, hi=86_400),
    "busy_retry_delay": Range(above=0, hi=86_400),
    "port": PORT,
    "listen_fd": Range(3, 10**6),                # sim --listen-fd: a descriptor the supervisor handed down
    "seed": SEED,
    "speed": Range(above=0, hi=10_000),
    "rate": Range(above=0, hi=10**7),
    "drop_after": Range(0, 10**12),
    "drop_every": Range(above=0, hi=86_400),
    "stall_after": Range(0, 10**12),
    "malformed_every": Range(1, 10**12),
    "max_connections": Range(0, 10**6),
    "close_1011_after": Range(0, 10**12),
    "store_flush": Range(above=0, hi=3600),
    "days": Range(0, 3650),                      # history prune --days (0 = everything)
    "alert.value": Range(-100, 1e9),          # the kind's own range is the feed's (alert_book.VALUE_RANGES)
    "alert.hysteresis": Range(0, 100),
    "alert.rearm_minutes": Range(0, 1440),
}


def flag_range(command: str, dest: str) -> Range | None:
    f = FIELD_BY_NAME.get(dest)
    if f is not None and isinstance(f.check, Range):
        return f.check
    return FLAG_RANGES.get(f"{command}.{dest}") or FLAG_RANGES.get(dest)


def _ranged(kind: type, rng: Range | None) -> Callable[[str], int | float]:
    def parse(v: str) -> int | float:
        try:
            x = kind(v)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"not {'an integer' if kind is int else 'a number'}: {v!r}") from None
        if x != x or x in (float("inf"), float("-inf")):
            raise argparse.ArgumentTypeError(f"not a finite number: {v!r}")
        if rng is not None:
            try:
                rng(x)
            except ValueError as e:
                raise argparse.ArgumentTypeError(str(e)) from None
        return x

    parse.__name__ = kind.__name__
    parse.range = rng  # type: ignore[attr-defined]  # for the tests: every numeric flag has one
    parse.kind = kind  # type: ignore[attr-defined]
    return parse


_NUMERIC = {int: int, float: float}


def apply_ranges(p: argparse.ArgumentParser, command: str) -> None:
    """Give every int/float flag of ``p`` its declared range (see FLAG_RANGES)."""
    for a in p._actions:
        kind = _NUMERIC.get(a.type) or {positive_int: int, positive_float: float}.get(a.type)  # type: ignore[arg-type]
        if kind is None:
            continue
        rng = flag_range(command, a.dest)
        if rng is None and a.type in (positive_int, positive_float):
            rng = Range(lo=1) if kind is int else Range(above=0)
        a.type = _ranged(kind, rng)


def add_common(p: argparse.ArgumentParser, sub: bool = False) -> None:
    # On sub-parsers the defaults are SUPPRESS, so `live-monitor --feed X tap`
    # keeps X (argparse would otherwise overwrite it with the sub-parser's None).
    d = argparse.SUPPRESS if sub else None
    g = p.add_argument_group("common")
    g.add_argument("--feed", metavar="tcp://HOST:PORT", default=d,
                   help="the feed's one address (default tcp://127.0.0.1:8201)")
    g.add_argument("--upstream", metavar="KIND", default=d,
                   help="sim | relay | polygon | delayed | ws(s)://URL (default sim)")
    g.add_argument("--protocol", choices=["relay", "polygon"], default=d,
                   help="upstream protocol (default: from --upstream)")
    g.add_argument("--config", dest="config_file", metavar="FILE", default=d, help="TOML config file")
    g.add_argument("--log-level", dest="log_level", metavar="LEVEL", default=d,
                   help="DEBUG | INFO | WARNING | ERROR")


# sub-command -> (module with add_arguments(parser), "module:function" to run, help)
COMMANDS: dict[str, tuple[str | None, str, str]] = {
    "desktop": ("supervisor.cli_args", "supervisor.commands:run_desktop",
                "supervisor + simulator + feed + windows (the default)"),
    "daemon": ("supervisor.cli_args", "supervisor.commands:run_daemon",
               "feed only (+ simulator when upstream is sim), no UI"),
    "feed": ("feed_process.cli_args", "feed_process.main:run_feed", "one feed process in the foreground"),
    "ui": ("ui_process.cli_args", "ui_process.app:run_ui", "one window on a running feed (or --screenshot)"),
    "sim": ("feed_process.sim.cli_args", "feed_process.sim.server:run_sim",
            "the market simulator / replay server (relay /ws/{id} + Polygon /stocks)"),
    "tap": ("feed_process.cli_args", "feed_process.tools:run_tap", "print a feed's events"),
    "status": ("feed_process.cli_args", "feed_process.tools:run_status", "the feed's status"),
    "record": ("feed_process.cli_args", "feed_process.tools:run_record", "record a feed to a replay file"),
    "bars": ("feed_process.cli_args", "feed_process.history_cli:run_bars",
             "print a feed's bars of a symbol (any timeframe)"),
    "history": ("feed_process.cli_args", "feed_process.history_cli:run_history",
                "the local history store: list, export, prune"),
    "alert": ("feed_process.alert_cli", "feed_process.alert_cli:run_alert",
              "add, list, edit, arm, disarm or remove the feed's alerts"),
}


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, the flags of those sub-commands alone (the others keep their
    name and help): ``main`` builds just the command it runs, so ``status`` never imports the flag
    modules (and their imports) of ``bars``, ``ui`` or ``sim`` - a CLI answer is mostly start-up."""
    p = OneLineParser(prog="live-monitor", description="Live Monitor: live market data for intraday traders.")
    add_common(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name, (args_mod, _target, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        add_common(sp, sub=True)
        if args_mod and (only is None or name in only):
            try:
                mod = importlib.import_module(args_mod)
                adder = getattr(mod, f"add_{name}_arguments", None)
                if adder:
                    adder(sp)
            except ModuleNotFoundError:
                pass
        apply_ranges(sp, name)
    return p


def settings_from_args(args: argparse.Namespace, env=None) -> Settings:
    flags = {k: v for k, v in vars(args).items() if k in FIELD_BY_NAME and v is not None}
    return load_settings(flags=flags, env=env, config_file=getattr(args, "config_file", None))


def resolve(target: str) -> Callable[[argparse.Namespace, Settings], int]:
    mod_name, func = target.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as e:
        if e.name and (e.name == mod_name or mod_name.startswith(e.name + ".")):
            raise UserError(f"'{mod_name}' is not available in this build", 2) from None
        raise
    fn = getattr(mod, func, None)
    if fn is None:
        raise UserError(f"'{target}' is not implemented yet", 2)
    return fn


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser([a for a in argv if a in COMMANDS] or ["desktop"])
    # A bare `live-monitor [flags]` means desktop. A first word that is not a
    # command is an unknown command: say so in one line.
    if not any(a in COMMANDS for a in argv):
        if argv and not argv[0].startswith("-"):
            print(f"live-monitor: unknown command '{argv[0]}' (commands: {', '.join(COMMANDS)})", file=sys.stderr)
            return 2
        if not any(a in ("-h", "--help") for a in argv):
            argv = ["desktop", *argv]
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        settings = settings_from_args(args)
        from .logsetup import configure_logging, register_secret

        configure_logging(settings.log_level)
        register_secret(settings.api_key.get())  # also a key from the config file, not only the env
        if args.command not in ("desktop", "daemon"):
            # A child of the supervisor exits when the supervisor is gone (no orphans).
            from .parent_watch import start_parent_watch

            start_parent_watch()
        fn = resolve(COMMANDS[args.command][1])
        return int(fn(args, settings) or 0)
    except ConfigError as e:
        print(f"live-monitor: configuration error: {e}", file=sys.stderr)
        return 2
    except UserError as e:
        print(f"live-monitor {args.command}: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `live-monitor tap ... | head`: the reader left; not an error
        try:
            sys.stdout = open(os.devnull, "w")  # no second traceback when Python flushes stdout at exit
        except OSError:
            pass
        return 0


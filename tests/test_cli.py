"""The ``live-monitor`` command line (shared/cli.py): help, one-line errors, exit codes.

Most tests run the real console script (``.venv/bin/live-monitor``, or
``python -m supervisor`` when the script is not installed) as a subprocess,
because "one line, no traceback" is a property of the whole process.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import cli
from shared.cli import COMMANDS, UserError, build_parser, settings_from_args
from shared.config import ConfigError
from shared.procs import PARENT_PID_ENV
from tests.util import free_port

REPO = Path(__file__).resolve().parents[1]
DESIGN_COMMANDS = ("desktop", "daemon", "feed", "ui", "sim", "tap", "status")  # DESIGN.md's command line


def live_monitor(*args: str, env_extra: dict[str, str] | None = None, timeout: float = 60,
                 ) -> subprocess.CompletedProcess:
    exe = REPO / ".venv" / "bin" / "live-monitor"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "supervisor"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LIVE_MONITOR_") and k not in ("POLYGON_API_KEY", "MASSIVE_API_KEY")}
    env["XDG_CONFIG_HOME"] = "/nonexistent-live-monitor"  # never the developer's own config file
    env["LIVE_MONITOR_DATA_DIR"] = os.environ["LIVE_MONITOR_DATA_DIR"]  # the run's temporary one (conftest)
    env.update(env_extra or {})
    return subprocess.run([*cmd, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess, code: int = 2) -> str:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    return lines[0]


# ---------------------------------------------------------------- help

def test_help_lists_every_sub_command():
    r = live_monitor("--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: live-monitor")
    for name in (*DESIGN_COMMANDS, *COMMANDS):
        assert f"    {name} " in r.stdout, name
    for flag in ("--feed", "--upstream", "--protocol", "--config", "--log-level"):
        assert flag in r.stdout


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_sub_command_has_help(name):
    r = live_monitor(name, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: live-monitor {name}")
    assert "--log-level" in r.stdout and "--feed" in r.stdout


def test_help_never_imports_qt_or_starts_anything():
    code = ("import sys\nfrom shared.cli import main\n"
            "for c in (['--help'], ['ui', '--help'], ['desktop', '--help'], ['tap', '--help']):\n"
            "    try:\n        main(c)\n    except SystemExit as e:\n        assert e.code == 0, e.code\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PyQt6', 'pyqtgraph', 'aiohttp'))\n"
            "print('LOADED', bad)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout


# ---------------------------------------------------------------- one-line errors

@pytest.mark.parametrize("word", ["nonsense", "stauts", "Tap"])
def test_unknown_command_is_one_line_exit_2(word):
    line = one_line_error(live_monitor(word))
    assert f"unknown command '{word}'" in line
    for name in COMMANDS:
        assert name in line


@pytest.mark.parametrize("args, mentions", [
    (["status", "--bogus"], "--bogus"),
    (["--bogus"], "--bogus"),
    (["tap", "AAPL", "--count", "many"], "--count"),
    (["sim", "--port", "eighty"], "--port"),
    (["--protocol", "ftp", "status"], "--protocol"),
    (["tap"], "SYMBOL"),
    (["--feed"], "--feed"),
])
def test_bad_flag_is_one_line_exit_2(args, mentions):
    line = one_line_error(live_monitor(*args))
    assert line.startswith("live-monitor") and "error:" in line and mentions in line
    assert line.endswith("(see --help)")


@pytest.mark.parametrize("args, env, key", [
    (["status"], {"LIVE_MONITOR_MAX_BARS": "abc"}, "max_bars"),
    (["status", "--log-level", "LOUD"], {}, "log_level"),
    (["status", "--feed", "localhost:8201"], {}, "feed"),
    (["tap", "AAPL", "--upstream", "ftp://x"], {}, "upstream"),
    (["status"], {"LIVE_MONITOR_NO_SUCH_THING": "1"}, "no_such_thing"),
    (["daemon"], {"LIVE_MONITOR_RECONNECT_DELAY": "-1"}, "reconnect_delay"),
])
def test_bad_config_value_is_one_line_naming_the_key(args, env, key):
    line = one_line_error(live_monitor(*args, env_extra=env))
    assert line.startswith("live-monitor: configuration error:")
    assert f"'{key}'" in line


def test_bad_config_file_is_one_line(tmp_path):
    f = tmp_path / "lm.toml"
    f.write_text("max_bars = 10\nmystery = 1\n")
    line = one_line_error(live_monitor("status", "--config", str(f)))
    assert "'mystery'" in line and str(f) in line
    line = one_line_error(live_monitor("status", "--config", str(tmp_path / "absent.toml")))
    assert "not found" in line
    line = one_line_error(live_monitor("status", "--config", str(tmp_path)))
    assert "cannot read config file" in line


def test_unreachable_feed_is_one_line_non_zero():
    r = live_monitor("status", "--feed", f"tcp://127.0.0.1:{free_port()}")
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr


# ---------------------------------------------------------------- in-process: parser and dispatch

def test_common_flags_work_before_or_after_the_command():
    p = build_parser()
    before = p.parse_args(["--feed", "tcp://127.0.0.1:9001", "--log-level", "DEBUG", "status"])
    after = p.parse_args(["status", "--feed", "tcp://127.0.0.1:9001", "--log-level", "DEBUG"])
    for a in (before, after):
        assert (a.command, a.feed, a.log_level) == ("status", "tcp://127.0.0.1:9001", "DEBUG")
    neither = p.parse_args(["status"])
    assert neither.feed is None  # not given: the env / file / default decides


def test_flags_override_env_which_overrides_defaults():
    p = build_parser()
    env = {"LIVE_MONITOR_FEED": "tcp://127.0.0.1:7000", "LIVE_MONITOR_LOG_LEVEL": "WARNING"}
    s = settings_from_args(p.parse_args(["status", "--feed", "tcp://127.0.0.1:9001"]), env=env)
    assert s.feed == "tcp://127.0.0.1:9001" and s.log_level == "WARNING"
    assert s.sources["feed"] == "flag" and s.sources["log_level"] == "env"
    s = settings_from_args(p.parse_args(["status"]), env={})
    assert s.feed == "tcp://127.0.0.1:8201" and s.log_level == "INFO"


def test_resolve_reports_missing_parts_as_user_errors():
    with pytest.raises(UserError, match="not available in this build") as ei:
        cli.resolve("no_such_package_xyz.main:run")
    assert ei.value.code == 2
    with pytest.raises(UserError, match="not implemented yet") as ei:
        cli.resolve("shared.cli:no_such_function")
    assert ei.value.code == 2
    assert cli.resolve("shared.cli:main") is cli.main


_calls: list = []


def _fake_ok(args, settings):
    _calls.append((args.command, settings.log_level, settings.max_bars))
    return 3


def _fake_user_error(args, settings):
    raise UserError("the thing is broken; try --other", 1)


@pytest.fixture
def fake_commands(monkeypatch):
    monkeypatch.setitem(COMMANDS, "fake-ok", (None, "tests.test_cli:_fake_ok", "test"))
    monkeypatch.setitem(COMMANDS, "fake-err", (None, "tests.test_cli:_fake_user_error", "test"))
    monkeypatch.delenv(PARENT_PID_ENV, raising=False)
    for k in list(os.environ):
        if k.startswith("LIVE_MONITOR_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-live-monitor")
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    _calls.clear()
    yield
    for h in list(root.handlers):
        if h not in saved[0]:
            root.removeHandler(h)
    root.setLevel(saved[1])


def test_main_passes_args_and_settings_and_returns_the_exit_code(fake_commands, monkeypatch):
    monkeypatch.setenv("LIVE_MONITOR_MAX_BARS", "123")
    assert cli.main(["fake-ok", "--log-level", "DEBUG"]) == 3
    assert _calls == [("fake-ok", "DEBUG", 123)]
    assert logging.getLogger().level == logging.DEBUG  # --log-level configured logging


def test_main_turns_user_errors_into_one_line(fake_commands, capsys):
    assert cli.main(["fake-err"]) == 1
    err = capsys.readouterr().err
    assert err == "live-monitor fake-err: the thing is broken; try --other\n"


def test_main_config_errors_exit_2_before_running(fake_commands, capsys, monkeypatch):
    monkeypatch.setenv("LIVE_MONITOR_MAX_BARS", "lots")
    assert cli.main(["fake-ok"]) == 2
    assert _calls == []
    err = capsys.readouterr().err
    assert err.startswith("live-monitor: configuration error: bad value for 'max_bars'") and err.count("\n") == 1


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def _fake_logs_key(args, settings):
    logging.getLogger("feed_process.fake").warning("connecting with key %s", settings.api_key.get())
    return 0


def test_a_key_from_the_config_file_is_redacted_from_logs_too(fake_commands, monkeypatch, tmp_path, capsys):
    key = "pk_FILE_only_5b1e9d33c0"
    f = tmp_path / "lm.toml"
    f.write_text(f'api_key = "{key}"\n')
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("MASSIVE_API_KEY", raising=False)
    monkeypatch.setitem(COMMANDS, "fake-log", (None, "tests.test_cli:_fake_logs_key", "test"))
    assert cli.main(["fake-log", "--config", str(f)]) == 0
    err = capsys.readouterr().err
    assert "connecting with key ***" in err and key not in err


# ---------------------------------------------------------------- numbers and symbols (issue 14)

@pytest.mark.parametrize("args, flag", [
    (["status", "--timeout", "-1"], "--timeout"),   # once a ZMQError traceback
    (["status", "--timeout", "0"], "--timeout"),
    (["status", "--timeout", "nan"], "--timeout"),
    (["status", "--timeout", "1e9"], "--timeout"),
    (["tap", "AAPL", "--count", "0"], "--count"),
    (["tap", "AAPL", "--duration", "-5"], "--duration"),
    (["record", "AAPL", "--out", "x.jsonl", "--timeout", "inf"], "--timeout"),
    (["sim", "--port", "70000"], "--port"),
    (["sim", "--port", "-1"], "--port"),
    (["sim", "--speed", "0"], "--speed"),
    (["sim", "--seed", "-3"], "--seed"),
    (["sim", "--drop-after", "-1"], "--drop-after"),
    (["daemon", "--sim-port", "65536"], "--sim-port"),
    (["daemon", "--seed", "-1"], "--seed"),
    (["daemon", "--speed", "inf"], "--speed"),
    (["desktop", "--speed", "-2"], "--speed"),
    (["feed", "--max-reconnect-attempts", "-1"], "--max-reconnect-attempts"),
    (["feed", "--reconnect-delay", "0"], "--reconnect-delay"),
    (["feed", "--stall-timeout", "0.5"], "--stall-timeout"),
    (["feed", "--hwm", "0"], "--hwm"),
    (["feed", "--auth-retry-delay", "-10"], "--auth-retry-delay"),
])
def test_a_number_out_of_range_is_one_line_exit_2(args, flag):
    line = one_line_error(live_monitor(*args))
    assert f"argument {flag}" in line and ("must be" in line or "not a finite number" in line), line
    assert line.endswith("(see --help)")


def test_every_numeric_flag_has_a_declared_range():
    """A helper adding an int/float flag must say its range (shared.cli.FLAG_RANGES or the setting's)."""
    p = build_parser()
    subs = next(a for a in p._actions if isinstance(a, cli.argparse._SubParsersAction))
    missing, numeric = [], 0
    for name, sp in subs.choices.items():
        for a in sp._actions:
            assert a.type not in (int, float, cli.positive_int, cli.positive_float), (name, a.dest)
            if getattr(a.type, "kind", None) is not None:
                numeric += 1
                if a.type.range is None:
                    missing.append(f"{name} {a.option_strings[0]}")
    assert numeric >= 20 and not missing, missing


@pytest.mark.parametrize("value, says", [
    ("", "no symbol given"),
    (" , ", "no symbol given"),
    ("AAPL,$$", "'$$' is not a valid ticker"),
    ("AAPL,TOOLONGTICKERNAME1", "is not a valid ticker"),
])
def test_bad_symbols_are_one_line_exit_2_before_anything_starts(value, says):
    line = one_line_error(live_monitor("--symbols", value, "--feed", f"tcp://127.0.0.1:{free_port()}"))
    assert line.startswith("live-monitor: configuration error: bad value for 'symbols'") and says in line

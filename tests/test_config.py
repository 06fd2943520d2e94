"""Configuration (shared/config.py): seed defaults, precedence, errors naming the key, the secret API key."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shared import logsetup
from shared.config import FIELDS, ConfigError, Secret, Settings, default_config_path, load_settings
from tests.util import free_port, stop_process, wait_until

REPO = Path(__file__).resolve().parents[1]
KEY = "pk_TEST_9f3c2a7b1d0e4c55aa"  # fake, but shaped like a real key


def load(flags=None, env=None, config_file=None, **kw) -> Settings:
    """Never read the developer's own config file or environment."""
    return load_settings(flags=flags, env=env or {}, config_file=config_file, use_default_file=False, **kw)


def toml(tmp_path: Path, text: str, name: str = "lm.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# ---------------------------------------------------------------- defaults

def test_defaults_are_the_seeds_configuration_section():
    s = load()
    assert s.server_url == "ws://localhost:8200/ws/{client_id}"
    assert s.no_data_threshold == 30
    assert s.heartbeat_check_interval == 5000
    assert s.max_bars == 2000
    assert s.reconnect_delay == 1.0
    assert s.max_reconnect_delay == 30.0
    assert s.max_reconnect_attempts == 10
    # added by the design: the feed's one address and the upstream kind
    assert s.feed == "tcp://127.0.0.1:8201"
    assert s.upstream == "sim"
    assert s.api_key == Secret("") and not s.api_key
    assert s.sources == {}
    assert s == Settings()


def test_fields_and_the_settings_class_declare_the_same_keys_and_defaults():
    cls = {f.name: f for f in dataclasses.fields(Settings) if f.name != "sources"}
    assert [f.name for f in FIELDS] == list(cls)
    defaults = Settings()
    for f in FIELDS:
        assert getattr(defaults, f.name) == f.default, f.name


def test_derived_upstream_url_and_protocol():
    s = load()
    assert s.upstream_protocol == "relay"
    assert load(flags={"upstream": "relay"}).upstream_url == "ws://localhost:8200/ws/live_monitor"
    p = load(flags={"upstream": "polygon"})
    assert (p.upstream_url, p.upstream_protocol) == ("wss://socket.massive.com/stocks", "polygon")
    d = load(flags={"upstream": "delayed"})
    assert (d.upstream_url, d.upstream_protocol) == ("wss://delayed.massive.com/stocks", "polygon")
    u = load(flags={"upstream": "ws://127.0.0.1:9/stocks"})
    assert u.upstream_protocol == "polygon"
    assert load(flags={"upstream": "ws://127.0.0.1:9/stocks", "protocol": "relay"}).upstream_protocol == "relay"


# ---------------------------------------------------------------- precedence

def test_precedence_flags_over_env_over_file_over_defaults(tmp_path):
    f = toml(tmp_path, 'max_bars = 100\nno_data_threshold = 11\nclient_id = "from_file"\nsim_seed = 5\n')
    env = {"LIVE_MONITOR_MAX_BARS": "200", "LIVE_MONITOR_NO_DATA_THRESHOLD": "22.5"}
    flags = {"max_bars": 300, "log_level": None}  # None = flag not given

    s = load(flags, env, f)
    assert s.max_bars == 300                    # flag
    assert s.no_data_threshold == 22.5          # env
    assert s.client_id == "from_file"           # file
    assert s.sim_seed == 5
    assert s.heartbeat_check_interval == 5000   # default
    assert s.log_level == "INFO"                # the None flag did not override anything
    assert dict(s.sources) == {"max_bars": "flag", "no_data_threshold": "env", "client_id": "file",
                               "sim_seed": "file"}

    assert load(None, env, f).max_bars == 200
    assert load(None, {}, f).max_bars == 100
    assert load().max_bars == 2000


def test_config_file_from_env_variable_and_live_monitor_table(tmp_path):
    f = toml(tmp_path, '[live_monitor]\nupstream = "polygon"\nsymbols = ["aapl", "brk.b"]\n')
    s = load(env={"LIVE_MONITOR_CONFIG": str(f)})
    assert s.upstream == "polygon" and s.symbols == ("AAPL", "BRK.B")
    # --config wins over LIVE_MONITOR_CONFIG
    g = toml(tmp_path, 'upstream = "delayed"\n', "other.toml")
    assert load(env={"LIVE_MONITOR_CONFIG": str(f)}, config_file=g).upstream == "delayed"


def test_default_file_in_the_user_config_dir(tmp_path, monkeypatch):
    # platformdirs ignores XDG_CONFIG_HOME off Linux: point it at tmp_path so the
    # test can never write into a developer's real config dir.
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_dir", lambda app, *a, **k: str(tmp_path / app))
    path = default_config_path()
    assert path == tmp_path / "live-monitor" / "live-monitor.toml"
    assert load_settings(env={}).max_bars == 2000  # absent: defaults, no error
    path.parent.mkdir(parents=True)
    path.write_text("max_bars = 500\n")
    assert load_settings(env={}).max_bars == 500
    assert load_settings(env={}, use_default_file=False).max_bars == 2000


def test_environment_values_are_parsed_from_text():
    s = load(env={"LIVE_MONITOR_MAX_BARS": "150", "LIVE_MONITOR_RECONNECT_DELAY": "0.5",
                  "LIVE_MONITOR_INSECURE": "yes", "LIVE_MONITOR_SYMBOLS": "aapl, msft tsla",
                  "LIVE_MONITOR_MAX_RECONNECT_ATTEMPTS": "0", "LIVE_MONITOR_FEED": "ipc:///tmp/lm.sock",
                  "OTHER_VAR": "ignored", "PATH": "/bin"})
    assert (s.max_bars, s.reconnect_delay, s.insecure) == (150, 0.5, True)
    assert s.symbols == ("AAPL", "MSFT", "TSLA")
    assert s.max_reconnect_attempts == 0 and s.feed == "ipc:///tmp/lm.sock"
    assert load(env={"LIVE_MONITOR_FEED": "tcp://[::1]:8201"}).feed == "tcp://[::1]:8201"
    assert load(env={"LIVE_MONITOR_LOG_LEVEL": "debug"}).log_level == "DEBUG"  # one canonical spelling


# ---------------------------------------------------------------- errors name the key

@pytest.mark.parametrize("key, value", [
    ("max_bars", "many"), ("max_bars", "1.5"), ("max_bars", "5"), ("no_data_threshold", "inf"),
    ("no_data_threshold", "nan"), ("heartbeat_check_interval", "-1"), ("upstream", "ftp://x"),
    ("feed", "localhost:8201"), ("feed", "tcp://127.0.0.1:abc"), ("feed", "tcp://127.0.0.1:70000"),
    ("feed", "tcp://:8201"), ("feed", "ipc://"), ("protocol", "http"), ("log_level", "LOUD"), ("insecure", "maybe"),
    ("symbols", "AAPL,I:SPX"), ("reconnect_delay", "0"), ("max_reconnect_attempts", "-3"),
    ("upstream_transport", "aiohttp"),
])
def test_bad_value_from_each_source_names_the_key(tmp_path, key, value):
    env_var = "LIVE_MONITOR_" + key.upper()
    with pytest.raises(ConfigError, match=rf"'{key}'.*environment variable {env_var}"):
        load(env={env_var: value})
    with pytest.raises(ConfigError, match=rf"'{key}'.*command line"):
        load(flags={key: value})
    f = toml(tmp_path, f'{key} = "{value}"\n')
    with pytest.raises(ConfigError, match=rf"'{key}'.*config file"):
        load(config_file=f)


@pytest.mark.parametrize("line", ["max_bars = true", "max_bars = 2.5", "server_url = [1, 2]",
                                  "no_data_threshold = {a = 1}", "client_id = 1979-05-27"])
def test_wrong_toml_types_name_the_key(tmp_path, line):
    key = line.split(" ")[0]
    with pytest.raises(ConfigError, match=rf"bad value for '{key}' \(from config file"):
        load(config_file=toml(tmp_path, line + "\n"))


def test_unknown_key_from_each_source_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting 'max_barz' \(from config file"):
        load(config_file=toml(tmp_path, "max_barz = 10\n"))
    with pytest.raises(ConfigError, match=r"unknown setting 'max_barz' \(from environment variable LIVE_MONITOR_MAX_BARZ"):
        load(env={"LIVE_MONITOR_MAX_BARZ": "10"})
    with pytest.raises(ConfigError, match=r"unknown setting 'max_barz' \(from command line"):
        load(flags={"max_barz": 10})
    with pytest.raises(ConfigError, match="unknown setting 'sources'"):  # not a setting, just an attribute
        load(env={"LIVE_MONITOR_SOURCES": "x"})


def test_upstream_transport_from_file_env_and_the_flag_of_feed_daemon_and_desktop(tmp_path):
    from shared.cli import build_parser, settings_from_args
    from supervisor.plans import settings_env

    assert load().upstream_transport == "picows"
    assert load(config_file=toml(tmp_path, 'upstream_transport = "websockets"\n')).upstream_transport == "websockets"
    assert load(env={"LIVE_MONITOR_UPSTREAM_TRANSPORT": "websockets"}).upstream_transport == "websockets"
    for command in ("feed", "daemon", "desktop"):
        args = build_parser([command]).parse_args([command, "--upstream-transport", "websockets"])
        s = settings_from_args(args, env={})
        assert (s.upstream_transport, s.sources["upstream_transport"]) == ("websockets", "flag")
        # desktop and daemon hand it to the feed they start, as every setting given as a flag
        assert settings_env(s)["LIVE_MONITOR_UPSTREAM_TRANSPORT"] == "websockets"
    with pytest.raises(ConfigError, match=r"bad value for 'upstream_transport' \(from command line\): must be one of"):
        settings_from_args(build_parser(["feed"]).parse_args(["feed", "--upstream-transport", "tornado"]), env={})


def test_reconnect_cap_below_first_delay_is_refused():
    with pytest.raises(ConfigError, match="'max_reconnect_delay'"):
        load(env={"LIVE_MONITOR_RECONNECT_DELAY": "5", "LIVE_MONITOR_MAX_RECONNECT_DELAY": "2"})


def test_unusable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(config_file=tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(config_file=toml(tmp_path, "max_bars = = 3\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load(config_file=tmp_path)  # a directory
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'client_id = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(config_file=bad)


# ---------------------------------------------------------------- the API key

@pytest.mark.parametrize("env, expected", [
    ({"POLYGON_API_KEY": KEY}, KEY),
    ({"MASSIVE_API_KEY": KEY}, KEY),
    ({"MASSIVE_API_KEY": "other", "POLYGON_API_KEY": KEY}, KEY),  # POLYGON_ wins
    ({"POLYGON_API_KEY": ""}, ""),
])
def test_api_key_from_the_environment(env, expected):
    s = load(env=env)
    assert isinstance(s.api_key, Secret) and s.api_key.get() == expected
    assert s.sources.get("api_key") == ("env" if expected else None)


def test_api_key_from_the_file_and_env_wins(tmp_path):
    f = toml(tmp_path, f'api_key = "{KEY}"\n')
    assert load(config_file=f).api_key.get() == KEY
    assert load(env={"MASSIVE_API_KEY": "envkey"}, config_file=f).api_key.get() == "envkey"


def test_api_key_is_never_taken_from_flags_or_live_monitor_env():
    with pytest.raises(ConfigError) as ei:
        load(flags={"api_key": KEY})
    assert KEY not in str(ei.value)
    with pytest.raises(ConfigError, match="POLYGON_API_KEY") as ei:
        load(env={"LIVE_MONITOR_API_KEY": KEY})
    assert KEY not in str(ei.value)


def test_secret_never_shows_itself():
    s = load(env={"POLYGON_API_KEY": KEY})
    shown = [repr(s), str(s), f"{s}", f"{s.api_key}", f"{s.api_key:>40}", "%s %r" % (s.api_key, s.api_key),
             str(s.public_dict()), repr(dataclasses.asdict(s))]
    for text in shown:
        assert KEY not in text
    assert "Secret('***')" in repr(s)
    assert s.public_dict()["api_key_set"] is True and "api_key" not in s.public_dict()
    with pytest.raises(TypeError):
        pickle.dumps(s.api_key)
    assert copy.deepcopy(s).api_key is s.api_key
    assert Secret(KEY) == Secret(KEY) and Secret(KEY) != Secret("x") and Secret(KEY) != KEY


def test_key_never_reaches_logs(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("POLYGON_API_KEY", KEY)
    s = load_settings(env=dict(os.environ), use_default_file=False)
    assert s.api_key.get() == KEY
    log = logging.getLogger("tests.test_config")
    with caplog.at_level(logging.DEBUG):
        log.info("settings: %s", s)
        log.debug("settings repr %r public %s", s, s.public_dict())
        log.warning("key object: %s", s.api_key)
        try:
            load(flags={"api_key": KEY})
        except ConfigError as e:
            log.error("config failed: %s", e)
        try:
            load(config_file=toml(tmp_path, f'api_key = "{KEY}"\nmax_bars = "x"\n'))
        except ConfigError as e:
            log.exception("config failed: %s", e)
    assert len(caplog.records) == 5
    assert KEY not in caplog.text
    assert all(KEY not in r.getMessage() for r in caplog.records)


def test_redacting_handler_masks_a_raw_key_logged_by_mistake(monkeypatch):
    monkeypatch.setenv("MASSIVE_API_KEY", KEY)
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        logsetup.configure_logging("DEBUG", stream=out)
        logging.getLogger("feed_process.somewhere").debug("oops, raw key %s in %s", KEY, "url?apiKey=" + KEY)
        logging.getLogger("x").info("no args but %s" % KEY)
    finally:
        for h in list(root.handlers):
            if getattr(h, "_live_monitor", False):
                root.removeHandler(h)
        for h in saved[0]:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(saved[1])
    text = out.getvalue()
    assert "oops, raw key *** in url?apiKey=***" in text and "no args but ***" in text
    assert KEY not in text


# ---------------------------------------------------------------- the real command never prints it

def run_cli(*args: str, env_extra: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    exe = REPO / ".venv" / "bin" / "live-monitor"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "supervisor"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")
           and k not in ("POLYGON_API_KEY", "MASSIVE_API_KEY")}
    env["XDG_CONFIG_HOME"] = "/nonexistent-live-monitor"  # never the developer's own config file
    env["LIVE_MONITOR_DATA_DIR"] = os.environ["LIVE_MONITOR_DATA_DIR"]  # the run's temporary one (conftest)
    env.update(env_extra)
    return subprocess.run([*cmd, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, extra_env", [
    (["tap", "--no-such-flag"], {}),
    (["status", "--log-level", "LOUD"], {}),
    (["status", "--log-level", "DEBUG", "--feed", "tcp://127.0.0.1:1", "--json"], {}),
    (["feed", "--log-level", "DEBUG", "--upstream", "polygon"], {"LIVE_MONITOR_MAX_BARS": "lots"}),
    (["status", "--log-level", "DEBUG"], {"LIVE_MONITOR_API_KEY": KEY}),
    (["nonsense-command"], {}),
])
def test_cli_never_prints_the_key(args, extra_env):
    _assert_cli_hides_key(args, extra_env, "POLYGON_API_KEY")


def test_cli_never_prints_a_massive_key():
    _assert_cli_hides_key(["status", "--log-level", "DEBUG"], {"LIVE_MONITOR_MAX_BARS": "x"}, "MASSIVE_API_KEY")


def _assert_cli_hides_key(args, extra_env, var):
    try:
        r = run_cli(*args, env_extra={var: KEY, **extra_env})
    except subprocess.TimeoutExpired as e:  # subprocess.run killed it; still check what it printed
        out = (e.stdout or b"") + (e.stderr or b"")
        assert KEY.encode() not in (out if isinstance(out, bytes) else out.encode())
        pytest.fail(f"live-monitor {' '.join(args)} did not exit")
    assert KEY not in r.stdout and KEY not in r.stderr
    assert r.returncode != 0
    assert "Traceback" not in r.stderr


@pytest.fixture
def fake_polygon():
    """A real Polygon-protocol WebSocket server on loopback that refuses every key."""
    from websockets.sync.server import serve

    received: list[str] = []

    def handler(ws):
        ws.send(json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]))
        for msg in ws:
            received.append(msg)
            if json.loads(msg).get("action") == "auth":
                ws.send(json.dumps([{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]))
                ws.close()

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/stocks", received
    finally:
        server.shutdown()
        thread.join(5)


def test_feed_at_debug_level_sends_the_key_upstream_but_never_logs_it(fake_polygon, tmp_path):
    url, received = fake_polygon
    exe = REPO / ".venv" / "bin" / "live-monitor"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "supervisor"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_MONITOR_")}
    env.update(POLYGON_API_KEY=KEY, XDG_CONFIG_HOME=str(tmp_path / "cfg"), LIVE_MONITOR_DATA_DIR=str(tmp_path / "data"))
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen([*cmd, "feed", "--log-level", "DEBUG", "--upstream", url,
                                 "--feed", f"tcp://127.0.0.1:{free_port()}", "--no-backfill"],
                                cwd=REPO, env=env, stdout=out, stderr=err)
        try:
            wait_until(lambda: any('"auth"' in m for m in received), timeout=30, what="the feed's auth message")
            wait_until(lambda: "auth_failed" in err_path.read_text(), timeout=30, what="auth_failed in the log")
        finally:
            stop_process(proc)
    assert any(KEY in m for m in received)  # the key did travel, to the upstream only
    logged = out_path.read_text() + err_path.read_text()
    assert "DEBUG" in logged or "INFO" in logged
    assert KEY not in logged

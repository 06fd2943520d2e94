"""Relay client ids: the installation's stable id (kept in the user data dir) plus a per-connection suffix."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from feed_process import client_ids
from feed_process.client_ids import ClientIds, installation_id
from shared.paths import data_dir
from tests.util import REPO

TEMPLATE = "ws://relay.example:8200/ws/{client_id}"


def test_the_data_dir_is_overridden_for_tests_and_the_id_is_made_once(tmp_path, monkeypatch):
    assert str(data_dir()) == os.environ["LIVE_MONITOR_DATA_DIR"]  # conftest: never the real home
    monkeypatch.setenv("LIVE_MONITOR_DATA_DIR", str(tmp_path / "lm"))
    first = installation_id()
    assert re.fullmatch(r"[0-9a-f]{8}", first)
    assert (tmp_path / "lm" / "installation-id").read_text().strip() == first
    assert installation_id() == first
    (tmp_path / "lm" / "installation-id").write_text("garbage\n")  # a damaged file is replaced
    again = installation_id()
    assert again != "garbage" and installation_id() == again


def test_the_id_survives_a_new_process_and_ids_never_repeat(tmp_path):
    env = {**os.environ, "LIVE_MONITOR_DATA_DIR": str(tmp_path)}
    code = "from feed_process.client_ids import ClientIds as C; c = C('ws://h/ws/{client_id}', 'desk'); " \
           "print(c.url(1)); print(c.url(2))"
    runs = [subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=30).stdout.split() for _ in range(2)]
    urls = [u for run in runs for u in run]
    parts = [re.fullmatch(r"ws://h/ws/desk-([0-9a-f]{8})-([0-9a-f]{6})-(\d)", u).groups() for u in urls]
    assert len({p[0] for p in parts}) == 1  # one installation
    assert len(set(urls)) == 4  # but never one id twice: not in a process, not across restarts
    assert parts[0][1] == parts[1][1] != parts[2][1]


def test_an_unwritable_data_dir_falls_back_to_a_token_per_process(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(client_ids, "_fallback", None)
    a = installation_id(blocker / "sub")  # a directory under a file: cannot be made
    assert re.fullmatch(r"[0-9a-f]{8}", a) and installation_id(blocker / "sub") == a
    assert "cannot keep an installation id" in caplog.text


def test_a_template_without_client_id_is_left_alone_and_reads_nothing(monkeypatch):
    monkeypatch.setattr(client_ids, "installation_id", lambda: pytest.fail("read the data dir"))
    assert ClientIds("ws://127.0.0.1:9/stocks", "x").url(3) == "ws://127.0.0.1:9/stocks"

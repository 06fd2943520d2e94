"""Issue 17's goals table (bench.goals, ``python -m bench --goals``): the extraction from a results
dict shaped as the bench modules return theirs - figures, verdicts, and "not measured" for a bench
that was skipped, failed or lacks a row. No timing: the figures are synthetic."""

from __future__ import annotations

import json
import sys
import types

from bench import __main__ as runner
from bench import goals


def _feed_rows() -> list[dict]:
    rows = []
    for size, (bare, massive, feed) in {5: (400e3, 100e3, 200e3), 50: (450e3, 120e3, 460e3),
                                        1000: (500e3, 100e3, 300e3)}.items():
        rows += [{"name": "bare websockets + orjson", "frame_events": size, "events_per_s": bare},
                 {"name": "massive client (json)", "frame_events": size, "events_per_s": massive,
                  "events_per_cpu_s": massive},
                 {"name": "feed -> ZeroMQ -> subscriber process", "frame_events": size, "events_per_s": feed,
                  "events_per_cpu_s": 2 * massive, "gaps": 0}]
    rows.append({"name": "latency at ~5k ev/s (upstream send -> subscriber recv)", "p50_ms": 0.5})
    return rows


def _latency_rows() -> list[dict]:
    rows = []
    for rate, (m50, m99, f50, f99) in {"1k": (0.70, 1.20, 0.75, 1.10), "5k": (0.30, 0.90, 0.47, 2.40),
                                      "20k": (0.20, 2.00, 0.25, 2.00)}.items():
        rows += [{"name": f"massive @ {rate} ev/s", "p50_ms": m50, "p99_ms": m99},
                 {"name": f"bare @ {rate} ev/s", "p50_ms": m50 - 0.05, "p99_ms": m99 - 0.1},
                 {"name": f"feed @ {rate} ev/s", "p50_ms": f50, "p99_ms": f99, "p50_vs_massive_ms": f50 - m50}]
    return rows


def results() -> dict:
    """A full run's results, one row shape per bench module as it returns them today."""
    return {
        "feed": {"title": "feed throughput", "rows": _feed_rows()},
        "latency": {"title": "latency", "rows": _latency_rows()},
        "guilat": {"title": "GUI-thread latency", "rows": [
            {"name": f"ui @ {rate} ev/s", "p50_ms": 0.5, "p99_ms": p99} for rate, p99 in (("1k", 0.9), ("5k", 1.1),
                                                                                       ("20k", 1.4))]},
        "cli": {"title": "cli", "rows": [
            {"name": "massive client (json), direct, sim's default frames", "events_per_s": 100e3},
            {"name": "tap TSLA --json via the feed, sim's default frames", "events_per_s": 120e3, "x_massive": 1.2},
            {"name": "massive client (json), direct, 50-event frames", "events_per_s": 110e3},
            {"name": "tap TSLA --json via the feed, 50-event frames", "events_per_s": 88e3, "x_massive": 0.8},
            {"name": "python -c pass (the floor)", "seconds": 0.02, "exit": 0},
            {"name": "status, feed up", "seconds": 0.25, "exit": 0, "target_s": 0.3},
            {"name": "tap TSLA --count 1, to its first event", "seconds": 0.31, "exit": 0, "target_s": 0.3},
            {"name": "status, no feed (nothing listens) - EXIT 0?", "seconds": 0.4, "exit": 0, "target_s": 1.0}]},
        "startup": {"title": "startup", "rows": [
            {"name": "first chart (launch -> painted)", "median_s": 1.9, "max_s": 2.1, "runs": 3},
            {"name": "  sim ready at", "median_s": 0.5},
            {"name": "second window (New window -> painted)", "median_s": 1.2, "max_s": 1.3, "runs": 3},
            {"name": "second window (live-monitor ui -> painted)", "median_s": 1.8, "runs": 3}]},
        "window": {"title": "window", "rows": [
            {"name": "TSLA shared cores", "stall_p99_ms": 20.5, "cpu_stall_p99_ms": 12.0},
            {"name": "TSLA window on its own core", "stall_p99_ms": 9.0},
            {"name": "TSLA at 20k events/s", "stall_p99_ms": 14.0, "cpu_stall_p99_ms": 8.0}]},
        "panzoom": {"title": "panzoom", "rows": [
            {"name": "1m pan, 2000 bars", "frames_per_s": 75.0, "frame_p99_ms": 12.0},
            {"name": "1m zoom, 2000 bars", "frames_per_s": 59.0, "frame_p99_ms": 18.0},
            {"name": "5m pan, 2000 bars", "frames_per_s": 90.0},
            {"name": "5m zoom, 2000 bars", "frames_per_s": 61.0}]},
        "memory": {"title": "memory", "rows": [
            {"name": "feed process", "events": 2_000_000, "rss_end_mib": 70.0, "growth_mib": 0.3},
            {"name": "feed, 1 symbol subscribed", "rss_end_mib": 48.0},
            {"name": "feed, 10 symbols subscribed", "rss_end_mib": 52.0},
            {"name": "feed, 50 symbols subscribed", "rss_end_mib": 58.5},
            {"name": "feed modules + 50 symbols x 2000 bars (in-process)", "rss_end_mib": 80.0},
            {"name": "window, TSLA --max, 1 symbol", "events": 2_000_000, "rss_end_mib": 140.0, "peak_mib": 141.0,
             "growth_mib": 7.5, "slope_mib_per_m": 3.1},
            {"name": "window, 1 symbol (synthetic, 20k ev/s)", "events": 2_000_000, "rss_end_mib": 118.0,
             "peak_mib": 118.5, "growth_mib": 1.9, "slope_mib_per_m": 1.0},
            {"name": "window, 10 symbols (synthetic, 20k ev/s)", "events": 2_000_000, "rss_end_mib": 119.0,
             "peak_mib": 119.0, "growth_mib": 5.5, "slope_mib_per_m": 0.2},
            {"name": "window, 50 symbols (synthetic, 20k ev/s)", "events": 2_000_000, "rss_end_mib": 121.5,
             "peak_mib": 122.0, "growth_mib": 0.9, "slope_mib_per_m": 0.2}]},
        "desk": {"title": "desk", "rows": [
            {"name": "burst 20k ev/s", "feed_cpu_pct": 45.0, "feed_python_pct": 30.0, "feed_zmq_io_pct": 15.0,
             "p99_ms_worst": 6.5, "p99_ms_median": 2.0, "screens": 100, "gaps": 0, "screens_with_gaps": 0,
             "limit": ""},
            {"name": "burst 40k ev/s", "feed_cpu_pct": 90.0, "gaps": 3, "offered_ev_s": 41_500.0,
             "limit": "feed: gaps (a screen's high-water mark)"},
            {"name": "20k, all 100 screens on the burst, direct", "limit": "machine: every core busy",
             "offered_ev_s": 21_600.0}]},
    }


def by_goal(rows: list[dict]) -> dict[str, dict]:
    return {g["goal"]: g for g in rows}


def test_every_goal_is_read_from_a_full_run_with_its_figure_and_verdict():
    g = by_goal(goals.extract(results()))
    bare = [g[f"feed -> subscriber / bare loop, {n}-event frames"] for n in (5, 50, 1000)]
    assert [(x["value"], x["verdict"]) for x in bare] == [(0.5, "not met"), (1.022, "met"), (0.6, "not met")]
    assert g["feed -> subscriber / massive, 5-event frames"]["value"] == 2.0
    assert g["feed -> subscriber / massive, 5-event frames"]["verdict"] == "info"
    assert "2.00x per CPU-s" in g["feed -> subscriber / massive, 5-event frames"]["measured"]

    lat = {k: (v["value"], v["verdict"]) for k, v in g.items() if k.startswith("latency ")}
    assert lat == {"latency p50, feed minus massive, 1k ev/s": (0.05, "met"),
                   "latency p99, feed minus massive, 1k ev/s": (-0.1, "met"),
                   "latency p50, feed minus massive, 5k ev/s": (0.17, "not met"),
                   "latency p99, feed minus massive, 5k ev/s": (1.5, "not met"),
                   "latency p50, feed minus massive, 20k ev/s": (0.05, "met"),
                   "latency p99, feed minus massive, 20k ev/s": (0.0, "met")}

    assert (g["tap --json / massive, sim's default frames"]["value"],
            g["tap --json / massive, sim's default frames"]["verdict"]) == (1.2, "met")
    assert g["tap --json / massive, 50-event frames"]["verdict"] == "not met"
    assert "88k vs 110k ev/s" in g["tap --json / massive, 50-event frames"]["measured"]
    assert g["status, feed up"]["verdict"] == "met"
    assert g["tap SYM --count 1, feed up"]["verdict"] == "not met"
    assert g["status, no feed"]["verdict"] == "not met"  # fast, but exit 0: it must say "no feed"
    assert "exit 0" in g["status, no feed"]["measured"]

    assert g["first chart, live-monitor -> candles painted"]["verdict"] == "met"
    assert g["second window, New window -> painted"]["verdict"] == "not met"
    assert g["second window, live-monitor ui -> painted"]["verdict"] == "info"

    assert (g["window stall p99 at 20k ev/s"]["value"], g["window stall p99 at 20k ev/s"]["verdict"]) == (14.0, "met")
    assert (g["window stall p99 at full rate"]["value"],
            g["window stall p99 at full rate"]["verdict"]) == (20.5, "not met")
    assert "TSLA shared cores" in g["window stall p99 at full rate"]["measured"]
    assert [g[f"{tf} {m} over 2000 bars"]["verdict"] for tf in ("1m", "5m") for m in ("pan", "zoom")] == [
        "met", "not met", "met", "met"]

    assert (g["feed RSS, 50 symbols"]["value"], g["feed RSS, 50 symbols"]["verdict"]) == (58.5, "met")
    assert g["feed RSS, 1 symbol"]["value"] == 48.0 and g["feed RSS, 10 symbols"]["value"] == 52.0
    assert (g["window RSS growth over the run"]["value"],
            g["window RSS growth over the run"]["verdict"]) == (7.5, "not met")
    assert (g["feed RSS growth over the run"]["value"], g["feed RSS growth over the run"]["verdict"]) == (0.3, "met")
    assert "slope +3.1 MiB/M" in g["window RSS growth over the run"]["measured"]  # the TSLA --max row
    assert [g[f"window RSS, {n}"]["value"] for n in ("1 symbol", "10 symbols", "50 symbols")] == [118.0, 119.0, 121.5]
    assert g["window RSS, 50 symbols"]["verdict"] == "info" and "peak 122.0" in g["window RSS, 50 symbols"]["measured"]
    assert [g[f"window RSS growth, {n}"]["verdict"] for n in ("1 symbol", "10 symbols", "50 symbols")] == [
        "met", "not met", "met"]
    # a file from before the window's symbol rows: its one window row still gives the growth
    old = results()
    old["memory"]["rows"] = old["memory"]["rows"][:5] + [
        {"name": "window (live-monitor ui TSLA)", "events": 1_000_000, "rss_end_mib": 127.6, "growth_mib": 36.1}]
    og = {r["goal"]: r for r in goals.goal_memory(old)}
    assert (og["window RSS growth over the run"]["value"], og["window RSS, 1 symbol"]["verdict"]) == (
        36.1, "not measured")
    bad = results()  # a run that failed (the window exited, painted nothing): its figures are not read
    bad["memory"]["rows"][6]["error"] = "the window exited during the run"
    bg = {r["goal"]: r for r in goals.goal_memory(bad)}
    assert bg["window RSS, 1 symbol"]["verdict"] == bg["window RSS growth, 1 symbol"]["verdict"] == "not measured"
    assert "the window exited" in bg["window RSS, 1 symbol"]["measured"]

    assert g["desk of 100: feed CPU at 20k burst"]["value"] == 45.0
    assert g["desk of 100: subscribers' p99 at 20k burst"]["value"] == 6.5
    assert g["desk of 100: gaps at 20k burst"]["verdict"] == "met"
    sat = g["desk of 100: where the feed saturates"]
    assert "burst 40k ev/s: feed: gaps" in sat["measured"] and "kept up at burst 20k ev/s" in sat["measured"]
    assert (sat["value"], sat["verdict"]) == (41_500.0, "info")
    gui = g["GUI-thread latency p99 at 20k ev/s"]
    assert (gui["value"], gui["verdict"], gui["bench"]) == (1.4, "met", "guilat")


def test_the_gui_thread_row_reads_bench_latency_variant_in_an_older_run():
    r = results()
    del r["guilat"]
    g = by_goal(goals.extract(r))["GUI-thread latency p99 at 20k ev/s"]
    assert g["verdict"] == "not measured" and "guilat: not run" in g["measured"]
    r["latency"]["rows"].append({"name": "ui @ 20k ev/s", "p50_ms": 1.5, "p99_ms": 5.45})
    g = by_goal(goals.extract(r))["GUI-thread latency p99 at 20k ev/s"]
    assert (g["value"], g["verdict"]) == (5.45, "not met")


def test_a_bench_skipped_failed_or_missing_a_row_reads_not_measured():
    r = results()
    del r["startup"]
    r["desk"] = {"error": "RuntimeError: no feed"}
    r["feed"] = {"title": "feed throughput", "rows": [], "notes": ["replay data not found: skipped"]}
    r["window"]["rows"] = [x for x in r["window"]["rows"] if "20k" not in x["name"]]
    r["latency"]["rows"] = [x if x["name"] != "feed @ 5k ev/s" else {"name": "feed @ 5k ev/s", "p50_ms": None}
                            for x in r["latency"]["rows"]]
    r["cli"]["rows"][5].pop("seconds")
    g = by_goal(goals.extract(r))
    for name, why in [("first chart, live-monitor -> candles painted", "startup: not run"),
                      ("desk of 100: gaps at 20k burst", "desk: failed (RuntimeError: no feed)"),
                      ("feed -> subscriber / bare loop, 50-event frames", "feed: no rows (replay data not found"),
                      ("window stall p99 at 20k ev/s", "window: no row"),
                      ("latency p99, feed minus massive, 5k ev/s", "no matched trades"),
                      ("status, feed up", "no seconds")]:
        assert g[name]["verdict"] == "not measured" and g[name]["value"] is None, g[name]
        assert why in g[name]["measured"], g[name]
    assert g["window stall p99 at full rate"]["verdict"] == "not met"  # the others still read
    assert g["latency p99, feed minus massive, 1k ev/s"]["verdict"] == "met"


def test_an_empty_run_gives_every_goal_as_not_measured_and_a_malformed_one_never_raises():
    empty = goals.extract({})
    assert empty and {g["verdict"] for g in empty} == {"not measured"}
    odd = goals.extract({"feed": {"rows": [{"name": "feed -> ZeroMQ -> subscriber process", "frame_events": 5,
                                            "events_per_s": "fast"}]}, "memory": {"rows": None}, "cli": "?"})
    assert len(odd) == len(empty)
    assert {g["verdict"] for g in odd} == {"not measured"}


def test_goals_file_prints_the_table_of_a_saved_run(tmp_path, capsys):
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"started": "2026-12-02T02:00:00", "quick": False, "results": results()}))
    assert runner.main(["--goals", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "issue 17 goals, run of 2026-12-02T02:00:00 (full" in out
    assert "feed -> subscriber / bare loop, 50-event frames" in out and "1.02x (460k vs 450k ev/s)" in out
    assert "not measured" in out and " met, " in out

    part = tmp_path / "part.json"  # a later --only run: its benches replace the first file's, whole
    part.write_text(json.dumps({"started": "2026-12-02T02:10:00", "quick": True, "results": {
        "panzoom": {"rows": [{"name": "1m zoom, 2000 bars", "frames_per_s": 70.0}]}}}))
    assert runner.main(["--goals", str(saved), str(part)]) == 0
    out = capsys.readouterr().out
    assert "2026-12-02T02:00:00 (full" in out and "+ 2026-12-02T02:10:00 (quick" in out
    zoom = next(ln for ln in out.splitlines() if "1m zoom over 2000 bars" in ln)
    assert "70 frames/s" in zoom and " met " in zoom
    assert "5m pan over 2000 bars" in out and "panzoom: no row '5m pan, 2000 bars'" in out

    (tmp_path / "bad.json").write_text("{")
    assert runner.main(["--goals", str(tmp_path / "bad.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_run_writes_the_goals_into_its_results_json(tmp_path, monkeypatch, capsys):
    fake = types.ModuleType("bench._fake_panzoom")
    fake.measure = lambda quick: {"title": "pan", "rows": [{"name": "1m pan, 2000 bars", "frames_per_s": 80.0}]}
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setattr(runner, "BENCHES", [("panzoom", fake.__name__)])
    monkeypatch.setattr(runner, "RESULTS", tmp_path)
    assert runner.main([]) == 0
    report = json.loads((tmp_path / "latest.json").read_text())
    g = by_goal(report["goals"])
    assert (g["1m pan over 2000 bars"]["value"], g["1m pan over 2000 bars"]["verdict"]) == (80.0, "met")
    assert g["5m pan over 2000 bars"]["verdict"] == "not measured"
    assert "== issue 17 goals, this run" in capsys.readouterr().out


def test_a_desk_that_never_saturated_reads_not_measured():
    r = results()
    r["desk"]["rows"] = [dict(r["desk"]["rows"][0], offered_ev_s=21_600.0)] + r["desk"]["rows"][2:]
    g = by_goal(goals.extract(r))["desk of 100: where the feed saturates"]
    assert g["verdict"] == "not measured" and g["value"] is None
    assert "no limit up to burst 20k ev/s" in g["measured"]  # a variant row's limit is not the ramp's

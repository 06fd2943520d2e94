

def test_an_alert_reply_keeps_only_what_its_op_returns():
    entry = {"id": 1, "alert": "a1", "symbol": "AAPL", "kind": "above", "message": "AAPL above 200 (200.05)"}
    rep = m.AlertReply(v=1, id=7, op="log", alerts=[], log=[entry])
    d, typed = _both(rep)
    assert d == {"v": 1, "type": wire.ALERT, "id": 7, "op": "log", "alerts": [], "log": [entry]}
    assert typed == rep
    assert set(wire.unpack(wire.pack(m.AlertReply(v=1, id=8, op="ack", acked=2)))) == {"v", "type", "id", "op", "acked"}
    fired = wire.decode_data(wire.pack(m.AlertFired(v=1, entry=entry)))
    assert isinstance(fired, m.AlertFired) and fired.entry == entry


def test_request_builders_make_the_maps_the_senders_wrote_by_hand():
    assert wire.alert_request("add", 1, symbol="AAPL", kind="above", value=200.0) == {
        "v": 1, "type": "alert", "id": 1, "op": "add", "symbol": "AAPL", "kind": "above", "value": 200.0}
    assert wire.alert_request("list") == {"v": 1, "type": "alert", "op": "list"}
    assert wire.summary_request(["AAPL"], "w1") == {"v": 1, "type": "summary", "id": "w1", "symbols": ["AAPL"]}
    assert wire.command("reconnect") == {"v": 1, "type": "command", "cmd": "reconnect"}
    assert wire.command("window_ready", symbol="AAPL", marks={"shown": 1.0}, pid=5) == {
        "v": 1, "type": "command", "cmd": "window_ready", "symbol": "AAPL", "marks": {"shown": 1.0}, "pid": 5}
    # the feed and the supervisor read them typed
    req = wire.decode_request(wire.pack(wire.alert_request("edit", 3, alert="a1", note="x")))
    assert isinstance(req, m.AlertReq) and (req.alert, req.note, req.value) == ("a1", "x", None)
    cmd = wire.decode_request(wire.pack(wire.command("supervisor_report", "sup-1", children=[], supervisor_pid=9)))
    assert isinstance(cmd, m.Command) and cmd.children == [] and cmd.supervisor_pid == 9
    import pytest
    with pytest.raises(TypeError):
        wire.alert_request("add", colour="red")  # a field the request does not declare is the sender's bug

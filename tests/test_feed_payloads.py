"""The feed's payloads for the replay files, byte for byte: what the hot path (decode, build, fold, pack,
publish) sends must not change when it is made faster.

Every ``[topic, payload]`` the Publisher hands its XPUB for a whole replay file - cut into the
simulator's frames (``--frame-events``) and handed over a few frames per read, as the upstream
client does - goes into one SHA-256 (``bench.feed_path``). The digests below were taken from the
path before issue 17's feedpath changes (commit bfd5c48: the build loop in ``events.py``, the
publisher's scan of every frame for ``"status"``). A deliberate wire change (a field added to
an event array, docs/PROTOCOL.md) changes them: then re-take them with
``python -m bench.feed_path --file NAME --frames N --per-read K --repeat 1 --gc off --digest``.
"""

from __future__ import annotations

import pytest

from bench.feed_path import frames_of, one_pass
from tests.util import replay_dir

DIGESTS = {
    ("TSLA-2025-07-01.jsonl.gz", 50, 12): (355944, "6a75ad664a07aedf31dbf477305f58bdc86bb5f8785f26e3242288101335129b"),
    ("TSLA-2025-07-01.jsonl.gz", 1000, 1): (355944, "b531d3f021e2585db64dc999df912281861d99558ca42031c78f832862de91cb"),
    ("TSLA-2025-06-27.jsonl.gz", 50, 12): (245003, "86fa94462b982ca14355ad18c0e9bc6710d2b335b8c3c8ed9140a0319ab892b1"),
    ("TSLA-2025-06-27.jsonl.gz", 1000, 1): (245003, "ca272734754a388beb4ee13922c5bb06db7a1eff069d74347a8cc37b6908f569"),
    ("AAPL-2025-06-27-open.jsonl.gz", 50, 12): (50772, "fb6045a909e324a6b9715785a85085f97cb536581bdc2c6d56bf2a7de9a2acea"),
    ("AAPL-2025-06-27-open.jsonl.gz", 1000, 1): (50772, "bc21e5b510b147eaaadb28d3ddd897fa9688eb74b179821dd457a882fe8e392c"),
    ("AAPL-2025-06-27-open.jsonl.gz", 5, 7): (50772, "d59446b660be412403eb65b8d03f8c83c44b8a8a75f64bac1394a7ec9fa38d91"),
}


@pytest.mark.parametrize("name,frame_events,per_read", sorted(DIGESTS))
def test_replay_payloads_are_byte_identical_to_the_reference_path(name, frame_events, per_read):
    path = replay_dir().find(name)
    if path is None:
        pytest.skip(f"replay file {name} not found")
    r = one_pass(frames_of(path, frame_events), per_read, digest=True)
    events, digest = DIGESTS[(name, frame_events, per_read)]
    assert r["errors"] == {} and r["events"] == events
    assert r["digest"] == digest

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.util import replay_dir as _replay_dir  # noqa: E402


@pytest.fixture(scope="session")
def replay_dir():
    d = _replay_dir()
    if d is None:
        pytest.skip("replay data ../shared/data/replay not found beside the repo")
    return d

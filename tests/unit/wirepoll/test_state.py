"""poll_state.json and wire.lock: whole or not at all, 0600, one poller at a time."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from waagent.wirepoll import state
from waagent.wirepoll.state import PollState, StatusBlob


def test_the_state_round_trips_and_is_private(tmp_path: Path) -> None:
    written = PollState(
        boot_id="b",
        endpoint="10.0.0.1",
        etag="e1",
        status=StatusBlob("https://blob?sig=x", "PageBlob", '{"a": 1}'),
        unhealthy_reported={"extended": 3.5},
    )
    state.save(tmp_path, written)
    path = tmp_path / state.STATE_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert state.load(tmp_path) == written
    assert [p.name for p in tmp_path.iterdir()] == [state.STATE_FILE]  # no temporary left


def test_a_missing_foreign_or_broken_state_is_none(tmp_path: Path) -> None:
    assert state.load(tmp_path) is None
    path = tmp_path / state.STATE_FILE
    path.write_text('{"version": 99}')
    assert state.load(tmp_path) is None
    path.write_text('{"version": 1, "endpoint": "x"')  # cut short
    assert state.load(tmp_path) is None
    path.write_text(json.dumps({"version": 1, "endpoint": "x", "from_a_newer_wire": True}))
    loaded = state.load(tmp_path)
    assert loaded is not None and loaded.endpoint == "x"


def test_a_rewrite_replaces_the_file_whole(tmp_path: Path) -> None:
    state.save(tmp_path, PollState(endpoint="a"))
    before = (tmp_path / state.STATE_FILE).stat().st_ino
    state.save(tmp_path, PollState(endpoint="b"))
    assert (tmp_path / state.STATE_FILE).stat().st_ino != before  # renamed over, not rewritten
    loaded = state.load(tmp_path)
    assert loaded is not None and loaded.endpoint == "b"


def test_only_one_holder_of_the_lock(tmp_path: Path) -> None:
    with state.try_lock(tmp_path) as first:
        assert first
        with state.try_lock(tmp_path) as second:
            assert not second
    with state.try_lock(tmp_path) as again:
        assert again

"""The worker-memory harness runs end to end on a few events (its numbers are not judged)."""

from __future__ import annotations

import pytest

from bench import worker_memory

pytestmark = pytest.mark.unit


def test_worker_memory__fits_a_slope_over_the_users_it_held(
        capsys: pytest.CaptureFixture[str]) -> None:
    from streams.runtime.tables import hot_profiles, profiles_for_user

    assert worker_memory.main(["--events", "3000", "--users", "2000", "--hot-states", "5"]) == 0
    out = capsys.readouterr().out
    assert "3000 single-event messages" in out and "LIFELINE_HOT_STATES=5" in out
    assert "table values are bytes" in out and "GiB per 1M users" in out
    assert len(profiles_for_user.data) == 0 and len(hot_profiles) == 0  # nothing left behind


def test_worker_memory__rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        worker_memory.main(["--hot-states", "-1"])

"""The worker-path harness runs end to end on a few events (its numbers are not judged)."""

from __future__ import annotations

import pytest

from bench import worker_path

pytestmark = pytest.mark.unit


def test_worker_path__handles_every_message_and_prints_the_fastest_run(
        capsys: pytest.CaptureFixture[str]) -> None:
    from streams.runtime.tables import hot_profiles, profiles_for_user

    assert worker_path.main(["--events", "400", "--users", "50", "--repeat", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for line in lines[:2]:
        assert "(400 valid, 0 duplicates" in line
        hits, misses = (int(part.split()[0]) for part in line.split(": ")[-1].split(", "))
        assert hits + misses == 400 and 0 < misses < 400  # every user decoded once per run
    assert "400 single-event messages" in lines[2] and "CPU µs/message" in lines[2]
    assert len(profiles_for_user.data) == 0 and len(hot_profiles) == 0  # nothing left behind


def test_worker_path__rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        worker_path.main(["--events", "0"])

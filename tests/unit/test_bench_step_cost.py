"""The per-event cost harness runs end to end on a few events (its numbers are not judged)."""

from __future__ import annotations

import pytest

from bench import step_cost

pytestmark = pytest.mark.unit


def test_step_cost__prints_every_stage_with_a_bound(capsys: pytest.CaptureFixture[str]) -> None:
    assert step_cost.main(["--events", "300", "--repeat", "1", "--bare-us", "50",
                           "--heavy-events", "200"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:7]}
    assert list(rows) == ["decode", "validate", "state", "row", "step"]
    assert rows["decode"][1:] == ["0.0", "1.00"]  # the bare agent decodes too
    for us, added, bound in rows.values():
        assert float(us) > 0 and 0 < float(bound) <= 1
        assert float(bound) == pytest.approx(50 / (50 + float(added)), abs=0.006)
    assert "leaves 12.5 µs" in lines[7]
    sizes = {line.split()[2]: line for line in lines[8:]}
    assert list(sizes) == ["typical", "heavy"]
    assert "(1 users)" in sizes["heavy"]


def test_step_cost__rejects_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        step_cost.main(["--events", "0"])

"""The loop-blocks probe: its log is read back in order; bad arguments are refused."""

from __future__ import annotations

import pytest

from bench import loop_blocks

pytestmark = pytest.mark.unit


def test_loop_blocks__parse_reads_steps_and_collections_in_order() -> None:
    assert loop_blocks.parse("step 40\ngc2 12\nstep 31\ngc2 250\n") == ([40, 31], [12, 250])
    assert loop_blocks.parse("") == ([], [])


def test_loop_blocks__the_probe_compiles() -> None:
    compile(loop_blocks.PROBE, "sitecustomize.py", "exec")


@pytest.mark.parametrize("args", [["--rate", "0"], ["--seconds", "-1"], ["--runs", "0"]])
def test_loop_blocks__rejects_bad_arguments(args: list[str]) -> None:
    with pytest.raises(SystemExit):
        loop_blocks.main(args)

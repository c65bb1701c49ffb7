"""Unit test: importing ``online_models`` keeps BLAS to one thread unless the environment says
otherwise (a pool of BLAS threads only adds wake-ups on its tiny arrays)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHOW = "import online_models, os; print(os.environ['OPENBLAS_NUM_THREADS'])"


def _run(**env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_threads__one_blas_thread_by_default_and_the_environment_wins() -> None:
    assert _run() == "1"
    assert _run(OPENBLAS_NUM_THREADS="3") == "3"

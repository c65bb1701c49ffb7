"""The private faust-streaming internals Lifeline uses still exist in the installed Faust."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from streams.runtime.faust_private import INTERNALS

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("owner", "attribute"), INTERNALS)
def test_faust_private__internal_exists(owner: str, attribute: str) -> None:
    module_name, _, class_name = owner.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    # Methods live on the class; instance attributes are set in __init__.
    assert hasattr(cls, attribute) or f"self.{attribute}" in inspect.getsource(cls.__init__)


def test_faust_private__no_other_module_touches_them() -> None:
    names = "|".join(sorted({re.escape(attribute) for _, attribute in INTERNALS}))
    pattern = re.compile(rf"\.({names})\b")
    offenders = [str(p.relative_to(ROOT)) for pkg in ("streams", "agents")
                 for p in (ROOT / pkg).rglob("*.py")
                 if p.name != "faust_private.py" and pattern.search(p.read_text())]
    assert offenders == []

"""The test tree's own rules: fixtures in conftest.py, shared helpers in helper modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def forbidden_imports(path: Path) -> list[str]:
    """Imports of a conftest or of another test module in ``path``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = Path(d) / "test_x.py"
    ...     _ = p.write_text("from tests.integration.conftest import wait_for\\n"
    ...                      "from .test_y import publish\\nimport tests.integration.helpers\\n")
    ...     forbidden_imports(p)
    ['tests.integration.conftest', '.test_y']
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            names = ["." * node.level + (node.module or "")]
            if not node.module:  # ``from . import conftest``
                names = ["." * node.level + alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            last = name.rsplit(".", 1)[-1]
            if last == "conftest" or last.startswith("test_"):
                found.append(name)
    return found


def test_tests__import_neither_conftest_nor_other_test_modules() -> None:
    offenders = {str(p.relative_to(TESTS)): bad for p in TESTS.rglob("*.py")
                 if (bad := forbidden_imports(p))}
    assert offenders == {}, "move shared code to a helpers module (fixtures stay in conftest)"

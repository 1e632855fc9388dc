"""The test suite's own layout: no test module imports another test module (what they share
is in tests/helpers.py, fixtures in conftest.py), and no benchmark imports the tests (what
both need is in backend.testing)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it, as a dotted name (``tests.x`` for a
    relative import from inside tests/; ``from tests import x`` counts as ``tests.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, ["tests", base]))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[-1].startswith("test_") and (len(parts) == 1 or parts[:-1] == ["tests"])


def test_no_test_module_imports_another() -> None:
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if is_test_module(m))
        for path in sorted((ROOT / "tests").glob("test_*.py"))
    }
    offenders = {name: mods for name, mods in offenders.items() if mods}
    assert offenders == {}, f"import these from tests/helpers.py instead: {offenders}"


def test_no_benchmark_imports_the_tests() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "tests")
        for path in sorted((ROOT / "scripts").rglob("*.py"))
    }
    offenders = {name: mods for name, mods in offenders.items() if mods}
    assert offenders == {}, f"import these from backend.testing instead: {offenders}"

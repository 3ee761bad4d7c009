"""The review's rules stay pure: no Flask or SQLAlchemy in any of its rule modules."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

from safety.review import rules

MODULES = sorted(Path(rules.__file__).parent.glob("*.py"))


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_every_rule_module_is_checked():
    found = {m.name for m in pkgutil.iter_modules(rules.__path__)}

    assert found == {"dashboard", "export", "flags", "history", "lots", "records"}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_a_rule_module_imports_neither_flask_nor_sqlalchemy(path):
    assert not imported_roots(path) & {"flask", "flask_login", "flask_wtf", "sqlalchemy"}

"""Imports flow one way: app → callbacks → components, data; data knows no web framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("data", {"app", "callbacks", "components", "dash", "flask", "flask_login"}),
        ("components", {"app", "callbacks"}),
        ("callbacks", {"app.cli", "app.worker"}),
    ],
)
def test_layers_do_not_import_upwards(package: str, forbidden: set[str]) -> None:
    offenders = {path: names & forbidden for path, names in _imports(package).items()}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if name.upper() not in readme]
    assert missing == []

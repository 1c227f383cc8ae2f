"""The direction of imports is the architecture (DESIGN.md): checked on the source, so a
shortcut across a layer or a package's interface fails here rather than in review."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tenantctl"


def _imports(layer: str) -> list[tuple[str, str, list[str]]]:
    """(module file, imported module, imported names) for every import under LAYER."""
    found = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((path.name, node.module, [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                found += [(path.name, a.name, []) for a in node.names]
    return found


def test_no_command_module_imports_the_app_back():
    """`cli/app` registers the commands; a command that imported it made a cycle."""
    assert [
        (f, m) for f, m, _ in _imports("cli") if m == "tenantctl.cli.app" and f != "app.py"
    ] == []


def test_the_domain_uses_the_jobs_package_through_its_interface():
    assert [(f, m) for f, m, _ in _imports("domain") if m.startswith("tenantctl.jobs.")] == []


def test_no_layer_imports_a_private_name_of_another():
    private = [
        (layer, f, m, n)
        for layer in ("cli", "domain", "jobs", "store")
        for f, m, names in _imports(layer)
        for n in names
        if n.startswith("_")
        and m.startswith("tenantctl.")
        and not m.startswith(f"tenantctl.{layer}")
    ]
    assert private == []


def test_the_layers_point_one_way():
    """cli -> domain -> store and jobs; never back up (the migrations' env.py sees every
    table, the queue's too)."""
    upward = {
        "domain": ("tenantctl.cli",),
        "jobs": ("tenantctl.cli", "tenantctl.domain"),
        "store": ("tenantctl.cli", "tenantctl.domain", "tenantctl.jobs"),
    }
    wrong = [
        (layer, f, m)
        for layer, above in upward.items()
        for f, m, _ in _imports(layer)
        if m.startswith(above) and f != "env.py"
    ]
    assert wrong == []


def test_no_test_module_imports_another():
    """What tests share lives in conftest.py or a helpers module (tests/*_world.py, ...):
    importing a test module runs its module code and ties two test files together."""
    tests = Path(__file__).resolve().parent
    found = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            found += [(path.name, n) for n in names if n.startswith("tests.test_")]
    assert found == []

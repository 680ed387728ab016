"""The package layout's rules (DESIGN.md, "Package layout"), checked on the source with `ast`.

- Only the two faces import the frameworks: click only in `outreach.cli`, flask/werkzeug only in
  `outreach.web`.
- Dependencies between the packages form no cycle.
- `outreach.mail` may use the edition and personalisation of `outreach.newsletter`, never its content
  selection or rendering.
- No module is over 500 lines (migrations aside).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "outreach"
MAX_LINES = 500
FACES = {"cli": {"click"}, "web": {"flask", "werkzeug", "waitress", "flask_limiter"}}
FRAMEWORKS = {name for names in FACES.values() for name in names}
FORBIDDEN_FOR_MAIL = ("outreach.newsletter.select", "outreach.newsletter.render")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "migrations" in relative.parts or relative.name == "__main__":
            continue  # `python -m outreach` is the CLI's entry point, not a shared module
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, at any depth (also inside functions and TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            # `from outreach.newsletter import select` imports the submodule.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _area(module: str) -> str:
    """The room a module lives in: its package under outreach, or the shared top level."""
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return parts[1]
    return "(shared)"


def test_the_layout_is_found() -> None:
    assert {"outreach.cli", "outreach.web", "outreach.mail.ledger", "outreach.urls"} <= set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_frameworks_only_in_their_face(name: str) -> None:
    area = _area(name)
    allowed = FACES.get(area, set())
    used = {imported.split(".")[0] for imported in IMPORTS[name]} & FRAMEWORKS
    assert used <= allowed, f"{name} imports {sorted(used - allowed)}"


def test_mail_never_selects_or_renders_newsletter_content() -> None:
    offenders = {
        name: sorted(i for i in IMPORTS[name] if i.startswith(FORBIDDEN_FOR_MAIL))
        for name in MODULES
        if name.startswith("outreach.mail")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, imported in IMPORTS.items():
        for target in imported:
            if target in MODULES and _area(target) != _area(name):
                graph[_area(name)].add(_area(target))
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                cycles.append(trail[trail.index(nxt) :] + [nxt])
            elif len(trail) < len(graph) + 1:
                visit(nxt, trail + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert not cycles, f"package cycles: {sorted({' -> '.join(c) for c in cycles})}"


def test_shared_modules_use_no_domain_package() -> None:
    shared = [name for name in MODULES if _area(name) == "(shared)"]
    offenders = {
        name: sorted(t for t in IMPORTS[name] if t in MODULES and _area(t) != "(shared)")
        for name in shared
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_the_faces_are_only_used_by_themselves() -> None:
    for name, imported in IMPORTS.items():
        area = _area(name)
        for face in FACES:
            if area != face and area not in FACES:
                assert not any(i.startswith(f"outreach.{face}") for i in imported), (name, face)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_over_500_lines(name: str) -> None:
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[name]} has {lines} lines"


def test_a_planted_cycle_and_framework_import_are_caught(tmp_path: Path) -> None:
    """The checks above can fail: the import reader sees a function-level import."""
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from flask import Flask\n    from . import y\n")
    assert {"flask", "outreach.feed.y"} <= _imports("outreach.feed.x", source)

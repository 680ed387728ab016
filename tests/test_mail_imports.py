"""mail/ reads editions only through newsletter.edition and newsletter.personalize (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

MAIL = Path(__file__).resolve().parent.parent / "outreach" / "mail"
ALLOWED = {"outreach.newsletter.edition", "outreach.newsletter.personalize"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_mail_uses_only_edition_files_and_personalize() -> None:
    offending = {
        f"{path.name}: {name}"
        for path in sorted(MAIL.glob("*.py"))
        for name in _imports(path)
        if name.startswith("outreach.newsletter")
        and name not in ALLOWED
        and not any(name.startswith(allowed + ".") for allowed in ALLOWED)
        and name != "outreach.newsletter"
    }
    assert offending == set()
    # The test reads what it claims to: the send path does import the edition files.
    assert "outreach.newsletter.edition" in _imports(MAIL / "send.py")

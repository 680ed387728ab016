"""Every command has help with an example, and README's command reference matches `--help`.

Regenerate the reference table with: python -m tests.test_cli_help
"""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from outreach.cli import cli

from .conftest import REPO


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def command_at(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def reference_table() -> str:
    rows = ["| Command | What it does |", "| --- | --- |"]
    for path in walk(cli):
        if not path:
            continue
        summary = command_at(path).get_short_help_str(limit=200)
        rows.append(f"| `outreach {' '.join(path)}` | {summary} |")
    return "\n".join(rows)


ALL = list(walk(cli))


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "outreach")
def test_help_has_text_and_example(path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(cli, [*path, flag])
        assert result.exit_code == 0, result.output
    assert command_at(path).help, f"{path} has no help text"
    assert "Example" in result.output, f"`outreach {' '.join(path)} --help` shows no example"


def test_readme_command_reference_matches_help() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert reference_table() in readme, (
        "README command reference is stale: run python -m tests.test_cli_help"
    )


def test_readme_opens_with_demo_and_test() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()[:20]
    commands = [line.strip() for line in lines if line.strip().startswith("make ")]
    assert commands[:2] == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def write_reference_table() -> None:
    """Replace README's command reference table with the one --help gives."""
    path = REPO / "README.md"
    lines = path.read_text(encoding="utf-8").split("\n")
    start = lines.index("| Command | What it does |")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    lines[start:end] = reference_table().split("\n")
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    write_reference_table()

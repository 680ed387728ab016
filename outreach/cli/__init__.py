"""The `outreach` command line: the root group, the workspace hand-off and error translation.

Each command group lives in its own module and is listed in COMMAND_GROUPS.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from outreach import __version__
from outreach.errors import OutreachError, ValidationProblems
from outreach.workspace import open_workspace

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
COMMAND_GROUPS = [
    "outreach.cli.workspace",
    "outreach.cli.subscriber",
    "outreach.cli.content",
    "outreach.cli.serve",
    "outreach.cli.episode",
    "outreach.cli.transcript",
    "outreach.cli.newsletter",
    "outreach.cli.feed",
    "outreach.cli.review",
    "outreach.cli.model",
    "outreach.cli.operations",
    "outreach.cli.bounces",
]

F = TypeVar("F", bound=Callable[..., Any])


class OutreachGroup(click.Group):
    """Turns domain errors into one line on stderr and exit 1 (OUTREACH_DEBUG=1 shows the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as exc:
            if os.environ.get("OUTREACH_DEBUG"):
                raise
            for line in exc.problems if isinstance(exc, ValidationProblems) else [str(exc)]:
                click.echo(f"Error: {' '.join(str(line).split())}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            if os.environ.get("OUTREACH_DEBUG"):
                raise
            click.echo("Aborted.", err=True)
            sys.exit(130)


def pass_workspace(f: F) -> F:
    """Give a command the Workspace found from --workspace, OUTREACH_WORKSPACE or the cwd."""

    @click.pass_context
    @functools.wraps(f)
    def wrapper(ctx: click.Context, *args: Any, **kwargs: Any) -> Any:
        root = ctx.find_root()
        state = root.ensure_object(dict)
        if "workspace" not in state:
            state["workspace"] = open_workspace(state.get("workspace_path"))
        return f(state["workspace"], *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def printable(text: str) -> str:
    """`text` safe to print on a terminal: anything unprintable (escape sequences, NUL, tabs,
    bidirectional overrides) is shown as a Python escape such as \\x1b or \\u202e."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def echo_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print rows as left-aligned columns under their headers (the CLI's plain table)."""
    rows = [[printable(cell) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@click.group(cls=OutreachGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--workspace",
    "-w",
    "workspace_path",
    type=click.Path(file_okay=False),
    help="Workspace folder (default: $OUTREACH_WORKSPACE, else the current folder or a parent).",
)
@click.version_option(__version__, "--version", "-V", prog_name="outreach")
@click.pass_context
def cli(ctx: click.Context, workspace_path: str | None) -> None:
    """Publish the Digitalsamtal podcast, its transcripts and the Kraftsamling update.

    \b
    Example:
        outreach init mitt-arbete
        outreach -w mitt-arbete subscriber add anna@example.se --name "Anna"
    """
    ctx.ensure_object(dict)["workspace_path"] = workspace_path


def _register() -> None:
    """Add each command module's COMMANDS (its group) to the root."""
    modules = [importlib.import_module(name) for name in COMMAND_GROUPS]
    for module in modules:
        for command in module.COMMANDS:
            cli.add_command(command)


_register()

"""`outreach episode ...`: podcast episodes (add, normalise, publish; transcribe and import-feed
come from their own modules through EXTRA_COMMANDS)."""

from __future__ import annotations

import click


@click.group("episode")
def episode_group() -> None:
    """Podcast episodes of Digitalsamtal.

    \b
    Example:
        outreach episode list
    """


COMMANDS = [episode_group]

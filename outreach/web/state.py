"""What every blueprint needs from the app: the workspace and the token-signing key."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from outreach.workspace import Workspace

EXTENSION = "outreach"


@dataclass(frozen=True)
class WebState:
    workspace: Workspace
    key: str
    dev_key: bool


def state() -> WebState:
    result: WebState = current_app.extensions[EXTENSION]
    return result


def current_workspace() -> Workspace:
    """The workspace this app serves (use inside a request or app context)."""
    return state().workspace


def signing_key() -> str:
    """The key for `outreach.tokens` (OUTREACH_SECRET_KEY, or an ephemeral one with --dev)."""
    return state().key

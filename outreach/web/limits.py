"""Rate limits on the public forms (Flask-Limiter, in-memory: one process serves the site).

Limits are settings (`[subscribers] subscribe_limit_per_client`, `subscribe_limit_per_address`) in
Flask-Limiter's notation, e.g. "10 per minute; 60 per hour". A refused request gets the Swedish 429
page (handlers.py) with Retry-After.
"""

from __future__ import annotations

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from outreach.errors import ConfigError
from outreach.web.state import current_workspace
from outreach.workspace import Workspace

limiter = Limiter(
    key_func=get_remote_address,
    storage_uri="memory://",
    strategy="moving-window",
    headers_enabled=True,
    key_prefix="outreach",
)


def check_settings(workspace: Workspace) -> None:
    """Refuse limits Flask-Limiter cannot read, at start-up rather than on the first POST."""
    settings = workspace.settings.subscribers
    for name in ("subscribe_limit_per_client", "subscribe_limit_per_address"):
        value = getattr(settings, name)
        try:
            parse_many(value)
        except ValueError:
            raise ConfigError(
                f"[subscribers] {name}: {value!r} is not a rate limit (e.g. '10 per minute; "
                "60 per hour')"
            ) from None


def init_app(app: Flask, workspace: Workspace) -> None:
    check_settings(workspace)
    limiter.init_app(app)


def per_client() -> str:
    return current_workspace().settings.subscribers.subscribe_limit_per_client


def per_address() -> str:
    return current_workspace().settings.subscribers.subscribe_limit_per_address


def address_key() -> str:
    """The form's address, roughly normalised: the same person cannot be mailed over and over."""
    return "address:" + " ".join(request.form.get("email", "").split()).lower()


def succeeded(response: object) -> bool:
    """Only sign-ups that got through count against an address (a forged POST must not lock
    someone out)."""
    return getattr(response, "status_code", 0) == 303

"""The public web face: one small Flask app over the same core as the CLI.

`create_app(workspace)` registers every blueprint listed in BLUEPRINT_MODULES (each module exposes
`bp`), the Swedish error pages, CSRF helpers for templates and the security headers. Views stay thin:
parse the request, call the core, render a template.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import secrets
from typing import Any

from flask import Flask, Request, Response

from outreach import urls
from outreach.secrets import secret_key
from outreach.web import csrf, handlers
from outreach.web.state import EXTENSION, WebState
from outreach.workspace import Workspace

BLUEPRINT_MODULES = [
    "outreach.web.public",
    "outreach.web.archive",
    "outreach.web.media",
    "outreach.web.review",
    "outreach.web.links",
    "outreach.web.site",
]

# Pages are ours and carry no inline script or style; archive pages set their own policy.
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MAX_REQUEST_BYTES = 1_000_000


class _Request(Request):
    """HEAD is GET without the content (RFC 9110 9.3.2), so views see GET.

    A view that branches on `request.method == "GET"` would otherwise treat HEAD as a form POST
    (that answered 400 to uptime monitors). The WSGI environ keeps HEAD, so Werkzeug still sends
    the headers of the GET response (Content-Length included) and no body.
    """

    def __init__(self, environ: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(environ, *args, **kwargs)
        if self.method == "HEAD":
            self.method = "GET"


def create_app(workspace: Workspace, *, dev_key: bool = False) -> Flask:
    """The WSGI app for `workspace`. Without `dev_key` the signing key must be in the environment."""
    key = secrets.token_urlsafe(32) if dev_key else secret_key(workspace.root)
    app = Flask(__name__)
    app.request_class = _Request
    app.extensions[EXTENSION] = WebState(workspace=workspace, key=key, dev_key=dev_key)
    # The session cookie (used only for the CSRF nonce) gets its own key derived from the token key.
    app.secret_key = hmac.new(key.encode(), b"outreach.web.session", hashlib.sha256).hexdigest()
    secure = workspace.settings.newsletter.public_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="outreach_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        MAX_CONTENT_LENGTH=max(
            MAX_REQUEST_BYTES, 2 * workspace.settings.review.max_submission_bytes
        ),
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.jinja_env.autoescape = True
    csrf.init_app(app)
    handlers.init_app(app)
    for module_name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(module_name).bp)
    app.after_request(_security_headers)
    app.context_processor(
        lambda: {
            "site_name": workspace.settings.newsletter.name,
            "show_title": workspace.settings.show.title,
            "show_path": urls.show_path(workspace),
        }
    )
    return app


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Tokens live in URLs (confirm, unsubscribe, review): never leak them in a Referer.
    headers.setdefault("Referrer-Policy", "no-referrer")
    if response.mimetype == "text/html":
        headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
    return response

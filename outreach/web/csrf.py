"""CSRF protection for our forms: a signed token bound to a random nonce in the session cookie.

Templates call `{{ csrf_field() }}` inside a POST form; views call `validate_csrf()` or use
`@csrf_protect`. The token is an itsdangerous signature (with a timestamp) over the nonce, so a forged
or stale token, or one from another browser, is refused with 400. A cross-site `Origin` is refused too.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, request, session
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup, escape
from werkzeug.exceptions import BadRequest

from outreach.web.state import current_workspace

FIELD_NAME = "csrf_token"
HEADER_NAME = "X-CSRF-Token"
SESSION_KEY = "csrf_nonce"
SALT = "outreach.web.csrf"
DEFAULT_MAX_AGE_SECONDS = 12 * 3600

F = TypeVar("F", bound=Callable[..., Any])


class CSRFError(BadRequest):
    """The form's CSRF token is missing, forged, stale or from another site."""

    description = (
        "Formuläret kunde inte skickas: sidan var för gammal eller kom från en annan webbplats. "
        "Ladda om sidan och försök igen."
    )


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.secret_key), salt=SALT)


def generate_csrf() -> str:
    """A token for the current browser session (creates the session nonce on first use)."""
    nonce = session.get(SESSION_KEY)
    if not isinstance(nonce, str):
        nonce = secrets.token_urlsafe(24)
        session[SESSION_KEY] = nonce
    return str(_serializer().dumps(nonce))


def csrf_field() -> Markup:
    """The hidden input to put inside a POST form."""
    return Markup('<input type="hidden" name="%s" value="%s">') % (
        FIELD_NAME,
        escape(generate_csrf()),
    )


def _own_hosts() -> set[str]:
    """This request's host, and the public_url's (a TLS proxy may forward another Host)."""
    public = urlsplit(current_workspace().settings.newsletter.public_url).netloc
    return {request.host, public} - {""}


def same_origin() -> bool:
    """The request came from a page of ours (browsers send Origin with every form POST)."""
    origin = request.headers.get("Origin")
    return bool(origin) and urlsplit(origin or "").netloc in _own_hosts()


def validate_csrf(token: str | None = None) -> None:
    """Raise CSRFError (400) unless the request carries a valid token for this session."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc not in _own_hosts():
        raise CSRFError()
    if token is None:
        token = request.form.get(FIELD_NAME) or request.headers.get(HEADER_NAME)
    nonce = session.get(SESSION_KEY)
    if not token or not isinstance(nonce, str):
        raise CSRFError()
    max_age = current_app.config.get("CSRF_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS)
    try:
        signed_nonce = _serializer().loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        raise CSRFError() from None
    if not isinstance(signed_nonce, str) or not hmac.compare_digest(signed_nonce, nonce):
        raise CSRFError()


def csrf_protect(view: F) -> F:
    """Decorator: validate the CSRF token on unsafe methods (POST, PUT, PATCH, DELETE)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            validate_csrf()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.globals["csrf_token"] = generate_csrf

"""Subscribe (double opt-in), confirm by POST, and the preference page with one-click unsubscribe.

Link scanners open every link in a mail, so no GET changes anything: the confirmation link opens a
page with one button, and `/u/<token>` (RFC 8058) unsubscribes only on POST. Those two POSTs need no
cookie or CSRF token: the signed token is the credential. The subscribe form only records the
request (subscribers.queue) and answers at once, the same way for every address.
"""

from __future__ import annotations

import logging
from typing import Any, cast

from flask import Blueprint, Flask, Response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState

from outreach import urls
from outreach.addresses import normalize_email
from outreach.db import session_scope
from outreach.errors import ValidationError
from outreach.models import Subscriber
from outreach.subscribers import preferences, queue
from outreach.subscribers import store as subscribers
from outreach.subscribers.fields import clean_text, normalize_segments
from outreach.web import limits
from outreach.web.csrf import validate_csrf
from outreach.web.handlers import error_page
from outreach.web.state import current_workspace, signing_key

log = logging.getLogger(__name__)
bp = Blueprint("public", __name__)

HONEYPOT_FIELD = "webbplats"
MAX_FIELD_LENGTH = 200
LANGUAGE_CHOICES = [("sv", "Svenska"), ("en", "English")]
FIELD_ERRORS = {
    "email": "Skriv en giltig e-postadress, till exempel namn@kommun.se.",
    "segment": "Välj bland alternativen.",
    "language": "Välj svenska eller engelska.",
    "too_long": f"Högst {MAX_FIELD_LENGTH} tecken.",
}


@bp.record_once
def _setup(state: BlueprintSetupState) -> None:
    from outreach.web.state import state as web_state

    app = cast(Flask, state.app)
    with app.app_context():
        workspace = web_state().workspace
    limits.init_app(app, workspace)


@bp.app_context_processor
def _contact() -> dict[str, Any]:
    """Contact address and privacy notice, shown in the footer of every page."""
    workspace = current_workspace()
    return {
        "contact_address": workspace.settings.newsletter.contact_address,
        "privacy_url": workspace.settings.web.privacy_url,
    }


def _page(template: str, code: int = 200, **context: Any) -> Response:
    response = Response(render_template(template, **context), status=code, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _segment_choices() -> list[tuple[str, str]]:
    return list(current_workspace().settings.subscribers.segments.items())


def _validate(form: dict[str, Any]) -> dict[str, str]:
    """Field errors (Swedish) for the subscribe form; the core validates again on write."""
    errors: dict[str, str] = {}
    try:
        normalize_email(form["email"])
    except ValidationError:
        errors["email"] = FIELD_ERRORS["email"]
    try:
        normalize_segments(form["segment"], current_workspace().settings.subscribers.segments)
    except ValidationError:
        errors["segment"] = FIELD_ERRORS["segment"]
    if form["language"] not in dict(LANGUAGE_CHOICES):
        errors["language"] = FIELD_ERRORS["language"]
    for name in ("email", "name", "organisation"):
        if len(form[name]) > MAX_FIELD_LENGTH and name not in errors:
            errors[name] = FIELD_ERRORS["too_long"]
    return errors


def _render_form(form: dict[str, Any], errors: dict[str, str], status: int = 200) -> Response:
    return _page(
        "subscribe.html",
        status,
        form=form,
        errors=errors,
        segments=_segment_choices(),
        languages=LANGUAGE_CHOICES,
        honeypot=HONEYPOT_FIELD,
        max_length=MAX_FIELD_LENGTH,
    )


def _read_form() -> dict[str, Any]:
    form: dict[str, Any] = {
        key: clean_text(request.form.get(key, "")) or ""
        for key in ("email", "name", "organisation")
    }
    form["language"] = (request.form.get("language") or "sv").strip()
    form["segment"] = [value for value in request.form.getlist("segment") if value.strip()]
    return form


@bp.route("/", methods=["GET"])
@bp.route(urls.SUBSCRIBE, methods=["GET", "POST"])
@limits.limiter.limit(limits.per_client, methods=["POST"])
@limits.limiter.limit(
    limits.per_address, key_func=limits.address_key, methods=["POST"], deduct_when=limits.succeeded
)
def subscribe() -> Any:
    if request.method != "POST":
        empty = {"email": "", "name": "", "organisation": "", "segment": [], "language": "sv"}
        return _render_form(empty, {})
    validate_csrf()
    form = _read_form()
    if request.form.get(HONEYPOT_FIELD):
        # A bot filled the invisible field: answer exactly as for a person, do nothing.
        log.info("subscribe: honeypot filled, ignored")
        return redirect(url_for(".thanks"), code=303)
    errors = _validate(form)
    if errors:
        return _render_form(form, errors, status=400)
    workspace = current_workspace()
    with session_scope(workspace) as session:
        queue.request_subscription(
            session,
            form["email"],
            name=form["name"],
            organisation=form["organisation"],
            segments=form["segment"],
            language=form["language"],
            source="web",
            allowed_segments=workspace.settings.subscribers.segments,
        )
    return redirect(url_for(".thanks"), code=303)


@bp.route(urls.SUBSCRIBE_THANKS)
def thanks() -> Any:
    return _page("subscribe_thanks.html")


@bp.route(urls.CONFIRM_OLD + "<token>", methods=["GET", "POST"])
@bp.route(urls.CONFIRM + "<token>", methods=["GET", "POST"])  # innermost: url_for's choice
def confirm(token: str) -> Any:
    """GET (and HEAD) only show the button; the POST confirms and queues the welcome mail."""
    workspace = current_workspace()
    max_age = workspace.settings.web.confirm_link_hours * 3600
    with session_scope(workspace) as session:
        if request.method == "POST":
            subscriber = queue.confirm_subscription(
                session, signing_key(), token, max_age, source="web:confirm"
            )
            return _page("confirmed.html", name=subscriber.name)
        subscriber = subscribers.subscriber_for_confirm_token(
            session, signing_key(), token, max_age
        )
        return _page(
            "confirm.html",
            name=subscriber.name,
            address=_masked(subscriber.email),
            status=subscriber.status,
            action=url_for(".confirm", token=token),
        )


def _masked(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}…@{domain}"


def _preferences_page(subscriber: Subscriber, token: str, saved: bool = False) -> Response:
    return _page(
        "preferences.html",
        address=_masked(subscriber.email),
        name=subscriber.name,
        status=subscriber.status,
        chosen=subscriber.segments,
        language=subscriber.language,
        segments=_segment_choices(),
        languages=LANGUAGE_CHOICES,
        saved=saved,
        action=url_for(".unsubscribe", token=token),
    )


@bp.route(urls.UNSUBSCRIBE + "<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """The preference page. GET changes nothing (mail scanners prefetch links). A POST with
    `action=spara` saves segments and language, `action=prenumerera-igen` comes back; any other
    POST unsubscribes (RFC 8058 one-click: no cookie or CSRF, idempotent, never a redirect)."""
    workspace = current_workspace()
    key = signing_key()
    with session_scope(workspace) as session:
        subscriber = subscribers.subscriber_for_unsubscribe_token(session, key, token)
        if request.method != "POST":
            return _preferences_page(subscriber, token)
        action = request.form.get("action", "")
        if action == "spara":
            try:
                preferences.update_preferences(
                    session,
                    subscriber,
                    segments=request.form.getlist("segment"),
                    language=request.form.get("language", ""),
                    allowed_segments=workspace.settings.subscribers.segments,
                )
            except ValidationError:
                session.rollback()
                return error_page(
                    400, "Välj bland alternativen på sidan och försök igen.", "Felaktiga val"
                )
            return _preferences_page(subscriber, token, saved=True)
        if action == "prenumerera-igen":
            preferences.resubscribe(session, subscriber)
            return _preferences_page(subscriber, token, saved=True)
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        from_page = request.form.get("via") == "sidan"
        source = "web:page" if from_page else ("web:one-click" if one_click else "web:post")
        subscribers.unsubscribe_by_token(session, key, token, source)
        return _page("unsubscribed.html", action=url_for(".unsubscribe", token=token))

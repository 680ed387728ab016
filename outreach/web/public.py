"""Subscribe (double opt-in), confirm and one-click unsubscribe (RFC 8058)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from outreach import urls
from outreach.db import session_scope
from outreach.errors import ConfigError, MailError, ValidationError
from outreach.subscribers import store as subscribers
from outreach.web.csrf import validate_csrf
from outreach.web.handlers import error_page
from outreach.web.state import current_workspace, signing_key

log = logging.getLogger(__name__)
bp = Blueprint("public", __name__)

HONEYPOT_FIELD = "webbplats"
MAX_FIELD_LENGTH = 200
SEGMENT_CHOICES = [
    ("kommun", "Kommun eller region"),
    ("civilsamhälle", "Civilsamhälle"),
    ("annat", "Annat"),
]
LANGUAGE_CHOICES = [("sv", "Svenska"), ("en", "English")]
FIELD_ERRORS = {
    "email": "Skriv en giltig e-postadress, till exempel namn@kommun.se.",
    "segment": "Välj ett av alternativen.",
    "language": "Välj svenska eller engelska.",
    "too_long": f"Högst {MAX_FIELD_LENGTH} tecken.",
}


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _validate(form: dict[str, str]) -> dict[str, str]:
    """Field errors (Swedish) for the subscribe form; the core validates again on write."""
    errors: dict[str, str] = {}
    try:
        subscribers.normalize_email(form["email"])
    except ValidationError:
        errors["email"] = FIELD_ERRORS["email"]
    try:
        subscribers.normalize_segment(form["segment"])
    except ValidationError:
        errors["segment"] = FIELD_ERRORS["segment"]
    if form["language"] not in dict(LANGUAGE_CHOICES):
        errors["language"] = FIELD_ERRORS["language"]
    for name in ("email", "name", "organisation"):
        if len(form[name]) > MAX_FIELD_LENGTH and name not in errors:
            errors[name] = FIELD_ERRORS["too_long"]
    return errors


def _render_form(form: dict[str, str], errors: dict[str, str], status: int = 200) -> Response:
    body = render_template(
        "subscribe.html",
        form=form,
        errors=errors,
        segments=SEGMENT_CHOICES,
        languages=LANGUAGE_CHOICES,
        honeypot=HONEYPOT_FIELD,
        max_length=MAX_FIELD_LENGTH,
    )
    return _no_store(Response(body, status=status, mimetype="text/html"))


@bp.route("/", methods=["GET"])
@bp.route(urls.SUBSCRIBE, methods=["GET", "POST"])
def subscribe() -> Any:
    empty = {"email": "", "name": "", "organisation": "", "segment": "", "language": "sv"}
    if request.method == "GET":
        return _render_form(empty, {})
    validate_csrf()
    form = {key: request.form.get(key, default).strip() for key, default in empty.items()}
    if request.form.get(HONEYPOT_FIELD):
        # A bot filled the invisible field: answer exactly as for a person, do nothing.
        log.info("subscribe: honeypot filled, ignored")
        return redirect(url_for(".thanks"), code=303)
    errors = _validate(form)
    if errors:
        return _render_form(form, errors, status=400)
    workspace = current_workspace()
    key = signing_key()
    with session_scope(workspace) as session:
        subscriber = subscribers.subscribe(
            session,
            form["email"],
            name=form["name"],
            organisation=form["organisation"],
            segment=form["segment"],
            language=form["language"],
            source="web",
        )
        confirmation = None
        if subscriber is not None and subscriber.email is not None:
            link = urls.confirm_url(workspace, subscribers.confirm_token(key, subscriber))
            confirmation = (subscriber.email, subscriber.name, subscriber.language, link)
    if confirmation is not None:
        from outreach.addresses import SMTPUTF8_REQUIREMENT, needs_smtputf8
        from outreach.mail.confirmation import send_confirmation

        email, name, language, link = confirmation
        if needs_smtputf8(email):
            log.warning("subscribe: accepted an address whose %s", SMTPUTF8_REQUIREMENT)
        try:
            send_confirmation(workspace, email, name=name, language=language, link=link)
        except (MailError, ConfigError):
            log.exception("subscribe: the confirmation mail could not be sent")
            return error_page(
                503,
                "Vi kunde inte skicka bekräftelsemejlet just nu. Försök igen om en stund.",
                "Tillfälligt fel",
            )
    return redirect(url_for(".thanks"), code=303)


@bp.route(urls.SUBSCRIBE_THANKS)
def thanks() -> Any:
    return _no_store(Response(render_template("subscribe_thanks.html"), mimetype="text/html"))


@bp.route(urls.CONFIRM + "<token>")
def confirm(token: str) -> Any:
    workspace = current_workspace()
    max_age = workspace.settings.web.confirm_link_hours * 3600
    with session_scope(workspace) as session:
        subscriber = subscribers.confirm_by_token(
            session, signing_key(), token, max_age, source="web:confirm"
        )
        name = subscriber.name
    return _no_store(Response(render_template("confirmed.html", name=name), mimetype="text/html"))


def _masked(email: str | None) -> str:
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}…@{domain}"


@bp.route(urls.UNSUBSCRIBE + "<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """GET changes nothing (mail scanners prefetch links); POST unsubscribes, no cookie or CSRF
    needed (the signed token is the authority), idempotent, and never redirects (RFC 8058)."""
    with session_scope(current_workspace()) as session:
        if request.method == "POST":
            one_click = request.form.get("List-Unsubscribe") == "One-Click"
            from_page = request.form.get("via") == "sidan"
            source = "web:page" if from_page else ("web:one-click" if one_click else "web:post")
            subscribers.unsubscribe_by_token(session, signing_key(), token, source)
            return _no_store(Response(render_template("unsubscribed.html"), mimetype="text/html"))
        subscriber = subscribers.subscriber_for_unsubscribe_token(session, signing_key(), token)
        body = render_template(
            "unsubscribe.html",
            address=_masked(subscriber.email),
            name=subscriber.name,
            already=subscriber.status not in ("pending", "confirmed"),
            action=url_for(".unsubscribe", token=token),
        )
    return _no_store(Response(body, mimetype="text/html"))

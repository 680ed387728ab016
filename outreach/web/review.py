"""The guest review page `/granska/<token>` and its audio: a plain form, enhanced by review.js.

The signed token is the guest's only credential: it opens one guest's review of one episode, and
the audio route below serves that episode's audio (before publication) only with a live token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.dates import format_date
from flask import Blueprint, Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from outreach import urls
from outreach.db import session_scope
from outreach.errors import (
    DatabaseError,
    NotFoundError,
    TokenError,
    TokenExpiredError,
    TokenRevokedError,
    ValidationError,
)
from outreach.fsutil import file_inside
from outreach.models import Episode
from outreach.review import merge, rules
from outreach.review import requests as links
from outreach.review.notices import notify_submission
from outreach.review.page import ReviewPage, review_audio, review_page
from outreach.timeutil import clock
from outreach.web.csrf import CSRFError, same_origin, validate_csrf
from outreach.web.forms import form_int
from outreach.web.handlers import error_page
from outreach.web.media import serve_file
from outreach.web.state import current_workspace, signing_key

bp = Blueprint("review", __name__)


@bp.app_template_test("same_name_as")
def _same_name_as(a: str | None, b: str | None) -> bool:
    return rules.same_name(a, b)


NOTICES = {
    "sparat": "Tack! Dina ändringar är sparade.",
    "sammanfogat": (
        "Tack! Dina ändringar är sparade. Någon annan hade ändrat andra delar av transkriptet "
        "under tiden, och båda ändringarna finns nu med."
    ),
    "godkant": "Tack! Du har godkänt transkriptet.",
    "kommentar": "Tack! Din kommentar är skickad till redaktionen.",
    "inget": "Du hade inte ändrat något, så inget sparades.",
}
SPEEDS = ("0.75", "1", "1.25", "1.5", "2")


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(TokenError)
def _link_error(exc: TokenError) -> Response:
    """Every route here opens its review link first; a bad link ends the request here (nothing
    has been written by then)."""
    if isinstance(exc, TokenExpiredError):
        return error_page(
            410,
            "Länken till granskningen har gått ut. Kontakta redaktionen om du vill ha en ny.",
            "Länken har gått ut",
        )
    if isinstance(exc, TokenRevokedError):
        return error_page(
            410,
            "Den här länken har dragits tillbaka. Kontakta redaktionen om du behöver en ny.",
            "Länken gäller inte längre",
        )
    return error_page(
        400, "Länken är ogiltig. Kontrollera att du har kopierat hela adressen.", "Ogiltig länk"
    )


def _render(
    page: ReviewPage,
    token: str,
    *,
    status: int = 200,
    notice: str | None = None,
    conflicts: list[merge.Conflict] | None = None,
    prefill: dict[int, str] | None = None,
    comment: str = "",
    base_version: int | None = None,
    stale_form: bool = False,
) -> Response:
    body = render_template(
        "review.html",
        page=page,
        token=token,
        notice=notice,
        conflicts=conflicts or [],
        prefill=prefill or {},
        comment=comment,
        base_version=base_version,
        stale_form=stale_form,
        clock=clock,
        expires_text=format_date(page.expires_at.date(), "d MMMM y", locale="sv"),
        speeds=SPEEDS,
        same_name=rules.same_name,
    )
    return _no_store(Response(body, status=status, mimetype="text/html"))


def _segment_fields(prefix: str) -> dict[int, str]:
    fields: dict[int, str] = {}
    for name, value in request.form.items():
        if name.startswith(prefix):
            segment_id = form_int(name[len(prefix) :])
            if segment_id is None:
                raise ValidationError(f"unknown field {name}")
            fields[segment_id] = value
    return fields


@bp.route(urls.REVIEW + "<token>", methods=["GET", "POST"])
def page(token: str) -> BaseResponse:
    if request.method == "GET":
        return _show(token)
    limit = current_workspace().settings.review.max_submission_bytes
    if (request.content_length or 0) > limit:
        return error_page(413, f"Det du skickade var för stort (högst {limit} byte).")
    for _attempt in range(2):
        try:
            return _submit(token)
        except DatabaseError:
            # Two guests saved at the same moment: the later one was rolled back whole, so try
            # again on top of the other's version (merged, or reported as a conflict).
            continue
    return error_page(
        503, "Vi kunde inte spara just nu. Skicka formuläret igen om en stund.", "Tillfälligt fel"
    )


def _show(token: str) -> Response:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        review_request = links.open_request(session, signing_key(), token)
        links.mark_opened(review_request)
        try:
            view = review_page(session, workspace, review_request)
        except NotFoundError:
            return _no_transcript()
        return _render(view, token, notice=NOTICES.get(request.args.get("klart", "")))


def _no_transcript() -> Response:
    return error_page(404, "Det finns inget transkript att granska här.", "Transkriptet finns inte")


def _submit(token: str) -> BaseResponse:
    workspace = current_workspace()
    limit = workspace.settings.review.max_submission_bytes
    with session_scope(workspace) as session:
        review_request = links.open_request(session, signing_key(), token)
        try:
            try:
                validate_csrf()
            except CSRFError:
                if not same_origin():
                    raise
                # A page left open past the CSRF token's lifetime: give the guest their text back
                # with a fresh token (same base version, so sending again is the same submission).
                return _stale_form(review_page(session, workspace, review_request), token)
            if sum(len(v.encode()) for v in request.form.values()) > limit:
                return error_page(413, f"Det du skickade var för stort (högst {limit} byte).")
            action = request.form.get("action", "submit")
            base = form_int(request.form.get("base_version"))
            if action not in ("submit", "approve") or base is None:
                raise ValidationError("bad form")
            comment = request.form.get("comment", "")
            result = merge.submit_review(
                session,
                workspace,
                review_request,
                base_version=base,
                texts=_segment_fields("text-"),
                speakers=_segment_fields("speaker-"),
                comment=comment,
                approve=action == "approve",
            )
            if result.conflicts:
                view = review_page(session, workspace, review_request)
                return _render(
                    view,
                    token,
                    status=409,
                    conflicts=result.conflicts,
                    prefill={c.segment_id: c.proposed_text for c in result.conflicts},
                    comment=comment,
                )
        except NotFoundError:
            return _no_transcript()
        except ValidationError:
            return error_page(
                400,
                "Formuläret innehöll något vi inte kunde ta emot. Ladda om sidan och försök igen.",
            )
    notify_submission(workspace, review_request, result, comment)
    return redirect(
        url_for(".page", token=token, klart=_outcome(result, comment), _anchor="status"), code=303
    )


def _stale_form(view: ReviewPage, token: str) -> Response:
    return _render(
        view,
        token,
        status=400,
        prefill=_segment_fields("text-"),
        comment=request.form.get("comment", ""),
        base_version=form_int(request.form.get("base_version")),
        stale_form=True,
    )


def _outcome(result: merge.SubmitResult, comment: str) -> str:
    """The notice shown after the redirect (a key of NOTICES)."""
    if result.approved:
        return "godkant"
    if result.version is not None:
        return "sammanfogat" if result.merged else "sparat"
    return "kommentar" if comment.strip() else "inget"


@bp.route(urls.REVIEW + "<token>/ljud")
def audio(token: str) -> Any:
    """The episode's audio for its reviewers, before publication (Range, ETag: `serve_file`)."""
    workspace = current_workspace()
    with session_scope(workspace) as session:
        review_request = links.open_request(session, signing_key(), token)
        episode = session.get_one(Episode, review_request.episode_id)
        relative = review_audio(workspace, episode)
    path = workspace.path(relative) if relative else None
    if path is None or not file_inside(path, workspace.root):
        return error_page(404)
    response = serve_file(Path(path), max_age=0)
    response.headers["Cache-Control"] = "private, no-cache"
    return response

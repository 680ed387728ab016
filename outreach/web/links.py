"""`/l/<edition>/<n>`: a counted newsletter link (see outreach/newsletter/links.py).

Counts the click on the edition's link n and redirects (302) to the original stored at compose
time. The URL carries no subscriber and the route stores nothing about the request. An unknown
edition or n is a 404: the route only ever redirects to links the editor published.
"""

from __future__ import annotations

from flask import Blueprint, redirect, request
from werkzeug.wrappers import Response

from outreach import urls
from outreach.db import session_scope
from outreach.newsletter.links import follow_link
from outreach.web.handlers import error_page
from outreach.web.state import current_workspace

bp = Blueprint("links", __name__)


@bp.route(urls.LINK + "<slug>/<int:position>", methods=["GET"])
def follow(slug: str, position: int) -> Response:
    with session_scope(current_workspace()) as session:
        # HEAD (link checkers, previews) is answered but not counted as a click. Views see HEAD as
        # GET (web/__init__.py), so ask the WSGI environ, which keeps the real method.
        real_method = request.environ.get("REQUEST_METHOD", "GET")
        url = follow_link(session, slug, position, count=real_method == "GET")
    if url is None:
        return error_page(404, "Länken finns inte. Kontrollera adressen i nyhetsbrevet.")
    response = redirect(url, code=302)
    # Every click goes to us, or a cache would answer later clicks without counting them.
    response.headers["Cache-Control"] = "no-store"
    return response

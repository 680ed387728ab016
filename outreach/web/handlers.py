"""Error pages: plain Swedish pages for every HTTP error, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from outreach.errors import TokenError, TokenExpiredError

log = logging.getLogger(__name__)

TITLES = {
    400: "Felaktig begäran",
    403: "Åtkomst nekad",
    404: "Sidan finns inte",
    405: "Metoden är inte tillåten",
    410: "Länken gäller inte längre",
    413: "För mycket data",
    416: "Ogiltigt byteintervall",
    429: "För många förfrågningar",
    500: "Något gick fel",
}
MESSAGES = {
    400: "Begäran kunde inte behandlas.",
    403: "Du har inte åtkomst till den här sidan.",
    404: "Vi hittar inte sidan du letar efter. Kontrollera adressen.",
    405: "Den här adressen tar inte emot den sortens begäran.",
    413: "Det du skickade var för stort.",
    416: "Det begärda byteintervallet finns inte i filen.",
    429: "Vänta en stund och försök igen.",
    500: "Ett oväntat fel inträffade hos oss. Försök igen om en stund.",
}
# Headers an error response must keep (Content-Range on 416, Allow on 405, Retry-After on 429).
KEPT_HEADERS = ("Content-Range", "Allow", "Retry-After", "WWW-Authenticate")


def error_page(code: int, message: str | None = None, title: str | None = None) -> Response:
    """Render the Swedish error page with status `code`."""
    body = render_template(
        "error.html",
        code=code,
        title=title or TITLES.get(code, "Fel"),
        message=message or MESSAGES.get(code, MESSAGES[400 if code < 500 else 500]),
    )
    response = Response(body, status=code, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    # Our own exceptions (e.g. CSRFError) carry a Swedish description; werkzeug's are English.
    message = exc.description if type(exc).__module__.startswith("outreach.") else None
    response = error_page(code, message)
    for name, value in exc.get_headers():
        if name in KEPT_HEADERS:
            response.headers[name] = value
    return response


def _token_error(exc: TokenError) -> Response:
    if isinstance(exc, TokenExpiredError):
        return error_page(
            400,
            "Länken har gått ut. Du kan anmäla dig igen för att få en ny.",
            "Länken har gått ut",
        )
    return error_page(
        400, "Länken är ogiltig. Kontrollera att du har kopierat hela adressen.", "Ogiltig länk"
    )


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    log.exception("unhandled error", exc_info=exc)
    return error_page(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(TokenError, _token_error)
    app.register_error_handler(InternalServerError, lambda e: error_page(500))
    app.register_error_handler(Exception, _unexpected)

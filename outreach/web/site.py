"""The public podcast pages as `outreach serve` answers them: the show page at the `[show] link`
path (and `sida/<n>/` past 50 episodes), `<show>/<slug>/` per published episode, and `/sitemap.xml`.

The HTML comes from `outreach.site.render`, the same renderer `export-site` uses. The show path is a
setting, so the routes are added when the blueprint is registered on an app.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort
from flask.blueprints import BlueprintSetupState

from outreach import urls
from outreach.db import session_scope
from outreach.errors import ConfigError
from outreach.site import render
from outreach.site.episode import episode_page
from outreach.site.show import show_page
from outreach.web.state import EXTENSION, current_workspace

bp = Blueprint("site", __name__)
MAX_AGE = 300


def _page(body: str | bytes, mimetype: str = "text/html") -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response


def show(number: int = 1) -> Response:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        page = show_page(session, workspace, number)
        if page is None:
            abort(404)
        return _page(render.render_show(workspace, page))


def show_numbered(number: int) -> Response:
    if number < 2:
        abort(404)  # page 1 is the show page itself
    return show(number)


def episode(slug: str) -> Response:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        page = episode_page(session, workspace, slug)
        if page is None:
            abort(404)
        return _page(render.render_episode(workspace, page))


def sitemap() -> Response:
    workspace = current_workspace()
    with session_scope(workspace) as session:
        return _page(render.sitemap(session, workspace), "application/xml")


@bp.record_once
def _add_routes(state: BlueprintSetupState) -> None:
    base = urls.show_path(state.app.extensions[EXTENSION].workspace)
    if base == "/":
        raise ConfigError(
            "[show] link needs a path below the site's root (e.g. https://example.org/digitalsamtal/):"
            " / is the subscribe page"
        )
    state.add_url_rule(base, "show", show)
    state.add_url_rule(f"{base}{urls.SHOW_PAGES}/<int:number>/", "show_page", show_numbered)
    state.add_url_rule(f"{base}<slug>/", "episode", episode)
    state.add_url_rule(urls.SITEMAP, "sitemap", sitemap)

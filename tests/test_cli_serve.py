"""`outreach export-site` and the help of `outreach serve`."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from outreach.db import session_scope
from outreach.models import Edition, Episode
from outreach.workspace import Workspace

from .conftest import Runner


def _content(workspace: Workspace) -> None:
    for slug, status in (("avsnitt-1", "published"), ("utkast", "draft")):
        folder = workspace.episodes_dir / slug
        folder.mkdir(parents=True)
        (folder / f"{slug}.mp3").write_bytes(b"ID3" + b"\0" * 500)
        (folder / f"{slug}.vtt").write_text("WEBVTT\n", encoding="utf-8")
        (folder / "source.wav").write_bytes(b"RIFF")
        with session_scope(workspace) as s:
            s.add(
                Episode(
                    guid=str(uuid.uuid4()),
                    slug=slug,
                    title=slug,
                    status=status,
                    audio=f"episodes/{slug}/{slug}.mp3",
                )
            )
    (workspace.feeds_dir / "podcast.xml").write_text("<rss/>", encoding="utf-8")
    for slug, status in (("2023-04-26", "sent"), ("2023-05-24", "composed")):
        with session_scope(workspace) as s:
            s.add(
                Edition(
                    slug=slug,
                    edition_date=dt.date.fromisoformat(slug),
                    subject=f"Nummer {slug}",
                    status=status,
                )
            )
        (workspace.newsletters_dir / slug).mkdir()
        (workspace.newsletters_dir / slug / "index.html").write_text(
            f"<h1>{slug}</h1>", encoding="utf-8"
        )
        (workspace.newsletters_dir / slug / "email.html").write_text("personal", encoding="utf-8")


def test_export_site_copies_only_public_parts(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    _content(workspace)
    target = tmp_path / "site"
    result = run("export-site", str(target))
    assert "Exported to" in result.output
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert files == [
        "digitalsamtal/avsnitt-1/index.html",
        "digitalsamtal/index.html",
        "episodes/avsnitt-1/avsnitt-1.mp3",
        "episodes/avsnitt-1/avsnitt-1.vtt",
        "feeds/podcast.xml",
        "nyhetsbrev/2023-04-26/index.html",
        "nyhetsbrev/index.html",
        "sitemap.xml",
        "static/player.css",
        "static/player.js",
        "static/podcast.css",
        "static/review.css",
        "static/review.js",
        "static/site.css",
    ]
    assert (target / "nyhetsbrev/2023-04-26/index.html").read_text() == "<h1>2023-04-26</h1>"
    index = (target / "nyhetsbrev/index.html").read_text(encoding="utf-8")
    assert "Nummer 2023-04-26" in index and "2023-05-24" not in index
    # Running again changes nothing and copies nothing new.
    again = run("export-site", str(target))
    assert "Exported to" in again.output


def test_export_site_refuses_a_folder_containing_the_workspace(
    run: Runner, workspace: Workspace
) -> None:
    result = run("export-site", str(workspace.root.parent), expect=1)
    assert "must not contain the workspace" in result.output + result.stderr


def test_serve_help_mentions_the_key_and_wsgi(run: Runner) -> None:
    text = run("serve", "--help").output
    assert "OUTREACH_SECRET_KEY" in text and "outreach.web.wsgi:app" in text and "--dev" in text
    assert "Example:" in run("export-site", "-h").output

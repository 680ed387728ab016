"""`episode import-feed` moves the show itself: its lock, its GUID, its settings and artwork."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from outreach.db import session_scope
from outreach.feed.spec import PODCAST_GUID_KEY, podcast_guid_for
from outreach.models import Episode, Meta
from outreach.workspace import Workspace, load_settings

from .conftest import Runner
from .helpers.feed_media import make_cover, static_server

ITEM = (
    "<item><title>Ett</title><guid>g{n}</guid><pubDate>Wed, 26 Apr 2023 08:00:00 +0000</pubDate>"
    '<enclosure url="https://old.example/{n}.mp3" length="1000" type="audio/mpeg"/></item>'
)


def _feed(tmp_path: Path, channel: str = "", after_items: str = "", name: str = "f.xml") -> Path:
    path = tmp_path / name
    path.write_text(
        '<rss version="2.0" xmlns:podcast="https://podcastindex.org/namespace/1.0" '
        'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
        f"<channel><title>Gammal show</title>{channel}{ITEM.format(n=1)}{ITEM.format(n=2)}"
        f"{after_items}</channel></rss>",
        encoding="utf-8",
    )
    return path


def _count(workspace: Workspace) -> int:
    with session_scope(workspace) as session:
        return session.scalar(select(func.count()).select_from(Episode)) or 0


LOCKED = '<podcast:locked owner="agare@old.example">yes</podcast:locked>'


def test_a_locked_feed_is_refused_naming_the_owner(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    result = run(
        "episode", "import-feed", "--keep-settings", str(_feed(tmp_path, LOCKED)), expect=1
    )
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "locked" in errors[0] and "agare@old.example" in errors[0] and "--force" in errors[0]
    assert _count(workspace) == 0
    # The lock after the items refuses too, and nothing is committed.
    late = _feed(tmp_path, after_items=LOCKED, name="late.xml")
    assert (
        "agare@old.example"
        in run("episode", "import-feed", "--keep-settings", str(late), expect=1).stderr
    )
    assert _count(workspace) == 0
    # --force is for the owner's own move.
    forced = run(
        "episode", "import-feed", "--keep-settings", "--force", str(_feed(tmp_path, LOCKED))
    )
    assert "Imported 2 new episode(s)" in forced.output
    unlocked = _feed(tmp_path, LOCKED.replace(">yes<", ">no<"), name="open.xml")
    assert (
        "0 already present"
        not in run("episode", "import-feed", "--keep-settings", str(unlocked)).output
    )


def test_without_a_terminal_it_asks_for_a_flag(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    result = run("episode", "import-feed", str(_feed(tmp_path)), expect=1)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--yes" in lines[0] and "--keep-settings" in lines[0]
    assert _count(workspace) == 0
    both = run("episode", "import-feed", "--yes", "--keep-settings", str(_feed(tmp_path)), expect=2)
    assert "not both" in both.stderr


def test_keep_settings_leaves_outreach_toml_alone_but_keeps_the_show_guid(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    before = workspace.settings_path.read_bytes()
    channel = (
        "<description>Ny</description><language>en</language>"
        "<podcast:guid>917393e3-1b1e-5cef-ace4-edaa54e1f810</podcast:guid>"
    )
    result = run("episode", "import-feed", "--keep-settings", str(_feed(tmp_path, channel)))
    assert "Show settings" not in result.output
    assert workspace.settings_path.read_bytes() == before
    with session_scope(workspace) as session:
        assert session.get(Meta, PODCAST_GUID_KEY).value == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    make_cover(workspace.episodes_dir / "cover.png")
    run("feed", "build")
    root = etree.parse(str(workspace.feeds_dir / "podcast.xml")).getroot()
    guid = root.find("channel/{https://podcastindex.org/namespace/1.0}guid")
    assert guid.text == "917393e3-1b1e-5cef-ace4-edaa54e1f810"


def test_a_show_without_podcast_guid_keeps_the_uuid_of_its_old_url(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    _feed(served)
    with static_server(served) as base:
        run("episode", "import-feed", "--keep-settings", f"{base}f.xml")
    with session_scope(workspace) as session:
        assert session.get(Meta, PODCAST_GUID_KEY).value == podcast_guid_for(f"{base}f.xml")


def test_a_workspace_guid_is_never_replaced(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    with session_scope(workspace) as session:
        session.add(Meta(key=PODCAST_GUID_KEY, value="11111111-1111-5111-8111-111111111111"))
    channel = "<podcast:guid>917393e3-1b1e-5cef-ace4-edaa54e1f810</podcast:guid>"
    result = run("episode", "import-feed", "--keep-settings", str(_feed(tmp_path, channel)))
    assert "already has podcast:guid 11111111" in result.stderr
    with session_scope(workspace) as session:
        assert session.get(Meta, PODCAST_GUID_KEY).value.startswith("11111111")


def test_yes_writes_the_settings_and_download_copies_the_artwork(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    make_cover(served / "art.png")
    with static_server(served) as base:
        channel = (
            "<description><![CDATA[<p>Om <b>allt</b> &amp; lite till.</p>]]></description>"
            "<language>en-GB</language><itunes:author>Ny Författare</itunes:author>"
            '<itunes:category text="Society &amp; Culture"><itunes:category text="Documentary"/>'
            "</itunes:category><itunes:explicit>true</itunes:explicit>"
            f'<itunes:image href="{base}art.png"/>'
        )
        result = run("episode", "import-feed", "--yes", "--download", str(_feed(served, channel)))
    out = result.output
    assert "Show settings from the feed" in out
    assert "language: 'sv' -> 'en-GB'" in out
    assert "explicit: False -> True" in out
    settings = load_settings(workspace.settings_path).show
    assert settings.description == "Om allt & lite till."
    assert (settings.category, settings.subcategory) == ("Society & Culture", "Documentary")
    assert settings.cover == "episodes/show-cover.png"
    assert workspace.path(settings.cover).read_bytes() == (served / "art.png").read_bytes()
    assert settings.author == "Ny Författare"


def test_at_a_terminal_the_diff_is_shown_and_asked_about(
    run: Runner, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("outreach.cli.episode_import._has_terminal", lambda: True)
    before = workspace.settings_path.read_bytes()
    declined = run("episode", "import-feed", str(_feed(tmp_path)), input="n\n")
    assert "title: 'Digitalsamtal' -> 'Gammal show'" in declined.output
    assert "Settings left as they were." in declined.output
    assert workspace.settings_path.read_bytes() == before
    accepted = run("episode", "import-feed", str(_feed(tmp_path)), input="y\n")
    assert "Wrote 1 show setting(s)" in accepted.output
    assert load_settings(workspace.settings_path).show.title == "Gammal show"


def test_a_lock_after_the_items_downloads_nothing(
    run: Runner, workspace: Workspace, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    for n in (1, 2):
        (served / f"{n}.mp3").write_bytes(b"\xff\xfb\x90\x64" + bytes(1000))
    with static_server(served) as base:
        late = _feed(served, after_items=LOCKED, name="late.xml")
        late.write_text(
            late.read_text(encoding="utf-8").replace("https://old.example/", base),
            encoding="utf-8",
        )
        run("episode", "import-feed", "--keep-settings", "--download", str(late), expect=1)
    assert _count(workspace) == 0
    assert not any(p.suffix == ".mp3" for p in workspace.episodes_dir.rglob("*"))

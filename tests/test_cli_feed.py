"""`outreach feed build` and `feed validate` through the real CLI, read back by real clients."""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import json
import re
import uuid
from pathlib import Path

import feedparser
import icalendar
import podcastparser
import pytest
from click.testing import CliRunner
from lxml import etree
from PIL import Image
from sqlalchemy import select

from outreach.cli import cli
from outreach.db import session_scope
from outreach.models import Edition, Episode, Event, Meta
from outreach.workspace import Workspace, open_workspace

from .conftest import Runner
from .helpers.feed_media import add_episode, make_cover, make_mp3, static_server

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
}
FIRST = dt.datetime(2023, 4, 26, 8, 0, tzinfo=dt.UTC)
SECOND = dt.datetime(2023, 5, 10, 6, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def mp3s(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("audio")
    return make_mp3(folder / "a.mp3", 2.0, 440), make_mp3(folder / "b.mp3", 3.0, 660)


@pytest.fixture
def show(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """A workspace with cover art and show settings for the podcast channel."""
    make_cover(workspace.episodes_dir / "cover.png")
    monkeypatch.setenv("OUTREACH_SHOW_HOSTS", "Jonatan Permert")
    monkeypatch.setenv("OUTREACH_SHOW_FUNDING_URL", "https://example.org/stod")
    monkeypatch.setenv("OUTREACH_SHOW_FUNDING_TEXT", "Stöd Digitalsamtal")
    monkeypatch.setenv("OUTREACH_SHOW_CATEGORY", "Society & Culture")
    monkeypatch.setenv("OUTREACH_SHOW_SUBCATEGORY", "Documentary")
    return workspace


@pytest.fixture
def catalogue(show: Workspace, mp3s: tuple[Path, Path]) -> dict[str, str]:
    """Two published episodes (one with guests, transcripts and chapters) and one draft."""
    first = add_episode(
        show,
        "ai-i-kommunen",
        "AI i kommunen",
        mp3=mp3s[0],
        published=FIRST,
        number=1,
        season=1,
        summary='<p>Om <b>AI</b> & kommuner.</p><script>alert(1)</script><a href="https://example.org/x" onclick="y">Läs mer</a>',
        duration=2.4,
        people=(("Anna Andersson", "guest", True), ("Hemlig Gäst", "guest", False)),
        chapters=True,
        transcripts=("txt", "html", "json", "srt", "vtt"),
    )
    second = add_episode(
        show,
        "civilsamhallet",
        "Civilsamhället och AI",
        mp3=mp3s[1],
        published=SECOND,
        number=2,
        season=1,
        summary="Första stycket.\n\nAndra stycket med <3 tecken.",
        duration=3.0,
    )
    draft = add_episode(show, "utkast", "Hemligt utkast", mp3=mp3s[0], published=None)
    return {"first": first, "second": second, "draft": draft}


def _feed(workspace: Workspace) -> bytes:
    return (workspace.feeds_dir / "podcast.xml").read_bytes()


def _xml(workspace: Workspace) -> etree._Element:
    return etree.fromstring(_feed(workspace))


def test_build_writes_three_feeds_and_podcast_apps_read_the_values(
    run: Runner, catalogue: dict[str, str], show: Workspace
) -> None:
    result = run("feed", "build")
    assert "Wrote feeds/podcast.xml" in result.output
    assert "Wrote feeds/nyhetsbrev.xml" in result.output
    assert "Wrote feeds/evenemang.ics" in result.output
    assert "2 episode(s)" in result.output
    data = _feed(show)

    parsed = feedparser.parse(data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.feed.title == "Digitalsamtal"
    assert parsed.feed.language == "sv"
    assert parsed.feed.image.href == "https://example.org/episodes/cover.png"
    assert [e.id for e in parsed.entries] == [catalogue["second"], catalogue["first"]]
    newest, oldest = parsed.entries
    assert newest.title == "Civilsamhället och AI"
    assert oldest.enclosures[0].href == (
        "https://example.org/episodes/ai-i-kommunen/ai-i-kommunen.mp3"
    )
    mp3_size = (show.episodes_dir / "ai-i-kommunen" / "ai-i-kommunen.mp3").stat().st_size
    assert int(oldest.enclosures[0].length) == mp3_size
    assert oldest.enclosures[0].type == "audio/mpeg"
    assert oldest.itunes_duration == "2"
    assert oldest.published_parsed[:5] == (2023, 4, 26, 8, 0)

    podcast = podcastparser.parse("https://example.org/feeds/podcast.xml", io.BytesIO(data))
    assert podcast["title"] == "Digitalsamtal"
    assert podcast["cover_url"] == "https://example.org/episodes/cover.png"
    assert podcast["explicit"] is False
    by_guid = {e["guid"]: e for e in podcast["episodes"]}
    assert set(by_guid) == {catalogue["first"], catalogue["second"]}
    first = by_guid[catalogue["first"]]
    assert first["total_time"] == 2
    assert first["enclosures"][0]["file_size"] == mp3_size
    assert first["published"] == int(dt.datetime(2023, 4, 26, 8, 0, tzinfo=dt.UTC).timestamp())
    assert first["number"] == 1
    assert first["title"] == "AI i kommunen"
    assert first["description_html"].startswith("<p>Om AI &amp; kommuner.</p>")
    # podcastparser 0.6 knows Podcasting 2.0 only under its old GitHub namespace URI, not the
    # one the spec names today, so transcripts and chapters are checked with XPath below.
    assert "Hemligt utkast" not in data.decode()


def test_every_tag_is_where_the_issue_says(
    run: Runner, catalogue: dict[str, str], show: Workspace
) -> None:
    run("feed", "build")
    root = _xml(show)
    assert root.nsmap["podcast"] == NS["podcast"]
    assert root.nsmap["itunes"] == NS["itunes"]
    channel = root.find("channel")

    def one(path: str, where: etree._Element = channel) -> etree._Element:
        found = where.xpath(path, namespaces=NS)
        assert len(found) == 1, (path, found)
        return found[0]

    assert one("title").text == "Digitalsamtal"
    assert one("link").text == "https://example.org/digitalsamtal/"
    assert len(one("description").text.encode()) <= 4000
    assert one("language").text == "sv"
    assert one("copyright").text == "© AI Sweden"
    assert one("itunes:image").get("href") == "https://example.org/episodes/cover.png"
    category = one("itunes:category")
    assert category.get("text") == "Society & Culture"
    assert b'text="Society &amp; Culture"' in _feed(show)
    assert one("itunes:category", category).get("text") == "Documentary"
    assert one("itunes:explicit").text == "false"
    assert one("itunes:author").text == "AI Sweden"
    assert one("itunes:owner/itunes:email").text == "podcast@example.org"
    assert one("itunes:owner/itunes:name").text == "AI Sweden"
    assert one("itunes:type").text == "episodic"
    expected_guid = str(
        uuid.uuid5(
            uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6"), "example.org/feeds/podcast.xml"
        )
    )
    assert one("podcast:guid").text == expected_guid
    locked = one("podcast:locked")
    assert (locked.text, locked.get("owner")) == ("yes", "podcast@example.org")
    funding = one("podcast:funding")
    assert (funding.get("url"), funding.text) == ("https://example.org/stod", "Stöd Digitalsamtal")
    assert one("podcast:medium").text == "podcast"
    host = one("podcast:person")
    assert (host.text, host.get("role")) == ("Jonatan Permert", "host")
    self_link = one("atom:link[@rel='self']")
    assert self_link.get("href") == "https://example.org/feeds/podcast.xml"
    assert one("lastBuildDate").text

    item = one(f"item[guid='{catalogue['first']}']")
    guid = one("guid", item)
    assert guid.get("isPermaLink") == "false"
    assert one("title", item).text == "AI i kommunen"
    description = one("description", item).text
    assert description == (
        '<p>Om AI &amp; kommuner.</p><a href="https://example.org/x">Läs mer</a>'
    )
    assert b"<![CDATA[<p>Om AI" in _feed(show)
    assert email.utils.parsedate_to_datetime(one("pubDate", item).text) == FIRST
    enclosure = one("enclosure", item)
    assert enclosure.get("type") == "audio/mpeg"
    assert enclosure.get("url").isascii() and enclosure.get("url").startswith("https://")
    assert one("itunes:duration", item).text == "2"
    assert one("itunes:episode", item).text == "1"
    assert one("itunes:season", item).text == "1"
    assert one("itunes:episodeType", item).text == "full"
    assert one("itunes:explicit", item).text == "false"
    transcripts = item.xpath("podcast:transcript", namespaces=NS)
    assert [(t.get("type"), t.get("rel"), t.get("language")) for t in transcripts] == [
        ("text/vtt", "captions", "sv"),
        ("application/x-subrip", "captions", "sv"),
        ("application/json", "captions", "sv"),
        ("text/html", None, "sv"),
        ("text/plain", None, "sv"),
    ]
    assert transcripts[0].get("url") == (
        "https://example.org/episodes/ai-i-kommunen/ai-i-kommunen.vtt"
    )
    chapters = one("podcast:chapters", item)
    assert chapters.get("type") == "application/json+chapters"
    assert one("podcast:season", item).text == "1"
    assert one("podcast:episode", item).text == "1"
    people = [(p.text, p.get("role")) for p in item.xpath("podcast:person", namespaces=NS)]
    # Item-level persons replace the channel's, so the host is repeated; no unconsenting guest.
    assert people == [("Jonatan Permert", "host"), ("Anna Andersson", "guest")]

    other = one(f"item[guid='{catalogue['second']}']")
    assert one("description", other).text == (
        "<p>Första stycket.</p><p>Andra stycket med &lt;3 tecken.</p>"
    )
    assert other.xpath("podcast:transcript|podcast:chapters|podcast:person", namespaces=NS) == []


def _without_build_date(data: bytes) -> bytes:
    return re.sub(rb"<lastBuildDate>[^<]*</lastBuildDate>", b"", data)


def test_same_inputs_give_the_same_bytes_except_last_build_date(
    run: Runner, catalogue: dict[str, str], show: Workspace
) -> None:
    run("feed", "build")
    first = _feed(show)
    first_other = [(show.feeds_dir / n).read_bytes() for n in ("nyhetsbrev.xml", "evenemang.ics")]
    run("feed", "build")
    assert _without_build_date(_feed(show)) == _without_build_date(first)
    assert [(show.feeds_dir / n).read_bytes() for n in ("nyhetsbrev.xml", "evenemang.ics")] == (
        first_other
    )
    assert not [p for p in show.feeds_dir.iterdir() if p.name.startswith(".")]


def test_guids_survive_retitle_reencode_and_a_new_base_url(
    run: Runner,
    catalogue: dict[str, str],
    show: Workspace,
    mp3s: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run("feed", "build")
    before = _xml(show)
    channel_guid = before.findtext("channel/podcast:guid", namespaces=NS)
    with session_scope(show) as session:
        episode = session.scalars(select(Episode).where(Episode.slug == "ai-i-kommunen")).one()
        episode.title = "AI i kommunen (ny titel)"
    # Re-encode: a different MP3 in the same place.
    (show.episodes_dir / "ai-i-kommunen" / "ai-i-kommunen.mp3").write_bytes(mp3s[1].read_bytes())
    monkeypatch.setenv("OUTREACH_SHOW_BASE_URL", "https://podd.example.se/digitalsamtal/")
    run("feed", "build")
    after = _xml(show)
    assert after.findtext("channel/podcast:guid", namespaces=NS) == channel_guid
    assert [g.text for g in after.iter("guid")] == [g.text for g in before.iter("guid")]
    item = after.xpath(f"channel/item[guid='{catalogue['first']}']")[0]
    assert item.findtext("title") == "AI i kommunen (ny titel)"
    enclosure = item.find("enclosure")
    assert enclosure.get("url") == (
        "https://podd.example.se/digitalsamtal/episodes/ai-i-kommunen/ai-i-kommunen.mp3"
    )
    assert int(enclosure.get("length")) == mp3s[1].stat().st_size
    with session_scope(show) as session:
        assert session.get(Meta, "podcast_guid").value == channel_guid


def test_unpublished_episodes_leave_the_feed(
    run: Runner, catalogue: dict[str, str], show: Workspace
) -> None:
    run("feed", "build")
    with session_scope(show) as session:
        episode = session.scalars(select(Episode).where(Episode.slug == "civilsamhallet")).one()
        episode.status = "draft"
    run("feed", "build")
    guids = [g.text for g in _xml(show).iter("guid")]
    assert guids == [catalogue["first"]]


def test_no_published_episode_writes_the_other_feeds_and_no_podcast_feed(
    run: Runner, show: Workspace, mp3s: tuple[Path, Path]
) -> None:
    add_episode(show, "utkast", "Utkast", mp3=mp3s[0], published=None)
    (show.feeds_dir / "podcast.xml").write_text("stale", encoding="utf-8")
    result = run("feed", "build")
    assert "not written" in result.stderr
    assert not (show.feeds_dir / "podcast.xml").exists()
    assert (show.feeds_dir / "nyhetsbrev.xml").is_file()
    assert (show.feeds_dir / "evenemang.ics").is_file()


def test_published_episode_without_audio_is_left_out_with_a_warning(
    run: Runner, show: Workspace, mp3s: tuple[Path, Path]
) -> None:
    add_episode(show, "med-ljud", "Med ljud", mp3=mp3s[0])
    add_episode(show, "utan-ljud", "Utan ljud", mp3=None)
    result = run("feed", "build")
    assert "utan-ljud: left out" in result.stderr
    assert [i.findtext("title") for i in _xml(show).iter("item")] == ["Med ljud"]


@pytest.mark.parametrize(
    ("size", "message"),
    [((1400, 1000), "not square"), ((1000, 1000), "1400 to 3000"), ((3200, 3200), "1400 to 3000")],
)
def test_a_bad_cover_stops_the_build(
    run: Runner,
    show: Workspace,
    mp3s: tuple[Path, Path],
    size: tuple[int, int],
    message: str,
) -> None:
    add_episode(show, "ett", "Ett", mp3=mp3s[0])
    make_cover(show.episodes_dir / "cover.png", *size)
    (show.feeds_dir / "podcast.xml").write_text("old feed", encoding="utf-8")
    result = run("feed", "build", expect=1)
    assert message in result.stderr
    assert "channel/itunes:image" in result.stderr
    assert "Error: feeds/podcast.xml not written" in result.stderr
    assert "Traceback" not in result.stderr
    assert (show.feeds_dir / "podcast.xml").read_text(encoding="utf-8") == "old feed"


def test_missing_cover_is_one_clear_error(
    run: Runner, show: Workspace, mp3s: tuple[Path, Path]
) -> None:
    add_episode(show, "ett", "Ett", mp3=mp3s[0])
    (show.episodes_dir / "cover.png").unlink()
    result = run("feed", "build", expect=1)
    assert "show cover episodes/cover.png does not exist" in result.stderr
    # One feed's failure never stops the others.
    assert "Wrote feeds/nyhetsbrev.xml" in result.output
    assert "Wrote feeds/evenemang.ics" in result.output
    assert not (show.feeds_dir / "podcast.xml").exists()
    assert [line for line in result.stderr.splitlines() if line.startswith("Error:")] == [
        "Error: feeds/podcast.xml not written: the show cover episodes/cover.png does not exist: "
        "set [show] cover to a square JPEG or PNG of 1400 to 3000 px in the workspace"
    ]


def test_init_makes_a_placeholder_cover_so_every_feed_builds(
    tmp_path: Path, mp3s: tuple[Path, Path]
) -> None:
    made = CliRunner().invoke(cli, ["init", str(tmp_path / "ny")])
    assert made.exit_code == 0, made.output
    assert "placeholder cover: episodes/cover.png" in made.output
    workspace = open_workspace(tmp_path / "ny")
    cover = Image.open(workspace.episodes_dir / "cover.png")
    assert cover.size == (1400, 1400) and cover.mode == "RGB"
    add_episode(workspace, "ett", "Ett", mp3=mp3s[0])
    built = CliRunner().invoke(cli, ["--workspace", str(workspace.root), "feed", "build"])
    assert built.exit_code == 0, built.output
    for name in ("podcast.xml", "nyhetsbrev.xml", "evenemang.ics"):
        assert f"Wrote feeds/{name}" in built.output
    assert "placeholder cover" in built.stderr  # the validator warns until a real cover is set
    checked = CliRunner().invoke(cli, ["--workspace", str(workspace.root), "feed", "validate"])
    assert checked.exit_code == 0 and "image-placeholder" not in checked.output
    assert "placeholder cover" in checked.stderr
    again = CliRunner().invoke(cli, ["init", str(tmp_path / "ny")])
    assert "placeholder cover" not in again.output  # an existing cover is never replaced


def test_hidden_owner_is_left_out(
    run: Runner, show: Workspace, mp3s: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_episode(show, "ett", "Ett", mp3=mp3s[0])
    monkeypatch.setenv("OUTREACH_SHOW_HIDE_OWNER", "true")
    result = run("feed", "build")
    data = _feed(show)
    assert b"podcast@example.org" not in data
    assert b"<podcast:locked>yes</podcast:locked>" in data
    assert "itunes:owner" in result.stderr  # the validator's warning: Apple needs it to verify


def test_newsletter_atom_and_events_calendar(run: Runner, show: Workspace) -> None:
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    with session_scope(show) as session:
        session.add_all(
            [
                Edition(
                    slug="2023-04-26",
                    edition_date=dt.date(2023, 4, 26),
                    subject="Kraftsamlingen: nya utlysningar",
                    status="sent",
                    sent_at=dt.datetime(2023, 4, 26, 7, 0, tzinfo=dt.UTC),
                ),
                Edition(
                    slug="2023-05-24",
                    edition_date=dt.date(2023, 5, 24),
                    subject="Utkast",
                    status="draft",
                ),
                Event(
                    title="Inspirationsträff",
                    starts=now + dt.timedelta(days=3),
                    ends=now + dt.timedelta(days=3, hours=2),
                    location="Stockholm",
                    registration_url="https://example.org/anmalan",
                    summary="Om AI i offentlig sektor.",
                ),
                Event(title="Förra veckan", starts=now - dt.timedelta(days=7)),
            ]
        )
    result = run("feed", "build")
    assert "1 sent edition(s), 1 upcoming event(s)" in result.output

    atom = feedparser.parse((show.feeds_dir / "nyhetsbrev.xml").read_bytes())
    assert atom.bozo == 0
    assert atom.version == "atom10"
    assert [e.title for e in atom.entries] == ["Kraftsamlingen: nya utlysningar"]
    entry = atom.entries[0]
    assert entry.link == "http://127.0.0.1:8000/nyhetsbrev/2023-04-26/"
    assert entry.id == "tag:kraftsamling.example.org,2023-04-26:nyhetsbrev/2023-04-26"
    assert entry.updated_parsed[:4] == (2023, 4, 26, 7)

    calendar = icalendar.Calendar.from_ical((show.feeds_dir / "evenemang.ics").read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert [str(e["SUMMARY"]) for e in events] == ["Inspirationsträff"]
    event = events[0]
    with session_scope(show) as session:
        stored = session.scalars(select(Event).where(Event.title == "Inspirationsträff")).one()
    assert event["DTSTART"].dt == stored.starts
    assert event["DTEND"].dt == stored.ends
    assert str(event["UID"]) == f"event-{stored.id}@kraftsamling.example.org"
    assert str(event["LOCATION"]) == "Stockholm"
    assert str(event["URL"]) == "https://example.org/anmalan"
    assert "Anmälan: https://example.org/anmalan" in str(event["DESCRIPTION"])
    assert str(calendar["X-WR-CALNAME"]) == "Kraftsamling för AI i kommuner och civilsamhälle"


def test_validate_the_built_feed_by_file_and_by_url(
    run: Runner, catalogue: dict[str, str], show: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("feed", "build")
    assert "valid" in run("feed", "validate").output
    # Served over HTTP with the cover at its public URL, so the validator fetches the image.
    with static_server(show.root) as base:
        monkeypatch.setenv("OUTREACH_SHOW_BASE_URL", base)
        run("feed", "build")
        result = run("feed", "validate", f"{base}feeds/podcast.xml", "--no-fetch")
        assert "valid" in result.output
        make_cover(show.episodes_dir / "cover.png", 800)
        result = run("feed", "validate", f"{base}feeds/podcast.xml", expect=1)
        assert "channel/itunes:image" in result.stderr
        assert "800×800" in result.stderr
        missing = run("feed", "validate", f"{base}feeds/nothing.xml", expect=1)
        assert "404" in missing.stderr


def test_validate_reports_problems_and_exits_1(run: Runner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text(
        '<?xml version="1.0"?><rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">'
        "<channel><title>T</title><description>D</description><language>sv</language>"
        "<itunes:explicit>maybe</itunes:explicit></channel></rss>",
        encoding="utf-8",
    )
    result = run("feed", "validate", str(bad), expect=1)
    assert "channel/itunes:image: missing" in result.stderr
    assert "channel/itunes:explicit: 'maybe' is not a valid value. Fix: use true or false" in (
        result.stderr
    )
    assert "Error:" in result.stderr and "error(s)" in result.stderr
    as_json = run("feed", "validate", "--no-fetch", "--json", str(bad), expect=1)
    report = json.loads(as_json.stdout)
    assert (report["valid"], report["source"]) == (False, str(bad))
    assert report["errors"] == sum(p["level"] == "error" for p in report["problems"])
    assert {
        "level": "error",
        "rule": "explicit-invalid",
        "where": "channel/itunes:explicit",
        "message": "'maybe' is not a valid value",
        "fix": "use true or false",
    } in report["problems"]
    assert "no such file" in run("feed", "validate", str(tmp_path / "none.xml"), expect=1).stderr
    unreachable = run("feed", "validate", "http://127.0.0.1:9/feed.xml", expect=1)
    assert "cannot fetch" in unreachable.stderr


def test_transcripts_only_once_a_version_is_publishable(
    run: Runner, show: Workspace, mp3s: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from outreach.podcast.transcripts import accept_version, create_version

    add_episode(show, "ett", "Ett", mp3=mp3s[0], transcripts=("vtt", "txt"))
    segment = {"id": 0, "start": 0.0, "end": 1.0, "speaker": None, "text": "Hej", "words": []}
    with session_scope(show) as session:
        episode = session.scalars(select(Episode)).one()
        version = create_version(session, episode, [segment], author="whisper")
    result = run("feed", "build")
    assert "no accepted transcript yet" in result.stderr
    assert b"podcast:transcript" not in _feed(show)
    monkeypatch.setenv("OUTREACH_REVIEW_ENABLED", "false")  # the latest version is publishable
    run("feed", "build")
    # Building only reads: it lists the two files already there; the exports are written by
    # whatever publishes (here `transcript publish`).
    assert _feed(show).count(b"<podcast:transcript ") == 2
    run("transcript", "publish", "ett")
    run("feed", "build")
    assert _feed(show).count(b"<podcast:transcript ") == 5
    assert "Hej" in (show.episodes_dir / "ett" / "ett.vtt").read_text(encoding="utf-8")
    monkeypatch.delenv("OUTREACH_REVIEW_ENABLED")
    run("transcript", "publish", "ett")  # review on, nothing accepted: the public copies go
    run("feed", "build")
    assert b"podcast:transcript" not in _feed(show)
    assert not (show.episodes_dir / "ett" / "ett.vtt").exists()
    with session_scope(show) as session:
        accept_version(session, session.get(type(version), version.id))
    run("transcript", "publish", "ett")
    run("feed", "build")
    assert _feed(show).count(b"<podcast:transcript ") == 5


@pytest.mark.slow
def test_every_url_in_the_feed_is_served_by_outreach_serve(
    run: Runner,
    catalogue: dict[str, str],
    show: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The feed's URL layout is the one `outreach serve` answers, cover art included."""
    import urllib.request

    from click.testing import CliRunner

    from outreach.cli import cli

    from .helpers.server import running_server

    with running_server(show.root) as base:
        monkeypatch.setenv("OUTREACH_SHOW_BASE_URL", base + "/")
        run("feed", "build")
        # Outside any workspace, so the validator fetches the cover over HTTP like Apple does.
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["feed", "validate", f"{base}/feeds/podcast.xml"])
        assert result.exit_code == 0, result.output
        assert "valid" in result.output
        root = _xml(show)
        for enclosure in root.iter("enclosure"):
            request = urllib.request.Request(enclosure.get("url"), method="HEAD")
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.headers["Content-Length"] == enclosure.get("length")
                assert response.headers["Content-Type"] == "audio/mpeg"
        links = root.xpath("//podcast:transcript/@url|//podcast:chapters/@url", namespaces=NS)
        assert len(links) == 6
        for url in links:
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200


def test_validate_without_a_built_feed_says_what_to_do(run: Runner) -> None:
    result = run("feed", "validate", expect=1)
    assert "podcast.xml does not exist yet: run 'outreach feed build' first" in result.stderr


def test_the_publish_gate_holds_the_podcast_feed_not_the_others(
    run: Runner, show: Workspace, mp3s: tuple[Path, Path]
) -> None:
    """A published episode whose MP3 changed since `normalize` measured it, or whose stored
    figures break the targets, stops feeds/podcast.xml (the old one stays); the newsletter feed and
    the calendar are still written. An imported episode, never measured here, is not judged."""
    add_episode(show, "ett", "Ett", mp3=mp3s[0])
    add_episode(show, "importerat", "Importerat", mp3=mp3s[1])
    mp3 = show.episodes_dir / "ett" / "ett.mp3"
    with session_scope(show) as session:
        episode = session.scalars(select(Episode).where(Episode.slug == "ett")).one()
        episode.byte_size = mp3.stat().st_size
        episode.audio_sha256 = "0" * 64
        episode.loudness_lufs, episode.true_peak_dbtp = -16.0, -1.5
    run("feed", "build")
    good = _feed(show)
    assert b"<title>Ett</title>" in good

    with mp3.open("ab") as out:
        out.write(b"\0" * 1000)  # re-encoded or edited by hand after it was measured
    (show.feeds_dir / "nyhetsbrev.xml").unlink()
    failed = run("feed", "build", expect=1)
    assert "ett: episodes/ett/ett.mp3 changed since it was measured" in failed.stderr
    assert "outreach episode normalize ett" in failed.stderr
    assert _feed(show) == good  # the last good feed stays
    assert (show.feeds_dir / "nyhetsbrev.xml").is_file()  # the other feeds are still written

    with session_scope(show) as session:
        episode = session.scalars(select(Episode).where(Episode.slug == "ett")).one()
        episode.byte_size = mp3.stat().st_size
        episode.true_peak_dbtp = 3.2
    failed = run("feed", "build", expect=1)
    assert "ett: stored true peak" in failed.stderr, failed.stderr

    with session_scope(show) as session:
        episode = session.scalars(select(Episode).where(Episode.slug == "ett")).one()
        episode.true_peak_dbtp = -1.5
    (show.episodes_dir / "ett" / "ett.vtt").write_text("WEBVTT\n\n", encoding="utf-8")
    failed = run("feed", "build", expect=1)  # a public export no publish step wrote
    assert "ett: its transcript exports are stale" in failed.stderr, failed.stderr
    assert "outreach transcript publish ett" in failed.stderr
    run("transcript", "publish", "ett")  # no publishable version: the stray file goes
    run("feed", "build")

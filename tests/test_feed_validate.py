"""The validator on hand-written feeds: one good feed, then one broken thing at a time."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from PIL import Image

from outreach.feed.validate import Problem, errors_in, podcast_guid_for, validate_feed

from .helpers.feed_media import make_cover

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
COVER = "https://example.org/episodes/cover.png"

CHANNEL = f"""<title>Digitalsamtal</title>
<link>https://example.org/digitalsamtal/</link>
<description>Samtal om AI.</description>
<language>sv</language>
<atom:link href="https://example.org/feeds/podcast.xml" rel="self" type="application/rss+xml"/>
<itunes:image href="{COVER}"/>
<itunes:category text="Technology"/>
<itunes:explicit>false</itunes:explicit>
<itunes:author>AI Sweden</itunes:author>
<itunes:owner><itunes:name>AI Sweden</itunes:name><itunes:email>p@example.org</itunes:email></itunes:owner>
<itunes:type>episodic</itunes:type>
<podcast:guid>{podcast_guid_for("https://example.org/feeds/podcast.xml")}</podcast:guid>
<podcast:locked owner="p@example.org">yes</podcast:locked>
<podcast:medium>podcast</podcast:medium>
<podcast:person role="host">Jonatan Permert</podcast:person>"""

ITEM = """<item>
<title>Avsnitt {n}</title>
<link>https://example.org/digitalsamtal/avsnitt-{n}/</link>
<description><![CDATA[<p>Om AI.</p>]]></description>
<guid isPermaLink="false">guid-{n}</guid>
<pubDate>Wed, 26 Apr 2023 08:00:00 +0000</pubDate>
<enclosure url="https://example.org/episodes/e{n}/e{n}.mp3" length="12345" type="audio/mpeg"/>
<itunes:duration>1830</itunes:duration>
<itunes:episode>{n}</itunes:episode>
<itunes:episodeType>full</itunes:episodeType>
<podcast:transcript url="https://example.org/episodes/e{n}/e{n}.vtt" type="text/vtt" language="sv" rel="captions"/>
<podcast:chapters url="https://example.org/episodes/e{n}/chapters.json" type="application/json+chapters"/>
</item>"""

NAMESPACES = (
    f'xmlns:itunes="{ITUNES}" xmlns:podcast="{PODCAST}" xmlns:atom="http://www.w3.org/2005/Atom"'
)


def feed(channel: str = CHANNEL, items: str | None = None, namespaces: str = NAMESPACES) -> bytes:
    items = items if items is not None else ITEM.format(n=1) + ITEM.format(n=2)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" {namespaces}>'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


def _png(size: tuple[int, int], mode: str = "RGB", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "white").save(out, fmt)
    return out.getvalue()


@pytest.fixture(scope="module")
def good_cover(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_cover(tmp_path_factory.mktemp("img") / "c.png").read_bytes()


def problems_of(data: bytes, image: bytes | None = None) -> list[Problem]:
    return validate_feed(data, fetch=(lambda url: image) if image is not None else None)


def only(problems: list[Problem], element: str) -> list[Problem]:
    return [p for p in problems if p.element == element]


def test_the_good_feed_has_no_problem(good_cover: bytes) -> None:
    assert problems_of(feed(), good_cover) == []


def test_podcast_guid_matches_the_spec_example() -> None:
    # The example in the Podcasting 2.0 spec for <podcast:guid>.
    assert podcast_guid_for("https://podnews.net/rss/") == "9b024349-ccf0-5f69-a609-6b82873eab3c"
    assert uuid.UUID(podcast_guid_for("http://podnews.net/rss")).version == 5


@pytest.mark.parametrize(
    ("tag", "element"),
    [
        ("<title>Digitalsamtal</title>", "channel/title"),
        ("<description>Samtal om AI.</description>", "channel/description"),
        ("<language>sv</language>", "channel/language"),
        (f'<itunes:image href="{COVER}"/>', "channel/itunes:image"),
        ('<itunes:category text="Technology"/>', "channel/itunes:category"),
        ("<itunes:explicit>false</itunes:explicit>", "channel/itunes:explicit"),
    ],
)
def test_missing_required_channel_tags_are_errors(tag: str, element: str) -> None:
    problems = errors_in(problems_of(feed(CHANNEL.replace(tag, ""))))
    assert [p.element for p in problems] == [element]
    assert problems[0].fix


def test_missing_item_parts_and_no_items() -> None:
    item = ITEM.format(n=1)
    no_enclosure = item.replace(
        '<enclosure url="https://example.org/episodes/e1/e1.mp3" length="12345" type="audio/mpeg"/>',
        "",
    )
    no_title = item.replace("<title>Avsnitt 1</title>", "")
    problems = errors_in(problems_of(feed(items=no_enclosure + no_title.replace("guid-1", "g"))))
    assert {p.element for p in problems} == {"channel/item[1]/enclosure", "channel/item[2]/title"}
    empty = errors_in(problems_of(feed(items="")))
    assert [p.element for p in empty] == ["channel/item"]
    assert "at least one" in empty[0].message


@pytest.mark.parametrize(
    ("value", "severity"),
    [("true", None), ("yes", "warning"), ("clean", "warning"), ("maybe", "error"), ("", "error")],
)
def test_explicit_values(value: str, severity: str | None) -> None:
    channel = CHANNEL.replace(
        "<itunes:explicit>false</itunes:explicit>", f"<itunes:explicit>{value}</itunes:explicit>"
    )
    found = only(problems_of(feed(channel)), "channel/itunes:explicit")
    assert [p.severity for p in found] == ([severity] if severity else [])


@pytest.mark.parametrize(
    ("value", "severity"),
    [
        ("1830", None),
        ("30:30", "warning"),
        ("1:30:30", "warning"),
        ("1830.5", "warning"),
        ("30 min", "error"),
        ("1:75:00", "error"),
        ("-5", "error"),
    ],
)
def test_duration_format(value: str, severity: str | None) -> None:
    item = ITEM.format(n=1).replace("1830", value)
    found = only(problems_of(feed(items=item)), "channel/item[1]/itunes:duration")
    assert [p.severity for p in found] == ([severity] if severity else [])


def test_duplicate_and_empty_guids() -> None:
    items = ITEM.format(n=1) + ITEM.format(n=1) + ITEM.format(n=3).replace("guid-3", " ")
    problems = problems_of(feed(items=items))
    assert [(p.severity, p.element, p.message) for p in errors_in(problems)] == [
        ("error", "channel/item[2]/guid", "'guid-1' is also the GUID of channel/item[1]"),
    ]
    # Apple lists the GUID as recommended and falls back on the enclosure URL.
    missing = only(problems, "channel/item[3]/guid")
    assert [(p.severity, p.rule) for p in missing] == [("warning", "item-guid-missing")]
    duplicate_audio = only(problems, "channel/item[2]/enclosure")
    assert [(p.severity, p.rule) for p in duplicate_audio] == [("warning", "enclosure-duplicate")]


def test_guid_that_is_not_a_url_needs_ispermalink_false() -> None:
    item = ITEM.format(n=1).replace(' isPermaLink="false"', "")
    found = only(problems_of(feed(items=item)), "channel/item[1]/guid")
    assert [p.severity for p in found] == ["warning"]
    assert 'isPermaLink="false"' in found[0].fix


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ('length="12345" type="text/html"', "type 'text/html'"),
        ('type="audio/mpeg"', "length ''"),
        ('length="12 MB" type="audio/mpeg"', "length '12 MB'"),
    ],
)
def test_enclosure_type_and_length(attributes: str, message: str) -> None:
    item = ITEM.format(n=1).replace('length="12345" type="audio/mpeg"', attributes)
    found = errors_in(only(problems_of(feed(items=item)), "channel/item[1]/enclosure"))
    assert [message in p.message for p in found] == [True]


def test_non_ascii_urls() -> None:
    item = ITEM.format(n=1).replace("e1/e1.mp3", "e1/första.mp3")
    found = errors_in(problems_of(feed(items=item)))
    assert [p.element for p in found] == ["channel/item[1]/enclosure"]
    assert "non-ASCII" in found[0].message and "percent-encode" in found[0].fix
    transcript = ITEM.format(n=1).replace("e1/e1.vtt", "e1/så.vtt")
    found = errors_in(problems_of(feed(items=transcript)))
    assert [p.element for p in found] == ["channel/item[1]/podcast:transcript"]


def test_description_length_is_counted_in_bytes() -> None:
    fits = "å" * 2000  # 4000 bytes
    assert problems_of(feed(CHANNEL.replace("Samtal om AI.", fits))) == []
    too_long = CHANNEL.replace("Samtal om AI.", fits + "a")
    found = errors_in(problems_of(feed(too_long)))
    assert [(p.element, p.message) for p in found] == [
        ("channel/description", "4001 bytes long; Apple allows 4000")
    ]
    item = ITEM.format(n=1).replace("<p>Om AI.</p>", "<p>" + "x" * 4000 + "</p>")
    assert [p.element for p in errors_in(problems_of(feed(items=item)))] == [
        "channel/item[1]/description"
    ]


def test_description_html_apple_does_not_show_is_a_warning() -> None:
    item = ITEM.format(n=1).replace("<p>Om AI.</p>", "<h2>Om</h2><p><b>AI</b></p>")
    found = only(problems_of(feed(items=item)), "channel/item[1]/description")
    assert [(p.severity, p.message) for p in found] == [
        ("warning", "HTML Apple does not show: b, h2")
    ]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (_png((1400, 1000)), "not square"),
        (_png((1000, 1000)), "1400 to 3000"),
        (_png((3001, 3001)), "1400 to 3000"),
        (_png((1400, 1400), "CMYK", "JPEG"), "CMYK"),
        (_png((1400, 1400), fmt="GIF"), "not JPEG or PNG"),
        (b"not an image", "not a readable"),
    ],
)
def test_image_size_and_kind(image: bytes, message: str) -> None:
    found = errors_in(only(problems_of(feed(), image), "channel/itunes:image"))
    assert any(message in p.message for p in found), found
    assert "1400×1400" in found[0].fix


def test_image_that_cannot_be_fetched_is_a_warning() -> None:
    found = validate_feed(feed(), fetch=lambda url: None)
    assert [(p.severity, p.element) for p in found] == [("warning", "channel/itunes:image")]


def test_namespace_declarations() -> None:
    wrong_case = NAMESPACES.replace(ITUNES, "http://www.itunes.com/DTDs/Podcast-1.0.dtd")
    found = errors_in(problems_of(feed(namespaces=wrong_case)))
    assert "xmlns:itunes" in [p.element for p in found]
    old = NAMESPACES.replace(PODCAST, "http://podcastindex.org/namespace/1.0")
    assert "xmlns:podcast" in [p.element for p in errors_in(problems_of(feed(namespaces=old)))]
    github = NAMESPACES.replace(
        PODCAST, "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
    )
    # The spec makes the original GitHub URI identical to the podcastindex.org one.
    assert problems_of(feed(namespaces=github)) == []
    undeclared = NAMESPACES.replace(f'xmlns:podcast="{PODCAST}"', "")
    found = problems_of(feed(namespaces=undeclared))
    assert [p.element for p in found] == ["rss"]
    assert "Namespace prefix podcast" in found[0].message
    assert "declare the prefix" in found[0].message


def test_podcast_namespace_values() -> None:
    channel = (
        CHANNEL.replace(
            "<podcast:medium>podcast</podcast:medium>", "<podcast:medium>tv</podcast:medium>"
        )
        .replace(">yes</podcast:locked>", ">maybe</podcast:locked>")
        .replace("Jonatan Permert", "")
    )
    channel += '<podcast:funding url="https://example.org/stöd">Stöd</podcast:funding>'
    channel = channel.replace(
        podcast_guid_for("https://example.org/feeds/podcast.xml"), "not-a-uuid"
    )
    item = (
        ITEM.format(n=1)
        .replace('type="text/vtt" language="sv" rel="captions"', 'type="foo/bar" rel="subtitles"')
        .replace("application/json+chapters", "application/json")
    )
    found = {p.element for p in errors_in(problems_of(feed(channel, item)))}
    assert found == {
        "channel/podcast:guid",
        "channel/podcast:locked",
        "channel/podcast:funding",
        "channel/podcast:medium",
        "channel/podcast:person",
        "channel/item[1]/podcast:transcript",
        "channel/item[1]/podcast:chapters",
    }


def test_category_must_be_apples() -> None:
    channel = CHANNEL.replace(
        '<itunes:category text="Technology"/>',
        '<itunes:category text="Society &amp; Culture"><itunes:category text="Politics"/></itunes:category>',
    )
    found = errors_in(problems_of(feed(channel)))
    assert [p.element for p in found] == ["channel/itunes:category/itunes:category"]
    assert "Documentary" in found[0].fix
    bad = CHANNEL.replace('text="Technology"', 'text="Tech"')
    assert [p.message for p in errors_in(problems_of(feed(bad)))] == [
        "'Tech' is not an Apple Podcasts category"
    ]


def test_not_a_feed() -> None:
    assert [p.element for p in validate_feed(b"<html><body>hej</body></html>")] == ["rss"]
    assert "not well-formed" in validate_feed(b"<rss><channel>")[0].message


def test_problem_reads_as_one_line(tmp_path: Path) -> None:
    problem = Problem("error", "channel/title", "missing or empty", "add the show's title")
    assert str(problem) == "error: channel/title: missing or empty. Fix: add the show's title"


def _rules(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.severity, p.rule) for p in problems}


def test_the_old_github_namespace_gets_every_podcasting_check() -> None:
    github = NAMESPACES.replace(
        PODCAST, "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
    )
    channel = CHANNEL.replace(">yes</podcast:locked>", ">maybe</podcast:locked>")
    item = ITEM.format(n=1).replace('type="text/vtt"', 'type="foo/bar"')
    found = _rules(problems_of(feed(channel, item, namespaces=github)))
    assert ("error", "locked-invalid") in found
    assert ("error", "transcript-type-invalid") in found


def test_a_wrong_podcast_namespace_uri_is_an_error() -> None:
    wrong = NAMESPACES.replace(PODCAST, "https://podcastindex.org/namespace/2.0")
    found = errors_in(problems_of(feed(namespaces=wrong)))
    assert [(p.rule, p.element) for p in found] == [("namespace-podcast-wrong", "xmlns:podcast")]
    assert "apps ignore every podcast: tag" in found[0].message


def test_transcript_types_outside_the_spec_list_are_warnings() -> None:
    item = ITEM.format(n=1).replace('type="text/vtt"', 'type="application/srt"')
    found = only(problems_of(feed(items=item)), "channel/item[1]/podcast:transcript")
    assert [(p.severity, p.rule) for p in found] == [("warning", "transcript-type-unlisted")]


def test_enclosure_rules() -> None:
    mp3 = ITEM.format(n=1)
    items = (
        mp3.replace('type="audio/mpeg"', 'type="video/mp4"')
        + ITEM.format(n=2).replace(
            'length="12345" type="audio/mpeg"', 'length="0" type="audio/mp3"'
        )
        + ITEM.format(n=3).replace("e3/e3.mp3", "e1/e1.mp3")
    )
    problems = problems_of(feed(items=items))
    assert _rules(only(problems, "channel/item[1]/enclosure")) == {
        ("warning", "enclosure-type-extension")
    }
    assert _rules(only(problems, "channel/item[2]/enclosure")) == {
        ("warning", "enclosure-type-alias"),
        ("warning", "enclosure-length-zero"),
    }
    assert _rules(only(problems, "channel/item[3]/enclosure")) == {
        ("warning", "enclosure-duplicate")
    }
    assert errors_in(problems) == []


def test_serial_show_without_episode_numbers() -> None:
    serial = CHANNEL.replace(">episodic<", ">serial<")
    item = ITEM.format(n=1).replace("<itunes:episode>1</itunes:episode>", "")
    found = only(problems_of(feed(serial, item + ITEM.format(n=2))), "channel/itunes:type")
    assert [(p.severity, p.rule) for p in found] == [("warning", "serial-episode-numbers")]
    assert "1 episode(s)" in found[0].message


def test_apple_title_limit_and_missing_link() -> None:
    item = (
        ITEM.format(n=1)
        .replace("Avsnitt 1", "x" * 256)
        .replace("<link>https://example.org/digitalsamtal/avsnitt-1/</link>", "")
    )
    problems = problems_of(feed(items=item))
    assert _rules(only(problems, "channel/item[1]/title")) == {("error", "title-too-long")}
    assert _rules(only(problems, "channel/item[1]/link")) == {("warning", "item-link-missing")}
    fits = ITEM.format(n=1).replace("Avsnitt 1", "x" * 255)
    assert only(problems_of(feed(items=fits)), "channel/item[1]/title") == []


def test_person_roles_follow_the_podcast_taxonomy() -> None:
    channel = CHANNEL.replace(
        '<podcast:person role="host">Jonatan Permert</podcast:person>',
        '<podcast:person role="superstar">A</podcast:person>'
        '<podcast:person role="Producer" group="Creative Direction">B</podcast:person>'
        '<podcast:person role="composer">C</podcast:person>'
        '<podcast:person group="band">D</podcast:person>',
    )
    found = only(problems_of(feed(channel)), "channel/podcast:person")
    assert [(p.severity, p.rule) for p in found] == [("warning", "person-taxonomy")] * 3
    assert 'role="superstar"' in found[0].message
    assert 'group="audio post-production"' in found[1].fix
    assert 'group="band"' in found[2].message


def test_suggestions_use_the_feeds_own_values() -> None:
    channel = CHANNEL.replace("<language>sv</language>", "<language>en_US</language>").replace(
        'text="Technology"', 'text="Technolgy"'
    )
    problems = problems_of(feed(channel))
    language = only(problems, "channel/language")
    assert language[0].fix == "use en-US"
    category = only(problems, "channel/itunes:category")
    assert category[0].fix == 'use text="Technology"'
    english = CHANNEL.replace("<language>sv</language>", "<language>en</language>")
    item = ITEM.format(n=1).replace('language="sv"', 'language="english"')
    found = only(problems_of(feed(english, item)), "channel/item[1]/podcast:transcript")
    assert found[0].fix == "use e.g. en"


def test_problems_as_json() -> None:
    problem = Problem("warning", "channel/link", "missing", "add it", "link-missing")
    assert problem.as_json() == {
        "level": "warning",
        "rule": "link-missing",
        "where": "channel/link",
        "message": "missing",
        "fix": "add it",
    }

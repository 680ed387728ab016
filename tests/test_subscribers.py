"""The subscribers core: address normalisation, segments (stored several per person, migrated from
one), the recipient query editions use, the queue's claims, and erase reaching queued sign-ups."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import create_engine, func, select, text

from outreach.addresses import normalize_email
from outreach.db import _alembic_config, session_scope
from outreach.errors import ValidationError
from outreach.models import Subscriber, SubscriberMail, utcnow
from outreach.subscribers import queue, store
from outreach.subscribers.fields import normalize_segments, strip_controls
from outreach.workspace import Workspace

from .conftest import REPO, Runner

ADDRESSES = [
    "Anna.Berg@Example.SE",
    "a+tag@kommun.se",
    "o'brien@example.org",
    "x@sub.domain.example.com",
    "first.last@xn--rksmrgs-5wao1o.se",
    "räksmörgås@example.se",
    "a@räksmörgås.se",
    "a@ab--c.se",
    "ab--c@x.se",
    "a@b.test",
    "a@b.local",
    "a@localhost",
    "a@b.c0m",
    "a@b.co",
    ".a@b.se",
    "a.@b.se",
    "a..b@b.se",
    "a@-b.se",
    "a@b-.se",
    "a@b_c.se",
    "a@1.2.3.4",
    "a@[127.0.0.1]",
    '"quoted"@example.se',
    "x" * 64 + "@example.se",
    "x" * 65 + "@example.se",
    "a@" + "b" * 63 + ".se",
    "a@" + "b" * 64 + ".se",
    "a@" + ("b" * 60 + ".") * 4 + "se",
    "a@example",
    "a@example.s",
    "A@EXAMPLE.SE",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_fast_path_agrees_with_email_validator(address: str) -> None:
    """The import's shortcut for plain addresses must give exactly the full validator's answer."""
    try:
        expected: str | None = validate_email(address, check_deliverability=False).normalized
        expected = expected.lower()
    except EmailNotValidError:
        expected = None
    try:
        got: str | None = normalize_email(address)
    except ValidationError:
        got = None
    assert got == expected


def test_control_characters_are_stripped_and_lines_kept_only_on_request() -> None:
    raw = "a\x00b\x1b[2Jc\td\ne\x7f\x85f\x9b"
    assert strip_controls(raw) == "ab[2Jcdef"
    assert strip_controls(raw, keep_lines=True) == "ab[2Jc\td\nef"
    assert normalize_email(" anna\x00@example.se\x1b ") == "anna@example.se"


def test_segments_from_keys_labels_aliases_and_lists() -> None:
    allowed = {"kommun": "Kommun eller region", "skola": "Skola"}
    assert normalize_segments("Kommun eller region; skola", allowed) == ["kommun", "skola"]
    assert normalize_segments(["kommuner", "SKOLA", "kommun"], allowed) == ["kommun", "skola"]
    assert normalize_segments(None, allowed) == [] and normalize_segments(" , ", allowed) == []
    with pytest.raises(ValidationError, match="unknown segment 'other' \\(use kommun, skola\\)"):
        normalize_segments("other", allowed)  # an alias of a segment this workspace lacks


def test_editions_go_to_anyone_in_one_of_their_segments(workspace: Workspace) -> None:
    with session_scope(workspace) as s:
        for address, segments in (
            ("kommun@example.se", "kommun"),
            ("annat@example.se", "annat"),
            ("both@example.se", "kommun, annat"),
            ("none@example.se", None),
        ):
            store.add_subscriber(s, address, segments=segments, confirmed=True)
        store.add_subscriber(s, "pending@example.se", segments="annat")

        def emails(*segments: str) -> list[str | None]:
            ids = s.scalars(store.recipients_query(segments)).all()
            return [s.get(Subscriber, i).email for i in ids]  # type: ignore[union-attr]

        assert emails("annat") == ["annat@example.se", "both@example.se"]
        assert emails("annat", "kommun") == [
            "kommun@example.se",
            "annat@example.se",
            "both@example.se",
        ]
        assert len(emails()) == 4


def test_old_single_segments_migrate_to_the_new_table(tmp_path: pytest.TempPathFactory) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path}/old.db"  # type: ignore[operator]
    engine = create_engine(url)
    config = _alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.execute(
            text(
                "INSERT INTO subscribers (email, name, organisation, segment, language, status, "
                "created_at, updated_at) VALUES "
                "('a@example.se', 'A', NULL, 'kommun', 'sv', 'confirmed', '2025-01-01', '2025-01-01'),"
                "('b@example.se', 'B', NULL, NULL, 'sv', 'confirmed', '2025-01-01', '2025-01-01')"
            )
        )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with session_scope(url) as s:
        rows = {sub.email: sub.segments for sub in s.scalars(select(Subscriber))}
    assert rows == {"a@example.se": ["kommun"], "b@example.se": []}
    with sqlite3.connect(f"{tmp_path}/old.db") as conn:  # type: ignore[operator]
        columns = [row[1] for row in conn.execute("pragma table_info(subscribers)")]
    assert "segment" not in columns


def test_two_workers_never_claim_the_same_row(workspace: Workspace) -> None:
    with session_scope(workspace) as s:
        for i in range(5):
            queue.request_subscription(s, f"p{i}@example.se")
    with session_scope(workspace) as first, session_scope(workspace) as second:
        a = queue.claim_due(first, 3)
        b = queue.claim_due(second, 10)
    assert len(a) == 3 and len(b) == 2
    assert not {m.id for m in a} & {m.id for m in b}
    # A claim whose sender died is queued again once its lease is over.
    later = utcnow() + queue.LEASE + dt.timedelta(seconds=1)
    with session_scope(workspace) as s:
        assert len(queue.claim_due(s, 10, now=later)) == 5


def test_erase_removes_a_queued_sign_up_with_its_form_fields(workspace: Workspace) -> None:
    with session_scope(workspace) as s:
        store.add_subscriber(s, "gone@example.se", name="Gunnel", confirmed=True)
        queue.request_subscription(s, "gone@example.se", name="Gunnel Ek")
    with session_scope(workspace) as s:
        store.erase_subscriber(s, "gone@example.se")
    with session_scope(workspace) as s:
        assert s.scalar(select(func.count()).select_from(SubscriberMail)) == 0


def test_the_newsletter_footer_shows_contact_and_privacy(
    workspace: Workspace, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 12: a public body's mails link the privacy notice and name a contact."""
    slug = "2023-04-26"
    monkeypatch.setenv("OUTREACH_WEB_PRIVACY_URL", "https://example.org/integritet")
    monkeypatch.setenv("OUTREACH_NEWSLETTER_CONTACT_ADDRESS", "redaktionen@example.org")
    run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
    folder = workspace.newsletters_dir / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "intro.md").write_text(
        (REPO / "newsletters" / slug / "intro.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    run("newsletter", "compose", slug)
    text = (folder / "email.txt").read_text(encoding="utf-8")
    html = (folder / "email.html").read_text(encoding="utf-8")
    assert "Frågor? Skriv till redaktionen@example.org" in text
    assert "Så hanterar vi personuppgifter: https://example.org/integritet" in text
    assert 'href="mailto:redaktionen@example.org"' in html
    assert 'href="https://example.org/integritet"' in html

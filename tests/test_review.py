"""Guest review: links, the page without JavaScript (Flask test client), edits, conflicts, commands."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outreach import tokens
from outreach.db import session_scope
from outreach.models import Episode, ReviewDecision, ReviewRequest, Transcript
from outreach.podcast import transcripts
from outreach.review import merge as review
from outreach.web import create_app
from outreach.workspace import Workspace

from .conftest import TEST_KEY, Runner
from .helpers.review import ANNA, BO, add_review_episode
from .helpers.web import csrf_from

XSS = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
LINK = re.compile(r"http://\S+/granska/(\S+)")


@pytest.fixture
def app(workspace: Workspace) -> Flask:
    return create_app(workspace)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def episode(workspace: Workspace) -> dict[str, Any]:
    return add_review_episode(workspace)


def outbox(workspace: Workspace) -> list[email.message.EmailMessage]:
    folder = workspace.root / "newsletters" / "outbox"
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def tokens_by_guest(workspace: Workspace) -> dict[str, str]:
    found: dict[str, str] = {}
    for message in outbox(workspace):
        body = message.get_body(("plain",))
        assert body is not None
        match = LINK.search(body.get_content())
        assert match, body.get_content()
        found[str(message["To"].addresses[0].addr_spec)] = match.group(1)
    return found


@pytest.fixture
def links(workspace: Workspace, episode: dict[str, Any], run: Runner) -> dict[str, str]:
    run("review", "request", "samtal-1")
    return tokens_by_guest(workspace)


def versions(workspace: Workspace, slug: str = "samtal-1") -> list[Transcript]:
    with session_scope(workspace) as s:
        ep = s.scalar(select(Episode).where(Episode.slug == slug))
        assert ep is not None
        return transcripts.list_versions(s, ep)


def form_of(client: FlaskClient, token: str) -> tuple[str, dict[str, str]]:
    page = client.get(f"/granska/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    base = re.search(r'name="base_version" value="(\d+)"', html)
    assert base
    return html, {"csrf_token": csrf_from(html), "base_version": base.group(1)}


def post(client: FlaskClient, token: str, fields: dict[str, str], **extra: str) -> Any:
    return client.post(f"/granska/{token}", data={**fields, **extra})


def status_rows(run: Runner) -> dict[str, list[str]]:
    lines = run("review", "status", "samtal-1").output.strip().splitlines()
    return {line.split("\t")[1]: line.split("\t") for line in lines[1:]}


# --- Requests and status ----------------------------------------------------------------------


def test_request_mails_each_guest_a_swedish_link(
    workspace: Workspace, episode: dict[str, Any], run: Runner
) -> None:
    rows = status_rows(run)
    assert rows[ANNA[1]][2] == "not sent" and rows[BO[1]][2] == "not sent"
    assert "No guest has suggested changes" in run("review", "diff", "samtal-1").output
    result = run("review", "request", "samtal-1")
    assert "Sent review link to Anna Andersson <anna@example.se>" in result.output
    assert "guests cannot reach" in result.stderr  # public_url is 127.0.0.1 in tests
    messages = outbox(workspace)
    assert len(messages) == 2
    message = messages[0]
    assert message["Subject"] == "Granska ditt transkript: AI i kommunen"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hej " in text and "Länken gäller till och med" in text
    assert set(tokens_by_guest(workspace)) == {ANNA[1], BO[1]}
    rows = status_rows(run)
    assert rows[ANNA[1]][2] == "sent" and rows[ANNA[1]][3] == "live"
    # Again: nobody gets a second mail; --guest sends a fresh link and kills the old one.
    again = run("review", "request", "samtal-1")
    assert "already has a live link" in again.stderr and len(outbox(workspace)) == 2
    old = tokens_by_guest(workspace)[ANNA[1]]
    run("review", "request", "samtal-1", "--guest", "ANNA@example.se")
    assert len(outbox(workspace)) == 3
    app = create_app(workspace)
    client = app.test_client()
    assert client.get(f"/granska/{old}").status_code == 410
    assert client.get(f"/granska/{tokens_by_guest(workspace)[ANNA[1]]}").status_code == 200


def test_request_errors_are_one_line(workspace: Workspace, run: Runner) -> None:
    result = run("review", "request", "finns-inte", expect=1)
    assert result.stderr.startswith("Error: no episode 'finns-inte'")
    with session_scope(workspace) as s:
        s.add(Episode(guid="g-empty", slug="tomt", title="Tomt"))
    assert "has no transcript" in run("review", "request", "tomt", expect=1).stderr
    add_review_episode(workspace)
    result = run("review", "request", "samtal-1", "--guest", "okand@example.se", expect=1)
    assert "no guest with the address okand@example.se" in result.stderr
    assert "Traceback" not in result.output


def test_request_refused_when_review_is_off(
    workspace: Workspace, episode: dict[str, Any], run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_REVIEW_ENABLED", "false")
    assert "switched off" in run("review", "request", "samtal-1", expect=1).stderr
    assert outbox(workspace) == []


# --- The page without JavaScript --------------------------------------------------------------


def test_page_shows_transcript_audio_and_only_own_fields(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    token = links[ANNA[1]]
    response = client.get(f"/granska/{token}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert "Granska transkriptet: AI i kommunen" in html
    assert f'src="/granska/{token}/ljud"' in html
    # Segments carry their times; words are text, with their timings in one JSON block (player.js
    # makes them clickable), and uncertain words are marked in the markup itself.
    assert 'id="segment-0" data-start="0.30" data-end="2.00">Welcome to the podcast.</span>' in html
    assert 'class="word' not in html
    assert re.search(r'<span class="uncertain">municipalities<span class="visually-hidden">', html)
    block = re.search(r'<script type="application/json" id="word-times">(.*?)</script>', html)
    assert block is not None
    assert [len(t) // 2 for t in json.loads(block.group(1))] == [4, 9, 13]
    # Anna's own segment (0) and the unlabelled one (2, single track), not Bo's (1).
    assert 'name="text-0"' in html and 'name="text-2"' in html and 'name="text-1"' not in html
    assert 'name="speaker-2"' in html and "Skicka ändringar" in html and "Godkänn" in html
    assert "Du kan ändra texten i det du själv sa" in html
    assert status_rows(run)[ANNA[1]][2] == "opened"
    with session_scope(workspace) as s:
        opened = s.scalars(select(ReviewRequest.opened_at)).all()
    assert sum(1 for o in opened if o) == 1
    audio = client.get(f"/granska/{token}/ljud", headers={"Range": "bytes=0-99"})
    assert audio.status_code == 206 and audio.headers["Content-Type"] == "audio/wav"
    assert audio.headers["Content-Range"].startswith("bytes 0-99/") and len(audio.data) == 100


def test_submit_edit_keeps_and_interpolates_timings(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    original = versions(workspace)[0].segments[0]["words"]
    response = post(
        client,
        token,
        fields,
        action="submit",
        **{
            "text-0": "Welcome  to the   Digitalsamtal podcast.",
            "text-2": versions(workspace)[0].segments[2]["text"],
        },
        comment="Heter så.",
    )
    assert response.status_code == 303 and "klart=sparat" in response.headers["Location"]
    v1, v2 = versions(workspace)
    assert v2.version == 2 and v2.parent_id == v1.id and v2.author == ANNA[1]
    words = v2.segments[0]["words"]
    assert [w["word"] for w in words] == ["Welcome", "to", "the", "Digitalsamtal", "podcast."]
    assert words[:3] == original[:3] and words[4]["start"] == original[3]["start"]
    new = words[3]
    assert original[2]["end"] <= new["start"] <= new["end"] <= original[3]["start"]
    assert v2.segments[0]["text"] == "Welcome to the Digitalsamtal podcast."
    assert v2.segments[1:] == v1.segments[1:]
    assert "+ Welcome to the Digitalsamtal podcast." in (v2.diff or "")
    assert status_rows(run)[ANNA[1]][2] == "changes suggested"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dina ändringar är sparade" in page and 'name="base_version" value="2"' in page
    diff = run("review", "diff", "samtal-1").output
    assert "changes → v2 (based on v1)" in diff and "comment: Heter så." in diff


def test_approve_saves_edits_then_approves(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    token = links[BO[1]]
    _, fields = form_of(client, token)
    response = post(client, token, fields, action="approve", **{"speaker-2": BO[0]})
    assert response.status_code == 303 and "klart=godkant" in response.headers["Location"]
    latest = versions(workspace)[-1]
    assert latest.version == 2 and latest.segments[2]["speaker"] == BO[0]
    assert status_rows(run)[BO[1]][2] == "approved"
    # Now labelled Bo's: Anna may no longer edit segment 2.
    html, _ = form_of(client, links[ANNA[1]])
    assert 'name="text-2"' not in html
    assert "approved v2" in run("review", "diff", "samtal-1").output


def test_comment_only_and_nothing_changed(
    workspace: Workspace, client: FlaskClient, links: dict[str, str]
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    assert "klart=inget" in post(client, token, fields).headers["Location"]
    response = post(client, token, fields, comment="Bra jobbat!")
    assert "klart=kommentar" in response.headers["Location"]
    assert len(versions(workspace)) == 1
    with session_scope(workspace) as s:
        decisions = s.scalars(select(ReviewDecision)).all()
    assert [(d.decision, d.comment) for d in decisions] == [("comment", "Bra jobbat!")]


def test_forged_fields_are_refused(
    workspace: Workspace, client: FlaskClient, links: dict[str, str]
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    for forged in (
        {"text-1": "Bo said something else."},  # Bo's segment
        {"text-99": "no such segment"},
        {"text-x": "bad name"},
        {"speaker-0": "Någon Annan"},  # not a person of the episode
        {"base_version": "7"},
        {"action": "delete"},
    ):
        response = post(client, token, {**fields, **forged})
        assert response.status_code in (400, 404), forged
        assert "<h1>" in response.get_data(as_text=True)
    assert len(versions(workspace)) == 1


def test_csrf_and_size_limit(
    workspace: Workspace,
    client: FlaskClient,
    links: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    no_csrf = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert post(client, token, no_csrf, **{"text-0": "Hej."}).status_code == 400
    assert (
        post(client, token, {**fields, "csrf_token": "forged"}, **{"text-0": "Hej."}).status_code
        == 400
    )
    fresh = create_app(workspace).test_client()  # another browser: its session has no nonce
    assert post(fresh, token, fields, **{"text-0": "Hej."}).status_code == 400
    limit = workspace.settings.review.max_submission_bytes
    big = post(client, token, fields, **{"text-0": "ord " * (limit // 4 + 10)})
    assert big.status_code == 413 and "för stort" in big.get_data(as_text=True)
    assert len(versions(workspace)) == 1


def test_xss_in_edits_names_and_titles_is_inert(
    workspace: Workspace, client: FlaskClient, run: Runner
) -> None:
    add_review_episode(workspace, "xss", title=XSS, guests=((XSS, "x@example.se"),))
    run("review", "request", "xss")
    token = tokens_by_guest(workspace)["x@example.se"]
    _, fields = form_of(client, token)
    assert post(client, token, fields, **{"text-2": f"Hej {XSS}"}).status_code == 303
    latest = versions(workspace, "xss")[-1]
    assert latest.segments[2]["text"] == f"Hej {XSS}"  # stored as the plain text typed
    html = client.get(f"/granska/{token}").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_stale_base_merges_other_segments_and_keeps_conflicts(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    anna, bo = links[ANNA[1]], links[BO[1]]
    bo_client = create_app(workspace).test_client()
    _, anna_fields = form_of(client, anna)
    _, bo_fields = form_of(bo_client, bo)  # both on v1
    anna_text = "Many municipalities want to start small."
    assert post(client, anna, anna_fields, **{"text-2": anna_text}).status_code == 303
    # Bo, still on v1: his own segment 1 merges cleanly; segment 2 collides with Anna's edit.
    bo_text = "Many municipalities want to begin small, with one clear problem."
    response = post(
        bo_client,
        bo,
        bo_fields,
        action="approve",
        comment="Se min ändring.",
        **{"text-1": "Today we talk about AI in local government.", "text-2": bo_text},
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Någon annan har ändrat samma ställen" in html
    assert f">{bo_text}</textarea>" in html  # his text is shown back to him
    assert 'name="base_version" value="3"' in html and "Se min ändring." in html
    v1, v2, v3 = versions(workspace)
    assert v3.parent_id == v2.id and v3.author == BO[1]
    assert v3.segments[1]["text"] == "Today we talk about AI in local government."
    assert v3.segments[2]["text"] == anna_text
    rows = status_rows(run)
    assert rows[BO[1]][2] == "changes suggested" and rows[BO[1]][8] == "1"
    diff = run("review", "diff", "samtal-1").output
    assert (
        "CONFLICT" in diff and f"proposed: {bo_text}" in diff and f"current:  {anna_text}" in diff
    )
    assert "segment 2: Anna Andersson, Bo Berg" in diff
    assert "1 conflicting guest edit(s)" in run("review", "accept", "samtal-1").stderr
    # Resubmitting from the shown form (now based on v3) applies his text.
    fields = {**bo_fields, "base_version": "3", "csrf_token": csrf_from(html)}
    assert post(bo_client, bo, fields, **{"text-2": bo_text}).status_code == 303
    assert versions(workspace)[-1].segments[2]["text"] == bo_text


# --- Links that must not open ----------------------------------------------------------------


def test_bad_tokens_get_swedish_4xx(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    token = links[ANNA[1]]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    other_purpose = tokens.make_token(
        TEST_KEY, tokens.UNSUBSCRIBE, {"r": 1, "e": 1, "p": 1, "n": "x"}
    )
    other_key = tokens.make_token("x" * 40, tokens.REVIEW, {"r": 1, "e": 1, "p": 1, "n": "x"})
    with session_scope(workspace) as s:
        request = s.scalars(select(ReviewRequest).order_by(ReviewRequest.id)).first()
        assert request is not None
        wrong_nonce = tokens.make_token(
            TEST_KEY,
            tokens.REVIEW,
            {"r": request.id, "e": request.episode_id, "p": request.person_id, "n": "guess"},
        )
    for bad in (tampered, other_purpose, other_key, wrong_nonce, "x"):
        for url in (f"/granska/{bad}", f"/granska/{bad}/ljud"):
            response = client.get(url)
            assert response.status_code == 400, url
            assert "Ogiltig länk" in response.get_data(as_text=True)
        # A submission on a bad link is refused before anything else (CSRF, the form) is read.
        posted = client.post(f"/granska/{bad}", data={"approve": "1"})
        assert posted.status_code == 400 and "Ogiltig länk" in posted.get_data(as_text=True)
    with session_scope(workspace) as s:
        for row in s.scalars(select(ReviewRequest)):
            if row.person_id == request.person_id:
                row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    expired = client.get(f"/granska/{token}")
    assert expired.status_code == 410 and "Länken har gått ut" in expired.get_data(as_text=True)
    bo = links[BO[1]]
    assert "Revoked 1 review link" in run("review", "revoke", "samtal-1", "--guest", BO[1]).output
    for url in (f"/granska/{bo}", f"/granska/{bo}/ljud"):
        revoked = client.get(url)
        assert revoked.status_code == 410 and "dragits tillbaka" in revoked.get_data(as_text=True)
    assert status_rows(run)[BO[1]][3] == "revoked"


def test_token_for_one_episode_opens_nothing_of_another(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    add_review_episode(workspace, "samtal-2", title="Ett annat avsnitt", tracks=2)
    run("review", "request", "samtal-2", "--guest", ANNA[1])
    second = [t for t in tokens_by_guest(workspace).values() if t not in links.values()]
    assert len(second) == 1
    first_page = client.get(f"/granska/{links[ANNA[1]]}").get_data(as_text=True)
    assert "AI i kommunen" in first_page and "Ett annat avsnitt" not in first_page
    # The second episode has two tracks and no mixed audio yet: nothing to play, no fallback.
    html, fields = form_of(client, second[0])
    assert "Ett annat avsnitt" in html and "Ljudet är inte klart" in html
    assert client.get(f"/granska/{second[0]}/ljud").status_code == 404
    # Multi-track: segments belong to their track's speaker, speakers are not settable.
    assert 'name="text-0"' in html and 'name="text-2"' not in html and "speaker-" not in html
    assert post(client, second[0], fields, **{"speaker-0": BO[0]}).status_code == 400
    # An edit through the second link changes the second episode only.
    assert post(client, second[0], fields, **{"text-0": "Welcome, everyone."}).status_code == 303
    assert len(versions(workspace, "samtal-2")) == 2 and len(versions(workspace)) == 1


def test_allow_editing_others(
    workspace: Workspace, episode: dict[str, Any], run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTREACH_REVIEW_ALLOW_EDITING_OTHERS", "true")
    run("review", "request", "samtal-1")
    from outreach.workspace import open_workspace

    client = create_app(open_workspace(workspace.root)).test_client()
    html, _ = form_of(client, tokens_by_guest(workspace)[ANNA[1]])
    assert all(f'name="text-{i}"' in html for i in range(3))
    assert "det du själv sa" not in html


# --- Word timings -----------------------------------------------------------------------------


def segment(text: str, start: float = 10.0, end: float = 14.0) -> dict[str, Any]:
    tokens_ = text.split()
    step = (end - start) / len(tokens_)
    words = [
        {"start": start + i * step, "end": start + (i + 1) * step, "word": t, "probability": 0.9}
        for i, t in enumerate(tokens_)
    ]
    return {"id": 0, "start": start, "end": end, "speaker": None, "text": text, "words": words}


def test_retime_words() -> None:
    seg = segment("a b c d")  # 10-11, 11-12, 12-13, 13-14
    same = review.retime_words(seg, "a b c d")
    assert same == seg["words"]
    replaced = review.retime_words(seg, "a X Y d")
    assert replaced[0] == seg["words"][0] and replaced[3] == seg["words"][3]
    assert replaced[1]["start"] == 11.0 and replaced[2]["end"] == 13.0
    assert replaced[1]["end"] == replaced[2]["start"] and replaced[1]["probability"] == 1.0
    front = review.retime_words(segment("a b", 10.5, 12.0) | {"start": 10.0}, "new a b")
    assert front[0]["start"] == 10.0 and front[0]["end"] <= 10.5
    back = review.retime_words(segment("a b") | {"end": 15.0}, "a b tail")
    assert 14.0 <= back[2]["start"] <= back[2]["end"] <= 15.0
    deleted = review.retime_words(seg, "a d")
    assert deleted == [seg["words"][0], seg["words"][3]]
    empty = review.retime_words({"start": 1.0, "end": 2.0, "words": []}, "två ord")
    assert empty[0]["start"] == 1.0 and empty[-1]["end"] == 2.0
    assert review.clean_text("a\x00b\tc\n d") == "a b c d"


# --- Staff: accept ----------------------------------------------------------------------------


def test_accept_makes_a_version_publishable(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    post(client, token, fields, **{"text-0": "Welcome to our podcast."})
    result = run("review", "accept", "samtal-1", "--version", "1")
    assert "Accepted version 1 of samtal-1." in result.output
    with session_scope(workspace) as s:
        ep = s.scalar(select(Episode).where(Episode.slug == "samtal-1"))
        assert ep is not None
        published = transcripts.publishable_version(s, ep, review_enabled=True)
        assert published is not None and published.version == 1
    public = workspace.episodes_dir / "samtal-1" / "samtal-1.txt"
    assert "Welcome to our podcast." not in public.read_text(encoding="utf-8")
    run("review", "accept", "samtal-1")
    assert [v.accepted_at is not None for v in versions(workspace)] == [False, True]
    # Accepting writes the accepted version's exports where the feed and `serve` read them.
    assert "Welcome to our podcast." in public.read_text(encoding="utf-8")
    assert (workspace.episodes_dir / "samtal-1" / "samtal-1.vtt").is_file()
    assert "accepted v2" in run("review", "diff", "samtal-1").output
    assert (
        "no transcript version 9"
        in run("review", "accept", "samtal-1", "--version", "9", expect=1).stderr
    )
    assert (
        "no guest"
        in run("review", "revoke", "samtal-1", "--guest", "z@example.se", expect=1).stderr
    )


def test_a_failing_guest_does_not_stop_the_others(workspace: Workspace, run: Runner) -> None:
    add_review_episode(workspace, guests=(("Cia", "cia@"), ANNA))
    result = run("review", "request", "samtal-1", expect=1)
    assert "Sent review link to Anna Andersson" in result.output
    assert result.stderr.endswith(
        "Error: 1 review mail(s) not sent: Cia: unusable address 'cia@'\n"
    )
    assert list(tokens_by_guest(workspace)) == [ANNA[1]]
    with session_scope(workspace) as s:
        assert [r.state for r in s.scalars(select(ReviewRequest))] == ["sent"]
    rows = status_rows(run)
    assert rows["cia@"][2] == "not sent" and rows[ANNA[1]][2] == "sent"


def test_unknown_speaker_labels_survive_the_form(
    workspace: Workspace, client: FlaskClient, links: dict[str, str]
) -> None:
    with session_scope(workspace) as s:
        transcript = s.scalars(select(Transcript)).one()
        segments = [dict(seg) for seg in transcript.segments]
        segments[0]["speaker"] = "anna andersson"  # other spelling of a known name
        transcript.segments = segments
    html, fields = form_of(client, links[ANNA[1]])
    assert '<option value="Anna Andersson" selected>' in html
    form = dict(re.findall(r'name="(text-\d+)"[^>]*>([^<]*)</textarea>', html))
    assert set(form) == {"text-0", "text-2"}
    response = post(client, links[ANNA[1]], fields, **form, **{"speaker-0": "Anna Andersson"})
    assert "klart=inget" in response.headers["Location"]
    assert len(versions(workspace)) == 1


def test_page_left_open_too_long_gives_the_text_back(
    workspace: Workspace, app: Flask, client: FlaskClient, links: dict[str, str]
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    app.config["CSRF_MAX_AGE_SECONDS"] = -1  # every token is now too old
    typed = {"text-0": "Welcome to my podcast.", "comment": "Viktigt."}
    response = post(client, token, fields, **typed)  # no Origin header
    stale = client.post(
        f"/granska/{token}", data={**fields, **typed}, headers={"Origin": "http://localhost"}
    )
    assert stale.status_code == 400
    html = stale.get_data(as_text=True)
    assert "Sidan hade varit öppen för länge" in html
    assert ">Welcome to my podcast.</textarea>" in html and ">Viktigt.</textarea>" in html
    # Without a same-site Origin it is the plain CSRF refusal; either way nothing was stored.
    assert response.status_code == 400 and "Sidan hade varit" not in response.get_data(as_text=True)
    cross = client.post(
        f"/granska/{token}", data={**fields, **typed}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 400 and "Welcome to my podcast" not in cross.get_data(as_text=True)
    app.config["CSRF_MAX_AGE_SECONDS"] = 3600
    again = {**fields, "csrf_token": csrf_from(html)}
    assert post(client, token, again, **typed).status_code == 303
    assert versions(workspace)[-1].segments[0]["text"] == "Welcome to my podcast."


def test_simultaneous_save_is_retried_on_top_of_the_winner(
    workspace: Workspace,
    client: FlaskClient,
    links: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    real_create = transcripts.create_version
    raced: list[int] = []

    def create_after_a_rival(session: Any, episode: Episode, segments: Any, **kw: Any) -> Any:
        if not raced:  # another guest's save lands between our read and our write
            with session_scope(workspace) as other:
                rival = other.get_one(Episode, episode.id)
                head = transcripts.get_version(other, rival)
                changed = [dict(seg) for seg in head.segments]
                changed[1] = {**changed[1], "text": "Today we talk about AI.", "words": []}
                raced.append(real_create(other, rival, changed, author=BO[1], parent=head).version)
        return real_create(session, episode, segments, **kw)

    monkeypatch.setattr(transcripts, "create_version", create_after_a_rival)
    response = post(client, token, fields, **{"text-0": "Welcome to our podcast."})
    assert response.status_code == 303 and "klart=sammanfogat" in response.headers["Location"]
    v1, v2, v3 = versions(workspace)
    assert raced == [2] and v3.parent_id == v2.id and v3.author == ANNA[1]
    assert v3.segments[0]["text"] == "Welcome to our podcast."
    assert v3.segments[1]["text"] == "Today we talk about AI."


def test_with_episode_add_multitrack_mix_then_normalized_audio(
    workspace: Workspace, run: Runner, tmp_path: Any
) -> None:
    from .helpers.review import FIXTURES, make_segments

    wav = str(FIXTURES / "speech-en.wav")
    run(
        "episode", "add", wav, wav, "--mix", wav, "--title", "Två spår", "--slug", "tva-spar",
        "--host", "Karin Värd <karin@example.se>", "--guest", f"{ANNA[0]} <{ANNA[1]}>",
    )  # fmt: skip
    with session_scope(workspace) as s:
        episode = s.scalar(select(Episode).where(Episode.slug == "tva-spar"))
        assert episode is not None
        assert [t.speaker for t in episode.tracks] == ["Karin Värd", ANNA[0]]
        segments = make_segments()
        for seg, speaker in zip(segments, ["Karin Värd", ANNA[0], ANNA[0]], strict=True):
            seg["speaker"] = speaker
        transcripts.create_version(s, episode, segments, author="whisper")
    run("review", "request", "tva-spar")
    (token,) = tokens_by_guest(workspace).values()  # the host is not asked
    client = create_app(workspace).test_client()
    html, _ = form_of(client, token)
    assert 'name="text-0"' not in html and 'name="text-1"' in html and 'name="text-2"' in html
    assert "speaker-" not in html  # speakers come from the tracks
    mix = client.get(f"/granska/{token}/ljud")
    assert mix.status_code == 200 and mix.headers["Content-Type"] == "audio/wav"
    run("episode", "normalize", "tva-spar")
    mp3 = client.get(f"/granska/{token}/ljud", headers={"Range": "bytes=0-9"})
    assert mp3.status_code == 206 and mp3.headers["Content-Type"] == "audio/mpeg"
    assert mp3.data[:3] == b"ID3"
    # Still unpublished: the public media route does not serve it.
    assert client.get("/episodes/tva-spar/tva-spar.mp3").status_code == 404


def test_the_same_fix_by_two_guests_is_no_conflict(
    workspace: Workspace, client: FlaskClient, links: dict[str, str]
) -> None:
    bo_client = create_app(workspace).test_client()
    _, anna_fields = form_of(client, links[ANNA[1]])
    _, bo_fields = form_of(bo_client, links[BO[1]])
    fix = {"text-2": "Many municipalities want to start small, with one clear problem and data."}
    assert post(client, links[ANNA[1]], anna_fields, **fix).status_code == 303
    response = post(bo_client, links[BO[1]], bo_fields, **fix)
    assert response.status_code == 303 and "klart=inget" in response.headers["Location"]
    assert len(versions(workspace)) == 2
    with session_scope(workspace) as s:
        assert [d.decision for d in s.scalars(select(ReviewDecision))] == ["changes"]


def test_terminal_escapes_from_a_guest_never_reach_the_terminal(
    workspace: Workspace, client: FlaskClient, links: dict[str, str], run: Runner
) -> None:
    """A guest's text and comment with escape sequences (clear screen, retitle, the one-byte C1
    CSI) are stored without them, and `review diff` / `transcript show` print nothing raw."""
    token = links[ANNA[1]]
    _, fields = form_of(client, token)
    response = post(
        client,
        token,
        fields,
        action="submit",
        **{"text-0": "Hej\x1b[2J där\x9b31m \x1b]0;pwned\x07vänner"},
        comment="Rätta\x1b[1A namnet\x00 tack",
    )
    assert response.status_code == 303
    stored = versions(workspace)[-1].segments[0]["text"]
    assert not any(c in stored for c in "\x1b\x9b\x07\x00"), repr(stored)
    for output in (
        run("review", "diff", "samtal-1").output,
        run("transcript", "show", "samtal-1").output,
    ):
        assert not any(c in output for c in "\x1b\x9b\x07\x00"), repr(output)
    assert "Rätta" in run("review", "diff", "samtal-1").output

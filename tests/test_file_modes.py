"""Published files are readable by a web server running as another user (issue 15).

The atomic writer made every file 0600 (mkstemp) under a 022 umask, and `export-site` copied
the mode: a web server answered 403 for 10 of 17 exported files. Now files get 0666 less the
umask, except personal data (subscriber exports, the mail outbox), which stays 0600.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from outreach.db import session_scope
from outreach.podcast import episodes, transcripts
from outreach.workspace import Workspace

from .conftest import FIXTURES, Runner
from .helpers.feed_media import make_cover


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask_022")
def test_every_file_export_site_writes_is_0644(
    run: Runner, workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cover(workspace.episodes_dir / "cover.png")
    monkeypatch.setenv("OUTREACH_SHOW_CATEGORY", "Technology")
    monkeypatch.setenv("OUTREACH_REVIEW_ENABLED", "false")
    run("episode", "add", str(FIXTURES / "audio-speech.flac"), "--title", "Möte i Umeå")
    run("episode", "normalize", "mote-i-umea")
    with session_scope(workspace) as session:
        episode = episodes.get_episode(session, "mote-i-umea")
        words = [{"start": 0.5, "end": 1.0, "word": "Hej", "probability": 0.9}]
        segment = {"id": 0, "start": 0.5, "end": 1.0, "speaker": None, "text": "Hej"}
        transcripts.create_version(session, episode, [{**segment, "words": words}], author="test")
    run("transcript", "publish", "mote-i-umea")
    run("episode", "publish", "mote-i-umea")
    run("feed", "build")
    site = tmp_path / "site"
    run("export-site", str(site))
    files = sorted(p for p in site.rglob("*") if p.is_file())
    modes = {p.relative_to(site).as_posix(): oct(p.stat().st_mode & 0o777) for p in files}
    assert len(files) >= 10 and any(name.endswith(".vtt") for name in modes), modes
    assert any(name.endswith(".xml") for name in modes), modes
    assert {mode for mode in modes.values()} == {"0o644"}, modes


@pytest.mark.usefixtures("umask_022")
def test_personal_data_stays_private(run: Runner, tmp_path: Path) -> None:
    run("subscriber", "add", "anna@example.se", "--confirmed")
    output = tmp_path / "anna.json"
    run("subscriber", "export", "anna@example.se", "-o", str(output))
    assert output.stat().st_mode & 0o777 == 0o600

"""`newsletter send` asks before mailing everyone, and the pre-send checks (`newsletter check`).

The question is asked in a real terminal (a pseudo-terminal); the sends go to a real SMTP server.
"""

from __future__ import annotations

import os
import pty
import select as selectmodule
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from outreach.db import session_scope
from outreach.models import Delivery
from outreach.workspace import Workspace

from .conftest import REPO, Runner
from .smtp_sink import ScriptedHandler, SinkController

SLUG = "2023-04-26"


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    key = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    return key.read_text()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, dkim_key: str) -> None:
    """Settings a real sender would have: HTTPS, real domains, DKIM (no warnings)."""
    for name, value in {
        "OUTREACH_NEWSLETTER_PUBLIC_URL": "https://kraftsamling.se",
        "OUTREACH_NEWSLETTER_FROM_ADDRESS": "Kraftsamling <nyhetsbrev@kraftsamling.se>",
        "OUTREACH_NEWSLETTER_UNSUBSCRIBE_MAILTO": "avregistrera@kraftsamling.se",
        "OUTREACH_NEWSLETTER_LIST_ID": "nyhetsbrev.kraftsamling.se",
        "OUTREACH_MAIL_DKIM_SELECTOR": "nyhetsbrev",
        "OUTREACH_MAIL_DKIM_DOMAIN": "kraftsamling.se",
        "OUTREACH_DKIM_KEY": dkim_key,
    }.items():
        monkeypatch.setenv(name, value)


def _compose(workspace: Workspace, run: Runner, intro: str | None = None) -> None:
    run("content", "import", str(REPO / "newsletters" / "sample-content.yaml"))
    run("subscriber", "import", str(REPO / "newsletters" / "sample-subscribers.csv"), "--confirmed")
    folder = workspace.newsletters_dir / SLUG
    folder.mkdir(parents=True, exist_ok=True)
    source = REPO / "newsletters" / SLUG / "intro.md"
    (folder / "intro.md").write_text(
        intro if intro is not None else source.read_text(encoding="utf-8"), encoding="utf-8"
    )
    run("newsletter", "compose", SLUG)


def _deliveries(workspace: Workspace) -> int:
    with session_scope(workspace) as session:
        return int(session.scalar(select(func.count()).select_from(Delivery)) or 0)


def _in_terminal(workspace: Workspace, answer: str, *args: str) -> tuple[int, str]:
    """Run `outreach newsletter send` with a pseudo-terminal as stdin and stdout; answer once."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "outreach", "-w", str(workspace.root), "newsletter", "send", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    os.close(child)
    output = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = selectmodule.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
        if not answered and b"[y/N]" in output:
            os.write(main, answer.encode() + b"\r")
            answered = True
        if process.poll() is not None and not ready:
            break
    process.wait(timeout=60)
    os.close(main)
    return process.returncode, output.decode("utf-8", "replace")


def test_send_asks_in_a_terminal(
    workspace: Workspace,
    run: Runner,
    production: None,
    sink: tuple[ScriptedHandler, SinkController],
) -> None:
    handler, _ = sink
    _compose(workspace, run)
    code, output = _in_terminal(workspace, "n", SLUG)
    assert "Edition:    2023-04-26" in output and "Segment:    all" in output
    assert "Subject:    Kraftsamlingen: två utlysningar" in output
    assert "Recipients: 5" in output and "Skicka till 5 mottagare? [y/N]" in output
    assert code == 1 and handler.log == [] and _deliveries(workspace) == 0
    code, output = _in_terminal(workspace, "y", SLUG, "--segment", "kommun")
    assert "Segment:    kommun" in output and "Skicka till 2 mottagare? [y/N]" in output
    assert code == 0, output
    assert len(handler.log) == 2


def test_send_without_a_terminal_needs_yes(
    workspace: Workspace,
    run: Runner,
    production: None,
    sink: tuple[ScriptedHandler, SinkController],
) -> None:
    handler, _ = sink
    _compose(workspace, run)
    refused = run("newsletter", "send", SLUG, expect=1)
    assert refused.stderr.strip().splitlines() == [
        "Error: no terminal to ask in: pass --yes to confirm (nothing was sent)"
    ]
    assert handler.log == [] and _deliveries(workspace) == 0
    sent = run("newsletter", "send", SLUG, "--yes")
    assert "Recipients: 5" in sent.output and "recipients 5 = sent 5" in sent.output
    assert len(handler.log) == 5
    # A finished edition: nothing to ask about.
    assert "already sent" in run("newsletter", "send", SLUG).output


def test_placeholder_settings_are_warnings_that_need_yes(
    workspace: Workspace, run: Runner, sink: tuple[ScriptedHandler, SinkController]
) -> None:
    handler, _ = sink
    _compose(workspace, run)
    check = run("newsletter", "check", SLUG)
    lines = check.output.splitlines()
    assert any("public_url" in line and "not HTTPS" in line for line in lines)
    assert any("public_url" in line and "only opens on this machine" in line for line in lines)
    assert any("from_address" in line and "placeholder domain" in line for line in lines)
    assert any("unsubscribe_mailto" in line and "placeholder domain" in line for line in lines)
    assert any("DKIM is not configured" in line for line in lines)
    assert all(line.startswith("warning: ") for line in lines[:-1])
    assert "no errors, 5 warning(s)" in lines[-1]
    refused = run("newsletter", "send", SLUG, expect=1)
    assert "5 warning(s) above: fix them, or confirm with --yes" in refused.stderr
    assert handler.log == [] and _deliveries(workspace) == 0
    run("newsletter", "send", SLUG, "--yes")
    assert len(handler.log) == 5


BROKEN_INTRO = """# Kraftsamlingen i maj

Läs [rapporten](https:///rapport.pdf) och [anmälan](<https://exa mple.se/anmalan>).
Se också [programmet](https://www.ai.se/program med mellanslag).

Mer om detta: TODO lägg till länk.
"""


def test_broken_links_and_placeholders_are_errors(
    workspace: Workspace,
    run: Runner,
    production: None,
    sink: tuple[ScriptedHandler, SinkController],
) -> None:
    handler, _ = sink
    _compose(workspace, run, BROKEN_INTRO)
    check = run("newsletter", "check", SLUG, expect=1)
    output = check.output
    assert "link 'https:///rapport.pdf' has no host name" in output
    assert "link 'https://exa%20mple.se/anmalan' has a space in its host name" in output
    assert "a Markdown link did not become a link" in output and "programmet" in output
    assert "unfilled placeholder(s) in the HTML: TODO" in output
    assert "email.txt: unfilled placeholder(s) in the text: TODO" in output
    assert "error(s): fix them before sending 2023-04-26" in check.stderr
    refused = run("newsletter", "send", SLUG, "--yes", expect=1)
    assert "error(s) in the pre-send checks of 2023-04-26: nothing was sent" in refused.stderr
    test = run("newsletter", "test", SLUG, "--to", "redaktion@kraftsamling.se", expect=1)
    assert "nothing was sent" in test.stderr
    assert handler.log == [] and _deliveries(workspace) == 0


def test_a_content_link_with_a_space_is_an_error(
    workspace: Workspace, run: Runner, production: None, tmp_path: Path
) -> None:
    content = tmp_path / "content.yaml"
    content.write_text(
        "calls:\n  - title: Utlysning\n    url: https://www.vinnova.se/ utlysning\n"
        "    closes: 2023-05-30\n",
        encoding="utf-8",
    )
    run("content", "import", str(content))
    run("subscriber", "add", "anna@kommun.se", "--confirmed")
    run("newsletter", "compose", SLUG)
    output = run("newsletter", "check", SLUG, expect=1).output
    assert "link 'https://www.vinnova.se/ utlysning' has a space in it" in output


def test_a_connection_error_names_the_host(
    workspace: Workspace, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .smtp_sink import free_port

    _compose(workspace, run)
    port = free_port()  # nothing listens there
    monkeypatch.setenv("OUTREACH_MAIL_TRANSPORT", f"smtp://127.0.0.1:{port}?starttls=false")
    result = run("newsletter", "test", SLUG, "--to", "x@kommun.se", expect=1)
    assert f"x@kommun.se: NOT sent (cannot connect to 127.0.0.1:{port}: " in result.output
    assert "None" not in result.output


def test_the_archive_feed_carries_summary_and_content(workspace: Workspace, run: Runner) -> None:
    import feedparser

    _compose(workspace, run)
    run("newsletter", "send", SLUG, "--yes")
    run("feed", "build")
    atom = feedparser.parse((workspace.feeds_dir / "nyhetsbrev.xml").read_bytes())
    assert atom.bozo == 0
    (entry,) = atom.entries
    assert entry.summary.startswith("Här kommer en ny uppdatering om vad som hänt")
    assert entry.summary.endswith("Kraftsamling för AI i kommuner och civilsamhälle.")
    content = entry.content[0]
    assert content.type == "text/html"
    assert "Starta er AI-resa" in content.value and "Sista ansökningsdag" in content.value
    assert "@@" not in content.value and "/u/" not in content.value

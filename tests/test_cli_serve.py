"""`outreach serve` (waitress, --dev, the access log) and `outreach export-site`."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from outreach.db import session_scope
from outreach.models import Edition, Episode
from outreach.web.serving import redact
from outreach.workspace import Workspace

from .conftest import Runner
from .helpers.http import fetch
from .helpers.net import free_port
from .helpers.server import running_server


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
        "favicon.ico",
        "feeds/podcast.xml",
        "nyhetsbrev/2023-04-26/index.html",
        "nyhetsbrev/index.html",
        "sitemap.xml",
        "static/favicon.ico",
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


TOKEN = "eyJzIjoxfQ.Zx9KqA.abcdefghijklmnopqrstuvwxyz012345"


def _visit_token_links(base: str) -> str:
    server = ""
    for path in (
        f"/granska/{TOKEN}",
        f"/granska/{TOKEN}/ljud",
        f"/confirm/{TOKEN}",
        f"/bekrafta/{TOKEN}",
        f"/u/{TOKEN}",
        f"/nyhetsbrev/?token={TOKEN}&sida=2",
        f"/nyhetsbrev/?t={TOKEN}",
    ):
        reply = fetch(base, "GET", path)
        assert reply.status < 500, path
        server = reply.headers["Server"]
    return server


def _access_lines(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if '"GET ' in line]


def test_serve_runs_waitress_and_its_access_log_hides_tokens(
    workspace: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with running_server(workspace.root, env={"OUTREACH_WEB_THREADS": "3"}, output=log) as base:
        assert _visit_token_links(base) == "waitress"
        head = fetch(base, "HEAD", "/prenumerera")
        assert head.status == 200 and head.body == b""
        # We connect from 127.0.0.1, the default [web] trusted_proxy: its X-Forwarded-For counts.
        fetch(base, "GET", "/prenumerera/tack", {"X-Forwarded-For": "203.0.113.9"})
    text = log.read_text()
    assert re.search(r' 203\.0\.113\.9 "GET /prenumerera/tack HTTP/1\.1" 200', text), text
    assert "waitress, 3 threads" in text
    lines = _access_lines(log)
    assert len(lines) >= 7
    assert TOKEN not in text and TOKEN[:20] not in text
    assert any('"GET /granska/[dold]/ljud HTTP/1.1" 400' in line for line in lines), lines
    assert any("/u/[dold] " in line for line in lines)
    assert any("/bekrafta/[dold] " in line for line in lines)
    assert any("/nyhetsbrev/?token=[dold]&sida=2 " in line for line in lines)
    assert any("/nyhetsbrev/?t=[dold] " in line for line in lines)
    assert any('"HEAD /prenumerera HTTP/1.1" 200' in line for line in text.splitlines())


def test_serve_dev_runs_werkzeug_and_hides_tokens_too(workspace: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with running_server(workspace.root, extra_args=("--dev",), output=log) as base:
        assert _visit_token_links(base).startswith("Werkzeug/")
    text = log.read_text()
    assert "development server" in text
    assert len(_access_lines(log)) >= 7 and TOKEN not in text


def test_access_log_redaction_escapes_control_characters() -> None:
    assert redact("/u/abc.def", "") == "/u/[dold]"
    assert redact("/feeds/podcast.xml", "key=1&x=2") == "/feeds/podcast.xml?key=[dold]&x=2"
    assert redact("/a\x1b[2Jb") == "/a\\x1b[2Jb"


def _readme_nginx_location(upstream_port: int) -> str:
    """The `location / { ... }` block of the README's nginx example, pointed at our server."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = readme.split("```nginx\n", 1)[1].split("```", 1)[0]
    block = re.search(r"^\s*location / \{.*?^\s*\}", example, re.MULTILINE | re.DOTALL)
    assert block, example
    return block.group(0).replace("127.0.0.1:8000", f"127.0.0.1:{upstream_port}")


@contextlib.contextmanager
def _nginx(location: str, folder: Path) -> Iterator[str]:
    port = free_port()
    folder.mkdir()
    config = folder / "nginx.conf"
    config.write_text(
        f"master_process off;\ndaemon off;\npid {folder}/nginx.pid;\n"
        f"error_log {folder}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {folder}/{kind};\n" for kind in TEMP_PATHS)
        + f"  server {{\n    listen 127.0.0.1:{port};\n{location}\n  }}\n}}\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                fetch(base, "HEAD", "/feeds/podcast.xml")
                break
            except OSError:
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def test_readme_nginx_example_keeps_range_etag_and_head(
    workspace: Workspace, tmp_path: Path
) -> None:
    _content(workspace)
    audio = (workspace.episodes_dir / "avsnitt-1" / "avsnitt-1.mp3").read_bytes()
    with running_server(workspace.root) as upstream:
        location = _readme_nginx_location(int(upstream.rsplit(":", 1)[1]))
        with _nginx(location, tmp_path / "nginx") as proxy:
            direct = fetch(upstream, "GET", "/feeds/podcast.xml")
            gzip = {"Accept-Encoding": "gzip"}
            via = fetch(proxy, "GET", "/feeds/podcast.xml", gzip)
            assert via.status == 200 and via.body == direct.body
            assert via.headers["ETag"] == direct.headers["ETag"]
            assert via.headers["Server"].startswith("nginx")
            assert "Content-Encoding" not in via.headers
            etag = {"If-None-Match": direct.headers["ETag"]}
            assert fetch(proxy, "GET", "/feeds/podcast.xml", etag).status == 304
            mp3 = "/episodes/avsnitt-1/avsnitt-1.mp3"
            part = fetch(proxy, "GET", mp3, {"Range": "bytes=10-19", **gzip})
            assert part.status == 206 and part.body == audio[10:20]
            assert part.headers["Content-Range"] == f"bytes 10-19/{len(audio)}"
            whole = fetch(proxy, "GET", mp3, {"Range": "bytes=-99999"})
            assert whole.status == 206 and whole.body == audio
            assert fetch(proxy, "GET", mp3, {"Range": "items=0-5"}).body == audio
            head = fetch(proxy, "HEAD", "/prenumerera")
            assert head.status == 200 and head.body == b""


def test_serve_ignores_forwarded_headers_from_an_untrusted_client(
    workspace: Workspace, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    env = {"OUTREACH_WEB_TRUSTED_PROXY": "192.0.2.1"}
    with running_server(workspace.root, env=env, output=log) as base:
        fetch(base, "GET", "/prenumerera/tack", {"X-Forwarded-For": "203.0.113.9"})
    text = log.read_text()
    assert re.search(r' 127\.0\.0\.1 "GET /prenumerera/tack HTTP/1\.1" 200', text), text
    assert "203.0.113.9" not in text

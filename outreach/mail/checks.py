"""Pre-send checks of an edition and the mail settings: what would embarrass us in 10,000 inboxes.

Run by `newsletter check`, and before `newsletter send`, `test` and `schedule` (and by `run-due`
before a scheduled send). Errors stop a send; warnings are shown and need `--yes`.

Errors: a link that is not well-formed (`https:///x`, a space in the address, a relative link, a
Markdown link that did not become one), an unfilled placeholder (`@@field@@`, template syntax,
TODO/XXX/Lorem ipsum), HTML at or over the clip limit, no unsubscribe link, a public URL that is
not an absolute web address. Warnings: a public URL that is not HTTPS (RFC 8058 one-click needs
it) or that only this machine can open, From/Reply-To/unsubscribe addresses at placeholder
domains (example.org, .test, ...), DKIM not configured.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from email.utils import parseaddr
from html.parser import HTMLParser
from urllib.parse import urlsplit

from outreach.mail.signing import KEY_VARIABLE
from outreach.newsletter.edition import read_rendered
from outreach.newsletter.personalize import (
    SAMPLE_RECIPIENT,
    UNSUBSCRIBE_PLACEHOLDER,
    Recipient,
    html_size,
    personalize,
)
from outreach.secrets import read_secret
from outreach.workspace import Workspace

# RFC 2606 / RFC 6761 names that never reach anyone.
PLACEHOLDER_TLDS = ("example", "test", "invalid", "localhost", "local")
LEFTOVERS = re.compile(
    r"@@\w*@@|\{\{|\}\}|\{%|%\}|\bTODO\b|\bFIXME\b|\bXXX\b|[Ll]orem ipsum"
    r"|\[(?:LÄNK|LINK|NAMN|NAME|DATUM|DATE)\]",
)
MARKDOWN_LINK = re.compile(r"\[[^\]\n]+\]\([^)\n]*\)?")
HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    message: str


@dataclass
class CheckReport:
    slug: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def error(self, message: str) -> None:
        self.findings.append(Finding("error", message))

    def warning(self, message: str) -> None:
        self.findings.append(Finding("warning", message))


def check_edition(workspace: Workspace, slug: str) -> CheckReport:
    """Every check on the edition's files and on the settings its messages are sent with."""
    report = CheckReport(slug)
    check_settings(workspace, report)
    files = read_rendered(workspace, slug)
    max_bytes = workspace.settings.newsletter.max_html_bytes
    for language, html_text in files.html.items():
        where = f"{workspace.shown(files.stem(language))}.html"
        text = files.text[language]
        size = html_size(html_text)
        if size >= max_bytes:
            report.error(
                f"{where}: the HTML is {size:,} bytes; Gmail clips messages from {max_bytes:,} "
                "bytes ([newsletter] max_html_bytes)"
            )
        if f'href="{UNSUBSCRIBE_PLACEHOLDER}"' not in html_text:
            report.error(f"{where}: no unsubscribe link in the HTML")
        if UNSUBSCRIBE_PLACEHOLDER not in text:
            report.error(f"{where.removesuffix('.html')}.txt: no unsubscribe link in the text part")
        check_links(html_text, where, report)
        check_placeholders(files.subjects[language], html_text, text, language, where, report)
    return report


def check_settings(workspace: Workspace, report: CheckReport) -> None:
    """The public URL, the sender addresses and DKIM."""
    settings = workspace.settings.newsletter
    check_public_url(settings.public_url, report)
    addresses = [
        ("[newsletter] from_address", settings.from_address),
        ("[newsletter] reply_to", settings.reply_to),
        ("[newsletter] unsubscribe_mailto", settings.unsubscribe_mailto),
    ]
    for name, value in addresses:
        if value and is_placeholder_domain(_domain(value)):
            report.warning(
                f"{name} = {value!r} is at a placeholder domain: replies and unsubscribe mails "
                "reach nobody"
            )
    mail = workspace.settings.mail
    if not (mail.dkim_selector and mail.dkim_domain):
        report.warning(
            "DKIM is not configured ([mail] dkim_selector and dkim_domain): Gmail and Yahoo "
            "expect bulk mail to be signed"
        )
    elif read_secret(KEY_VARIABLE, workspace_root=workspace.root) is None:
        report.error(f"DKIM is configured but no key is set ({KEY_VARIABLE}_FILE)")


def check_public_url(url: str, report: CheckReport) -> None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        report.error(
            f"[newsletter] public_url = {url!r} is not an absolute web address "
            "(e.g. https://kraftsamling.se)"
        )
        return
    if is_local_host(parts.hostname):
        report.warning(
            f"[newsletter] public_url = {url!r} only opens on this machine: nobody can use the "
            "unsubscribe and archive links"
        )
    elif is_placeholder_domain(parts.hostname):
        report.warning(f"[newsletter] public_url = {url!r} is at a placeholder domain")
    if parts.scheme != "https":
        report.warning(
            f"[newsletter] public_url = {url!r} is not HTTPS: one-click unsubscribe (RFC 8058) "
            "requires HTTPS"
        )


def is_local_host(host: str) -> bool:
    """Loopback, private and link-local addresses, localhost and .local names."""
    host = host.lower().strip("[]")
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def is_placeholder_domain(domain: str) -> bool:
    """example.org, kommun.example.se, anything.test and the like (RFC 2606, RFC 6761)."""
    labels = domain.lower().rstrip(".").split(".")
    return "example" in labels or labels[-1] in PLACEHOLDER_TLDS


def _domain(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2]


class _Links(HTMLParser):
    """Collects the targets of <a href> and <img src> in rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"a": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value is not None:
                self.links.append(value)


def check_links(html_text: str, where: str, report: CheckReport) -> None:
    parser = _Links()
    parser.feed(html_text)
    seen: set[str] = set()
    for link in parser.links:
        if link in seen or link == UNSUBSCRIBE_PLACEHOLDER:
            continue
        seen.add(link)
        problem = link_problem(link)
        if problem:
            report.error(f"{where}: link {link!r} {problem}")


def link_problem(link: str) -> str | None:
    """Why a link in a mail would not work, or None."""
    if re.search(r"\s", link):
        return "has a space in it"
    parts = urlsplit(link)
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        local, _, domain = parts.path.partition("@")
        return None if local and _valid_host(domain) else "is not a mail address"
    if scheme == "tel":
        return None
    if not scheme:
        return "is not an absolute web address (mail clients cannot open relative links)"
    if scheme not in ("http", "https"):
        return f"is not a web, mail or phone link ({scheme}:)"
    try:
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return "has a malformed host or port"
    if not host:
        return "has no host name"
    if "%20" in parts.netloc:
        return "has a space in its host name"
    if not _valid_host(host):
        return "has a malformed host name"
    return None


def _valid_host(host: str) -> bool:
    host = host.rstrip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_host.split(".")
    return len(labels) >= 2 and all(HOST_LABEL.match(label) for label in labels)


def check_placeholders(
    subject: str, html_text: str, text: str, language: str, where: str, report: CheckReport
) -> None:
    """Filled for a sample reader, nothing placeholder-like may remain."""
    sample = Recipient(SAMPLE_RECIPIENT["name"], SAMPLE_RECIPIENT["email"], "https://x.se/u/t")
    parts = {
        "subject": subject,
        "HTML": personalize(html_text, sample, language, is_html=True),
        "text": personalize(text, sample, language, is_html=False),
    }
    text_where = where.removesuffix(".html") + ".txt"
    for part, filled in parts.items():
        found = sorted({m.group(0) for m in LEFTOVERS.finditer(filled)})
        if found:
            shown = text_where if part == "text" else where
            report.error(f"{shown}: unfilled placeholder(s) in the {part}: {', '.join(found)}")
    unparsed = MARKDOWN_LINK.search(parts["text"])
    if unparsed:
        report.error(
            f"{text_where}: a Markdown link did not become a link (a space in the address?): "
            f"{unparsed.group(0)}"
        )

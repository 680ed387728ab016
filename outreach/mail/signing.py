"""Optional DKIM signing (the one module that imports dkimpy).

Enabled when `[mail] dkim_selector` and `dkim_domain` are set; the private key (PEM) comes from the
environment only: `OUTREACH_DKIM_KEY_FILE` (a mode-600 file outside the workspace) or
`OUTREACH_DKIM_KEY`. The signature's `h=` covers both List-Unsubscribe headers, as RFC 8058 asks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from outreach.errors import ConfigError, MailError
from outreach.secrets import read_secret

if TYPE_CHECKING:
    from outreach.workspace import Workspace

KEY_VARIABLE = "OUTREACH_DKIM_KEY"
SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"reply-to",
    b"mime-version",
    b"content-type",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)


def make_signer(selector: str, domain: str, private_key_pem: bytes) -> Callable[[bytes], bytes]:
    """A function that prepends a DKIM-Signature (rsa-sha256, relaxed/simple) to a message."""
    import dkim

    selector_b, domain_b = selector.encode("ascii"), domain.encode("ascii")

    def sign(data: bytes) -> bytes:
        try:
            signature = dkim.sign(
                data,
                selector_b,
                domain_b,
                private_key_pem,
                canonicalize=(b"relaxed", b"simple"),
                include_headers=list(SIGNED_HEADERS),
            )
        except dkim.DKIMException as exc:
            raise MailError(f"DKIM signing failed: {exc}") from None
        return bytes(signature) + data

    # Fail now (a bad key) rather than on the first of ten thousand messages.
    sign(b"From: a@example.org\r\nSubject: probe\r\n\r\nprobe\r\n")
    return sign


def signer_from_settings(workspace: Workspace) -> Callable[[bytes], bytes] | None:
    settings = workspace.settings.mail
    key = read_secret(KEY_VARIABLE, workspace_root=workspace.root)
    if not (settings.dkim_selector or settings.dkim_domain):
        return None
    if not (settings.dkim_selector and settings.dkim_domain):
        raise ConfigError("DKIM needs both [mail] dkim_selector and dkim_domain")
    if not key:
        raise ConfigError(
            f"DKIM is configured but no key is set: export {KEY_VARIABLE}_FILE=/path/to/dkim.pem"
        )
    return make_signer(settings.dkim_selector, settings.dkim_domain, key.encode("ascii") + b"\n")

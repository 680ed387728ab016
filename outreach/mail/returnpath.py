"""The VERP return path: each delivery's envelope sender names that delivery, signed.

With `[mail] bounce_address = "bounces@kraftsamling.se"` the newsletter to one subscriber is sent
with `MAIL FROM:<bounces+<token>@kraftsamling.se>`, the token being the delivery's id signed with
the workspace key (`outreach.tokens`, purpose BOUNCE). Whatever the bounce looks like, the
receiving MTA addresses it to that envelope sender, so the bounce maps to exactly one delivery even
when its report is mangled or names a forwarding address. A forged or foreign token maps to nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from outreach import tokens
from outreach.errors import ConfigError, TokenError
from outreach.workspace import Workspace

# The token is URL-safe base64 and a dot: all legal in a local part (RFC 5321 atext).
_TOKEN = r"([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)"
MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1


def _split(bounce_address: str) -> tuple[str, str]:
    local, at, domain = bounce_address.strip().rpartition("@")
    if not at or not local or not domain or "+" in local or not bounce_address.isascii():
        raise ConfigError(
            f"[mail] bounce_address {bounce_address!r} must be a plain ASCII address without '+', "
            "e.g. bounces@kraftsamling.se"
        )
    return local, domain


def return_path(workspace: Workspace, key: str, delivery_id: int) -> str | None:
    """The envelope sender for one delivery, or None when `[mail] bounce_address` is not set."""
    bounce_address = workspace.settings.mail.bounce_address
    if not bounce_address:
        return None
    local, domain = _split(bounce_address)
    token = tokens.make_permanent_token(key, tokens.BOUNCE, delivery_id)
    verp_local = f"{local}+{token}"
    if len(verp_local) > MAX_LOCAL_PART:
        raise ConfigError(f"[mail] bounce_address local part {local!r} is too long for VERP")
    return f"{verp_local}@{domain}"


def _candidates(bounce_address: str, text: str) -> Iterator[str]:
    local, domain = _split(bounce_address)
    pattern = re.compile(
        rf"{re.escape(local)}\+{_TOKEN}@{re.escape(domain)}", re.IGNORECASE | re.ASCII
    )
    for match in pattern.finditer(text):
        yield match.group(1)


def delivery_from_text(workspace: Workspace, key: str, text: str) -> int | None:
    """The delivery id of the first validly signed VERP address anywhere in `text`, or None."""
    bounce_address = workspace.settings.mail.bounce_address
    if not bounce_address:
        return None
    for token in _candidates(bounce_address, text):
        try:
            value = tokens.read_permanent_token(key, tokens.BOUNCE, token)
        except TokenError:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None

"""The `[mail] transport` URL: `outbox:DIR`, `smtp://user@host:587`, `smtps://user@host:465`,
checked and split into its settings (the rules are in `outreach.mail.transport`'s docstring)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from outreach.errors import ConfigError

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
PASSWORD_VARIABLE = "OUTREACH_SMTP_PASSWORD"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    implicit_tls: bool
    starttls: Literal["required", "optional", "off"]
    user: str | None
    password: str | None
    timeout: float


def parse_transport_url(
    url: str, *, password: str | None, timeout: float
) -> tuple[Literal["outbox"], str] | tuple[Literal["smtp"], SmtpConfig]:
    """Split a transport URL into its kind and settings (see the module docstring)."""
    if url.startswith("outbox:"):
        directory = url.removeprefix("outbox:").removeprefix("//")
        if not directory:
            raise ConfigError(
                "mail transport 'outbox:' needs a folder, e.g. outbox:newsletters/outbox"
            )
        return "outbox", directory
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ConfigError(
            f"unknown mail transport {url!r} (use outbox:DIR, smtp://user@host:587 or "
            "smtps://user@host:465)"
        )
    if parts.password:
        raise ConfigError(
            f"do not put the SMTP password in the transport URL; set {PASSWORD_VARIABLE} instead"
        )
    host = parts.hostname
    if not host:
        raise ConfigError(f"mail transport {url!r} has no host")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"mail transport {url!r} has an invalid port") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    user = unquote(parts.username) if parts.username else None
    implicit_tls = parts.scheme == "smtps"
    loopback = host in LOOPBACK_HOSTS
    starttls: Literal["required", "optional", "off"]
    flag = query.get("starttls", "").lower()
    if flag in ("false", "0", "no", "off"):
        starttls = "off"
        if user and not loopback and not implicit_tls:
            raise ConfigError(
                "refusing ?starttls=false with a login on a non-local host: the password would be "
                "sent in clear text"
            )
    elif flag in ("", "true", "1", "yes", "on"):
        starttls = "optional" if (loopback and not flag) else "required"
    else:
        raise ConfigError(f"mail transport: starttls must be true or false, not {flag!r}")
    if "timeout" in query:
        try:
            timeout = float(query["timeout"])
        except ValueError:
            raise ConfigError(f"mail transport: bad timeout {query['timeout']!r}") from None
    if user and not password:
        raise ConfigError(
            f"the mail transport logs in as {user} but no password is set: export "
            f"{PASSWORD_VARIABLE} (or {PASSWORD_VARIABLE}_FILE)"
        )
    default_port = 465 if implicit_tls else (587 if user else 25)
    return "smtp", SmtpConfig(
        host=host,
        port=port or default_port,
        implicit_tls=implicit_tls,
        starttls=starttls,
        user=user,
        password=password if user else None,
        timeout=timeout,
    )

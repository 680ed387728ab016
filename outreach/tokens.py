"""Signed tokens for links in mail and pages (itsdangerous: HMAC, constant-time checks).

Each purpose has its own salt, so a token made for one purpose never opens another.
"""

from __future__ import annotations

import functools
from typing import Any

from itsdangerous import (
    BadSignature,
    Serializer,
    SignatureExpired,
    URLSafeSerializer,
    URLSafeTimedSerializer,
)
from itsdangerous.encoding import base64_encode

from outreach.errors import TokenError, TokenExpiredError

UNSUBSCRIBE = "outreach.unsubscribe"
CONFIRM = "outreach.confirm"
REVIEW = "outreach.review"
BOUNCE = "outreach.bounce"


def make_token(key: str, purpose: str, payload: Any) -> str:
    """Sign `payload` (JSON-serialisable) for `purpose`; the token carries its creation time."""
    return URLSafeTimedSerializer(key, salt=purpose).dumps(payload)


def read_token(key: str, purpose: str, token: str, max_age_seconds: int | None = None) -> Any:
    """Verify and decode a token; raise TokenError if it is tampered, foreign or expired."""
    serializer = URLSafeTimedSerializer(key, salt=purpose)
    try:
        return serializer.loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenExpiredError("the link has expired") from None
    except BadSignature:
        raise TokenError("the link is not valid") from None


class _UncompressedSerializer(URLSafeSerializer):
    """URLSafeSerializer without its zlib attempt: our payloads are a few dozen bytes, which do
    not compress, and setting zlib up costs more than the signature (the send loop signs one
    token per message). `URLSafeSerializer.loads` reads these tokens as any other."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@functools.lru_cache(maxsize=16)
def _permanent_serializer(key: str, purpose: str) -> URLSafeSerializer:
    return _UncompressedSerializer(key, salt=purpose)


def make_permanent_token(key: str, purpose: str, payload: Any) -> str:
    """A token without a timestamp (unsubscribe links must work in old mail forever)."""
    return str(_permanent_serializer(key, purpose).dumps(payload))


def read_permanent_token(key: str, purpose: str, token: str) -> Any:
    try:
        return URLSafeSerializer(key, salt=purpose).loads(token)
    except BadSignature:
        raise TokenError("the link is not valid") from None

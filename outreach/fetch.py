"""The one HTTP client: GET a URL into memory or stream it to a file, with timeouts and size limits.

http:// and https:// only; every failure is a one-line `FetchError` naming the URL.
"""

from __future__ import annotations

import contextlib
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from outreach.errors import FetchError
from outreach.fsutil import atomic_path

TIMEOUT = 15.0
MAX_BYTES = 50 * 1024 * 1024
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 4 * 1024**3
USER_AGENT = "outreach (+https://github.com/)"


def _request(url: str) -> urllib.request.Request:
    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"{url}: only http:// and https:// URLs can be fetched")
    return urllib.request.Request(url, headers={"User-Agent": USER_AGENT})


def fetch_url(url: str, timeout: float = TIMEOUT, limit: int = MAX_BYTES) -> bytes:
    """GET `url` into memory; a FetchError on any failure or past `limit` bytes."""
    request = _request(url)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(limit + 1)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{url}: cannot fetch it ({exc.reason})") from None
    except TimeoutError:
        raise FetchError(f"{url}: no answer within {timeout:g} s") from None
    except (OSError, ValueError) as exc:
        raise FetchError(f"{url}: cannot fetch it ({exc})") from None
    if len(data) > limit:
        raise FetchError(f"{url}: larger than {limit // (1024 * 1024)} MB")
    return data


def fetch_image(url: str) -> bytes | None:
    """An image over the network, or None when it cannot be fetched (callers report it)."""
    try:
        return fetch_url(url, limit=MAX_IMAGE_BYTES)
    except FetchError:
        return None


def download(
    url: str, target: Path, timeout: float = TIMEOUT, limit: int = MAX_DOWNLOAD_BYTES
) -> int:
    """Stream `url` to `target` atomically; the number of bytes written."""
    request = _request(url)
    written = 0
    try:
        with (
            urllib.request.urlopen(request, timeout=timeout) as response,
            atomic_path(target) as tmp,
            open(tmp, "wb") as out,
        ):
            while chunk := response.read(1024 * 1024):
                written += len(chunk)
                if written > limit:
                    raise FetchError(f"{url}: larger than {limit // 1024**2} MB")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: the server answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise FetchError(f"{url}: download failed ({getattr(exc, 'reason', exc)})") from None
    return written


def read_source(source: str) -> bytes:
    """The bytes of a URL (fetched with a timeout and a size limit) or of a local file."""
    if source.lower().startswith(("http://", "https://")):
        return fetch_url(source)
    path = Path(source)
    if not path.is_file():
        raise FetchError(f"{source}: no such file (give a file or an http(s) URL)")
    return path.read_bytes()


MAX_FEED_BYTES = 1024**3


@contextlib.contextmanager
def source_file(source: str) -> Iterator[Path]:
    """A local file with the bytes of `source` (a path, or a URL downloaded to a temporary
    file that is removed afterwards), so that large feeds can be streamed from disk."""
    if not source.lower().startswith(("http://", "https://")):
        path = Path(source)
        if not path.is_file():
            raise FetchError(f"{source}: no such file (give a file or an http(s) URL)")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="outreach-feed-") as folder:
        target = Path(folder) / "feed.xml"
        download(source, target, limit=MAX_FEED_BYTES)
        yield target

"""File helpers: atomic writes (a reader sees the old file or the new one, never half of one), and
the containment check for files we serve.

Files are written to a temporary file next to the target (mkstemp: mode 0600) and renamed over
it. What we write is mostly published (feeds, transcript exports, archive pages, the MP3), and
a web server running as another user must read it: the file gets the mode a plain `open` would
give (0666 less the umask, so 0644 under the usual 022). Personal data (subscriber exports,
mail in the outbox) asks for `private=True` and keeps 0600.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def public_mode() -> int:
    """0666 less the process's umask: the mode `open()` gives a new file."""
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii") as status,
    ):
        for line in status:
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)  # no /proc: read it by setting it (and set it back at once)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str | None = None, *, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path`, on error it is removed.

    The file ends with `public_mode()`, or 0600 when `private`, whatever wrote it (an ffmpeg or
    mutagen replacing the temporary file keeps its own mode otherwise).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        tmp.chmod(0o600 if private else public_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    with atomic_path(path, private=private) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str, *, private: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), private=private)


def file_inside(path: Path, folder: Path) -> bool:
    """True if `path` is a regular file whose real location is inside `folder` (no symlink escape)."""
    try:
        return path.is_file() and path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False

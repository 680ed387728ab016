"""Secrets come only from the environment or a mode-600 file outside the workspace.

`OUTREACH_SECRET_KEY` (token signing) and `OUTREACH_SMTP_PASSWORD`, or the same names with `_FILE`
pointing at a file readable only by its owner. `create_key_file` makes such a file for a new
workspace (`outreach init`).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from outreach.errors import ConfigError

MIN_KEY_LENGTH = 32


def read_secret(
    name: str, *, workspace_root: Path | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """The secret `name` from the environment, or from the file named by `name`_FILE."""
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    if value:
        return value
    file_name = environ.get(f"{name}_FILE")
    if not file_name:
        return None
    path = Path(file_name).expanduser().resolve()
    if workspace_root is not None and path.is_relative_to(workspace_root.resolve()):
        raise ConfigError(f"{name}_FILE must point outside the workspace ({path})")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        raise ConfigError(f"{name}_FILE: {path} must have mode 600 (chmod 600 {path})")
    text = path.read_text(encoding="utf-8").strip()
    return text or None


def secret_key(workspace_root: Path | None = None) -> str:
    """The token-signing key. Missing or short keys are refused."""
    key = read_secret("OUTREACH_SECRET_KEY", workspace_root=workspace_root)
    if not key:
        raise ConfigError(
            "no signing key: set OUTREACH_SECRET_KEY (e.g. `export OUTREACH_SECRET_KEY=$(python -c "
            "'import secrets; print(secrets.token_urlsafe(32))')`) or OUTREACH_SECRET_KEY_FILE"
        )
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"OUTREACH_SECRET_KEY is too short (at least {MIN_KEY_LENGTH} characters)"
        )
    return key


def default_key_path(workspace_root: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where `outreach init` offers to put a workspace's signing key: the user's config folder."""
    environ = os.environ if environ is None else environ
    config = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "outreach" / f"{workspace_root.name}.key"


def create_key_file(path: Path, workspace_root: Path) -> bool:
    """Write a new random signing key to `path` (mode 600, outside the workspace); True if made.

    An existing key file is kept (False) after the same checks as reading it: a key replaced
    would void every link already mailed.
    """
    path = path.expanduser().resolve()
    if path.is_relative_to(workspace_root.resolve()):
        raise ConfigError(f"the signing key must be outside the workspace ({path})")
    if path.exists():
        read_secret("OUTREACH_SECRET_KEY", environ={"OUTREACH_SECRET_KEY_FILE": str(path)})
        key = path.read_text(encoding="utf-8").strip()
        if len(key) < MIN_KEY_LENGTH:
            raise ConfigError(f"{path} holds a key shorter than {MIN_KEY_LENGTH} characters")
        return False
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created with mode 600 from the start: never readable by others, not even for a moment.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return True

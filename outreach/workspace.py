"""The workspace: a folder with `outreach.toml`, the database and four content folders.

Settings come from `outreach.toml` and can be overridden by `OUTREACH_<SECTION>_<KEY>` environment
variables (for example `OUTREACH_MAIL_TRANSPORT=outbox:newsletters/outbox`). Secrets never live here:
see `outreach.secrets`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach.db import upgrade_database
from outreach.errors import ConfigError, WorkspaceError
from outreach.fsutil import atomic_write_text

SETTINGS_FILE = "outreach.toml"
DATABASE_FILE = "outreach.db"
CONTENT_FOLDERS = ("episodes", "newsletters", "templates", "feeds")


def bounded(default: float, low: float | None = 0, high: float | None = None) -> Any:
    """A numeric setting with its allowed range. Every int and float setting is checked against
    its range when read; a plain field gets the default range, >= 0 (counts, rates, durations)."""
    return field(default=default, metadata={"low": low, "high": high})


@dataclass
class ShowSettings:
    """The podcast show (channel-level feed values)."""

    title: str = "Digitalsamtal"
    description: str = (
        "Samtal om AI i kommuner och civilsamhälle, från Kraftsamling för AI i kommuner och "
        "civilsamhälle (AI Sweden och Vinnova)."
    )
    link: str = "https://example.org/digitalsamtal/"
    base_url: str = "https://example.org/"
    language: str = "sv"
    author: str = "AI Sweden"
    copyright: str = "© AI Sweden"
    owner_name: str = "AI Sweden"
    owner_email: str = "podcast@example.org"
    hide_owner: bool = False
    category: str = "Technology"
    subcategory: str = ""
    explicit: bool = False
    show_type: str = "episodic"
    cover: str = "episodes/cover.png"
    funding_url: str = ""
    funding_text: str = ""
    medium: str = "podcast"
    hosts: list[str] = field(default_factory=list)
    # Other podcast:person entries of the show: tables with name, role, group, href, img.
    persons: list[dict[str, str]] = field(default_factory=list)
    # Directory ids, shown as "Prenumerera" links on the show page when set.
    apple_podcasts_id: str = ""
    spotify_id: str = ""
    podcast_index_id: str = ""


@dataclass
class NewsletterSettings:
    """The Kraftsamling update."""

    name: str = "Kraftsamling för AI i kommuner och civilsamhälle"
    list_id: str = "kraftsamling.example.org"
    from_address: str = "Kraftsamling <nyhetsbrev@example.org>"
    reply_to: str = ""
    unsubscribe_mailto: str = "avregistrera@example.org"
    public_url: str = "http://127.0.0.1:8000"
    timezone: str = "Europe/Stockholm"
    events_horizon_days: int = 42
    calls_opening_soon_days: int = 30
    max_html_bytes: int = bounded(102_000, 1000)
    # Count clicks per edition and link through /l/<edition>/<n> (nothing per person; README).
    click_stats: bool = False
    # Who gets a short mail when a guest approves or suggests changes, or a scheduled send ends.
    editor_address: str = ""
    # Shown on the subscribe and preference pages, error pages and in every mail footer.
    contact_address: str = ""


@dataclass
class MailSettings:
    """How mail leaves: `outbox:DIR`, `smtp://user@host:587` (STARTTLS) or `smtps://user@host:465`."""

    transport: str = "outbox:newsletters/outbox"
    concurrency: int = bounded(4, 1, 100)
    rate_per_second: float = 0.0
    max_attempts: int = bounded(3, 1)
    retry_backoff_seconds: float = 2.0
    max_consecutive_failures: int = bounded(20, 1)
    timeout_seconds: float = bounded(30.0, 0.1)
    dkim_selector: str = ""
    dkim_domain: str = ""
    # Bounces: the envelope sender becomes bounces+<signed delivery token>@domain (VERP).
    bounce_address: str = ""
    soft_bounce_limit: int = bounded(3, 1)
    # The bounce mailbox: IMAP (password in OUTREACH_IMAP_PASSWORD[_FILE]) or a Maildir/mbox path.
    imap_host: str = ""
    imap_port: int = bounded(993, 1, 65535)
    imap_security: str = "tls"
    imap_user: str = ""
    imap_folder: str = "INBOX"
    bounce_mailbox: str = ""
    processed_folder: str = "outreach-processed"


@dataclass
class AudioSettings:
    """Loudness targets and encoding (Apple's defaults)."""

    target_lufs: float = bounded(-16.0, -70, 0)
    mono_target_lufs: float = bounded(-19.0, -70, 0)
    mono_as_dual_mono: bool = True
    ceiling_dbtp: float = bounded(-1.0, -20, 0)
    bitrate_stereo: int = bounded(128, 32, 320)
    bitrate_mono: int = bounded(96, 32, 320)
    sample_rate: int = bounded(44100, 8000, 48000)


@dataclass
class TranscriptionSettings:
    """Whisper engine and model. `model` is a local directory, a checkpoint, an alias or a hub name."""

    engine: str = "faster-whisper"
    model: str = "base"
    compute_type: str = "int8"
    beam_size: int = bounded(5, 1, 20)
    language: str = "sv"
    vad: bool = True
    glossary: list[str] = field(
        default_factory=lambda: [
            "Vinnova",
            "AI Sweden",
            "Kraftsamling",
            "Digitalsamtal",
            "kommun",
            "civilsamhälle",
        ]
    )
    cache_dir: str = ""


@dataclass
class ReviewSettings:
    """Guest transcript review."""

    enabled: bool = True
    link_days: int = bounded(14, 1)
    allow_editing_others: bool = False
    max_submission_bytes: int = bounded(200_000, 1000)


@dataclass
class WebSettings:
    """`outreach serve`."""

    host: str = "127.0.0.1"
    port: int = bounded(8000, 1, 65535)
    # Threads mostly wait (disk, SQLite, SMTP); benchmarks/serve.py found 8 too few at 50 clients.
    threads: int = bounded(16, 1, 1000)
    # The TLS proxy's address, whose X-Forwarded-For/-Proto are believed ("" believes no one).
    trusted_proxy: str = "127.0.0.1"
    confirm_link_hours: int = bounded(72, 1)
    # The privacy notice (integritetspolicy) linked from the form, the pages and every mail.
    privacy_url: str = ""


DEFAULT_SEGMENTS = {
    "kommun": "Kommun eller region",
    "civilsamhälle": "Civilsamhälle",
    "annat": "Annat",
}


@dataclass
class SubscriberSettings:
    """Segments (key = Swedish label), sign-up rate limits and the confirmation queue."""

    segments: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SEGMENTS))
    subscribe_limit_per_client: str = "10 per minute; 60 per hour"
    subscribe_limit_per_address: str = "5 per hour"
    confirmations_per_minute: int = bounded(60, 0)
    queue_poll_seconds: float = bounded(5.0, 0.1)


@dataclass
class Settings:
    show: ShowSettings = field(default_factory=ShowSettings)
    newsletter: NewsletterSettings = field(default_factory=NewsletterSettings)
    mail: MailSettings = field(default_factory=MailSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    transcription: TranscriptionSettings = field(default_factory=TranscriptionSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    web: WebSettings = field(default_factory=WebSettings)
    subscribers: SubscriberSettings = field(default_factory=SubscriberSettings)


def _expected(annotation: Any, low: float | None, high: float | None) -> str:
    kind = "an integer" if annotation is int else "a number"
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    if low is not None:
        return f"{kind} >= {low:g}"
    return kind if high is None else f"{kind} <= {high:g}"


def _number(value: Any, annotation: Any, where: str, metadata: Mapping[str, Any]) -> Any:
    """An int or float within the field's range: a TOML number (an int for int fields; never a
    bool) or an environment string."""
    low, high = metadata.get("low", 0), metadata.get("high")
    wrong = ConfigError(f"{where}: expected {_expected(annotation, low, high)}, got {value!r}")
    if isinstance(value, str):
        pattern = r"[+-]?[0-9]{1,30}" if annotation is int else r"[+-]?[0-9.eE+-]{1,40}"
        if not re.fullmatch(pattern, value.strip()):
            raise wrong
        try:
            value = annotation(value.strip())
        except ValueError:
            raise wrong from None
    elif (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or annotation is int
        and not isinstance(value, int)
    ):
        raise wrong
    number = annotation(value)
    if not math.isfinite(number) or (low is not None and number < low):
        raise wrong
    if high is not None and number > high:
        raise wrong
    return number


def _coerce(
    value: Any, annotation: Any, where: str, metadata: Mapping[str, Any], *, environment: bool
) -> Any:
    """Check a setting's value against its field's type and range.

    TOML has types, so there a value must already have the right one (`explicit = "yes"`,
    `hosts = "Jonatan"` and `port = 80.5` are refused). The environment has only strings: there
    true/false (or 1/0) are booleans, digits are numbers and a comma-separated string is a list.
    """
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is dict:
        return _coerce_table(value, where, environment=environment)
    if typing.get_origin(annotation) is list:
        of_text = typing.get_args(annotation) == (str,)
        if environment and of_text:
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or (of_text and not all(isinstance(v, str) for v in value)):
            kind = "a list of strings" if of_text else "a list"
            raise ConfigError(f"{where}: expected {kind}, got {value!r}")
        return value
    if annotation is bool:
        if environment:
            value = {"true": True, "1": True, "false": False, "0": False}.get(value.strip().lower())
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation in (int, float):
        if not environment and isinstance(value, str):
            expected = _expected(annotation, metadata.get("low", 0), metadata.get("high"))
            raise ConfigError(f"{where}: expected {expected}, got {value!r}")
        return _number(value, annotation, where, metadata)
    if annotation is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return value


def _coerce_table(value: Any, where: str, *, environment: bool) -> dict[str, str]:
    """A TOML table of texts, or `key=Label,key2=Label 2` from the environment."""
    if environment:
        pairs = [part.split("=", 1) for part in value.split(",") if part.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ConfigError(f"{where}: expected key=label pairs separated by commas")
        value = {key.strip(): label.strip() for key, label in pairs}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ConfigError(f'{where}: expected a table of texts, e.g. {{ kommun = "Kommun" }}')
    return dict(value)


def load_settings(path: Path | None, environ: typing.Mapping[str, str] | None = None) -> Settings:
    """Read settings from a TOML file (optional) and `OUTREACH_<SECTION>_<KEY>` variables."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
    settings = Settings()
    section_fields = {f.name: f for f in dataclasses.fields(Settings)}
    for section_name, section_values in raw.items():
        if section_name not in section_fields:
            known = ", ".join(section_fields)
            raise ConfigError(f"{path}: unknown section [{section_name}] (known: {known})")
        if not isinstance(section_values, dict):
            raise ConfigError(f"{path}: [{section_name}] must be a table")
        _apply(getattr(settings, section_name), section_values, f"{path}: [{section_name}]")
    for section_name in section_fields:
        section = getattr(settings, section_name)
        hints = typing.get_type_hints(type(section))
        for f in dataclasses.fields(section):
            env_name = f"OUTREACH_{section_name.upper()}_{f.name.upper()}"
            if env_name in environ:
                value = _coerce(
                    environ[env_name], hints[f.name], env_name, f.metadata, environment=True
                )
                setattr(section, f.name, value)
    return settings


def _apply(section: Any, values: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(type(section))
    fields = {f.name: f for f in dataclasses.fields(section)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        checked = _coerce(
            value, hints[key], f"{where} {key}", fields[key].metadata, environment=False
        )
        setattr(section, key, checked)


@dataclass
class Workspace:
    """A workspace folder and everything derived from it."""

    root: Path
    settings: Settings
    database_url: str

    @property
    def episodes_dir(self) -> Path:
        return self.root / "episodes"

    @property
    def newsletters_dir(self) -> Path:
        return self.root / "newsletters"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def feeds_dir(self) -> Path:
        return self.root / "feeds"

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS_FILE

    def path(self, relative: str) -> Path:
        """Resolve a workspace-relative path from settings or the database."""
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.root / candidate

    def shown(self, path: Path) -> str:
        """`path` as a user should see it: relative to the workspace when it lies inside."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)


def find_workspace_root(explicit: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """`--workspace`, then `OUTREACH_WORKSPACE`, then the current directory or a parent of it."""
    chosen = explicit or os.environ.get("OUTREACH_WORKSPACE")
    if chosen:
        root = Path(chosen).expanduser().resolve()
        if not (root / SETTINGS_FILE).is_file():
            raise WorkspaceError(
                f"{root} is not an outreach workspace (no {SETTINGS_FILE}); create one with "
                f"'outreach init {chosen}'"
            )
        return root
    here = (cwd or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / SETTINGS_FILE).is_file():
            return candidate
    raise WorkspaceError(
        f"no workspace found in {here} or its parents (no {SETTINGS_FILE}); run 'outreach init DIR' "
        "or pass --workspace"
    )


def open_workspace(
    explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None
) -> Workspace:
    root = find_workspace_root(explicit, cwd)
    settings = load_settings(root / SETTINGS_FILE)
    url = os.environ.get("OUTREACH_DATABASE_URL") or f"sqlite:///{root / DATABASE_FILE}"
    return Workspace(root=root, settings=settings, database_url=url)


DEFAULT_TOML = """\
# outreach workspace settings. Every value can be overridden by an environment variable
# OUTREACH_<SECTION>_<KEY>, e.g. OUTREACH_MAIL_TRANSPORT. Secrets (SMTP password, token key)
# never go here: see README, "Secrets".

[show]
title = "Digitalsamtal"
link = "https://example.org/digitalsamtal/"
base_url = "https://example.org/"
author = "AI Sweden"
owner_name = "AI Sweden"
owner_email = "podcast@example.org"

[newsletter]
name = "Kraftsamling för AI i kommuner och civilsamhälle"
from_address = "Kraftsamling <nyhetsbrev@example.org>"
public_url = "http://127.0.0.1:8000"
# Shown on the subscribe and preference pages, error pages and in every mail footer.
contact_address = ""

[web]
# The privacy notice (integritetspolicy) linked from the form, the pages and every mail.
privacy_url = ""

[subscribers]
# Segments a subscriber may choose (several); the key is stored, the label is shown.
segments = { kommun = "Kommun eller region", "civilsamhälle" = "Civilsamhälle", annat = "Annat" }

[mail]
transport = "outbox:newsletters/outbox"
"""


def init_workspace(directory: Path) -> Workspace:
    """Create a workspace: `outreach.toml`, the content folders and the migrated database."""
    directory = directory.expanduser().resolve()
    if directory.exists() and not directory.is_dir():
        raise WorkspaceError(f"{directory} exists and is not a folder")
    directory.mkdir(parents=True, exist_ok=True)
    for folder in CONTENT_FOLDERS:
        (directory / folder).mkdir(exist_ok=True)
    settings_path = directory / SETTINGS_FILE
    if not settings_path.exists():
        atomic_write_text(settings_path, DEFAULT_TOML)
    workspace = open_workspace(directory)
    upgrade_database(workspace.database_url)
    return workspace

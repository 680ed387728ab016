"""Engine and sessions: SQLite with WAL, foreign keys and a busy timeout; migrations by Alembic."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from outreach.errors import DatabaseError


class HasDatabase(Protocol):
    """Anything with a database URL (a Workspace); db.py needs nothing else of it."""

    @property
    def database_url(self) -> str: ...


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Erased personal data must not linger in free pages of the file (GDPR erase).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


@functools.cache
def get_engine(url: str) -> Engine:
    """One engine per database URL per process, migrated to the newest schema."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _upgrade(engine)
    return engine


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade(engine: Engine) -> None:
    from alembic import command

    config = _alembic_config(engine.url.render_as_string(hide_password=False))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise DatabaseError(describe_database_error(exc, engine.url.database)) from None


def upgrade_database(url: str) -> None:
    """Apply all migrations (idempotent). `get_engine` does this too, on first use."""
    get_engine(url)


def describe_database_error(exc: SQLAlchemyError, where: str | None = None) -> str:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if "locked" in text:
        return f"the database is busy (locked by another outreach process): {where or ''}".strip()
    if "unable to open" in text:
        return f"cannot open the database {where or ''}: {text}"
    if "not a database" in text:
        return f"{where or 'the database'} is not an SQLite database (corrupt or wrong file)"
    return f"database error: {text}"


@contextlib.contextmanager
def session_scope(workspace: HasDatabase | str) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    url = workspace if isinstance(workspace, str) else workspace.database_url
    engine = get_engine(url)
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise DatabaseError(describe_database_error(exc, engine.url.database)) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()

"""Database engine, sessions and schema migrations.

SQLite (the default for demos and development) and PostgreSQL (production)
run the same Alembic migrations. A "postgresql://" URL uses the psycopg 3
driver. Every SQLite connection gets foreign keys on, a 5 s busy timeout and,
for a database file, WAL with synchronous=FULL so that a committed redemption
survives a power cut. A new SQLite database file is created with mode 0600
because it contains residents' names, NIKs and addresses.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from alembic import command
from alembic.config import Config
from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

__all__ = [
    "database_url",
    "redacted_url",
    "create_db_engine",
    "upgrade_database",
    "downgrade_database",
    "make_sessionmaker",
    "get_session",
    "SessionDep",
]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000


def database_url(url: str | URL) -> URL:
    """Parse a database URL and pick the psycopg 3 driver for plain "postgresql" URLs."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redacted_url(url: str | URL) -> str:
    """Return the URL with any password hidden, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def _is_memory_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def create_db_engine(url: str | URL) -> Engine:
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)

    if _is_memory_sqlite(parsed):
        # One shared connection, or every request would see its own empty database.
        engine = create_engine(
            parsed, connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        engine = create_engine(parsed, connect_args={"check_same_thread": False})

    file_database = not _is_memory_sqlite(parsed)
    # With ?uri=true the database is a "file:" URI, which sqlite3 opens itself.
    if file_database and not parsed.query.get("uri"):
        _create_private_file(Path(parsed.database))

    @event.listens_for(engine, "connect")
    def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        if file_database:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
        cursor.close()

    return engine


def _create_private_file(path: Path) -> None:
    """Create an empty SQLite database file with mode 0600, or warn when an existing one is readable by others.

    SQLite's unix VFS gives the -wal and -shm files the mode of the database
    file, so they are private too. When the directory is missing, sqlite3
    reports it at the first connection.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning("database file %s has mode %04o, so other users can read residents' data; "
                           "run 'chmod 600 %s'", path, mode, path)
        return
    except FileNotFoundError:
        return
    os.close(fd)


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to revision on the engine's database."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("database %s is at migration %s", redacted_url(engine.url), revision)


def downgrade_database(engine: Engine, revision: str) -> None:
    """Run the Alembic migrations down to revision ("base" removes every table)."""
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
    logger.info("database %s is at migration %s", redacted_url(engine.url), revision)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit, so a route can commit and then build its response.
    return sessionmaker(engine, expire_on_commit=False)


def get_session(request: Request) -> Iterator[Session]:
    """Yield a database session for one request; it is closed (and rolled back if open) afterwards."""
    with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

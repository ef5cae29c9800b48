"""The --db option that every server-side command takes, and opening the database it names.

--db accepts a SQLite file path (data/kartu-server.db), a SQLite URL
(sqlite:///data/kartu-server.db) or a PostgreSQL URL
(postgresql://USER@HOST/NAME). A plain path becomes sqlite:/// with the
absolute path. The directory of a SQLite file must exist: no command
creates it, so a mistyped path fails the same way everywhere.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from card.i18n import N_, TranslatedError, argument_language, translate

from server.db import create_db_engine, make_sessionmaker, redacted_url, upgrade_database

__all__ = [
    "DEFAULT_DATABASE_URL", "DatabaseOpenError", "add_database_option", "database_url_option", "open_database",
]

DEFAULT_DATABASE_URL = "sqlite:///kartu-server.db"
ACCEPTED_FORMS = N_("give a SQLite file path (such as data/kartu-server.db) or postgresql://USER@HOST/NAME")
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
# The password part of "scheme://user:password@host", hidden in messages about a URL that does not parse.
_PASSWORD_PART = re.compile(r"(://[^:/@]*:)[^@]*@")


class DatabaseOpenError(TranslatedError):
    """The database could not be opened or migrated. The message names it without its password."""


def _argument_error(template: str, **params: object) -> argparse.ArgumentTypeError:
    """Build an argparse error in the language of --lang, followed by the accepted forms of --db."""
    language = argument_language()
    text = translate(template, language, **params) + "; " + translate(ACCEPTED_FORMS, language)
    return argparse.ArgumentTypeError(text)


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=database_url_option, default=DEFAULT_DATABASE_URL, metavar="URL",
        help="server database: a SQLite file path or postgresql://USER@HOST/NAME (default: %(default)s)",
    )


def database_url_option(text: str) -> str:
    """Parse a --db value into a database URL.

    Raises argparse.ArgumentTypeError, which names the value and the fix, so
    that argparse prints it as a usage error without a traceback.
    """
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        _check_directory(path)
        return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        redacted_text = _PASSWORD_PART.sub(r"\1***@", text)
        raise _argument_error(N_("invalid database URL '{url}'"), url=redacted_text) from None
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise _argument_error(N_("unsupported database '{url}'"), url=redacted_url(url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        _check_directory(Path(url.database))
    return text


def _check_directory(database: Path) -> None:
    directory = database.expanduser().resolve().parent
    if not directory.is_dir():
        raise argparse.ArgumentTypeError(translate(
            N_("directory {directory} of the SQLite database does not exist; create it (mkdir -p {directory}) "
               "and try again"),
            argument_language(), directory=directory,
        ))


def open_database(url: str) -> sessionmaker[Session]:
    """Connect to the database at url, migrate it to the latest revision and return its sessionmaker."""
    try:
        engine = create_db_engine(url)
        upgrade_database(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise DatabaseOpenError(N_("failed to open database {url}: {reason}"), url=redacted_url(url),
                                reason=reason) from None
    return make_sessionmaker(engine)

"""The `kartu staff` command: create and deactivate staff accounts directly in the database.

This is how the first administrator is made on a new server without the
admin token; after that administrators can use POST /api/v1/users. The
password is read from a file (mode 0600) or asked for at the terminal, never
taken from the command line, where other users could see it in the process list.
"""

from __future__ import annotations

import argparse
import getpass
import stat
import sys
import time
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError

from server.db import create_db_engine, make_sessionmaker, redacted_url, upgrade_database
from server.models_people import ROLES, StaffSession, StaffUser
from server.people import AccountError, create_user
from server.periods import utc_datetime

__all__ = ["add_commands"]

DEFAULT_DATABASE_URL = "sqlite:///kartu-server.db"


class CommandError(Exception):
    """A problem printed without a traceback."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("staff", help="manage staff accounts of the central server",
                                   description="Create or deactivate staff accounts in the server database.")
    actions = parser.add_subparsers(dest="staff_command", required=True)

    create = actions.add_parser("create", help="create a staff account")
    create.add_argument("--db", default=DEFAULT_DATABASE_URL, metavar="URL",
                        help="server database URL (default: %(default)s)")
    create.add_argument("--username", required=True, help="login name: lower-case letters, digits, '.', '_', '-'")
    create.add_argument("--role", required=True, choices=ROLES, help="what the account may do")
    create.add_argument("--opd", help="the operator's OPD, exactly as programmes name their owner; operators only")
    create.add_argument("--password-file", type=Path, metavar="FILE",
                        help="file holding the password, mode 0600 (default: ask at the terminal)")
    create.set_defaults(handler=run_create)

    deactivate = actions.add_parser("deactivate", help="deactivate a staff account and end its sessions")
    deactivate.add_argument("--db", default=DEFAULT_DATABASE_URL, metavar="URL",
                            help="server database URL (default: %(default)s)")
    deactivate.add_argument("--username", required=True)
    deactivate.set_defaults(handler=run_deactivate)


def _read_password(path: Path | None) -> str:
    if path is None:
        first = getpass.getpass("password: ")
        if getpass.getpass("password again: ") != first:
            raise CommandError("the two passwords differ; run the command again")
        return first
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        raise CommandError(f"failed to read password file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CommandError(f"password file {path} has mode {stat.S_IMODE(mode):04o}; run 'chmod 600 {path}' first")
    return text


def _sessionmaker(url: str):
    try:
        engine = create_db_engine(url)
        upgrade_database(engine)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise CommandError(f"failed to open database {redacted_url(url)}: {reason}") from None
    return make_sessionmaker(engine)


def run_create(args: argparse.Namespace) -> int:
    try:
        password = _read_password(args.password_file)
        with _sessionmaker(args.db)() as session:
            user = create_user(session, args.username, password, args.role, args.opd, utc_datetime(time.time()))
    except AccountError as exc:
        print(f"kartu staff: error: {exc.field}: {exc.message}", file=sys.stderr)
        return 2
    except CommandError as exc:
        print(f"kartu staff: error: {exc}", file=sys.stderr)
        return 2
    print(f"created staff account {user.username} (id {user.id}), role {user.role}")
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    try:
        with _sessionmaker(args.db)() as session:
            user = session.scalars(select(StaffUser).where(StaffUser.username == args.username)).one_or_none()
            if user is None:
                raise CommandError(f"staff account '{args.username}' not found")
            user.active = False
            session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
            session.commit()
    except CommandError as exc:
        print(f"kartu staff: error: {exc}", file=sys.stderr)
        return 2
    print(f"deactivated staff account {args.username}; its sessions have ended")
    return 0

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

from card.i18n import N_, TranslatedError, translate
from server.database_option import DatabaseOpenError, add_database_option, open_database
from server.models_people import ROLES, StaffSession, StaffUser
from server.people import AccountError, create_user
from server.periods import utc_datetime

__all__ = ["add_commands"]

# Exit status after Ctrl+C at the password prompt, as a shell reports a command stopped by SIGINT.
CANCELLED_BY_INTERRUPT = 130
CANCELLED_BY_END_OF_INPUT = 1


class CommandError(TranslatedError):
    """A problem printed without a traceback, in the language of --lang."""


class PromptCancelled(Exception):
    """The password prompt ended with Ctrl+C or Ctrl+D before anything was written."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("staff", help="manage staff accounts of the central server",
                                   description="Create or deactivate staff accounts in the server database.")
    actions = parser.add_subparsers(dest="staff_command", required=True)

    create = actions.add_parser("create", help="create a staff account")
    add_database_option(create)
    create.add_argument("--username", required=True, help="login name: lower-case letters, digits, '.', '_', '-'")
    create.add_argument("--role", required=True, choices=ROLES, help="what the account may do")
    create.add_argument("--opd", help="the operator's OPD, exactly as programmes name their owner; operators only")
    create.add_argument("--password-file", type=Path, metavar="FILE",
                        help="file holding the password, mode 0600 (default: ask at the terminal)")
    create.set_defaults(handler=run_create)

    deactivate = actions.add_parser("deactivate", help="deactivate a staff account and end its sessions")
    add_database_option(deactivate)
    deactivate.add_argument("--username", required=True)
    deactivate.set_defaults(handler=run_deactivate)


def _ask_password(language: str) -> str:
    try:
        first = getpass.getpass(translate(N_("password: "), language))
        second = getpass.getpass(translate(N_("password again: "), language))
    except KeyboardInterrupt:
        raise PromptCancelled(CANCELLED_BY_INTERRUPT) from None
    except EOFError:
        raise PromptCancelled(CANCELLED_BY_END_OF_INPUT) from None
    if second != first:
        raise CommandError(N_("the two passwords differ; run the command again"))
    return first


def _read_password(path: Path | None, language: str) -> str:
    if path is None:
        return _ask_password(language)
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").rstrip("\n")
    except OSError as exc:
        raise CommandError(N_("failed to read password file {path}: {reason}"), path=path,
                           reason=exc.strerror) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CommandError(N_("password file {path} has mode {mode}; run 'chmod 600 {path}' first"), path=path,
                           mode=f"{stat.S_IMODE(mode):04o}")
    return text


def _fail(message: str, language: str) -> int:
    print(translate(N_("kartu staff: error: {detail}"), language, detail=message), file=sys.stderr)
    return 2


def run_create(args: argparse.Namespace) -> int:
    language = getattr(args, "lang", "id")
    try:
        password = _read_password(args.password_file, language)
        with open_database(args.db)() as session:
            user = create_user(session, args.username, password, args.role, args.opd, utc_datetime(time.time()))
    except PromptCancelled as exc:
        # getpass leaves the cursor after the prompt, so the message starts a new line.
        print("\n" + translate(N_("cancelled; nothing was changed"), language), file=sys.stderr)
        return exc.status
    except AccountError as exc:
        return _fail(f"{exc.field}: {exc.message(language)}", language)
    except (CommandError, DatabaseOpenError) as exc:
        return _fail(exc.message(language), language)
    print(translate(N_("Created staff account {username} (id {id}), role {role}."), language,
                    username=user.username, id=user.id, role=user.role))
    return 0


def run_deactivate(args: argparse.Namespace) -> int:
    language = getattr(args, "lang", "id")
    try:
        with open_database(args.db)() as session:
            user = session.scalars(select(StaffUser).where(StaffUser.username == args.username)).one_or_none()
            if user is None:
                raise CommandError(N_("staff account '{username}' not found"), username=args.username)
            user.active = False
            session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
            session.commit()
    except (CommandError, DatabaseOpenError) as exc:
        return _fail(exc.message(language), language)
    print(translate(N_("Deactivated staff account {username}; its sessions have ended."), language,
                    username=args.username))
    return 0

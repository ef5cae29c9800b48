"""The `kartu server import-register` and `recompute-entitlements` commands, which work on the database directly.

import-register runs the same import as POST /api/v1/register/imports, without the
request size limit, so a whole city register can be imported on the server
machine. With --complete the file is the whole register and residents
missing from it are marked as left (server.register_leavers). Exit status:
0 when every row was imported, 1 when some rows were rejected (the others
are imported), 2 when nothing could be imported or a complete import was rejected.
"""

from __future__ import annotations

import argparse
import json
import re
import stat
import sys
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError, SQLAlchemyError

from card.i18n import N_, TranslatedError, argument_language, translate
from issuance.register import MIN_HOUSEHOLD_KEY_SIZE
from server.api.register import report_json
from server.database_option import add_database_option
from server.db import create_db_engine, make_sessionmaker, redacted_url, upgrade_database
from server.entitlements import recompute_entitlements
from server.periods import utc_datetime
from server.register_import import ImportReport, import_register
from server.register_leavers import MAX_LEFT_SHARE, CompleteImportRejection

__all__ = ["add_commands", "read_household_key", "HouseholdKeyError", "run_import", "run_recompute"]


class HouseholdKeyError(TranslatedError):
    """The household key file is missing, readable by others or too short."""


def read_household_key(path: Path) -> bytes:
    """Read the city's household key file (the issuance station's household.key, mode 0600)."""
    try:
        mode = path.stat().st_mode
        key = path.read_bytes()
    except OSError as exc:
        raise HouseholdKeyError(N_("failed to read household key {path}: {reason}"), path=path,
                                reason=exc.strerror) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise HouseholdKeyError(N_("household key {path} is readable by others; run 'chmod 600 {path}'"), path=path)
    if len(key) < MIN_HOUSEHOLD_KEY_SIZE:
        raise HouseholdKeyError(
            N_("household key {path} has {size} bytes; copy household.key of the issuance station, "
               "which has at least {minimum}"),
            path=path, size=len(key), minimum=MIN_HOUSEHOLD_KEY_SIZE,
        )
    return key


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add import-register and recompute-entitlements to the subcommands of `kartu server`."""
    parser = subparsers.add_parser(
        "import-register",
        help="import a register file (CSV or XLSX) into the server database",
        description="Import residents and households from a register file, then recompute entitlements. "
        "Exit status 0: all rows imported; 1: some rows rejected, the rest imported; 2: nothing imported.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="register file, CSV (comma or semicolon) or XLSX")
    parser.add_argument(
        "--complete", action="store_true",
        help="the file is the whole city register: mark residents missing from it as left (kept for history, "
             "no entitlements); rejected when any row is rejected or more than "
             f"{MAX_LEFT_SHARE:.0%} of residents would leave without --confirm-left",
    )
    parser.add_argument("--confirm-left", type=_count, metavar="COUNT",
                        help="with --complete: the number of residents expected to leave, which allows more than "
                             f"{MAX_LEFT_SHARE:.0%}; the import is rejected unless it matches")
    add_database_option(parser)
    parser.add_argument("--household-key", type=Path, metavar="FILE",
                        help="the issuance station's household.key (mode 0600), to link households to cards")
    parser.add_argument("--json", action="store_true", help="print the import report as JSON")
    parser.set_defaults(handler=run_import)

    recompute = subparsers.add_parser(
        "recompute-entitlements",
        help="recompute every programme's entitlements, for example daily so that age rules stay current",
        description="Recompute the entitlements of every programme from the register and the rules as of today.",
    )
    add_database_option(recompute)
    recompute.set_defaults(handler=run_recompute)


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(translate(
            N_("invalid count '{value}': give a whole number of 0 or more"), argument_language(), value=text,
        ))
    return int(text)


def _print_rejection(rejection: CompleteImportRejection, language: str) -> None:
    counts = {"left": rejection.left, "active": rejection.active, "confirmed": rejection.confirmed,
              "share": f"{rejection.left / rejection.active:.1%}" if rejection.active else "0%",
              "limit": f"{MAX_LEFT_SHARE:.0%}"}
    if rejection.reason == "rejected_rows":
        message = N_("Complete import rejected: rejected rows would mark their residents as left. "
                     "Fix the rows listed above and import again. Nothing was changed.")
    elif rejection.reason == "confirm_mismatch":
        message = N_("Complete import rejected: the file would mark {left} of {active} residents as left, "
                     "not {confirmed} as --confirm-left says. Check the file. Nothing was changed.")
    else:
        message = N_("Complete import rejected: the file would mark {left} of {active} residents ({share}) as left, "
                     "more than {limit}. If the file is whole, run again with --confirm-left {left}. "
                     "Nothing was changed.")
    print(translate(message, language, **counts), file=sys.stderr)


# A run of 12 or more digits: a NIK or KK number, also a malformed one with a few digits too many or too few.
_LONG_NUMBER = re.compile(r"\d{12,}")


def mask_numbers(text: str) -> str:
    """Replace all but the first 6 and last 4 digits of each NIK or KK number in text with '*'.

    The line number identifies the row, and the kecamatan code and serial
    that remain are enough to find it in the file.
    """
    return _LONG_NUMBER.sub(lambda match: match[0][:6] + "*" * (len(match[0]) - 10) + match[0][-4:], text)


def _masked_json(report: ImportReport) -> dict:
    """Return the import report as JSON data, with each NIK or KK number in the rejected rows masked."""
    data = report_json(report).model_dump(mode="json")
    for error in data["errors"]:
        for name in ("value", "message_id", "message_en"):
            error[name] = mask_numbers(error[name])
    return data


def _print_report(report: ImportReport, language: str) -> None:
    print(translate(
        N_("Register {file}: {rows} rows, {inserted} new, {updated} changed, {unchanged} unchanged, "
           "{rejected} rejected."),
        language, file=report.filename, rows=report.rows, inserted=report.inserted, updated=report.updated,
        unchanged=report.unchanged, rejected=report.rejected_lines,
    ))
    for error in report.errors:
        message = error.message_en if language == "en" else error.message_id
        print(translate(N_("line {line}: {reason}"), language, line=error.line, reason=mask_numbers(message)))
    if report.rejection is not None:
        _print_rejection(report.rejection, language)
    if report.complete and report.import_id is not None:
        print(translate(N_("Complete register: residents who left: {left}, residents who returned: {returned}."),
                        language, left=report.left, returned=report.returned))
    if report.entitlements is not None:
        result = report.entitlements
        print(translate(
            N_("Entitlements recomputed: {added} added, {changed} changed, {removed} removed, {total} in total."),
            language, added=result.added, changed=result.changed, removed=result.removed, total=result.total,
        ))


def _fail(message: str, language: str, command: str = "import-register") -> int:
    print(translate(N_("kartu server {command}: error: {detail}"), language, command=command, detail=message),
          file=sys.stderr)
    return 2


def _database_error(exc: OperationalError, url: str, language: str) -> str:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
    return translate(N_("failed to open database {url}: {reason}"), language, url=redacted_url(url), reason=reason)


def run_import(args: argparse.Namespace) -> int:
    language = getattr(args, "lang", "id")
    if args.confirm_left is not None and not args.complete:
        return _fail(translate(N_("--confirm-left needs --complete"), language), language)
    try:
        data = args.file.read_bytes()
        key = read_household_key(args.household_key) if args.household_key else None
    except OSError as exc:
        return _fail(translate(N_("failed to read {file}: {reason}"), language, file=args.file, reason=exc.strerror),
                     language)
    except HouseholdKeyError as exc:
        return _fail(exc.message(language), language)
    if key is None:
        print(translate(N_("Warning: no --household-key, so new households cannot be matched to cards."), language),
              file=sys.stderr)
    try:
        engine = create_db_engine(args.db)
        upgrade_database(engine)
        with make_sessionmaker(engine)() as session:
            report = import_register(session, data, args.file.name, utc_datetime(time.time()), key,
                                     complete=args.complete, confirm_left=args.confirm_left)
            session.commit()
    except OperationalError as exc:
        return _fail(_database_error(exc, args.db, language), language)
    except SQLAlchemyError as exc:
        return _fail(translate(N_("import failed and changed nothing ({error}); run the import again"), language,
                               error=type(exc).__name__), language)
    if args.json:
        print(json.dumps(_masked_json(report), ensure_ascii=False, indent=2))
        if report.rejection is not None:
            _print_rejection(report.rejection, language)
    else:
        _print_report(report, language)
    if report.import_id is None:
        return 2
    return 1 if report.errors else 0


def run_recompute(args: argparse.Namespace) -> int:
    language = getattr(args, "lang", "id")
    try:
        engine = create_db_engine(args.db)
        upgrade_database(engine)
        with make_sessionmaker(engine)() as session:
            result = recompute_entitlements(session, utc_datetime(time.time()))
            session.commit()
    except OperationalError as exc:
        return _fail(_database_error(exc, args.db, language), language, "recompute-entitlements")
    except SQLAlchemyError as exc:
        return _fail(translate(N_("recomputation failed and changed nothing: {error}"), language,
                               error=type(exc).__name__), language, "recompute-entitlements")
    print(translate(
        N_("Entitlements recomputed: {added} added, {changed} changed, {removed} removed, {total} in total."),
        language, added=result.added, changed=result.changed, removed=result.removed, total=result.total,
    ))
    return 0

"""The `kartu service-point` command: create service points and terminal enrolment codes in the database.

Like `kartu staff`, it works on the server database directly, so it needs
no admin token and runs on the server machine. It stores the same rows as
POST /api/v1/service-points and POST /api/v1/service-points/{id}/enrolment-codes,
and checks the input with the same rules (server.api.service_points.ServicePointIn).
An enrolment code is printed once and stored only as its SHA-256 hash.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from card.i18n import N_, translate
from server.api.service_points import ServicePointIn
from server.database_option import DatabaseOpenError, add_database_option, open_database
from server.db import redacted_url
from server.enrolment_codes import generate_code, hash_code
from server.models import EnrolmentCode, Programme, ServicePoint
from server.periods import utc_datetime
from server.settings import ENROLMENT_CODE_LIFETIME

__all__ = ["add_commands"]

# Service point ids are 32-bit signed integers in the database.
MAX_SERVICE_POINT_ID = 2**31 - 1
_OPTION_OF_FIELD = {"name": "--name", "kind": "--kind", "programmes": "--programme"}


class CommandError(Exception):
    """A problem printed without a traceback. The message is already in the user's language."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "service-point", help="manage service points and terminal enrolment codes of the central server",
        description="Create service points and one-time terminal enrolment codes in the server database.",
    )
    actions = parser.add_subparsers(dest="service_point_command", required=True)

    create = actions.add_parser("create", help="create a service point, such as an LPG agent")
    add_database_option(create)
    create.add_argument("--name", required=True, help="name shown on the dashboard, 1 to 200 characters")
    create.add_argument("--kind", required=True,
                        help="kind of place: lower-case letters, digits or '_', such as lpg_agent, clinic, or kiosk (a resident kiosk, which may fetch a present card's history)")
    create.add_argument("--programme", dest="programmes", action="append", required=True, metavar="CODE",
                        help="code of a programme the service point serves; repeat for several programmes")
    create.set_defaults(handler=run_create)

    code = actions.add_parser(
        "enrolment-code",
        help=f"create a one-time code that enrols one terminal within {_lifetime_hours()} hours",
    )
    add_database_option(code)
    code.add_argument("--service-point", type=_service_point_id, required=True, metavar="ID",
                      help="id of the service point, as printed by create and list")
    code.set_defaults(handler=run_enrolment_code)

    listing = actions.add_parser("list", help="list the service points with their ids and programmes")
    add_database_option(listing)
    listing.set_defaults(handler=run_list)


def _service_point_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SERVICE_POINT_ID:
        raise argparse.ArgumentTypeError(f"invalid service point id '{text}': give the id that list prints")
    return value


def _lifetime_hours() -> int:
    return int(ENROLMENT_CODE_LIFETIME.total_seconds() // 3600)


def _fail(message: str) -> int:
    print(f"kartu service-point: error: {message}", file=sys.stderr)
    return 2


def _validated(args: argparse.Namespace) -> ServicePointIn:
    try:
        return ServicePointIn(name=args.name, kind=args.kind, programmes=args.programmes)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = _OPTION_OF_FIELD.get(str(error["loc"][0]), str(error["loc"][0]))
        reason = error["msg"].removeprefix("Value error, ")
        message = translate(N_("invalid {option}: {reason}"), args.lang, option=option, reason=reason)
        raise CommandError(message) from None


def _programmes(session: Session, codes: list[str], language: str) -> list[Programme]:
    by_code = {programme.code: programme for programme in session.scalars(select(Programme)).all()}
    missing = [code for code in codes if code not in by_code]
    if missing:
        raise CommandError(translate(
            N_("programme {code} not found; programmes on this server: {known}"), language,
            code=missing[0], known=", ".join(sorted(by_code)) or "-",
        ))
    return [by_code[code] for code in codes]


def run_create(args: argparse.Namespace) -> int:
    try:
        payload = _validated(args)
        with open_database(args.db)() as session:
            service_point = ServicePoint(
                name=payload.name, kind=payload.kind, created_at=utc_datetime(time.time()),
                programmes=_programmes(session, payload.programmes, args.lang),
            )
            session.add(service_point)
            session.commit()
            codes = ", ".join(service_point.programme_codes)
    except (CommandError, DatabaseOpenError) as exc:
        return _fail(str(exc))
    print(translate(
        N_("Created service point {id}: {name} ({kind}), programmes {programmes}."), args.lang,
        id=service_point.id, name=service_point.name, kind=service_point.kind, programmes=codes,
    ))
    print(translate(
        N_("Next, create a code for its terminal: kartu service-point enrolment-code --db {db} --service-point {id}"),
        args.lang, id=service_point.id, db=shlex.quote(redacted_url(args.db)),
    ))
    return 0


def run_enrolment_code(args: argparse.Namespace) -> int:
    code = generate_code()
    now = utc_datetime(time.time())
    try:
        with open_database(args.db)() as session:
            service_point = session.get(ServicePoint, args.service_point)
            if service_point is None:
                raise CommandError(translate(
                    N_("service point {id} not found; kartu service-point list shows the ids"),
                    args.lang, id=args.service_point,
                ))
            row = EnrolmentCode(code_hash=hash_code(code), service_point_id=service_point.id, created_at=now,
                                expires_at=now + ENROLMENT_CODE_LIFETIME)
            session.add(row)
            session.commit()
            name = service_point.name
    except (CommandError, DatabaseOpenError) as exc:
        return _fail(str(exc))
    print(translate(
        N_("Enrolment code for service point {id} ({name}), valid until {expires} UTC, for one terminal:"),
        args.lang, id=args.service_point, name=name, expires=row.expires_at.strftime("%Y-%m-%d %H:%M"),
    ))
    print(code)
    print(translate(N_("On the terminal: kartu terminal enrol --dir DIR --server URL --code CODE --root-key PEM"),
                    args.lang))
    return 0


def run_list(args: argparse.Namespace) -> int:
    try:
        with open_database(args.db)() as session:
            rows = [
                (point.id, point.name, point.kind, ",".join(point.programme_codes))
                for point in session.scalars(select(ServicePoint).order_by(ServicePoint.id)).all()
            ]
    except DatabaseOpenError as exc:
        return _fail(str(exc))
    for row in rows:
        print("\t".join(str(value) for value in row))
    print(translate(N_("Service points: {count}"), args.lang, count=len(rows)))
    return 0

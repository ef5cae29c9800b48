"""`kartu issuance`: issue a resident's card from the register, generate synthetic registers."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from card.apdu import ApduError
from card.i18n import N_, TranslatedError, translate
from card.piv import ManagementKeyError
from card.signing import SignerError
from hardware.pcsc import PcscContext, ReaderError
from issuance import photo_cli, print_cli, station_cli, synth
from issuance.audit import resolve_clerk
from issuance.card_secrets import MasterKeyError
from issuance.interrupted import INTERRUPTED_BEFORE_WRITING, interrupted_message, take_snapshot
from issuance.issue import (
    CardAlreadyIssuedError, IssueResult, PinFileError, check_can_issue, issue_resident, read_pin_file,
)
from issuance.personalise import CardNotBlankError, PersonalisationError
from issuance.photo_store import PhotoMissingError
from issuance.register import Resident, ResidentNotFoundError, find_resident, read_register
from issuance.server_client import RegistrationError, check_server
from issuance.station import Station, StationError
from issuance.web import serve

__all__ = ["add_commands", "read_admin_token"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("issuance", help="issuance station")
    commands = parser.add_subparsers(dest="issuance_command", required=True)
    issue = commands.add_parser("issue", help="issue one resident's card onto the card in the reader")
    issue.add_argument("--station", type=Path, required=True, help="station directory (from 'kartu keys create')")
    issue.add_argument("--register", type=Path, required=True, help="register CSV")
    issue.add_argument("--nik", required=True, help="NIK of the resident to issue")
    issue.add_argument("--faces", type=Path, help="directory for the card-face PNGs (default: STATION/faces)")
    issue.add_argument("--reader", help="PC/SC reader name or prefix (default: the first reader)")
    issue.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a blank card (default 30)")
    issue.add_argument("--qr-only", action="store_true", help="issue a QR-only card: no chip is written")
    issue.add_argument("--pin-file", type=Path,
                       help="file (mode 0600) whose first line is the cardholder PIN, 6 to 8 digits "
                            "(default: a new random PIN, written only to the card's PIN slip "
                            "under STATION/pin-slips/single; see `kartu issuance pin-slips single`)")
    issue.add_argument("--server", help="server URL to register the card with, e.g. http://127.0.0.1:8470")
    issue.add_argument("--admin-token-file", type=Path, help="file holding the server's administrator token")
    issue.add_argument("--clerk", help="name of the clerk for the audit log (default: the station's clerk setting)")
    issue.set_defaults(handler=_issue)
    synth.add_commands(commands)
    serve.add_commands(commands)
    photo_cli.add_commands(commands)
    print_cli.add_commands(commands)
    station_cli.add_commands(commands)


class IssueCommandError(TranslatedError, ValueError):
    """A problem with the command's input files or options, printed in the language of --lang."""


def read_admin_token(path: Path) -> str:
    """Read the administrator token from a file that only its owner may read; raise IssueCommandError."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise IssueCommandError(N_("administrator token file {path} has mode {mode}; run 'chmod 600 {path}'"),
                                path=path, mode=f"{mode & 0o777:04o}")
    token = path.read_text(encoding="utf-8").strip()
    if not token:
        raise IssueCommandError(N_("administrator token file {path} is empty"), path=path)
    return token


def _find_resident(args: argparse.Namespace) -> Resident:
    """Find the resident, explaining register rows that were rejected on the way."""
    nik = args.nik.strip()
    if not (len(nik) == 16 and nik.isascii() and nik.isdigit()):
        raise IssueCommandError(N_("--nik {nik!r} is not a NIK: give the 16 digits exactly as printed on the KTP"),
                                nik=args.nik)
    try:
        result = read_register(args.register)
    except OSError as exc:
        raise IssueCommandError(N_("cannot read the register {path}: {reason}; check the path"),
                                path=args.register, reason=exc.strerror) from None
    try:
        return find_resident(result.residents, args.nik)
    except ResidentNotFoundError as exc:
        errors = [error for error in result.errors if args.nik.strip() in error.value]
        shown = errors or result.errors[:5]
        lines = [exc.message_id if args.lang == "id" else exc.message_en]
        for error in shown:
            message = error.message_id if args.lang == "id" else error.message_en
            lines.append(f"  {args.register}:{error.line} {error.column}: {message}")
        if len(result.errors) > len(shown):
            lines.append("  " + translate(N_("... {count} more rejected rows"), args.lang,
                                          count=len(result.errors) - len(shown)))
        raise LookupError("\n".join(lines)) from None


STATION_KEYS_UNUSABLE = N_(
    "The station's keys in {station} cannot be used ({detail}). Create them with 'kartu keys create --dir {station}', "
    "or restore the key files from the station's backup with mode 0600."
)
PERSONALISATION_FAILED = N_(
    "Personalisation of the card failed ({detail}). Do not hand this card out: set it aside as faulty and issue "
    "again with a new blank card."
)
ISSUER_SIGNING_FAILED = N_(
    "The issuer key could not sign ({detail}). No card was issued, and the card in the reader holds no card data "
    "yet: check that the issuer token is plugged in, then issue again with the same card."
)


def _issue(args: argparse.Namespace) -> int:
    try:
        return _check_and_issue(args)
    except KeyboardInterrupt:
        # Raised before the journal snapshot, so nothing was written; later ones are handled in _check_and_issue.
        print(translate(INTERRUPTED_BEFORE_WRITING, args.lang), file=sys.stderr)
        return 130


def _check_and_issue(args: argparse.Namespace) -> int:
    if (args.server is None) != (args.admin_token_file is None):
        print(translate(N_("give --server and --admin-token-file together, or neither"), args.lang), file=sys.stderr)
        return 2
    if args.qr_only and args.pin_file is not None:
        print(translate(N_("--pin-file sets the chip's PIN; a QR-only card has no chip, so drop --pin-file or "
                           "--qr-only"), args.lang), file=sys.stderr)
        return 2
    try:
        pin = read_pin_file(args.pin_file) if args.pin_file is not None else None
    except PinFileError as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 2
    try:
        station = Station(args.station)
    except StationError as exc:
        print(translate(STATION_KEYS_UNUSABLE, args.lang, station=args.station, detail=exc), file=sys.stderr)
        return 2
    try:
        resident = _find_resident(args)
        token = read_admin_token(args.admin_token_file) if args.admin_token_file else None
        clerk = resolve_clerk(station.journal, args.clerk) if args.clerk else None
        if args.server is not None:
            check_server(args.server, token)
        photo = check_can_issue(station, resident, chip=not args.qr_only)
    except (CardAlreadyIssuedError, PhotoMissingError, IssueCommandError, RegistrationError) as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 2
    except (LookupError, StationError, OSError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    before = take_snapshot(station, resident.nik)
    try:
        issued = _issue_card(args, station, resident, pin, photo, token, clerk)
    except KeyboardInterrupt:
        print(interrupted_message(station, args.station, resident.nik, before, not args.qr_only, args.lang),
              file=sys.stderr)
        return 130
    except (ReaderError, MasterKeyError, CardNotBlankError, CardAlreadyIssuedError) as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 2
    except SignerError as exc:
        print(translate(ISSUER_SIGNING_FAILED, args.lang, detail=exc), file=sys.stderr)
        return 1
    except RegistrationError as exc:
        print(exc.message(args.lang), file=sys.stderr)
        print(translate(N_("card issued but NOT registered; run 'kartu issuance register-pending' when the server "
                           "is back"), args.lang), file=sys.stderr)
        return 1
    except (ApduError, ManagementKeyError, PersonalisationError) as exc:
        print(translate(PERSONALISATION_FAILED, args.lang, detail=exc), file=sys.stderr)
        return 1
    if args.server:
        outcome = N_("card {card_number} ({kind}) issued and registered with the server")
    else:
        outcome = N_("card {card_number} ({kind}) issued, NOT registered (no --server given)")
    kind = N_("chip card") if issued.card.assurance == "chip" else N_("QR-only card")
    print(translate(outcome, args.lang, card_number=issued.card.card_number, kind=translate(kind, args.lang)))
    print(translate(N_("card face: {front} {back}"), args.lang, front=issued.front, back=issued.back))
    return 0


def _issue_card(args: argparse.Namespace, station: Station, resident: Resident, pin: str | None,
                photo: bytes | None, token: str | None, clerk: str | None) -> IssueResult:
    faces = args.faces or args.station / "faces"
    if args.qr_only:
        return issue_resident(station, resident, None, date.today(), faces, args.server, token, clerk=clerk)
    with PcscContext() as context:
        reader = context.choose_reader(args.reader)
        context.wait_for_card(reader, args.timeout)
        with context.connect(reader) as connection:
            return issue_resident(station, resident, connection, date.today(), faces, args.server, token,
                                  pin=pin, photo=photo, clerk=clerk)

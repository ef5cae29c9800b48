"""`kartu issuance queue|show|batch|reissue|register-pending|audit|clerk`: the clerk's work through a queue."""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Iterator

from card.i18n import N_, TranslatedError, argument_language, translate
from card.piv import Connection
from hardware.pcsc import PcscContext, ReaderError
from issuance import audit, batch, pending, pin_slips, queue, reissue, slips_cli, wipe_cli
from issuance.photo_store import PhotoMissingError
from issuance.register import Resident, ResidentNotFoundError, find_resident, read_register
from issuance.station import Station, StationError

__all__ = ["add_commands"]

# Display names of the queue reason codes (queue.REASONS) in `queue` and `show` output.
REASON_TEXT = {"new": N_("new card"), "reissue": N_("replacement card")}
# Display names of the journalled call kinds in `register-pending` output.
CALL_KIND_TEXT = {pending.REGISTRATION: N_("Registration"), pending.REVOCATION: N_("Revocation")}


def _positive(text: str) -> int:
    """Parse a count option that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            translate(N_("{value!r} is not a whole number"), argument_language(), value=text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(translate(N_("{value} must be at least 1"), argument_language(), value=value))
    return value


def _add_station(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--station", type=Path, required=True, help="station directory (from 'kartu keys create')")
    parser.add_argument("--clerk", help="name of the clerk for the audit log (default: the station's clerk setting)")


def _add_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--register", type=Path, help="register CSV to draw the queue from (offline)")
    parser.add_argument("--server", help="server URL, e.g. http://127.0.0.1:8470: queue source without --register, "
                                         "and where cards are registered")
    parser.add_argument("--admin-token-file", type=Path, help="file containing the server's administrator token")


def _add_reader(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--qr-only", action="store_true", help="issue QR-only cards: no chip is written")
    parser.add_argument("--reader", help="PC/SC reader name or prefix (default: the first reader)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for each blank card (default 120)")
    parser.add_argument("--faces", type=Path, help="directory for the card-face PNGs (default: STATION/faces)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    listing = commands.add_parser("queue", help="list the residents waiting for a card")
    _add_station(listing)
    _add_source(listing)
    listing.add_argument("--search", default="", help="name words, or the first digits of a NIK or KK")
    listing.set_defaults(handler=_queue)

    show = commands.add_parser("show", help="show one queued resident's record for checking")
    show.add_argument("id", help="queue number from 'kartu issuance queue', or the full NIK")
    _add_station(show)
    _add_source(show)
    show.add_argument("--show-nik", action="store_true", help="show the NIK and KK unmasked (logged in the audit)")
    show.set_defaults(handler=_show)

    run = commands.add_parser("batch", help="issue cards to the queue, one after another, resumable")
    _add_station(run)
    _add_source(run)
    _add_reader(run)
    run.add_argument("--search", default="", help="issue only the queue entries that match")
    run.add_argument("--limit", type=_positive, help="issue at most this many residents")
    run.add_argument("--resume", action="store_true", help="resume the last unfinished batch instead of a new one")
    run.add_argument("--retry-failed", action="store_true", help="with --resume: issue the failed items again")
    run.set_defaults(handler=_batch)

    replace = commands.add_parser("reissue", help="revoke a lost or stolen card and issue a new one")
    _add_station(replace)
    _add_source(replace)
    _add_reader(replace)
    replace.add_argument("--card", required=True, help="card number of the old card")
    replace.add_argument("--nik", required=True, help="NIK of the card holder")
    replace.add_argument("--reason", required=True, choices=reissue.REASONS, help="why the card is replaced")
    replace.set_defaults(handler=_reissue)

    send = commands.add_parser("register-pending", help="send journalled registrations and revocations to the server")
    _add_station(send)
    send.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8470")
    send.add_argument("--admin-token-file", type=Path, required=True, help="file containing the administrator token")
    send.set_defaults(handler=_register_pending)

    log = commands.add_parser("audit", help="list the station's audit log")
    log.add_argument("--station", type=Path, required=True, help="station directory")
    log.add_argument("--action", choices=audit.ACTIONS, help="only this kind of entry")
    log.add_argument("--card", help="only entries for this card number")
    log.add_argument("--limit", type=_positive, help="only the newest N entries")
    log.set_defaults(handler=_audit)

    clerk = commands.add_parser("clerk", help="set the station's default clerk name for the audit log")
    clerk.add_argument("name", help="clerk's full name")
    clerk.add_argument("--station", type=Path, required=True, help="station directory")
    clerk.set_defaults(handler=_clerk)

    slips_cli.add_commands(commands)
    wipe_cli.add_commands(commands)


class _UsageError(Exception):
    pass


def _open_station(directory: Path) -> Station:
    station = Station(directory)
    reissue.prepare_journal(station.journal)
    return station


def _token(args: argparse.Namespace) -> str | None:
    from issuance.cli import read_admin_token

    if (args.server is None) != (args.admin_token_file is None):
        raise _UsageError(translate("give --server and --admin-token-file together, or neither", args.lang))
    return read_admin_token(args.admin_token_file) if args.admin_token_file else None


def _registration(args: argparse.Namespace) -> batch.Registration | None:
    token = _token(args)
    return batch.Registration(args.server, token) if token is not None else None


def _entries(args: argparse.Namespace, station: Station) -> list[queue.QueueEntry]:
    if args.register is not None:
        result = queue.register_queue(args.register, station.journal)
        if result.rejected_rows:
            print(translate("{count} register rows were rejected; 'kartu issuance issue' explains each",
                            args.lang, count=result.rejected_rows), file=sys.stderr)
        return result.entries
    registration = _registration(args)
    if registration is None:
        raise _UsageError(translate("give --register FILE, or --server and --admin-token-file", args.lang))
    return queue.server_queue(registration.server_url, registration.admin_token)


def _run(args: argparse.Namespace, body) -> int:
    """Open the station, run body(station), and turn expected failures into a message and exit status 2."""
    from issuance.cli import STATION_KEYS_UNUSABLE

    try:
        station = _open_station(args.station)
    except StationError as exc:
        print(translate(STATION_KEYS_UNUSABLE, args.lang, station=args.station, detail=exc), file=sys.stderr)
        return 2
    except OSError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        return body(station)
    except (TranslatedError, PhotoMissingError) as exc:
        # TranslatedError covers QueueError, ClerkMissingError, ReissueError, RegistrationError, MasterKeyError
        # and the admin token errors.
        print(exc.message(args.lang), file=sys.stderr)
        return 2
    except (_UsageError, ValueError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    finally:
        station.close()


def _queue(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        entries = queue.search(_entries(args, station), args.search)
        for entry in entries:
            resident = entry.resident
            print(f"{entry.position:5d}  {queue.mask_number(resident.nik)}  {_reason_text(entry.reason, args.lang)}  "
                  f"{resident.name}  {resident.kelurahan}")
        print(translate("{count} residents waiting", args.lang, count=len(entries)))
        return 0

    return _run(args, body)


def _show(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        try:
            entry = queue.find_entry(_entries(args, station), args.id)
        except queue.QueueError as exc:
            print(exc.message(args.lang), file=sys.stderr)
            return 1
        resident = entry.resident
        if args.show_nik:
            clerk = audit.resolve_clerk(station.journal, args.clerk)
            audit.append(station.journal, clerk, "nik_shown", None, resident.nik, "kartu issuance show --show-nik")
        nik = resident.nik if args.show_nik else queue.mask_number(resident.nik)
        kk = resident.kk if args.show_nik else queue.mask_number(resident.kk)
        rows = [
            (translate("Name", args.lang), resident.name), ("NIK", nik), ("KK", kk),
            (translate("Birth date", args.lang), resident.birth_date.isoformat()),
            (translate("Sex", args.lang), resident.sex),
            (translate("Address", args.lang), resident.address),
            (translate("Kelurahan", args.lang), f"{resident.kelurahan} ({resident.kelurahan_code})"),
            (translate("Kecamatan", args.lang), resident.kecamatan),
            ("Desil", str(resident.desil)),
            (translate("Relationship", args.lang), resident.relationship),
            (translate("Queue reason", args.lang), _reason_text(entry.reason, args.lang).rstrip()),
        ]
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"{label:<{width}}  {value}")
        return 0

    return _run(args, body)


def _reason_text(reason: str, lang: str) -> str:
    """Return the reason code's name in lang, padded to one width so that queue columns line up."""
    names = {code: translate(text, lang) for code, text in REASON_TEXT.items()}
    return names.get(reason, reason).ljust(max(len(name) for name in names.values()))


class _ReaderSlot:
    """Blank cards from one reader: waits for the last card to be taken out, then for the next one."""

    def __init__(self, context: PcscContext, reader: str, timeout: float, lang: str):
        self.context, self.reader, self.timeout, self.lang = context, reader, timeout, lang
        self.used = False

    @contextmanager
    def __call__(self, entry: queue.QueueEntry) -> Iterator[Connection]:
        if self.used:
            print(translate("take the card out of the reader", self.lang))
            self.context.wait_for_removal(self.reader, self.timeout)
        print(translate("put a blank card in the reader for item {position}: {name}", self.lang,
                        position=entry.position, name=entry.resident.name))
        self.context.wait_for_card(self.reader, self.timeout)
        self.used = True
        with self.context.connect(self.reader) as connection:
            yield connection


def _batch_id(args: argparse.Namespace, station: Station, clerk: str) -> int:
    db = station.journal
    if args.resume:
        batch_id = batch.latest_open_batch(db)
        if batch_id is None and args.retry_failed:
            row = db.execute("SELECT max(id) FROM batches").fetchone()
            batch_id = row[0]
        if batch_id is None:
            raise _UsageError(translate("no unfinished batch to resume; start one without --resume", args.lang))
        if args.retry_failed:
            batch.retry_failed(db, batch_id)
        return batch_id
    entries = queue.search(_entries(args, station), args.search)
    if args.limit is not None:
        entries = entries[: args.limit]
    if not entries:
        raise _UsageError(translate("the queue is empty: no resident waits for a card", args.lang))
    source = str(args.register) if args.register is not None else args.server
    return batch.create_batch(db, entries, clerk, source, args.qr_only)


def _batch(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        clerk = audit.resolve_clerk(station.journal, args.clerk)
        registration = _registration(args)
        batch_id = _batch_id(args, station, clerk)
        faces = args.faces or args.station / "faces"
        print(translate("batch {batch_id}", args.lang, batch_id=batch_id))
        # A resumed batch keeps the card kind it was made with, whatever --qr-only says now.
        if batch.batch_is_qr_only(station.journal, batch_id):
            report = batch.run_batch(station, batch_id, clerk, date.today(), faces, None, registration,
                                     sys.stdout, args.lang)
        else:
            with PcscContext() as context:
                slot = _ReaderSlot(context, context.choose_reader(args.reader), args.timeout, args.lang)
                report = batch.run_batch(station, batch_id, clerk, date.today(), faces, slot, registration,
                                         sys.stdout, args.lang)
        _print_batch_report(report, args.lang)
        slips = pin_slips.slip_paths(args.station, pin_slips.batch_group(batch_id))
        if slips:
            print(translate("{count} PIN slips wait in {directory}: print them with 'kartu issuance pin-slips "
                            "{batch_id} --print QUEUE', then delete them with --delete", args.lang,
                            count=len(slips), directory=slips[0].parent, batch_id=batch_id))
        return 0 if not report.failed and report.stopped is None else 1

    return _run_reader(args, body)


def _print_batch_report(report: batch.BatchReport, lang: str) -> None:
    print(translate("{issued} cards issued, {failed} failed, {unregistered} not yet registered with the server",
                    lang, issued=len(report.issued), failed=len(report.failed), unregistered=report.unregistered))
    for position, error in report.failed:
        print(translate("  item {position}: {error}; set the card aside as a bad card", lang,
                        position=position, error=error))
    if report.stopped is not None:
        print(translate("resume with 'kartu issuance batch --resume'", lang))


def _run_reader(args: argparse.Namespace, body) -> int:
    try:
        return _run(args, body)
    except ReaderError as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 2


def _reissue(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        clerk = audit.resolve_clerk(station.journal, args.clerk)
        registration = _registration(args)
        resident = _reissue_resident(args)
        faces = args.faces or args.station / "faces"
        if args.qr_only:
            result = reissue.reissue(station, args.card, resident, args.reason, clerk, None, date.today(),
                                     registration)
        else:
            with PcscContext() as context:
                reader = context.choose_reader(args.reader)
                print(translate("put a blank card in the reader", args.lang))
                context.wait_for_card(reader, args.timeout)
                with context.connect(reader) as connection:
                    result = reissue.reissue(station, args.card, resident, args.reason, clerk, connection,
                                             date.today(), registration)
        front, back = batch.render_face(result.issued.card, resident, result.issued.photo, faces)
        _print_reissue(args, result, front, back)
        return 0 if result.revoked_on_server and result.registered else 1

    try:
        return _run_reader(args, body)
    except batch.CardFailure as exc:
        print(translate("the new card failed: {error}; set it aside and run the reissue again with a blank card",
                        args.lang, error=exc), file=sys.stderr)
        return 1


def _reissue_resident(args: argparse.Namespace) -> Resident:
    """Find the card holder among every valid row of the register, else on the server."""
    if args.register is not None:
        try:
            return find_resident(read_register(args.register).residents, args.nik)
        except ResidentNotFoundError as exc:
            raise _UsageError(exc.message_id if args.lang == "id" else exc.message_en) from None
    registration = _registration(args)
    if registration is None:
        raise _UsageError(translate("give --register FILE, or --server and --admin-token-file", args.lang))
    return queue.server_resident(registration.server_url, registration.admin_token, args.nik.strip()).resident


def _print_reissue(args: argparse.Namespace, result: reissue.ReissueResult, front: Path, back: Path) -> None:
    lang = args.lang
    if result.revoked_on_server:
        print(translate("card {card_number} revoked on the server", lang, card_number=args.card))
    else:
        print(translate("card {card_number} is NOT yet revoked on the server ({error}); run "
                        "'kartu issuance register-pending' as soon as the network is back", lang,
                        card_number=args.card, error=result.revocation_error))
    card = result.issued.card
    print(translate("new card {card_number} issued", lang, card_number=card.card_number))
    if not result.registered:
        print(translate("new card NOT yet registered ({error}); run 'kartu issuance register-pending'", lang,
                        error=result.registration_error))
    print(translate("card face: {front} {back}", lang, front=front, back=back))


def _register_pending(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        clerk = audit.resolve_clerk(station.journal, args.clerk)
        registration = _registration(args)
        report = pending.send_pending(station.journal, registration.server_url, registration.admin_token, clerk)
        print(translate("{sent} sent to the server", args.lang, sent=len(report.sent)))
        for call, error in report.rejected:
            kind = translate(CALL_KIND_TEXT[call.kind], args.lang) if call.kind in CALL_KIND_TEXT else call.kind
            print(translate("{kind} of card {card_number} rejected: {error}", args.lang, kind=kind,
                            card_number=call.card_number, error=error))
        if report.unreachable is not None:
            print(translate("server unreachable, {left} calls still pending: {error}", args.lang,
                            left=report.left, error=report.unreachable))
        if report.without_body:
            print(translate("{count} unregistered cards have no stored registration (journalled by an "
                            "older station version): {cards}", args.lang, count=len(report.without_body),
                            cards=", ".join(report.without_body)))
        return 0 if report.left == 0 and not report.without_body else 1

    return _run(args, body)


def _audit(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        for entry in audit.entries(station.journal, args.action, args.card, args.limit):
            nik = queue.mask_number(entry.nik) if entry.nik else "-"
            print(f"{entry.at}  {entry.action:9s}  {entry.card_number or '-':16s}  {nik}  {entry.clerk}  "
                  f"{entry.detail}")
        return 0

    return _run(args, body)


def _clerk(args: argparse.Namespace) -> int:
    def body(station: Station) -> int:
        name = audit.set_station_clerk(station.journal, args.name)
        print(translate("station clerk set to {name}", args.lang, name=name))
        return 0

    return _run(args, body)

"""`kartu terminal`: enrol, tap, sync and status for a service-point terminal."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import datetime, time as day_time, timezone
from pathlib import Path

from card.i18n import N_, argument_language, translate
from hardware.pcsc import ReaderError
from hardware.qrimage import QRImageError, decode_qr_image
from terminal.enrol import EnrolmentError, enrol_terminal, open_terminal
from terminal.cli_errors import guard_subcommands
from terminal.store import StoreError
from terminal.sync import SyncClient, SyncError, SyncReport
from terminal.tap import TapOutcome, TapService, period_of
from terminal.tap_cli import reader_available, serve_chip_cards
from terminal.web.serve import add_serve_command
from terminal import receipt_cli, trust_cli
from terminal.receipt_cli import add_printer_option, attach_receipts, issue_receipt, printer_for
from terminal.scanner_cli import serve_scanner
from terminal.scheduler import SchedulePolicy, serve_scheduled
from terminal.offline_rules import OfflineAction, OfflineRule, RuledTapService, save_rule
from terminal.programmes import amount
from terminal.web.messages import remaining_line

__all__ = ["add_commands"]

EXIT_ACCEPTED, EXIT_REFUSED, EXIT_ERROR = 0, 1, 2


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("terminal", help="service-point terminal")
    commands = parser.add_subparsers(dest="terminal_command", required=True)

    enrol = commands.add_parser("enrol", help="enrol this terminal with the server once")
    enrol.add_argument("--dir", type=Path, required=True, help="terminal directory to create")
    enrol.add_argument("--server", required=True, help="server URL, e.g. http://127.0.0.1:8470")
    enrol.add_argument("--code", required=True, help="one-time enrolment code from the administrator")
    enrol.add_argument("--issuer-key", type=Path, action="append", default=[], help="issuer public key PEM (repeatable)")
    enrol.add_argument("--root-key", type=Path, help="city root public key PEM to pin; trust lists must verify to it")
    enrol.add_argument("--trust-list", type=Path, help="signed trust list to apply at enrolment (needs --root-key)")
    enrol.add_argument("--name", default="terminal", help="name shown to administrators")
    enrol.set_defaults(handler=_enrol)

    tap = commands.add_parser("tap", help="serve a card: tap it on the reader (--loop: card after card) or scan its QR code")
    tap.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    tap.add_argument("--program", required=True, help="programme code, e.g. lpg")
    tap.add_argument("--quantity", type=int, default=1, help="units handed over (default 1)")
    tap.add_argument("--reader", help="PC/SC reader name or prefix (default: the first reader)")
    tap.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a card (default 30; not with --loop)")
    tap.add_argument("--loop", action="store_true", help="serve card after card until Ctrl+C, printing each decision")
    tap.add_argument("--check-photo", action="store_true",
                     help="identity check (clinic, cash aid): read the chip's facial image and match it to the card data")
    source = tap.add_mutually_exclusive_group()
    source.add_argument("--qr-image", type=Path, help="decode the QR code from this image instead of the chip")
    source.add_argument("--qr-text", help="QR text (KB1:...) read by a scanner, instead of the chip")
    source.add_argument("--scanner", metavar="PORT",
                        help="read QR codes from a serial scanner on PORT (e.g. /dev/ttyACM0) instead of the chip")
    tap.add_argument("--scanner-terminator", choices=["cr", "lf", "crlf"], default="cr",
                     help="line ending the scanner sends after each code (default cr)")
    add_printer_option(tap)
    tap.add_argument("--json", action="store_true", help="print the decision as JSON")
    tap.set_defaults(handler=_tap)

    sync = commands.add_parser("sync", help="push recorded hand-overs and pull entitlements")
    sync.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    sync.add_argument("--schedule", action="store_true",
                      help="keep running: sync nightly (or --every-minutes), retry with backoff, SIGUSR1 syncs at once")
    sync.add_argument("--at", type=_time_of_day, default=day_time(1, 0), metavar="HH:MM",
                      help="WIB time of the nightly sync with --schedule (default 01:00)")
    sync.add_argument("--every-minutes", type=float, help="with --schedule, sync at this interval instead of nightly")
    sync.set_defaults(handler=_sync)

    trust_cli.add_commands(commands)
    add_serve_command(commands, _fail)
    receipt_cli.add_commands(commands)

    offline = commands.add_parser("offline-rule", help="set how long a programme may be served without a sync")
    offline.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    offline.add_argument("--program", required=True, help="programme code, e.g. lpg")
    offline.add_argument("--max-hours", type=float, required=True, help="hours allowed since the last successful sync")
    offline.add_argument("--after", choices=[action.value for action in OfflineAction], required=True,
                         help="past the limit: refuse hand-overs, or record them with a warning")
    offline.set_defaults(handler=_offline_rule)

    status = commands.add_parser("status", help="show records waiting to be sent")
    status.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    status.set_defaults(handler=_status)

    # Last, so that every subcommand above, nested ones included, reports store and key-file errors cleanly.
    guard_subcommands(parser)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_ERROR


def _enrol(args: argparse.Namespace) -> int:
    try:
        store = enrol_terminal(args.dir, args.server, args.code, args.issuer_key, args.name,
                               root_key_file=args.root_key, trust_list_file=args.trust_list)
    except EnrolmentError as exc:
        return _fail(exc.message(args.lang))
    except (OSError, ValueError) as exc:
        return _fail(str(exc))
    print(translate(N_("terminal {terminal_id} enrolled; programmes served: {programmes}"), args.lang,
                    terminal_id=store.terminal_id, programmes=", ".join(store.programmes)))
    return EXIT_ACCEPTED


def _scan_qr(service: TapService, args: argparse.Namespace) -> TapOutcome:
    text = args.qr_text if args.qr_text is not None else decode_qr_image(args.qr_image)
    # A chip card's QR code is accepted only while this terminal has no working reader.
    return service.scan_qr(text, args.program, datetime.now(timezone.utc), args.quantity,
                           reader_available=reader_available(args.reader))


def _tap(args: argparse.Namespace) -> int:
    language = args.lang
    if args.quantity < 1:
        return _fail(translate(N_("--quantity must be 1 or more, got {quantity}"), language, quantity=args.quantity))
    scanning = args.qr_text is not None or args.qr_image is not None
    if scanning and (args.loop or args.check_photo):
        return _fail(translate(N_("--loop and --check-photo work with the chip; drop them or drop "
                                  "--qr-image/--qr-text"), language))
    if args.scanner is not None and args.check_photo:
        return _fail(translate(N_("--check-photo works with the chip; drop it or drop --scanner"), language))
    try:
        store, signer = open_terminal(args.dir)
        if args.program not in store.programmes:
            return _fail(_not_served(args.program, store.programmes, language))
        service = RuledTapService(store, signer)
        printer = printer_for(store, args)
        attach_receipts(service, printer)

        def report(outcome: TapOutcome) -> None:
            _print_outcome(outcome, args.program, language, args.json)
            sys.stdout.flush()
            offline = service.warnings.pop(outcome.record_id, None) if outcome.record_id else None
            if offline is not None:
                print(offline.warning(language), file=sys.stderr, flush=True)
            issue_receipt(store, outcome, printer, language)

        if args.scanner is not None:
            return serve_scanner(service, args, report)
        if not scanning:
            return serve_chip_cards(service, args, report)
        outcome = _scan_qr(service, args)
    except (ReaderError, EnrolmentError) as exc:
        return _fail(exc.message(language))
    except (QRImageError, StoreError, OSError) as exc:
        return _fail(str(exc))
    # Printed only after the record is committed: a reader of this line can rely on it.
    report(outcome)
    return EXIT_ACCEPTED if outcome.decision.accepted else EXIT_REFUSED


def _print_outcome(outcome: TapOutcome, program: str, language: str, as_json: bool) -> None:
    decision = outcome.decision
    if as_json:
        print(json.dumps({
            "accepted": decision.accepted,
            "reason": decision.reason.value if decision.reason else None,
            "message_id": decision.message_id,
            "message_en": decision.message_en,
            "card_number": outcome.credential.card_number if outcome.credential else None,
            "record_id": outcome.record_id,
            "remaining": outcome.remaining,
        }))
        return
    word = translate(N_("ACCEPTED") if decision.accepted else N_("REFUSED"), language)
    print(word)
    if outcome.credential:
        print(f"{outcome.credential.holder.name} · {outcome.credential.card_number}")
    print(decision.message(language))
    if decision.accepted and outcome.remaining is not None:
        month = period_of(datetime.now(timezone.utc))
        print(remaining_line(program, month, amount(outcome.remaining, outcome.unit), language, outcome.quota_period))


def _time_of_day(text: str) -> day_time:
    try:
        return day_time.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(translate(N_("time {text!r} is invalid; give it as HH:MM, e.g. 01:00"),
                                                   argument_language(), text=text)) from None


def _sync(args: argparse.Namespace) -> int:
    try:
        store, signer = open_terminal(args.dir)
        server_url = store.require_meta("server_url")
        client = SyncClient(store, signer, server_url)
        try:
            if args.schedule:
                interval = args.every_minutes * 60 if args.every_minutes is not None else None
                serve_scheduled(client.sync, server_url, SchedulePolicy(nightly_at=args.at, interval_seconds=interval))
                return EXIT_ACCEPTED
            report = client.sync()
        finally:
            client.close()
    except (SyncError, EnrolmentError) as exc:
        return _fail(exc.message(args.lang))
    except (StoreError, ValueError) as exc:
        return _fail(str(exc))
    print(_sync_summary(report, args.lang))
    return EXIT_ACCEPTED if not report.rejected else EXIT_REFUSED


def _sync_summary(report: SyncReport, language: str) -> str:
    pulled = ", ".join(report.programmes_pulled) or translate(N_("none"), language)
    return translate(N_("sync finished: {pushed} hand-overs sent, {duplicates} already on the server, {rejected} "
                        "rejected; entitlements pulled for: {pulled}"), language,
                     pushed=report.pushed, duplicates=report.duplicates, rejected=len(report.rejected), pulled=pulled)


def _not_served(program: str, served: list[str], language: str) -> str:
    return translate(N_("programme {program!r} is not served here; this terminal serves {served}"), language,
                     program=program, served=", ".join(served))


def _offline_rule(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.max_hours) and round(args.max_hours * 3600) >= 1):
        return _fail(translate(N_("--max-hours must be more than 0, got {hours:g}; give the hours a programme may be "
                                  "served without a sync, e.g. 48"), args.lang, hours=args.max_hours))
    try:
        store, _signer = open_terminal(args.dir)
        rule = OfflineRule(args.program, round(args.max_hours * 3600), OfflineAction(args.after))
    except EnrolmentError as exc:
        return _fail(exc.message(args.lang))
    except (StoreError, ValueError) as exc:
        return _fail(str(exc))
    if args.program not in store.programmes:
        return _fail(_not_served(args.program, store.programmes, args.lang))
    save_rule(store, rule)
    after = N_("refuse hand-overs") if rule.action is OfflineAction.REFUSE else N_("record hand-overs with a warning")
    print(translate(N_("{program}: at most {hours:g} hours without a sync, then {after}"), args.lang,
                    program=rule.program, hours=args.max_hours, after=translate(after, args.lang)))
    return EXIT_ACCEPTED


def _status(args: argparse.Namespace) -> int:
    try:
        store, _signer = open_terminal(args.dir)
    except EnrolmentError as exc:
        return _fail(exc.message(args.lang))
    except StoreError as exc:
        return _fail(str(exc))
    counts = store.count_by_status()
    print(json.dumps({"terminal_id": store.terminal_id, "programmes": store.programmes, "records": counts}))
    return EXIT_ACCEPTED

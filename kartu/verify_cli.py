"""`kartu verify`: verify a QR credential offline against a terminal's trust and revocation lists.

The QR code comes as text (--qr-text) or from an image (--qr-image). The
decision and its reason are printed in Bahasa Indonesia (--lang en for
English). Exit status: 0 accepted, 1 refused, 2 usage error (a missing
terminal directory, an unreadable image, a malformed --at). Nothing is
recorded in the terminal store.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from card.i18n import LANGUAGES, N_, translate
from card.verify import Verification, verify_qr
from hardware.qrimage import QRImageError, decode_qr_image
from terminal.enrol import STORE_NAME
from terminal.store import TerminalStore

__all__ = ["add_commands", "EXIT_ACCEPTED", "EXIT_REFUSED", "EXIT_USAGE"]

EXIT_ACCEPTED, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify", help="verify a QR credential offline against a terminal's trust and revocation lists"
    )
    parser.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory whose lists are used")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--qr-text", help="QR text as a scanner reads it (KB1:...)")
    source.add_argument("--qr-image", type=Path, help="image file (PNG, JPEG) showing the QR code")
    parser.add_argument(
        "--at", help="verify as of this time, ISO 8601 with a UTC offset, e.g. 2027-01-31T23:59:59+07:00 (default: now)"
    )
    # SUPPRESS keeps the global `kartu --lang` unless this option is given after `verify`.
    parser.add_argument("--lang", choices=LANGUAGES, default=argparse.SUPPRESS, help="language of the message (default id)")
    parser.add_argument("--json", action="store_true", help="print the decision as JSON")
    parser.set_defaults(handler=_verify)


def _usage_error(message: str) -> int:
    print(message, file=sys.stderr)
    return EXIT_USAGE


def _parse_time(text: str | None, language: str) -> datetime:
    if text is None:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(translate(N_("--at {text!r} is not an ISO 8601 time; write e.g. 2027-01-31T23:59:59+07:00"),
                                   language, text=text)) from None
    if moment.tzinfo is None:
        raise ValueError(translate(N_("--at {text!r} has no UTC offset; add one, e.g. +07:00 for WIB"), language,
                                   text=text))
    return moment


def _verify(args: argparse.Namespace) -> int:
    store_path = args.dir / STORE_NAME
    if not store_path.is_file():
        return _usage_error(translate(N_("{directory} is not a terminal directory (no {store}); run 'kartu terminal "
                                         "enrol' first"), args.lang, directory=args.dir, store=STORE_NAME))
    try:
        now = _parse_time(args.at, args.lang)
        text = args.qr_text if args.qr_text is not None else decode_qr_image(args.qr_image)
    except (ValueError, QRImageError) as exc:
        return _usage_error(str(exc))
    store = TerminalStore(store_path)
    try:
        result = verify_qr(text, store.trust_store(), now)
    finally:
        store.close()
    _print_result(result, args.lang, args.json)
    return EXIT_ACCEPTED if result.accepted else EXIT_REFUSED


def _print_result(result: Verification, language: str, as_json: bool) -> None:
    decision, credential = result.decision, result.credential
    if as_json:
        print(json.dumps({
            "accepted": decision.accepted,
            "reason": decision.reason.value if decision.reason else None,
            "message": decision.message(language),
            "card_number": credential.card_number if credential else None,
            "expires": credential.expires.isoformat() if credential else None,
        }, ensure_ascii=False))
        return
    word = translate(N_("ACCEPTED") if decision.accepted else N_("REFUSED"), language)
    print(word if decision.accepted else f"{word} ({decision.reason.value})")
    if credential is not None:
        print(f"{credential.holder.name} · {credential.card_number}")
    print(decision.message(language))

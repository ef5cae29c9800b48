"""`kartu issuance wipe`: reset a half-written or bad card in the reader to blank."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from card.apdu import ApduError
from card.i18n import translate
from card.piv import ManagementKeyError, PivSession
from hardware.pcsc import PcscContext, ReaderError
from issuance import audit
from issuance.card_secrets import MasterKeyError
from issuance.reissue import prepare_journal
from issuance.station import Station, StationError
from issuance.wipe import WipeError, wipe_card

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    wipe = commands.add_parser("wipe", help="reset a half-written or bad card in the reader to blank")
    wipe.add_argument("--station", type=Path, required=True, help="station directory")
    wipe.add_argument("--clerk", help="name of the clerk for the audit log (default: the station's clerk setting)")
    wipe.add_argument("--card", help="card number printed on the card; needed only when the card cannot tell it")
    wipe.add_argument("--reader", help="PC/SC reader name or prefix (default: the first reader)")
    wipe.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the card (default 30)")
    wipe.set_defaults(handler=_wipe)


def _wipe(args: argparse.Namespace) -> int:
    lang = args.lang
    try:
        station = Station(args.station)
    except (StationError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        prepare_journal(station.journal)
        clerk = audit.resolve_clerk(station.journal, args.clerk)
        with PcscContext() as context:
            reader = context.choose_reader(args.reader)
            context.wait_for_card(reader, args.timeout)
            with context.connect(reader) as connection:
                result = wipe_card(PivSession(connection), station, clerk, args.card)
    except (audit.ClerkMissingError, WipeError) as exc:
        print(exc.message(lang), file=sys.stderr)
        return 2
    except (ReaderError, MasterKeyError) as exc:
        print(exc.message(lang), file=sys.stderr)
        return 2
    except (ApduError, ManagementKeyError, ValueError) as exc:
        print(translate("wiping the card failed ({error}); put it back and run the wipe again, or set it aside",
                        lang, error=exc), file=sys.stderr)
        return 1
    finally:
        station.close()
    print(translate("card {card_number} is blank again and can be issued", lang,
                    card_number=result.card_number or "-"))
    return 0

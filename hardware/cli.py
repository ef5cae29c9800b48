"""`kartu card emulate`: put a reference card into the vpcd virtual reader."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from card.i18n import N_, translate
from card.reference import ATR, ReferenceCard
from card.reference_state import CardState, CardStateError
from hardware.vpcd import VPCD_PORT, serve_card

__all__ = ["add_commands"]

log = logging.getLogger(__name__)

CARD_FILE_UNUSABLE = N_(
    "The reference card file {path} cannot be loaded ({detail}). Restore the file from a copy; or remove it, and "
    "the emulator starts a blank card there, which has lost the old card's keys and data."
)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("card", help="reference PIV card")
    commands = parser.add_subparsers(dest="card_command", required=True)
    emulate = commands.add_parser(
        "emulate", help="insert a reference card into the vpcd reader until interrupted"
    )
    emulate.add_argument("--state", type=Path, required=True, help="card state file (created blank if missing)")
    emulate.add_argument(
        "--port", type=int, default=VPCD_PORT,
        help=f"vpcd TCP port on 127.0.0.1: {VPCD_PORT} is 'Virtual PCD 00 00', {VPCD_PORT + 1} is 'Virtual PCD 00 01'",
    )
    emulate.set_defaults(handler=_emulate)


def _emulate(args: argparse.Namespace) -> int:
    try:
        state = CardState.open(args.state)
    except CardStateError as exc:
        print(translate(CARD_FILE_UNUSABLE, args.lang, path=args.state, detail=exc.detail), file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"card {state.serial.hex()} inserted on port {args.port}", flush=True)
    try:
        serve_card(ReferenceCard(state), ATR, stop, port=args.port)
    except ConnectionError as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0

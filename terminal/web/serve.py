"""`kartu terminal serve`: run the counter's web UI on 127.0.0.1 for a kiosk browser."""

from __future__ import annotations

import argparse
import logging
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Callable

import uvicorn

from terminal.enrol import EnrolmentError, open_terminal
from terminal.modes import ModeName, mode_named
from terminal.receipt_cli import add_printer_option, printer_for
from terminal.store import StoreError
from terminal.web.app import create_app
from terminal.web.counter import Counter
from terminal.web.events import EventBroker
from terminal.web.receipts import CounterReceipts

__all__ = ["add_serve_command", "HOST", "DEFAULT_PORT", "build_counter"]

log = logging.getLogger(__name__)

# The UI is for the screen of this machine only; it never listens on another address.
HOST = "127.0.0.1"
DEFAULT_PORT = 8480
# Programme recorded in the tap digest of a kiosk, which records nothing.
KIOSK_PROGRAM = "kiosk"
# Event streams stay open until the page closes, so shutdown waits at most this long for them.
GRACEFUL_SHUTDOWN_SECONDS = 3


def add_serve_command(commands: argparse._SubParsersAction, fail: Callable[[str], int]) -> None:
    serve = commands.add_parser("serve", help="run the counter's web UI on 127.0.0.1 for a kiosk browser")
    serve.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    serve.add_argument("--mode", required=True, choices=[mode.value for mode in ModeName],
                       help="what this service point does with a tap")
    serve.add_argument("--program", help="programme code a tap records (default: the mode's programme)")
    serve.add_argument("--reader", help="PC/SC reader name or prefix (default: the first reader)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port on {HOST} (default {DEFAULT_PORT})")
    serve.add_argument("--max-list-age-days", type=int, default=7,
                       help="warn when the trust or revocation list is older than this many days, and the last "
                            "sync too when the programme has no offline rule (default 7)")
    add_printer_option(serve)
    serve.set_defaults(handler=lambda args: _serve(args, fail))


def build_counter(directory: Path, mode_name: str, program: str | None = None, reader: str | None = None,
                  max_list_age: timedelta = timedelta(days=7),
                  printer_options: argparse.Namespace | None = None) -> Counter:
    """Check the terminal directory and the programme, and build the counter; raise ValueError when they do not fit.

    printer_options holds the --printer options of `serve`; without them the
    counter prints to the printer stored in the terminal, if any.
    """
    mode = mode_named(mode_name)
    store, _signer = open_terminal(directory)
    try:
        served = store.programmes
        printer = printer_for(store, printer_options or argparse.Namespace())
    finally:
        store.close()
    chosen = program or mode.program or KIOSK_PROGRAM
    if mode.records and chosen not in served:
        raise ValueError(
            f"programme {chosen!r} is not served by this terminal, which serves {', '.join(served)}; "
            "pass --program with one of them"
        )
    # A kiosk records no hand-over, so it prints no receipt.
    receipts = CounterReceipts(printer) if printer is not None and mode.records else None
    return Counter(directory, mode, chosen, EventBroker(), reader, max_list_age, receipts)


def _serve(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    if args.max_list_age_days < 1:
        return fail(f"--max-list-age-days must be 1 or more, got {args.max_list_age_days}")
    try:
        counter = build_counter(args.dir, args.mode, args.program, args.reader,
                                timedelta(days=args.max_list_age_days), args)
    except (EnrolmentError, StoreError, ValueError) as exc:
        return fail(str(exc))
    token = secrets.token_urlsafe(32)
    # The address carries the access token: print it for the kiosk browser, never log it.
    print(f"http://{HOST}:{args.port}/?token={token}", flush=True)
    log.info("terminal UI for mode %s on %s:%d", args.mode, HOST, args.port)
    config = uvicorn.Config(create_app(counter, token), host=HOST, port=args.port, log_level="warning",
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
    _Server(config, counter.broker).run()
    return 0


class _Server(uvicorn.Server):
    """A uvicorn server that ends the open event streams on SIGINT or SIGTERM, so it stops at once."""

    def __init__(self, config: uvicorn.Config, broker: EventBroker):
        super().__init__(config)
        self._broker = broker

    def handle_exit(self, sig: int, frame: object) -> None:
        self._broker.close()
        super().handle_exit(sig, frame)

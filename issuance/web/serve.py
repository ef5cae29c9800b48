"""`kartu issuance serve`: run the clerk's web UI on 127.0.0.1 and print the login address."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import sys
from pathlib import Path

from card.i18n import N_, translate
from issuance import audit
from issuance.cups import PrintError, check_queue_name
from issuance.photo_store import PHOTOS_DIR
from issuance.station import Station, StationError
from issuance.web.actions import StationSettings
from issuance.web.security import AccessGuard, new_access_token

__all__ = ["add_commands", "DEFAULT_PORT"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 8481
SERVE_STARTED = N_("Issuance station UI for clerk {clerk}: open {url} in the browser on this computer. Ctrl+C stops it.")


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="run the clerk's web UI on 127.0.0.1")
    serve.add_argument("--station", type=Path, required=True, help="station directory (from 'kartu keys create')")
    serve.add_argument("--register", type=Path, required=True, help="register CSV that the queue is drawn from")
    serve.add_argument("--clerk", help="clerk name for the audit log (default: the name set with 'kartu issuance clerk')")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port on 127.0.0.1 (default {DEFAULT_PORT})")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    serve.add_argument("--faces", type=Path, help="directory for card faces (default: STATION/faces)")
    serve.add_argument("--print-queue", help="CUPS queue that prints card faces, e.g. CardPrinter (default: no printing)")
    serve.add_argument("--reader", help="PC/SC reader name or prefix (default: the first reader)")
    serve.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a blank card (default 30)")
    serve.add_argument("--qr-only", action="store_true", help="issue QR-only cards: no chip is written")
    serve.add_argument("--camera", help="camera device for the photo button, e.g. /dev/video0 (default: file upload only)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from issuance.web.app import create_app

    try:
        if not ipaddress.ip_address(args.host).is_loopback:
            raise ValueError(f"--host {args.host} is not a loopback address; the station UI listens on 127.0.0.1 only")
        if args.print_queue is not None:
            check_queue_name(args.print_queue)
        clerk = _resolve_clerk(args.station, args.clerk)
    except PrintError as exc:
        print(exc.message(args.lang), file=sys.stderr)
        return 2
    except (ValueError, StationError) as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = StationSettings(
        station_dir=args.station, register=args.register, clerk=clerk,
        faces_dir=args.faces or args.station / "faces", photos_dir=args.station / PHOTOS_DIR,
        print_queue=args.print_queue, reader=args.reader, qr_only=args.qr_only, card_timeout=args.timeout,
        camera=args.camera,
    )
    guard = AccessGuard(new_access_token(), args.port)
    url = f"http://127.0.0.1:{args.port}/login?token={guard.token}"
    print(translate(SERVE_STARTED, args.lang, clerk=clerk, url=url), flush=True)
    log.info("issuance station UI starting on 127.0.0.1:%d", args.port)
    uvicorn.run(create_app(settings, guard), host=args.host, port=args.port, log_level="warning", access_log=False)
    log.info("issuance station UI stopped")
    return 0


def _resolve_clerk(station_dir: Path, clerk_option: str | None) -> str:
    station = Station(station_dir)
    try:
        return audit.resolve_clerk(station.journal, clerk_option)
    finally:
        station.close()

"""`kartu keys create`: make a station's issuer key pair and household pseudonym key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from issuance.station import create_station_keys

__all__ = ["add_commands"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("keys", help="issuer keys")
    commands = parser.add_subparsers(dest="keys_command", required=True)
    create = commands.add_parser("create", help="create an issuer key pair and a household key")
    create.add_argument("--dir", type=Path, required=True, help="station directory for the key files")
    create.set_defaults(handler=_create)


def _create(args: argparse.Namespace) -> int:
    try:
        kid = create_station_keys(args.dir)
    except OSError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"issuer kid {kid.hex()} in {args.dir}")
    return 0

"""`kartu`: the command line of Kartu Bahagia."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from card.i18n import LANGUAGES

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    from hardware import cli as card_cli
    from issuance import cli as issuance_cli
    from kartu import demo, keys_cli, verify_cli
    from server import cli as server_cli
    from server import people_cli
    from terminal import cli as terminal_cli

    parser = argparse.ArgumentParser(prog="kartu", description="Kartu Bahagia, the Kota Jambi social-assistance card")
    parser.add_argument(
        "--lang", choices=LANGUAGES, default=os.environ.get("KARTU_LANG", "id"),
        help="language of messages: id (Bahasa Indonesia, default) or en",
    )
    parser.add_argument(
        "--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        default=os.environ.get("KARTU_LOG_LEVEL", "").upper() or None,
        help="logging level (default INFO for the server, WARNING for other commands)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    card_cli.add_commands(subparsers)
    keys_cli.add_commands(subparsers)
    issuance_cli.add_commands(subparsers)
    terminal_cli.add_commands(subparsers)
    server_cli.add_commands(subparsers)
    people_cli.add_commands(subparsers)
    demo.add_commands(subparsers)
    verify_cli.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A long-running server logs its start, stop and sync batches; one-shot commands stay quiet.
    level = args.log_level or ("INFO" if args.command == "server" else "WARNING")
    # force: python-escpos 3.1 calls logging.basicConfig() when it is imported, which would
    # otherwise leave the root logger at WARNING and hide the server's start and stop lines.
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

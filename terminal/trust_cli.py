"""`kartu terminal trust`: update a terminal's trust and revocation lists, and show what it holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from card.i18n import N_, translate
from card.keys import kid_of
from terminal.enrol import STORE_NAME
from terminal.store import StoreError, TerminalStore
from terminal.trust import DirectorySource, TrustUpdateError, update_trust

__all__ = ["add_commands"]

EXIT_OK, EXIT_ERROR = 0, 2


def add_commands(terminal_commands: argparse._SubParsersAction) -> None:
    parser = terminal_commands.add_parser("trust", help="trust list and revocation list of this terminal")
    commands = parser.add_subparsers(dest="trust_command", required=True)

    update = commands.add_parser(
        "update", help="apply the newer trust list and revocation lists from a publication directory"
    )
    update.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    update.add_argument("--from", dest="source", type=Path, required=True,
                        help="publication directory (trustlist.cose, revocations/)")
    update.set_defaults(handler=_update)

    status = commands.add_parser("status", help="show the pinned root key, trust list sequence and revocation version")
    status.add_argument("--dir", type=Path, required=True, help="enrolled terminal directory")
    status.set_defaults(handler=_status)


def _open(directory: Path, language: str) -> TerminalStore:
    path = directory / STORE_NAME
    if not path.is_file():
        raise StoreError(translate(N_("{directory} is not a terminal directory (no {store}); run 'kartu terminal "
                                      "enrol' first"), language, directory=directory, store=STORE_NAME))
    store = TerminalStore(path)
    store.require_meta("terminal_id")
    return store


def _update(args: argparse.Namespace) -> int:
    try:
        store = _open(args.dir, args.lang)
        try:
            report = update_trust(store, DirectorySource(args.source))
        finally:
            store.close()
    except (StoreError, TrustUpdateError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    language = args.lang
    new = " " + translate(N_("(new)"), language) if report.trust_list_applied else ""
    deltas = ", ".join(map(str, report.deltas_applied)) or translate(N_("none"), language)
    full = ", " + translate(N_("full list applied"), language) if report.full_list_applied else ""
    print(translate(N_("trust list sequence {sequence}{new}, revocation list version {version} (deltas applied: "
                       "{deltas}{full})"), language, sequence=report.trust_list_sequence, new=new,
                    version=report.revocation_version, deltas=deltas, full=full))
    return EXIT_OK


def _status(args: argparse.Namespace) -> int:
    try:
        store = _open(args.dir, args.lang)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return EXIT_ERROR
    try:
        root = store.root_key()
        print(json.dumps({
            "terminal_id": store.terminal_id,
            "root_kid": kid_of(root).hex() if root else None,
            "trust_list_sequence": store.trust_list_sequence,
            "keys": [
                {"kid": entry.kid.hex(), "role": entry.role.name.lower(), "not_before": entry.not_before.isoformat(),
                 "not_after": entry.not_after.isoformat(),
                 "revoked_from": entry.revoked_from.isoformat() if entry.revoked_from else None, "label": entry.label}
                for entry in store.trust_keys()
            ],
            "revocation_version": store.revocation_version,
            "revoked_cards": store.revoked_count(),
        }, indent=2))
    finally:
        store.close()
    return EXIT_OK

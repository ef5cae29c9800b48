"""`kartu issuance pin-slips GROUP`: list, print and delete the PIN slips of a batch or of the reissues."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from card.i18n import translate
from issuance import audit, pin_slips
from issuance.cups import PrintError
from issuance.reissue import prepare_journal
from issuance.station import Station, StationError

__all__ = ["add_commands", "group_name"]


def add_commands(commands: argparse._SubParsersAction) -> None:
    slips = commands.add_parser("pin-slips", help="list, print or delete the PIN slips of a batch")
    slips.add_argument("group", help="batch number, or 'reissue' or 'single' for cards issued one at a time")
    slips.add_argument("--station", type=Path, required=True, help="station directory")
    slips.add_argument("--clerk", help="name of the clerk for the audit log (default: the station's clerk setting)")
    action = slips.add_mutually_exclusive_group()
    action.add_argument("--print", dest="queue", metavar="QUEUE", help="print every slip on this CUPS queue")
    action.add_argument("--delete", action="store_true",
                        help="delete every slip, after each is sealed in an envelope with its card")
    slips.set_defaults(handler=_pin_slips)


def group_name(text: str) -> str:
    """Return the slip group for a batch number, 'reissue' or 'single'; raise ValueError for anything else."""
    value = text.strip()
    if value.isdigit():
        return pin_slips.batch_group(int(value))
    if value in (pin_slips.REISSUE_GROUP, pin_slips.SINGLE_GROUP):
        return value
    raise ValueError(value)


def _pin_slips(args: argparse.Namespace) -> int:
    lang = args.lang
    try:
        group = group_name(args.group)
    except ValueError:
        print(translate("PIN slip group {group!r} is invalid: give a batch number, 'reissue' or 'single'", lang,
                        group=args.group), file=sys.stderr)
        return 2
    try:
        station = Station(args.station)
    except (StationError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        prepare_journal(station.journal)
        clerk = audit.resolve_clerk(station.journal, args.clerk) if args.queue or args.delete else None
        return _act(args, station, group, clerk)
    except audit.ClerkMissingError as exc:
        print(exc.message(lang), file=sys.stderr)
        return 2
    except PrintError as exc:
        print(exc.message(lang), file=sys.stderr)
        return 1
    except OSError as exc:
        print(translate("PIN slips of {group} could not be read or deleted: {error}", lang, group=group,
                        error=exc), file=sys.stderr)
        return 1
    finally:
        station.close()


def _act(args: argparse.Namespace, station: Station, group: str, clerk: str | None) -> int:
    lang = args.lang
    paths = pin_slips.slip_paths(station.directory, group)
    if not paths:
        print(translate("no PIN slips in {group}", lang, group=group))
        return 0 if args.delete or args.queue is None else 1
    if args.queue is not None:
        job, count = pin_slips.print_slips(station.directory, group, args.queue)
        audit.append(station.journal, clerk, "pin_slips", None, None,
                     f"{count} slips of {group} printed on queue {args.queue} as job {job}")
        print(translate("{count} PIN slips sent to {queue} as job {job}; seal each with its card, then run "
                        "'kartu issuance pin-slips {group_arg} --delete'", lang, count=count, queue=args.queue,
                        job=job, group_arg=args.group))
        return 0
    if args.delete:
        count = pin_slips.delete_slips(station.directory, group)
        audit.append(station.journal, clerk, "pin_slips", None, None, f"{count} slips of {group} deleted")
        print(translate("{count} PIN slips deleted", lang, count=count))
        return 0
    for path in paths:
        print(path.stem)
    print(translate("{count} PIN slips in {group}; print them with --print QUEUE", lang, count=len(paths),
                    group=group))
    return 0

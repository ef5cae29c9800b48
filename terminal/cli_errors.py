"""Errors of the terminal's own files, turned into messages for the person at the counter.

Every `kartu terminal` subcommand runs through guard_handler. A damaged
terminal store (terminal.db) or an unusable terminal key then ends the
command with exit status 2 and a message in the --lang language that names
the file and what to do, never with a traceback. A command that ends this
way records nothing, because SQLite rolls back the open transaction.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sqlite3
import sys
from pathlib import Path
from typing import Callable

from card.i18n import N_, translate
from card.keys import KeyFileError
from terminal.enrol import STORE_NAME

__all__ = ["guard_handler", "guard_subcommands", "EXIT_ERROR"]

log = logging.getLogger(__name__)

EXIT_ERROR = 2
Handler = Callable[[argparse.Namespace], int]

STORE_DAMAGED = N_(
    "The terminal store {path} is damaged or is not a terminal store ({detail}). Nothing was recorded. Do not "
    "delete the file, because it may hold hand-overs that were not sent yet: restore it from the terminal's "
    "backup, or ask the city's support desk to recover it."
)
STORE_UNUSABLE = N_(
    "The terminal store {path} cannot be used ({detail}). Nothing was recorded. Check that the disk is not "
    "full, that the file can be written and that no other program holds it, then try again."
)
KEY_UNUSABLE = N_(
    "The terminal key cannot be used ({detail}). Nothing was recorded. Restore the key file from the "
    "terminal's backup with mode 0600; without a backup, enrol this terminal again in a new directory."
)


def _store_path(args: argparse.Namespace) -> Path | str:
    directory = getattr(args, "dir", None)
    return directory / STORE_NAME if directory is not None else STORE_NAME


def guard_handler(handler: Handler) -> Handler:
    """Wrap a subcommand handler so store and key-file errors print a translated message and return 2."""

    @functools.wraps(handler)
    def guarded(args: argparse.Namespace) -> int:
        language = getattr(args, "lang", "id")
        try:
            return handler(args)
        except sqlite3.OperationalError as exc:
            log.error("terminal store %s unusable: %s", _store_path(args), exc)
            message = translate(STORE_UNUSABLE, language, path=_store_path(args), detail=exc)
        except sqlite3.DatabaseError as exc:
            # Subclasses such as IntegrityError are program faults, not a damaged file.
            if type(exc) is not sqlite3.DatabaseError:
                raise
            log.error("terminal store %s damaged: %s", _store_path(args), exc)
            message = translate(STORE_DAMAGED, language, path=_store_path(args), detail=exc)
        except KeyFileError as exc:
            log.error("terminal key unusable: %s", exc)
            message = translate(KEY_UNUSABLE, language, detail=exc)
        print(message, file=sys.stderr)
        return EXIT_ERROR

    return guarded


def guard_subcommands(parser: argparse.ArgumentParser) -> None:
    """Wrap the handler of every subcommand below parser, nested ones included, with guard_handler."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for subparser in action.choices.values():
            handler = subparser.get_default("handler")
            if handler is not None and not hasattr(handler, "__wrapped__"):
                subparser.set_defaults(handler=guard_handler(handler))
            guard_subcommands(subparser)

"""`kartu`: the command line of Kartu Bahagia.

Ctrl+C in any command ends it with one line on stderr and exit status 130.
When the reader of standard output goes away (`kartu issuance queue | head`),
the command stops quietly with exit status 141, as a program stopped by
SIGPIPE would. Other errors, including a broken connection to a server,
are not hidden.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from card.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, set_argument_language, translate

__all__ = ["main", "build_parser"]

# 128 + the signal number, the status a shell reports for a program stopped by that signal.
EXIT_INTERRUPTED = 130
EXIT_STDOUT_CLOSED = 141


def build_parser() -> argparse.ArgumentParser:
    from hardware import cli as card_cli
    from issuance import cli as issuance_cli
    from kartu import demo, keys_cli, verify_cli
    from server import cli as server_cli
    from server import people_cli
    from server import service_point_cli
    from terminal import cli as terminal_cli

    parser = argparse.ArgumentParser(prog="kartu", description="Kartu Bahagia, the Kota Jambi social-assistance card")
    parser.add_argument(
        "--lang", choices=LANGUAGES, default=os.environ.get("KARTU_LANG", "id"), action=_LanguageOption,
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
    service_point_cli.add_commands(subparsers)
    demo.add_commands(subparsers)
    verify_cli.add_commands(subparsers)
    return parser


class _LanguageOption(argparse.Action):
    """Store --lang and make it the language of errors from options parsed after it."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        set_argument_language(values)


class StdoutClosed(BaseException):
    """The reader of standard output has gone away.

    It replaces BrokenPipeError from writes to sys.stdout and derives from
    BaseException, so that a command's `except OSError` cannot turn it into
    an error message.
    """


class _GuardedStdout:
    """A proxy for sys.stdout whose write and flush raise StdoutClosed in place of BrokenPipeError."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise StdoutClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise StdoutClosed from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextmanager
def _guarded_stdout() -> Iterator[None]:
    original = sys.stdout
    sys.stdout = _GuardedStdout(original)
    # Output still buffered would otherwise fail at interpreter exit, outside this guard. SystemExit
    # is flushed too because argparse raises it after --help.
    try:
        yield
        sys.stdout.flush()
    except SystemExit:
        sys.stdout.flush()
        raise
    finally:
        sys.stdout = original


def _discard_stdout() -> None:
    """Point file descriptor 1 at /dev/null, so the final flush at interpreter exit does not fail again."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _configure_logging(args: argparse.Namespace) -> None:
    # A long-running server logs its start, stop and sync batches; one-shot commands stay quiet.
    level = args.log_level or ("INFO" if args.command == "server" else "WARNING")
    # force: python-escpos 3.1 calls logging.basicConfig() when it is imported, which would
    # otherwise leave the root logger at WARNING and hide the server's start and stop lines.
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)


def main(argv: list[str] | None = None) -> int:
    # Ctrl+C can come while the commands are still being imported, before --lang is parsed.
    language = os.environ.get("KARTU_LANG", DEFAULT_LANGUAGE)
    set_argument_language(None)
    try:
        with _guarded_stdout():
            args = build_parser().parse_args(argv)
            language = args.lang
            _configure_logging(args)
            return args.handler(args)
    except KeyboardInterrupt:
        language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        print(translate(N_("stopped by Ctrl+C"), language), file=sys.stderr)
        return EXIT_INTERRUPTED
    except StdoutClosed:
        _discard_stdout()
        return EXIT_STDOUT_CLOSED


if __name__ == "__main__":
    sys.exit(main())

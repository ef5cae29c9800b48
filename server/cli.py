"""The `kartu server` command: run the central server with uvicorn.

The admin token comes from --admin-token-file, else from the environment
variable KARTU_ADMIN_TOKEN, else from the file admin-token next to the
SQLite database, which is created (mode 0600) on first start. The command
prints where that file is and never the token itself.

With --workers N above 1, the command checks the options and migrates the
database in the parent process, then uvicorn's supervisor starts N worker
processes that share the listening socket. Each worker builds its own app
with create_worker_app(), from options the parent passes in the environment
variable KARTU_SERVER_WORKER_OPTIONS. That variable carries the database URL
and file paths, never the admin token or key material.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import logging
import os
import secrets
import signal
import socket
import stat
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from uvicorn.supervisors import Multiprocess

from card.i18n import N_, TranslatedError, argument_language, translate
from card.signing import SignerError, open_signer
from server import register_cli
from server.app import create_app
from server.database_option import DEFAULT_DATABASE_URL, add_database_option
from server.db import redacted_url

__all__ = [
    "add_commands", "run_server", "main", "create_worker_app", "DEFAULT_DATABASE_URL", "DEFAULT_PORT", "ADMIN_TOKEN_ENV",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
ADMIN_TOKEN_ENV = "KARTU_ADMIN_TOKEN"
ADMIN_TOKEN_FILENAME = "admin-token"
WORKER_OPTIONS_ENV = "KARTU_SERVER_WORKER_OPTIONS"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# uvicorn exits a worker with this status when the app fails to load (uvicorn 0.55, uvicorn.server).
WORKER_STARTUP_FAILURE = 3


class CommandError(TranslatedError):
    """A problem with the command's options or environment, printed without a traceback in the language of --lang."""

    @classmethod
    def wrapping(cls, error: Exception) -> "CommandError":
        """Return a CommandError with the text of error, translated when error is a TranslatedError."""
        if isinstance(error, TranslatedError):
            return cls(error.template, **error.params)
        return cls("{text}", text=str(error))


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the `server` command to an argparse subparsers object; it sets args.handler to run_server."""
    parser = subparsers.add_parser(
        "server",
        help="run the central server",
        description="Run the Kartu Bahagia central server (HTTP API under /api/v1).",
    )
    add_database_option(parser)
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT,
        help="TCP port to listen on; 0 picks a free port and logs it (default: %(default)s)",
    )
    parser.add_argument(
        "--admin-token-file", type=Path, metavar="FILE",
        help=f"file holding the admin token, mode 0600 (default: ${ADMIN_TOKEN_ENV}, "
        f"else {ADMIN_TOKEN_FILENAME} next to the SQLite database)",
    )
    parser.add_argument(
        "--allow-remote", action="store_true",
        help="allow a --host other than loopback; put TLS in front of the server before you do",
    )
    parser.add_argument(
        "--household-key", type=Path, metavar="FILE",
        help="the issuance station's household.key (mode 0600), which register uploads need to link households to cards",
    )
    parser.add_argument(
        "--sync-key", metavar="KEY",
        help="the server's sync key, a key file (mode 0600) or a PKCS#11 URI; it signs card revocation lists "
        "and entitlement sets, and without it revoking a card and pulling entitlements fail",
    )
    parser.add_argument(
        "--workers", type=worker_count, default=1, metavar="N",
        help="number of server processes sharing the port; each runs its own reconciliation worker (default: 1)",
    )
    parser.set_defaults(handler=run_server)
    register_cli.add_commands(parser.add_subparsers(dest="server_command", metavar="COMMAND"))


def worker_count(text: str) -> int:
    """Parse --workers: a whole number of at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(translate(
            N_("invalid worker count '{value}': give a whole number of at least 1"), argument_language(), value=text,
        ))
    return count


def _language(args: argparse.Namespace) -> str:
    # main() below builds a parser without --lang, so $KARTU_LANG or the default applies there.
    return getattr(args, "lang", None) or argument_language()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_token_file(path: Path) -> str:
    try:
        mode = path.stat().st_mode
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CommandError(N_("failed to read admin token file {path}: {reason}"), path=path,
                           reason=exc.strerror) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CommandError(
            N_("admin token file {path} has mode {mode}; restrict it with 'chmod 600 {path}' and try again"),
            path=path, mode=f"{stat.S_IMODE(mode):04o}",
        )
    return token


def _sqlite_token_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise CommandError(
            N_("no admin token: set {variable} or pass --admin-token-file "
               "(a token file is created automatically only next to a SQLite database file)"),
            variable=ADMIN_TOKEN_ENV,
        )
    return Path(url.database).resolve().parent / ADMIN_TOKEN_FILENAME


def _create_token_file(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _admin_token_file(args: argparse.Namespace, environ: Mapping[str, str]) -> Path | None:
    """Return the file the admin token is read from, or None when it comes from the environment.

    Creates the file next to the SQLite database when neither the option nor
    the environment gives a token.
    """
    if args.admin_token_file is not None:
        return args.admin_token_file
    if environ.get(ADMIN_TOKEN_ENV):
        return None
    path = _sqlite_token_path(args.db)
    if not path.exists():
        _create_token_file(path)
        print(translate(N_("Created admin token file {path}"), _language(args), path=path), flush=True)
    else:
        print(translate(N_("Admin token file: {path}"), _language(args), path=path), flush=True)
    return path


def _read_admin_token(token_file: Path | None, environ: Mapping[str, str]) -> str:
    if token_file is None:
        return environ[ADMIN_TOKEN_ENV]
    return _read_token_file(token_file)


def resolve_admin_token(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """Return the admin token from the option, the environment or the file next to the SQLite database."""
    return _read_admin_token(_admin_token_file(args, environ), environ)


def _listening_socket(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        raise CommandError(N_("failed to listen on {host}:{port}: {reason}"), host=host, port=port,
                           reason=exc.strerror or exc) from None
    return sock


def _stop_on_signals(server: uvicorn.Server) -> dict[int, object]:
    """Make SIGINT and SIGTERM stop the server cleanly, even before uvicorn installs its own handlers.

    The socket already listens when the start is logged, so a signal can come
    in before uvicorn is ready. Without these handlers it would kill the
    process. Returns the previous handlers, for _restore_signals.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}

    def request_stop(_signum, _frame) -> None:
        server.should_exit = True

    return {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}


def _restore_signals(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def _build_app(database_url: str, token: str, household_key_file: Path | None, sync_key: str | None) -> FastAPI:
    """Create the app, turning a bad key, token or database into a CommandError."""
    try:
        household_key = register_cli.read_household_key(household_key_file) if household_key_file else None
        sync_signer = open_signer(sync_key) if sync_key else None
        return create_app(database_url, token, household_key=household_key, sync_signer=sync_signer)
    except (register_cli.HouseholdKeyError, SignerError, ValueError) as exc:
        raise CommandError.wrapping(exc) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise CommandError(N_("failed to open database {url}: {reason}"), url=redacted_url(database_url),
                           reason=reason) from None


def _tune_garbage_collector() -> None:
    """Collect cyclic garbage less often in a serving process, and never scan the objects built at startup.

    A push of 500 records keeps thousands of objects alive until it
    returns, so with CPython's default thresholds (700, 10, 10) the
    collector scanned them again and again. In bench/ingest.py the two
    workers spent about 20 µs of CPU per record in the collector
    (gc.callbacks and time.thread_time()), and about 3 µs with these
    thresholds. Objects that live only in reference cycles wait longer to be
    freed, which costs little memory at this rate.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def _serve(args: argparse.Namespace, token_file: Path | None) -> None:
    token = _read_admin_token(token_file, os.environ)
    # With several workers this app only checks the options and migrates the database once, before any
    # worker starts, so that the workers do not race to migrate it.
    app = _build_app(args.db, token, args.household_key, args.sync_key)
    sock = _listening_socket(args.host, args.port)
    try:
        if args.workers == 1:
            _serve_one(app, args.db, sock)
        else:
            app.state.engine.dispose()
            _serve_workers(args, token_file, sock)
    finally:
        sock.close()
        logger.info("server stopped")


def _serve_one(app: FastAPI, database_url: str, sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None))
    previous_handlers = _stop_on_signals(server)
    _tune_garbage_collector()
    logger.info("server listening on http://%s:%d, database %s", host, port, redacted_url(database_url))
    try:
        server.run(sockets=[sock])
    finally:
        _restore_signals(previous_handlers)


def _serve_workers(args: argparse.Namespace, token_file: Path | None, sock: socket.socket) -> None:
    """Run args.workers uvicorn worker processes on sock until SIGINT or SIGTERM stops the supervisor."""
    options = {
        "db": args.db,
        "admin_token_file": str(token_file) if token_file is not None else None,
        "household_key": str(args.household_key) if args.household_key else None,
        "sync_key": args.sync_key,
        "log_level": logging.getLogger().getEffectiveLevel(),
    }
    os.environ[WORKER_OPTIONS_ENV] = json.dumps(options)
    config = uvicorn.Config("server.cli:create_worker_app", factory=True, workers=args.workers, log_config=None)
    # The supervisor installs its SIGINT and SIGTERM handlers here, before the start is logged.
    supervisor = Multiprocess(config, sockets=[sock])
    host, port = sock.getsockname()[:2]
    logger.info("server listening on http://%s:%d, database %s, %d worker processes",
                host, port, redacted_url(args.db), args.workers)
    try:
        supervisor.run()
    finally:
        del os.environ[WORKER_OPTIONS_ENV]
    failed = [process.pid for process in supervisor.processes if process.exitcode == WORKER_STARTUP_FAILURE]
    if failed:
        raise CommandError(N_("worker processes {pids} failed to start; the log above has the reason"),
                           pids=", ".join(str(pid) for pid in failed))


def create_worker_app() -> FastAPI:
    """Build the app in a worker process started by `kartu server --workers N` (a uvicorn factory)."""
    options = json.loads(os.environ[WORKER_OPTIONS_ENV])
    logging.basicConfig(level=options["log_level"], format=LOG_FORMAT, force=True)
    token_file = Path(options["admin_token_file"]) if options["admin_token_file"] else None
    household_key = Path(options["household_key"]) if options["household_key"] else None
    try:
        token = _read_admin_token(token_file, os.environ)
        app = _build_app(options["db"], token, household_key, options["sync_key"])
    except CommandError as exc:
        logger.error("worker process %d failed to start: %s", os.getpid(), exc)
        raise
    _tune_garbage_collector()
    return app


def run_server(args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit status."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        if not is_loopback(args.host) and not args.allow_remote:
            raise CommandError(
                N_("--host {host} is not a loopback address; pass --allow-remote to listen on it"), host=args.host
            )
        _serve(args, _admin_token_file(args, os.environ))
    except CommandError as exc:
        language = _language(args)
        print(translate(N_("kartu server: error: {detail}"), language, detail=exc.message(language)),
              file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run `kartu server` on its own, as `python -m server.cli server ...`."""
    parser = argparse.ArgumentParser(prog="kartu")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_commands(subparsers)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

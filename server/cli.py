"""The `kartu server` command: run the central server with uvicorn.

The admin token comes from --admin-token-file, else from the environment
variable KARTU_ADMIN_TOKEN, else from the file admin-token next to the
SQLite database, which is created (mode 0600) on first start. The command
prints where that file is and never the token itself.
"""

from __future__ import annotations

import argparse
import ipaddress
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from card.signing import SignerError, open_signer
from server import register_cli
from server.app import create_app
from server.db import redacted_url

__all__ = ["add_commands", "run_server", "main", "DEFAULT_DATABASE_URL", "DEFAULT_PORT", "ADMIN_TOKEN_ENV"]

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///kartu-server.db"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
ADMIN_TOKEN_ENV = "KARTU_ADMIN_TOKEN"
ADMIN_TOKEN_FILENAME = "admin-token"


class CommandError(Exception):
    """A problem with the command's options or environment, printed without a traceback."""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the `server` command to an argparse subparsers object; it sets args.handler to run_server."""
    parser = subparsers.add_parser(
        "server",
        help="run the central server",
        description="Run the Kartu Bahagia central server (HTTP API under /api/v1).",
    )
    parser.add_argument(
        "--db", default=DEFAULT_DATABASE_URL, metavar="URL",
        help="database URL, a SQLite file or postgresql://user@host/name (default: %(default)s)",
    )
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
        help="the server's sync key, a key file (mode 0600) or a PKCS#11 URI; it signs card revocation lists, "
        "and without it revoking a card fails",
    )
    parser.set_defaults(handler=run_server)
    register_cli.add_commands(parser.add_subparsers(dest="server_command", metavar="COMMAND"))


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
        raise CommandError(f"failed to read admin token file {path}: {exc.strerror}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CommandError(
            f"admin token file {path} has mode {stat.S_IMODE(mode):04o}; "
            f"restrict it with 'chmod 600 {path}' and try again"
        )
    return token


def _sqlite_token_path(database_url: str) -> Path:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        raise CommandError(
            f"no admin token: set {ADMIN_TOKEN_ENV} or pass --admin-token-file "
            "(a token file is created automatically only next to a SQLite database file)"
        )
    return Path(url.database).resolve().parent / ADMIN_TOKEN_FILENAME


def _create_token_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (secrets.token_urlsafe(32) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def resolve_admin_token(args: argparse.Namespace, environ: Mapping[str, str]) -> str:
    """Return the admin token from the option, the environment or the file next to the SQLite database."""
    if args.admin_token_file is not None:
        return _read_token_file(args.admin_token_file)
    if environ.get(ADMIN_TOKEN_ENV):
        return environ[ADMIN_TOKEN_ENV]
    path = _sqlite_token_path(args.db)
    if not path.exists():
        _create_token_file(path)
        print(f"created admin token file {path}", flush=True)
    else:
        print(f"admin token file: {path}", flush=True)
    return _read_token_file(path)


def _listening_socket(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        raise CommandError(f"failed to listen on {host}:{port}: {exc.strerror or exc}") from None
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


def _serve(args: argparse.Namespace, token: str) -> None:
    try:
        household_key = register_cli.read_household_key(args.household_key) if args.household_key else None
        sync_signer = open_signer(args.sync_key) if args.sync_key else None
        app = create_app(args.db, token, household_key=household_key, sync_signer=sync_signer)
    except (register_cli.HouseholdKeyError, SignerError) as exc:
        raise CommandError(str(exc)) from None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
        raise CommandError(f"failed to open database {redacted_url(args.db)}: {reason}") from None

    sock = _listening_socket(args.host, args.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None))
    previous_handlers = _stop_on_signals(server)
    logger.info("server listening on http://%s:%d, database %s", host, port, redacted_url(args.db))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        _restore_signals(previous_handlers)
        logger.info("server stopped")


def run_server(args: argparse.Namespace) -> int:
    """Run the server until SIGINT or SIGTERM; return the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if not is_loopback(args.host) and not args.allow_remote:
            raise CommandError(
                f"--host {args.host} is not a loopback address; pass --allow-remote to listen on it"
            )
        token = resolve_admin_token(args, os.environ)
        _serve(args, token)
    except CommandError as exc:
        print(f"kartu server: error: {exc}", file=sys.stderr)
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

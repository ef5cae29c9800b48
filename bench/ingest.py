"""Ingest speed: signed redemptions pushed through the real HTTP endpoint, against a bare COPY.

Setup (not timed): a fresh database, which is a SQLite file or a PostgreSQL
database created on 127.0.0.1:5432 and dropped at the end. `kartu server
--workers N` on 127.0.0.1 serves it, with logging at WARNING. Each of
--terminals terminals is enrolled at its own LPG service point with a
one-time code, and --cards chip cards are registered straight into the
database. Every record is made as a terminal
makes it: the card signs the tap digest, the terminal signs the COSE_Sign1 record.

Timed: one thread per terminal pushes its records in batches of --batch through
POST /api/v1/sync/redemptions, each request signed with the terminal's key.
The rate is records acknowledged as accepted per second of wall time.
Reconciliation runs after the acknowledgement, so the reconciled rate is the
records divided by the time until the server's reconcile_queue is empty.
Each run also reports the CPU time per record from the first push until the
queue is empty: of the server processes, of the PostgreSQL backends of the
bench database, and of this bench process (the terminals' HTTP clients).
Waiting for a core stretches the wall time under other load, but not the CPU time.

Baseline: the same rows, read back from the redemptions table, written into
an empty copy of that table with PostgreSQL COPY (binary), or on SQLite with
one executemany in one transaction, which is the fastest bulk path SQLite has.

Usage: .venv/bin/python bench/ingest.py [--db sqlite|postgresql|both] [--records N]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import psycopg
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from card.cardnumber import make_card_number  # noqa: E402
from card.keys import FileSigner, compress_point, generate_private_key, spki_of  # noqa: E402
from card.records import Assurance, Redemption, sign_record  # noqa: E402
from card.request_auth import sign_request  # noqa: E402
from server.card_points import stored_point  # noqa: E402
from server.db import create_db_engine  # noqa: E402
from server.fields import encode_base64  # noqa: E402
from server.models import Card  # noqa: E402
from server.periods import period_of  # noqa: E402

POSTGRES = "postgresql+psycopg://{user}@127.0.0.1:5432/{name}"
POSTGRES_USERS = ("postgres", "root")
PROGRAMME = "lpg"


@dataclass
class BenchTerminal:
    terminal_id: str
    signer: FileSigner
    records: list[str]


class TerminalAuth(httpx.Auth):
    """Sign each request as card.request_auth describes, as a terminal's sync client does."""

    requires_request_body = True

    def __init__(self, signer: FileSigner, terminal_id: str):
        self.signer = signer
        self.terminal_id = terminal_id

    def auth_flow(self, request: httpx.Request):
        target = request.url.raw_path.decode("ascii")
        request.headers.update(
            sign_request(self.signer, self.terminal_id, request.method, target, int(time.time()), request.content)
        )
        yield request


# --- database and server -----------------------------------------------------------


def _postgres_user() -> str:
    for user in POSTGRES_USERS:
        try:
            with psycopg.connect(host="127.0.0.1", port=5432, user=user, dbname="postgres", connect_timeout=3):
                return user
        except psycopg.OperationalError:
            continue
    raise SystemExit("PostgreSQL on 127.0.0.1:5432 is unreachable; start it or run with --db sqlite")


def _create_database(kind: str, workdir: Path) -> tuple[str, callable]:
    """Return a fresh database URL and a function that removes the database."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'ingest.db'}", lambda: None
    user = _postgres_user()
    name = f"kartu_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(host="127.0.0.1", user=user, dbname="postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(host="127.0.0.1", user=user, dbname="postgres", autocommit=True) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

    return POSTGRES.format(user=user, name=name), drop


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(url: str, token: str, workers: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    """Start `kartu server --workers N` on a free loopback port; return the process and its base URL."""
    port = _free_port()
    env = dict(os.environ, KARTU_ADMIN_TOKEN=token, PYTHONPATH=str(ROOT))
    log = open(workdir / "server.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kartu", "--log-level", "WARNING", "server", "--db", url, "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with status {process.returncode}; see {workdir / 'server.log'}")
        try:
            httpx.get(base_url + "/api/v1/me", timeout=1)
            return process, base_url
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("server did not start within 60 s")


# --- setup -------------------------------------------------------------------------


def _enrol(admin: httpx.Client, anonymous: httpx.Client, index: int) -> tuple[str, FileSigner]:
    point = admin.post("/api/v1/service-points", json={"name": f"Agen LPG {index}", "kind": "lpg_agent",
                                                       "programmes": [PROGRAMME]})
    point.raise_for_status()
    code = admin.post(f"/api/v1/service-points/{point.json()['id']}/enrolment-codes")
    code.raise_for_status()
    signer = FileSigner(generate_private_key())
    terminal_id = f"T-bench-{index:02d}"
    enrolled = anonymous.post("/api/v1/terminals/enrol", json={
        "code": code.json()["code"], "terminal_id": terminal_id,
        "public_key": encode_base64(spki_of(signer.public_key)), "name": f"Kasir {index}",
    })
    enrolled.raise_for_status()
    return terminal_id, signer


def _register_cards(url: str, count: int) -> list[tuple[str, bytes, ec.EllipticCurvePrivateKey]]:
    cards = [(make_card_number(900_000 + serial), secrets.token_bytes(8), generate_private_key())
             for serial in range(count)]
    now = datetime.now(timezone.utc)
    rows = [
        {"card_number": number, "household_id": household, "kelurahan": "1571011001", "desil": 2,
         "issued": date(2026, 1, 31), "expires": date(2031, 1, 31), "issuer_kid": b"\xa1" * 8,
         "assurance": "chip", "card_key": stored_point(compress_point(key.public_key())), "status": "active",
         "created_at": now}
        for number, household, key in cards
    ]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(insert(Card), rows)
    engine.dispose()
    return cards


def _make_records(terminal_id: str, signer: FileSigner, cards, count: int, start: int) -> list[str]:
    records = []
    for index in range(count):
        number, household, card_key = cards[(start + index) % len(cards)]
        tapped_at = int(time.time()) - 3600 + index % 3000
        record = Redemption(
            record_id=str(uuid.uuid4()), terminal_id=terminal_id, card_number=number, household_id=household,
            program=PROGRAMME, quantity=1, period=period_of(tapped_at), tapped_at=tapped_at,
            nonce=secrets.token_bytes(16), assurance=Assurance.CHIP,
        )
        signature = card_key.sign(record.digest(), ec.ECDSA(Prehashed(hashes.SHA256())))
        records.append(encode_base64(sign_record(replace(record, card_signature=signature), signer)))
    return records


# --- timed push and baseline -------------------------------------------------------


def _push_all(base_url: str, terminal: BenchTerminal, batch: int) -> int:
    accepted = 0
    with httpx.Client(base_url=base_url, auth=TerminalAuth(terminal.signer, terminal.terminal_id),
                      timeout=120) as client:
        for start in range(0, len(terminal.records), batch):
            response = client.post("/api/v1/sync/redemptions", json={"records": terminal.records[start:start + batch]})
            response.raise_for_status()
            body = response.json()
            if body["rejected"]:
                raise SystemExit(f"{terminal.terminal_id}: rejected {body['rejected'][0]}")
            accepted += len(body["accepted"])
    return accepted


def _copy_baseline(url: str) -> tuple[float, int]:
    """Time writing the stored redemption rows into an empty copy of the table; return (seconds, rows)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        rows = connection.execute(text("SELECT * FROM redemptions")).all()
        columns = list(connection.execute(text("SELECT * FROM redemptions LIMIT 0")).keys())
    if engine.dialect.name == "postgresql":
        seconds = _postgres_copy(engine, columns, rows)
    else:
        seconds = _sqlite_bulk(engine, columns, rows)
    engine.dispose()
    return seconds, len(rows)


def _postgres_copy(engine, columns: list[str], rows) -> float:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TABLE redemptions_copy (LIKE redemptions INCLUDING ALL)")
        raw.commit()
        started = time.perf_counter()
        with cursor.copy(f"COPY redemptions_copy ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def _sqlite_bulk(engine, columns: list[str], rows) -> float:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        schema = cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'redemptions'").fetchone()[0]
        cursor.execute(schema.replace("redemptions", "redemptions_copy", 1))
        raw.commit()
        placeholders = ", ".join("?" for _ in columns)
        started = time.perf_counter()
        cursor.executemany(f"INSERT INTO redemptions_copy VALUES ({placeholders})", [tuple(row) for row in rows])
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def _process_cpu_seconds(pid: str) -> float:
    """Return the user and system CPU seconds of a process from /proc (Linux), or 0 when it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_snapshot(server_pid: int, url: str) -> dict[str, float]:
    """Return the CPU seconds used so far by the server (its process and its workers), PostgreSQL and this bench.

    The PostgreSQL figure sums the backends connected to the bench database,
    found by the database name in their process title. It leaves out the WAL
    writer and checkpointer, which serve every database on the machine.
    """
    database = url.rsplit("/", 1)[1].encode()
    server = postgres = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parent = stat.read().rsplit(")", 1)[1].split()[1]
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if pid == str(server_pid) or parent == str(server_pid):
            server += _process_cpu_seconds(pid)
        elif command.startswith(b"postgres:") and database in command:
            postgres += _process_cpu_seconds(pid)
    return {"server": server, "postgresql": postgres if url.startswith("postgresql") else 0.0,
            "bench": time.process_time()}


def _wait_reconciled(url: str) -> float:
    """Poll until the server's reconciliation queue is empty; return the perf_counter time it was seen empty."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            while connection.execute(text("SELECT count(*) FROM reconcile_queue")).scalar_one():
                connection.rollback()
                time.sleep(0.05)
        return time.perf_counter()
    finally:
        engine.dispose()


# --- one run -----------------------------------------------------------------------


def run_once(kind: str, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="kartu-ingest-"))
    url, drop = _create_database(kind, workdir)
    token = secrets.token_urlsafe(32)
    process, base_url = _start_server(url, token, args.workers, workdir)
    try:
        admin = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        anonymous = httpx.Client(base_url=base_url, timeout=60)
        enrolled = [_enrol(admin, anonymous, index) for index in range(args.terminals)]
        cards = _register_cards(url, args.cards)
        per_terminal = args.records // args.terminals
        terminals = [
            BenchTerminal(terminal_id, signer, _make_records(terminal_id, signer, cards, per_terminal,
                                                            index * per_terminal))
            for index, (terminal_id, signer) in enumerate(enrolled)
        ]
        print(f"[{kind}] {per_terminal * args.terminals:,} records signed; pushing", flush=True)

        cpu_before = _cpu_snapshot(process.pid, url)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.terminals) as pool:
            accepted = sum(pool.map(lambda terminal: _push_all(base_url, terminal, args.batch), terminals))
        seconds = time.perf_counter() - started
        reconciled_seconds = _wait_reconciled(url) - started
        cpu_after = _cpu_snapshot(process.pid, url)
        cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_before}
        load_average = os.getloadavg()[0]
        stored = admin.get("/api/v1/stats").json()["redemptions"]
        if accepted != stored or stored != per_terminal * args.terminals:
            raise SystemExit(f"accepted {accepted}, stored {stored}, expected {per_terminal * args.terminals}")
    finally:
        process.terminate()
        process.wait(timeout=60)
    copy_seconds, copied = _copy_baseline(url)
    drop()
    shutil.rmtree(workdir, ignore_errors=True)
    return {"kind": kind, "records": accepted, "seconds": seconds, "rate": accepted / seconds,
            "reconciled_rate": accepted / reconciled_seconds,
            "copy_seconds": copy_seconds, "copy_rate": copied / copy_seconds,
            "cpu_per_record": {name: 1e6 * value / accepted for name, value in cpu.items()},
            "load_average": load_average}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--records", type=int, default=100_000, help="records in all (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=500, help="records per push (default: %(default)s)")
    parser.add_argument("--terminals", type=int, default=8, help="concurrent terminals (default: %(default)s)")
    parser.add_argument("--cards", type=int, default=50_000, help="registered chip cards (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="server worker processes, kartu server --workers (default: the number of CPUs, %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per database; the median is reported")
    args = parser.parse_args()

    kinds = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    for kind in kinds:
        runs = [run_once(kind, args) for _ in range(args.repeat)]
        rate = statistics.median(run["rate"] for run in runs)
        copy_rate = statistics.median(run["copy_rate"] for run in runs)
        for run in runs:
            cpu = run["cpu_per_record"]
            print(f"[{kind}] run: {run['records']:,} records in {run['seconds']:.2f} s = {run['rate']:,.0f}/s; "
                  f"reconciled {run['reconciled_rate']:,.0f}/s; baseline {run['copy_rate']:,.0f}/s; "
                  f"CPU per record until reconciled: server {cpu['server']:.0f} µs, "
                  f"PostgreSQL {cpu['postgresql']:.0f} µs, bench client {cpu['bench']:.0f} µs; "
                  f"load average {run['load_average']:.1f} at its end")
        print(f"[{kind}] median of {len(runs)}: {rate:,.0f} redemptions/s through HTTP, "
              f"baseline {copy_rate:,.0f} rows/s, ratio {rate / copy_rate:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

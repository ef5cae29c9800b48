"""Time the entitlement computation for a synthetic register on SQLite and PostgreSQL.

Generates a register of --residents synthetic residents (issuance.synth,
seed 7), imports it with server.register_import (timed once), then times
per round:
  * full: recompute_entitlements() after deleting every entitlement, so
    every entitlement of the six seeded programmes is inserted;
  * unchanged: recompute_entitlements() again, which evaluates every rule
    and finds nothing to write;
  * baseline: one SELECT of the resident columns the rules read, fetched
    into Python, which is the least any computation over the register does.
Prints the median of each and its ratio to the baseline. PostgreSQL runs on
a database created at 127.0.0.1:5432 for the run and dropped afterwards;
it is skipped with a message when the server is unreachable.

  .venv/bin/python bench/entitlements.py [--residents 250000] [--rounds 3] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from issuance.register import write_register  # noqa: E402
from issuance.synth import generate_register  # noqa: E402
from server.db import create_db_engine, upgrade_database  # noqa: E402
from server.entitlements import recompute_entitlements  # noqa: E402
from server.models_register import Entitlement, Resident  # noqa: E402
from server.register_import import import_register  # noqa: E402

NOW = datetime(2026, 3, 15, 3, 0, tzinfo=timezone.utc)
HOUSEHOLD_KEY = b"bench-household-key-32-bytes...."
POSTGRES = {"host": "127.0.0.1", "port": 5432}


def _timed(action) -> tuple[float, object]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def _baseline(engine) -> None:
    with Session(engine) as session:
        session.execute(select(Resident.id, Resident.household_pk, Resident.birth_date, Resident.kelurahan,
                               Resident.relationship, Resident.occupation, Resident.school, Resident.desil)).all()


def _full(engine):
    with Session(engine) as session:
        session.execute(delete(Entitlement))
        result = recompute_entitlements(session, NOW)
        session.commit()
    return result


def _unchanged(engine):
    with Session(engine) as session:
        result = recompute_entitlements(session, NOW)
        session.commit()
    return result


def run(name: str, url: str, data: bytes, rounds: int) -> None:
    engine = create_db_engine(url)
    upgrade_database(engine)

    def load():
        with Session(engine) as session:
            report = import_register(session, data, "bench.csv", NOW, HOUSEHOLD_KEY)
            session.commit()
        return report

    import_seconds, report = _timed(load)
    with Session(engine) as session:
        entitlements = session.scalar(select(func.count()).select_from(Entitlement))
    print(f"{name}: imported {report.inserted} residents in {import_seconds:.1f} s "
          f"({len(report.errors)} errors), {entitlements} entitlements")

    times: dict[str, list[float]] = {"baseline": [], "full": [], "unchanged": []}
    for _ in range(rounds):
        times["baseline"].append(_timed(lambda: _baseline(engine))[0])
        seconds, result = _timed(lambda: _full(engine))
        times["full"].append(seconds)
        assert result.added == entitlements, result
        seconds, result = _timed(lambda: _unchanged(engine))
        times["unchanged"].append(seconds)
        assert (result.added, result.changed, result.removed) == (0, 0, 0), result
    baseline = statistics.median(times["baseline"])
    for path, values in times.items():
        median = statistics.median(values)
        print(f"{name}: {path:9s} median {median:7.2f} s over {rounds} rounds, {median / baseline:5.1f}x baseline")
    engine.dispose()


def _postgres_user() -> str | None:
    for user in ("postgres", "root"):
        try:
            with psycopg.connect(user=user, dbname="postgres", connect_timeout=3, **POSTGRES):
                return user
        except psycopg.OperationalError:
            continue
    return None


def run_postgres(data: bytes, rounds: int) -> None:
    user = _postgres_user()
    if user is None:
        print("postgresql: skipped, no server at 127.0.0.1:5432")
        return
    name = f"kartu_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(user=user, dbname="postgres", autocommit=True, **POSTGRES) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        run("postgresql", f"postgresql+psycopg://{user}@127.0.0.1:5432/{name}", data, rounds)
    finally:
        with psycopg.connect(user=user, dbname="postgres", autocommit=True, **POSTGRES) as connection:
            connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=250_000, help="register size (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per database (default: %(default)s)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="run one database only")
    args = parser.parse_args()

    generate_seconds, residents = _timed(lambda: generate_register(args.residents, seed=7))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "register.csv"
        write_register(residents, path)
        data = path.read_bytes()
        print(f"register: {len(residents)} residents, {len(data) / 1e6:.1f} MB CSV, generated in {generate_seconds:.1f} s")
        if args.only != "postgresql":
            run("sqlite", f"sqlite:///{Path(directory) / 'bench.db'}", data, args.rounds)
    if args.only != "sqlite":
        run_postgres(data, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())

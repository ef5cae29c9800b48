"""Ingest cost breakdown: the push endpoint and the reconciliation drain, measured in one process.

The app runs in this process behind httpx's ASGI transport, with FastAPI's
thread pool replaced by a direct call, so that every request runs in one
thread and time.process_time() counts all of the app's CPU. One terminal
pushes --batches batches of 500 chip redemptions into a fresh PostgreSQL
database (after one warm-up batch). The reconciliation worker is kept idle
during the pushes, and then one drain reconciles the whole queue.

Reported per record: the app's CPU time and the CPU time of the PostgreSQL
backends of the bench database (from /proc, Linux only), for the pushes and
for the drain, and the drain's SQL statements by total time.
--stub-signatures replaces both ECDSA verifications in this process with a
stub that accepts, to show the cost of everything else.

Usage: .venv/bin/python bench/ingest_profile.py [--batches N] [--stub-signatures]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import fastapi.concurrency
import fastapi.dependencies.utils
import fastapi.routing
import httpx
import starlette.concurrency
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402
from card.keys import FileSigner, generate_private_key, spki_of  # noqa: E402
from card.request_auth import sign_request  # noqa: E402
from server.app import create_app  # noqa: E402
from server.fields import encode_base64  # noqa: E402

BATCH = 500
PUSH_PATH = "/api/v1/sync/redemptions"


async def _call_inline(function, /, *args, **kwargs):
    return function(*args, **kwargs)


def _run_sync_code_inline() -> None:
    """Make FastAPI call sync endpoints and dependencies in the event loop's thread."""
    for module in (starlette.concurrency, fastapi.routing, fastapi.dependencies.utils, fastapi.concurrency):
        if hasattr(module, "run_in_threadpool"):
            module.run_in_threadpool = _call_inline


def _stub_signatures() -> None:
    import card.cose
    import card.records
    import server.intake

    card.cose.verify_raw = lambda *_: True
    card.records.verify_raw = lambda *_: True
    server.intake.verify_der_prehashed = lambda *_: True


async def _enrol(client: httpx.AsyncClient, token: str) -> tuple[str, FileSigner]:
    admin = {"Authorization": f"Bearer {token}"}
    point = await client.post("/api/v1/service-points", headers=admin,
                              json={"name": "Agen LPG", "kind": "lpg_agent", "programmes": ["lpg"]})
    code = await client.post(f"/api/v1/service-points/{point.json()['id']}/enrolment-codes", headers=admin)
    signer = FileSigner(generate_private_key())
    terminal_id = "T-profile-01"
    enrolled = await client.post("/api/v1/terminals/enrol", json={
        "code": code.json()["code"], "terminal_id": terminal_id,
        "public_key": encode_base64(spki_of(signer.public_key)), "name": "Kasir 1",
    })
    enrolled.raise_for_status()
    return terminal_id, signer


def _signed_bodies(url: str, terminal_id: str, signer: FileSigner, batches: int,
                   card_count: int) -> list[tuple[bytes, dict]]:
    cards = ingest._register_cards(url, card_count)
    records = ingest._make_records(terminal_id, signer, cards, BATCH * batches, 0)
    bodies = []
    for start in range(0, len(records), BATCH):
        body = json.dumps({"records": records[start:start + BATCH]}).encode()
        headers = sign_request(signer, terminal_id, "POST", PUSH_PATH, int(time.time()), body)
        bodies.append((body, {**headers, "content-type": "application/json"}))
    return bodies


def _time_statements(engine) -> tuple[dict, dict]:
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)

    @event.listens_for(engine, "before_cursor_execute")
    def before(connection, _cursor, _statement, _parameters, _context, _executemany):
        connection.info["started"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(connection, _cursor, statement, _parameters, _context, _executemany):
        key = " ".join(statement.split())[:110]
        seconds[key] += time.perf_counter() - connection.info["started"]
        counts[key] += 1

    return seconds, counts


async def _profile(app, token: str, url: str, args: argparse.Namespace) -> None:
    database = url.rsplit("/", 1)[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://profile") as client:
        terminal_id, signer = await _enrol(client, token)
        bodies = _signed_bodies(url, terminal_id, signer, args.batches + 1, args.cards)
        if args.stub_signatures:
            _stub_signatures()

        async def push(body: bytes, headers: dict) -> None:
            response = await client.post(PUSH_PATH, content=body, headers=headers)
            if response.status_code != 200 or response.json()["rejected"]:
                raise SystemExit(f"push failed: {response.status_code} {response.text[:300]}")

        await push(*bodies[0])
        app.state.reconciler.drain()
        records = BATCH * args.batches

        app_before, postgres_before, started = time.process_time(), _postgres_cpu(database), time.perf_counter()
        for body, headers in bodies[1:]:
            await push(body, headers)
        wall = time.perf_counter() - started
        print(f"push: {records:,} records, app CPU {_per_record(time.process_time() - app_before, records)}, "
              f"PostgreSQL CPU {_per_record(_postgres_cpu(database) - postgres_before, records)}, "
              f"{records / wall:,.0f} records/s on one connection")

        seconds, counts = _time_statements(app.state.engine)
        app_before, postgres_before = time.process_time(), _postgres_cpu(database)
        batches = app.state.reconciler.drain()
        print(f"drain: {batches} batches, app CPU {_per_record(time.process_time() - app_before, records)}, "
              f"PostgreSQL CPU {_per_record(_postgres_cpu(database) - postgres_before, records)}")
        for statement, total in sorted(seconds.items(), key=lambda item: -item[1])[:8]:
            print(f"  {1e3 * total:8.1f} ms {counts[statement]:4d}x {statement}")


def _per_record(seconds: float, records: int) -> str:
    return f"{1e6 * seconds / records:.0f} µs/record"


def _postgres_cpu(database: str) -> float:
    """Return the CPU seconds of the PostgreSQL processes whose title names the database."""
    snapshot = ingest._cpu_snapshot(-1, f"postgresql:///{database}")
    return snapshot["postgresql"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=19, help="timed batches of 500 (default: %(default)s)")
    parser.add_argument("--cards", type=int, default=50_000,
                        help="registered chip cards; the records use them in turn (default: %(default)s)")
    parser.add_argument("--stub-signatures", action="store_true",
                        help="accept every signature without checking it, to measure the rest")
    args = parser.parse_args()

    _run_sync_code_inline()
    with tempfile.TemporaryDirectory(prefix="kartu-profile-") as workdir:
        url, drop = ingest._create_database("postgresql", Path(workdir))
        token = secrets.token_urlsafe(32)
        try:
            app = create_app(url, token)
            # httpx's ASGI transport runs no lifespan, so the reconciliation thread never starts and
            # the pushes leave their batches queued for the timed drain.
            asyncio.run(_profile(app, token, url, args))
            app.state.engine.dispose()
        finally:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

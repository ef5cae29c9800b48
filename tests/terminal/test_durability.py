"""SIGKILL at seeded random points during 1,000 hand-overs, then restart and sync to a real server.

A child process (this module run as a script) serves QR hand-overs through
TapService and the real store, printing each record id after its commit,
and syncs every SYNC_EVERY hand-overs. The parent kills it with SIGKILL,
either from inside at a random SQL statement (sqlite3 trace callback: inside
a transaction, between commit and report, inside a sync) or from outside
after a random number of reported hand-overs. After every restart the child
resumes from the count of committed records. At the end the parent syncs.
Checks: every reported record is stored, no record is stored twice on the
terminal or on the server, and both hold the same set. Each hand-over also
writes its receipt row in its own transaction, and every stored record has
exactly one receipt.

KARTU_DURABILITY_REDEMPTIONS overrides the 1,000 (`make bench` runs more).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from card.records import verify_signed_record
from issuance.synth import generate_register
from terminal.enrol import STORE_NAME, open_terminal
from terminal.receipt_queue import ReceiptQueue
from terminal.store import TerminalStore
from terminal.sync import SyncClient, SyncError
from terminal.tap import TapService
from tests.terminal.live_server import enrol, live_server, register_qr_cards, server_record_ids, set_quota

SEED = 6061
REDEMPTIONS = int(os.environ.get("KARTU_DURABILITY_REDEMPTIONS", "1000"))
HOUSEHOLDS = 10
SYNC_EVERY = 150
# A hand-over, its receipt included, runs about a dozen SQL statements, so a kill point falls within
# the next ~200 hand-overs.
MAX_KILL_STATEMENT = 2000
MAX_KILL_LINES = 200


def run_child(directory: Path, codes_file: Path, kill_at_statement: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.terminal.test_durability", str(directory), str(codes_file),
         str(REDEMPTIONS), str(kill_at_statement)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2],
    )


def committed_count(directory: Path) -> int:
    store = TerminalStore(directory / STORE_NAME)
    try:
        return store.execute("SELECT COUNT(*) FROM redemptions").fetchone()[0]
    finally:
        store.close()


def test_sigkill_during_redemptions(station, tmp_path) -> None:
    randomness = random.Random(SEED)
    residents = _one_per_household(HOUSEHOLDS)
    with live_server(tmp_path) as kit:
        cards = register_qr_cards(kit, station, residents)
        set_quota(kit, "lpg", REDEMPTIONS)
        directory = tmp_path / "terminal"
        enrol(kit, station, directory).close()
        codes_file = tmp_path / "codes.txt"
        codes_file.write_text("".join(card.qr_text + "\n" for card in cards))

        reported: list[str] = []
        rounds = 0
        while committed_count(directory) < REDEMPTIONS:
            rounds += 1
            assert rounds < 20 + REDEMPTIONS // 10, "the child made no progress"
            reported += _one_round(directory, codes_file, randomness)

        store, signer = open_terminal(directory)
        client = SyncClient(store, signer, kit.live.base_url)
        client.sync()
        client.close()
        on_server = server_record_ids(kit)

    rows = store.execute("SELECT record_id, signed_record FROM redemptions").fetchall()
    on_terminal = [record_id for record_id, _signed in rows]
    assert rounds >= 5, f"only {rounds} rounds: the kill points are too sparse"
    assert len(on_terminal) == REDEMPTIONS
    assert not [record_id for record_id, count in Counter(on_terminal).items() if count > 1]
    assert set(reported) <= set(on_terminal), "a hand-over reported as committed was lost"
    assert len(on_server) == len(set(on_server))
    assert sorted(on_server) == sorted(on_terminal)
    assert store.count_by_status() == {"acked": REDEMPTIONS}
    assert store.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    without_receipt = store.execute(
        "SELECT COUNT(*) FROM redemptions LEFT JOIN receipts USING (record_id) WHERE receipts.number IS NULL"
    ).fetchone()[0]
    assert without_receipt == 0, "a hand-over was committed without its receipt"
    assert store.execute("SELECT COUNT(*) FROM receipts").fetchone()[0] == REDEMPTIONS
    for record_id, signed in rows:
        assert verify_signed_record(signed, signer.public_key).record_id == record_id


def _one_round(directory: Path, codes_file: Path, randomness: random.Random) -> list[str]:
    """Run the child until it is killed (or finishes); return the record ids it reported."""
    inside = randomness.random() < 0.5
    kill_at_statement = randomness.randint(1, MAX_KILL_STATEMENT) if inside else 0
    kill_after_lines = None if inside else randomness.randint(1, MAX_KILL_LINES)
    child = run_child(directory, codes_file, kill_at_statement)
    reported = []
    for line in child.stdout:
        reported.append(line.split()[1])
        if kill_after_lines is not None and len(reported) >= kill_after_lines:
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=120)
    errors = child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    assert child.returncode in (0, -signal.SIGKILL), errors
    return reported


def _one_per_household(count: int):
    households = {}
    for resident in generate_register(count * 6, seed=11):
        households.setdefault(resident.kk, resident)
    chosen = list(households.values())[:count]
    assert len(chosen) == count
    return chosen


# --- the child ---------------------------------------------------------------------


def _kill_at(statement: int):
    seen = 0

    def trace(_sql: str) -> None:
        nonlocal seen
        seen += 1
        if seen == statement:
            os.kill(os.getpid(), signal.SIGKILL)

    return trace


def serve(directory: Path, codes: list[str], total: int, kill_at_statement: int) -> None:
    store, signer = open_terminal(directory)
    client = SyncClient(store, signer, store.require_meta("server_url"))
    if store.generation == 0:
        client.sync()
    if kill_at_statement:
        store._db.set_trace_callback(_kill_at(kill_at_statement))
    service = TapService(store, signer)
    service.on_record = ReceiptQueue(store).add_in_transaction
    done = store.execute("SELECT COUNT(*) FROM redemptions").fetchone()[0]
    for index in range(done, total):
        outcome = service.scan_qr(codes[index % len(codes)], "lpg", datetime.now(timezone.utc))
        if not outcome.decision.accepted:
            raise SystemExit(f"hand-over {index} refused: {outcome.decision.message_en}")
        print(index, outcome.record_id, flush=True)
        if (index + 1) % SYNC_EVERY == 0:
            try:
                client.sync()
            except SyncError as exc:
                print(f"sync failed: {exc}", file=sys.stderr)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), Path(sys.argv[2]).read_text().splitlines(), int(sys.argv[3]), int(sys.argv[4]))

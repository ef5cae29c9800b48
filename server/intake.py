"""Verification and storage of redemption records pushed by a terminal.

Each record is checked on its own and the verdicts are returned per index,
so one invalid record does not block the rest of the batch. A record is accepted
only when:

- its COSE_Sign1 signature verifies with the pushing terminal's key and it
  names that terminal;
- its record id is a canonical lower-case UUID and its period is the WIB
  month of its tap time;
- its programme is offered at the terminal's service point;
- its card is registered and its household id is the card's;
- for a chip record, the card is a chip card and the card signature over
  tap_digest() verifies with the registered card key.
- a PIN signature (slot 9A) verifies with the card's registered 9A key,
  when the card was registered with one.

Over-quota and revoked-card records are stored: they are evidence for
reconciliation, and the hand-over has already happened.

A record id is stored once. Identical bytes under a stored id are reported as
a duplicate; different bytes under a stored id are rejected. The whole batch
is one transaction. On PostgreSQL its new rows go in with one COPY, and on
SQLite with one multi-row INSERT ... ON CONFLICT (record_id) DO NOTHING.
When a concurrent push stores one of the same ids first, the COPY fails and
is undone (to a savepoint), and the rows then go in with INSERT ... ON
CONFLICT too. The insert skips that row, and the row the other push stored
decides whether the record is a duplicate or rejected.

Speed: the two ECDSA P-256 verifications per chip record are most of the
cost. Records in the layout that terminals write are sliced instead of
decoded (card.records.verify_common_signed_record). Each process keeps the
most recently used card and terminal public keys, keyed by their stored
bytes, so a card or terminal given a new key is never checked with its old
one. The expected period is computed once per WIB day of a batch.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Row
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from card import cose
from card.keys import decompress_point, public_key_from_spki, verify_der_prehashed
from card.records import Assurance, RecordError, decode_record, verify_common_signed_record
from card.records import Redemption as RedemptionRecord
from server.fields import decode_base64
from server.keyed_rows import select_by_keys
from server.models import Card, Redemption, Terminal
from server.periods import PERIOD_PATTERN, period_of, utc_datetime

__all__ = ["Rejection", "BatchResult", "store_batch", "MAX_QUANTITY"]

logger = logging.getLogger(__name__)

# Far above any programme quota; it also keeps the value inside a 32-bit integer column.
MAX_QUANTITY = 10_000

# The canonical form that str(uuid.UUID(text)) returns: lower-case hex digits in groups of 8-4-4-4-12.
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CARD_NUMBER = re.compile(r"[0-9]{16}")
_WIB_OFFSET_SECONDS = 7 * 3600

# A loaded P-256 public key takes about 2 KB (measured with cryptography 50 on
# x86-64), so each cache of this size takes at most about 70 MB per process.
_CARD_KEY_CACHE_SIZE = 32_768
_TERMINAL_KEY_CACHE_SIZE = 1_024


@functools.lru_cache(maxsize=_CARD_KEY_CACHE_SIZE)
def _card_public_key(point: bytes) -> ec.EllipticCurvePublicKey:
    """Load a card key (slot 9E or 9A) from its stored point; raise ValueError if it is not on the curve.

    Loading a stored uncompressed point takes about 6 µs (timeit), and a
    card that taps again while its key is cached skips it.
    """
    return decompress_point(point)


@functools.lru_cache(maxsize=_TERMINAL_KEY_CACHE_SIZE)
def _terminal_public_key(spki: bytes) -> ec.EllipticCurvePublicKey:
    return public_key_from_spki(spki)


@dataclass(frozen=True)
class Rejection:
    index: int
    record_id: str | None
    reason: str


@dataclass
class BatchResult:
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


class _Rejected(Exception):
    def __init__(self, reason: str, record_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.record_id = record_id


@dataclass(frozen=True)
class _Verified:
    index: int
    data: bytes
    record: RedemptionRecord


def _claimed_record_id(data: bytes) -> str | None:
    """Return the record id inside a record that failed verification, for the terminal's report only."""
    try:
        return decode_record(cose.decode_sign1(data).payload).record_id
    except (cose.COSEError, RecordError):
        return None


def _verify_signed(text: str, terminal_key: ec.EllipticCurvePublicKey, max_bytes: int) -> tuple[bytes, RedemptionRecord]:
    try:
        data = decode_base64(text)
    except ValueError as exc:
        raise _Rejected(f"record {exc}") from None
    if len(data) > max_bytes:
        raise _Rejected(f"record is {len(data)} bytes; the limit is {max_bytes}")
    try:
        return data, verify_common_signed_record(data, terminal_key)
    except RecordError as exc:
        raise _Rejected(str(exc), _claimed_record_id(data)) from None


def _expected_period(tapped_at: int, periods: dict[int, str]) -> str:
    """Return period_of(tapped_at), computed once per WIB day of the batch.

    A quota period is a WIB calendar month, so every second of one WIB day
    is in the same period.
    """
    day = (tapped_at + _WIB_OFFSET_SECONDS) // 86_400
    period = periods.get(day)
    if period is None:
        period = periods[day] = period_of(tapped_at)
    return period


def _check_fields(record: RedemptionRecord, terminal: Terminal, programmes: set[str], periods: dict[int, str]) -> None:
    if record.terminal_id != terminal.terminal_id:
        raise _Rejected(f"record names terminal '{record.terminal_id}' but was pushed by '{terminal.terminal_id}'")
    if not _CANONICAL_UUID.fullmatch(record.record_id):
        raise _Rejected("record id is not a canonical lower-case UUID")
    if record.program not in programmes:
        raise _Rejected(
            f"programme '{record.program}' is not offered at service point {terminal.service_point_id}"
        )
    if not 1 <= record.quantity <= MAX_QUANTITY:
        raise _Rejected(f"quantity {record.quantity} is outside 1..{MAX_QUANTITY}")
    try:
        expected_period = _expected_period(record.tapped_at, periods)
    except (OverflowError, ValueError, OSError):
        raise _Rejected(f"tapped_at {record.tapped_at} is not a usable Unix time") from None
    if not PERIOD_PATTERN.match(record.period) or record.period != expected_period:
        raise _Rejected(
            f"period '{record.period}' is not the WIB month {expected_period} of tapped_at {record.tapped_at}"
        )


def _check_card(record: RedemptionRecord, card: Row | None) -> None:
    if card is None:
        raise _Rejected(f"card {record.card_number} is not registered")
    if record.household_id != card.household_id:
        raise _Rejected(f"household id does not match the registration of card {record.card_number}")
    if record.assurance is not Assurance.CHIP:
        return
    if card.card_key is None:
        raise _Rejected(f"record claims a chip tap but card {record.card_number} is QR-only")
    card_key = _card_public_key(bytes(card.card_key))
    if not verify_der_prehashed(card_key, record.card_signature, record.digest()):
        raise _Rejected(f"card signature does not verify with the registered key of card {record.card_number}")
    _check_pin_signature(record, card)


def _check_pin_signature(record: RedemptionRecord, card: Row) -> None:
    """Reject a PIN signature that does not verify with the card's registered 9A key.

    A record without a PIN signature, or of a card registered without its 9A
    key, is stored; server.reconcile_pin reports it when its programme needs a PIN.
    """
    if record.pin_signature is None or card.authentication_key is None:
        return
    key = _card_public_key(bytes(card.authentication_key))
    if not verify_der_prehashed(key, record.pin_signature, record.digest()):
        raise _Rejected(f"PIN signature does not verify with the registered 9A key of card {record.card_number}")


def _row_of(item: _Verified, received_at) -> dict:
    record = item.record
    return {
        "record_id": record.record_id,
        "terminal_id": record.terminal_id,
        "card_number": record.card_number,
        "household_id": record.household_id,
        "program": record.program,
        "quantity": record.quantity,
        "period": record.period,
        "tapped_at": utc_datetime(record.tapped_at),
        "assurance": record.assurance.value,
        "card_signature": record.card_signature,
        "signed_record": item.data,
        "received_at": received_at,
    }


def _verify_batch(records: list[str], terminal: Terminal, max_bytes: int, result: BatchResult) -> list[_Verified]:
    """Return the records whose terminal signature verifies; add the others to result.rejected."""
    terminal_key = _terminal_public_key(bytes(terminal.public_key))
    verified = []
    for index, text in enumerate(records):
        try:
            data, record = _verify_signed(text, terminal_key, max_bytes)
        except _Rejected as exc:
            result.rejected.append(Rejection(index, exc.record_id, exc.reason))
            continue
        verified.append(_Verified(index, data, record))
    return verified


def _load_cards(session: Session, verified: list[_Verified]) -> dict[str, Row]:
    """Return (card_number, household_id, card_key, authentication_key) of the registered cards in the batch."""
    # Only a number of 16 digits can be registered. Other text, such as text with a NUL byte, which
    # PostgreSQL rejects, stays out of the query, and _check_card reports its card as not registered.
    numbers = {item.record.card_number for item in verified if _CARD_NUMBER.fullmatch(item.record.card_number)}
    if not numbers:
        return {}
    columns = (Card.card_number, Card.household_id, Card.card_key, Card.authentication_key)
    rows = session.execute(select_by_keys(session, Card.card_number, numbers, columns))
    return {row.card_number: row for row in rows}


def _load_stored(session: Session, verified: list[_Verified]) -> dict[str, bytes]:
    """Return the signed bytes already stored under the batch's record ids."""
    # Only canonical ids are stored, and _check_fields rejects the others.
    record_ids = {item.record.record_id for item in verified if _CANONICAL_UUID.fullmatch(item.record.record_id)}
    if not record_ids:
        return {}
    columns = (Redemption.record_id, Redemption.signed_record)
    return dict(session.execute(select_by_keys(session, Redemption.record_id, record_ids, columns)).all())


_COLUMNS = (
    "record_id", "terminal_id", "card_number", "household_id", "program", "quantity", "period", "tapped_at",
    "assurance", "card_signature", "signed_record", "received_at",
)


# PostgreSQL types of _COLUMNS, for COPY in binary format.
_COPY_TYPES = (
    "text", "text", "text", "bytea", "text", "int4", "text", "timestamptz", "text", "bytea", "bytea", "timestamptz",
)


def _copy_rows(cursor, table: str, rows: list[dict]) -> None:
    """COPY the rows in PostgreSQL's binary format.

    The text format writes each byte string as hex, which psycopg formats
    and PostgreSQL parses again. A signed record is about 250 bytes.
    """
    with cursor.copy(f"COPY {table} ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row([row[name] for name in _COLUMNS])


def _insert_new_postgresql(session: Session, rows: list[dict]) -> set[str]:
    """COPY the rows into redemptions and return their ids; fall back to _merge_new_postgresql on a stored id.

    COPY skips the per-row statement and parameter handling, which costs more
    than the row itself for a batch of hundreds of rows. It fails on the first
    record id that is already stored, which happens only when a concurrent
    push stored it after _load_stored read, so the savepoint undoes the COPY
    and the batch takes the slower path that skips stored ids.
    """
    connection = session.connection().connection.driver_connection
    cursor = connection.cursor()
    try:
        # Inside the batch's transaction, psycopg makes this block a savepoint.
        with connection.transaction():
            _copy_rows(cursor, "redemptions", rows)
    except psycopg.errors.UniqueViolation:
        return _merge_new_postgresql(cursor, rows)
    return {row["record_id"] for row in rows}


def _merge_new_postgresql(cursor, rows: list[dict]) -> set[str]:
    """COPY the rows into a per-connection temporary table, then move the new ones into redemptions."""
    cursor.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_redemptions "
        "(LIKE redemptions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    _copy_rows(cursor, "incoming_redemptions", rows)
    columns = ", ".join(_COLUMNS)
    cursor.execute(
        f"INSERT INTO redemptions ({columns}) SELECT {columns} FROM incoming_redemptions "
        "ON CONFLICT (record_id) DO NOTHING RETURNING record_id"
    )
    # ON COMMIT DELETE ROWS empties the temporary table when the batch commits or rolls back.
    return {record_id for (record_id,) in cursor.fetchall()}


def _insert_new(session: Session, rows: list[dict]) -> set[str]:
    """Insert rows whose record id is not stored yet; return the ids inserted."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _insert_new_postgresql(session, rows)
    if dialect != "sqlite":
        raise RuntimeError(f"database dialect {dialect} is not supported")
    statement = (
        sqlite_insert(Redemption.__table__)
        .on_conflict_do_nothing(index_elements=["record_id"])
        .returning(Redemption.__table__.c.record_id)
    )
    return set(session.scalars(statement, rows))


def _check_new(
    item: _Verified, terminal: Terminal, programmes: set[str], cards: dict[str, Row], periods: dict[int, str],
) -> None:
    _check_fields(item.record, terminal, programmes, periods)
    _check_card(item.record, cards.get(item.record.card_number))


def _store(session: Session, terminal: Terminal, records: list[str], now: float, max_bytes: int) -> BatchResult:
    result = BatchResult()
    verified = _verify_batch(records, terminal, max_bytes, result)
    cards = _load_cards(session, verified)
    stored = _load_stored(session, verified)

    programmes = set(terminal.service_point.programme_codes)
    received_at = utc_datetime(now)
    periods: dict[int, str] = {}
    new: list[_Verified] = []
    for item in verified:
        record_id = item.record.record_id
        if record_id in stored:
            _report_stored(result, item, stored[record_id])
            continue
        try:
            _check_new(item, terminal, programmes, cards, periods)
        except _Rejected as exc:
            result.rejected.append(Rejection(item.index, record_id, exc.reason))
            continue
        new.append(item)
        stored[record_id] = item.data

    inserted = _insert_new(session, [_row_of(item, received_at) for item in new])
    skipped = [item for item in new if item.record.record_id not in inserted]
    # A concurrent push stored these ids after _load_stored read; its committed row decides.
    concurrent = _load_stored(session, skipped)
    for item in new:
        if item.record.record_id in inserted:
            result.accepted.append(item.record.record_id)
        else:
            _report_stored(result, item, concurrent.get(item.record.record_id, b""))
    result.rejected.sort(key=lambda rejection: rejection.index)
    return result


def _report_stored(result: BatchResult, item: _Verified, stored_data: bytes) -> None:
    record_id = item.record.record_id
    if stored_data == item.data:
        result.duplicates.append(record_id)
    else:
        result.rejected.append(Rejection(item.index, record_id, "record id is already stored with different content"))


def store_batch(
    session: Session, terminal: Terminal, records: list[str], now: float, max_record_bytes: int,
    on_accepted: Callable[[list[str]], None] | None = None,
) -> BatchResult:
    """Verify and store one batch in one transaction and return the verdict for each record.

    on_accepted, when given, gets the accepted record ids before the commit,
    so whatever it adds to the session is committed with the records.
    """
    result = _store(session, terminal, records, now, max_record_bytes)
    if on_accepted is not None and result.accepted:
        on_accepted(result.accepted)
    session.commit()
    return result

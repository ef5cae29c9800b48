"""Reconciliation: finding suspicious patterns among stored redemptions.

reconcile_records() runs over the records of each pushed batch (queued by server.reconcile_queue);
reconcile_all() runs over every stored record. Five checks, each finding
linked to the records that show it:

- quota_overuse: the records of one household (or, for a per-person quota,
  one card) in one quota period add up to more than the programme's quota.
  Terminals enforce the quota offline from the use they last synced, so use
  at several terminals between syncs surfaces only here.
- distant_use: one card used at two service points whose kelurahan are at
  least min_distance_km apart, within window, faster than max_speed_kmh
  would allow. Service points without a kelurahan (service_point_areas)
  are left out.
- no_card_signature: a record taken from the QR code, which proves nothing
  about the card being present. Its detail records whether the card has a chip.
- terminal_volume: a terminal whose quantity in a programme and period is
  more than volume_factor times the median of the other terminals that
  recorded any, once there are at least volume_min_peers of them
  (server.reconcile_volume, over running totals per terminal). After a push
  this is checked only when the terminal's total has grown by about 10 %
  since the last check, so a finding can come up to 10 % late.
  reconcile_all() checks every terminal.
- pin_unproven: a record of a programme that needs a PIN without a PIN
  signature that verifies with the card's registered 9A key
  (server.reconcile_pin).

A finding has a key made of its kind and subject, so running the checks
again updates the finding and adds new records to it instead of repeating it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ARRAY, Row, any_, bindparam, func, insert, select, text, true
from sqlalchemy.orm import Session

from server.geo import distance_km
from server.keyed_rows import select_by_keys
from server.models import Card, Programme, Redemption, Terminal
from server.models_findings import Finding, ServicePointArea, finding_records
from server.periods import WIB
from server.programmes import quota_months
from server.reconcile_pin import check_pin_proof
from server.reconcile_volume import add_to_volumes, batch_quantities, check_volume, rebuild_volumes

__all__ = ["Thresholds", "reconcile_records", "reconcile_all"]

logger = logging.getLogger(__name__)

_CHUNK = 1000


@dataclass(frozen=True)
class Thresholds:
    min_distance_km: float = 3.0
    max_speed_kmh: float = 30.0
    """Faster than city traffic on a motorbike, as an estimate for Kota Jambi."""
    window: timedelta = timedelta(hours=2)
    volume_factor: float = 3.0
    volume_min_peers: int = 3
    volume_min_quantity: int = 20


def _chunks(items: list, size: int = _CHUNK):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _save(session: Session, now: datetime, kind: str, program: str, subject: str, key: str,
          detail: dict, record_ids: set[str]) -> bool:
    """Insert or update the finding under key and link its records; return True when anything changed."""
    finding = session.scalars(select(Finding).where(Finding.key == key)).one_or_none()
    changed = finding is None
    if finding is None:
        finding = Finding(key=key, kind=kind, program=program, subject=subject, detail=detail,
                          first_found_at=now, last_found_at=now)
        session.add(finding)
        session.flush()
        linked: set[str] = set()
    else:
        linked = set(session.scalars(select(finding_records.c.record_id)
                                     .where(finding_records.c.finding_id == finding.id)))
    missing = sorted(record_ids - linked)
    if missing or finding.detail != detail:
        finding.detail = detail
        finding.last_found_at = now
        changed = True
    for chunk in _chunks(missing):
        session.execute(insert(finding_records), [{"finding_id": finding.id, "record_id": rid} for rid in chunk])
    if changed:
        logger.info("finding %d %s %s: %d records", finding.id, kind, key, len(linked) + len(missing))
    return changed


# Every column but the signed bytes, which only the PIN check reads (server.reconcile_pin loads
# them for its records), and the receive time, which no check reads.
_CHECKED_COLUMNS = tuple(column for column in Redemption.__table__.c
                         if column.key not in ("signed_record", "received_at"))


def _load(session: Session, record_ids: list[str]) -> list[Row]:
    """Return the records as plain rows with the columns that the checks read.

    The checks only read the records, so rows serve them as well as mapped
    objects and skip the ORM's identity map and instance state, which cost
    more than the query for a drain of thousands of records.
    """
    records = []
    for chunk in _chunks(record_ids):
        records.extend(session.execute(select_by_keys(session, Redemption.record_id, chunk, _CHECKED_COLUMNS)))
    return records


def _window_label(quota_period: str, period: str) -> str | None:
    year, month = period.split("-")
    if quota_period == "month":
        return period
    if quota_period == "semester":
        return f"{year}-S{1 if int(month) <= 6 else 2}"
    if quota_period == "year":
        return year
    return None


def _months_of(quota_period: str, period: str) -> list[str]:
    year, month = (int(part) for part in period.split("-"))
    middle_of_month = datetime(year, month, 15, tzinfo=WIB).timestamp()
    return quota_months(quota_period, middle_of_month) or [period]


def _quota_groups(records: list[Redemption], programmes: dict[str, Programme]) -> dict[tuple, set]:
    """Group the records' subjects by (programme, quota window label, one period of the window, per person)."""
    groups: dict[tuple, set] = defaultdict(set)
    for record in records:
        programme = programmes[record.program]
        label = _window_label(programme.quota_period, record.period)
        if programme.quota > 0 and label is not None:
            per_person = programme.quota_scope == "person"
            subject = record.card_number if per_person else record.household_id
            groups[(record.program, label, record.period, per_person)].add(subject)
    return groups


def _over_quota_query(session: Session, column, subjects: list, program: str, months: list[str], quota: int):
    """Return a query of (subject, quantity used) for the subjects whose use in the window exceeds quota.

    On PostgreSQL a LATERAL subquery sums each subject's rows on its own, so
    the plan is one lookup per subject in the (program, period, household_id)
    index, or in the card_number index for a per-person quota. With a plain
    "household_id IN (...)" PostgreSQL 15 chose to read every row of the
    programme's period when its statistics were stale, as they are while
    pushes fill the table: 50,000 buffers instead of 2,000 for 500
    households among 50,000 rows (EXPLAIN ANALYZE).
    """
    if session.get_bind().dialect.name != "postgresql":
        return (
            select(column, func.sum(Redemption.quantity))
            .where(Redemption.program == program, Redemption.period.in_(months), column.in_(subjects))
            .group_by(column)
            .having(func.sum(Redemption.quantity) > quota)
        )
    wanted = (
        func.unnest(bindparam(None, subjects, type_=ARRAY(column.type)))
        .table_valued("subject")
        .render_derived(name="wanted")
    )
    in_months = Redemption.period == any_(bindparam(None, months, type_=ARRAY(Redemption.period.type)))
    used = (
        select(func.sum(Redemption.quantity).label("quantity"))
        .where(Redemption.program == program, in_months, column == wanted.c.subject)
        .lateral("used")
    )
    return select(wanted.c.subject, used.c.quantity).select_from(wanted).join(used, true()).where(used.c.quantity > quota)


def _check_quota(session: Session, records: list[Redemption], programmes: dict[str, Programme], now: datetime) -> int:
    found = 0
    for (program, label, period, per_person), subjects in sorted(_quota_groups(records, programmes).items(), key=str):
        programme = programmes[program]
        column = Redemption.card_number if per_person else Redemption.household_id
        months = _months_of(programme.quota_period, period)
        in_window = (Redemption.program == program, Redemption.period.in_(months))
        over = []
        for chunk in _chunks(sorted(subjects)):
            over += session.execute(_over_quota_query(session, column, chunk, program, months, programme.quota)).all()
        for subject, used in over:
            record_ids = set(session.scalars(select(Redemption.record_id).where(*in_window, column == subject)))
            subject_text = subject if per_person else subject.hex()
            detail = {"used": int(used), "quota": programme.quota, "period": label,
                      "per": "card" if per_person else "household"}
            found += _save(session, now, "quota_overuse", program, subject_text,
                           f"quota_overuse:{program}:{label}:{subject_text}", detail, record_ids)
    return found


def _check_distance(session: Session, records: list[Redemption], thresholds: Thresholds, now: datetime) -> int:
    if not records:
        return 0
    cards = sorted({record.card_number for record in records})
    earliest = min(record.tapped_at for record in records) - thresholds.window
    latest = max(record.tapped_at for record in records) + thresholds.window
    nearby: dict[str, list[tuple]] = defaultdict(list)
    for chunk in _chunks(cards):
        rows = session.execute(select_by_keys(
            session, Redemption.card_number, chunk,
            (Redemption.record_id, Redemption.card_number, Redemption.program, Redemption.tapped_at,
             Terminal.service_point_id, ServicePointArea.kelurahan),
            Redemption.tapped_at.between(earliest, latest),
            joins=((Terminal, Terminal.terminal_id == Redemption.terminal_id),
                   (ServicePointArea, ServicePointArea.service_point_id == Terminal.service_point_id)),
        ))
        for row in rows:
            nearby[row.card_number].append(tuple(row))
    found = 0
    for taps in nearby.values():
        taps.sort(key=lambda tap: (tap[3], tap[0]))
        for index, first in enumerate(taps):
            for second in taps[index + 1 :]:
                found += _distant_pair(session, first, second, thresholds, now)
    return found


def _distant_pair(session: Session, first: tuple, second: tuple, thresholds: Thresholds, now: datetime) -> bool:
    record_a, card_number, program, tapped_a, point_a, kelurahan_a = first
    record_b, _, _, tapped_b, point_b, kelurahan_b = second
    seconds = abs((tapped_b - tapped_a).total_seconds())
    if point_a == point_b or seconds > thresholds.window.total_seconds():
        return False
    distance = distance_km(kelurahan_a, kelurahan_b)
    if distance < thresholds.min_distance_km:
        return False
    if seconds > 0 and distance / (seconds / 3600) <= thresholds.max_speed_kmh:
        return False
    detail = {"distance_km": round(distance, 1), "minutes": round(seconds / 60, 1),
              "service_points": [point_a, point_b]}
    key = f"distant_use:{min(record_a, record_b)}:{max(record_a, record_b)}"
    return _save(session, now, "distant_use", program, card_number, key, detail, {record_a, record_b})


def _check_card_signature(session: Session, records: list[Redemption], now: datetime) -> int:
    """Add one finding per record without a card signature; such a finding never changes once stored."""
    keys = {f"no_card_signature:{record.record_id}": record for record in records if record.card_signature is None}
    if not keys:
        return 0
    stored: set[str] = set()
    for chunk in _chunks(sorted(keys)):
        stored.update(session.scalars(select(Finding.key).where(Finding.key.in_(chunk))))
    new = [(key, record) for key, record in sorted(keys.items()) if key not in stored]
    if not new:
        return 0
    chip_cards = set(session.scalars(
        select(Card.card_number).where(Card.card_number.in_({record.card_number for _, record in new}),
                                       Card.card_key.is_not(None))
    ))
    findings = [
        Finding(key=key, kind="no_card_signature", program=record.program, subject=record.card_number,
                detail={"terminal_id": record.terminal_id, "assurance": record.assurance,
                        "card_has_chip": record.card_number in chip_cards},
                first_found_at=now, last_found_at=now)
        for key, record in new
    ]
    session.add_all(findings)
    session.flush()
    links = [{"finding_id": finding.id, "record_id": record.record_id} for finding, (_, record) in zip(findings, new)]
    for chunk in _chunks(links):
        session.execute(insert(finding_records), chunk)
    logger.info("%d records without a card signature found", len(new))
    return len(new)


def _plan_for_values(session: Session) -> None:
    """Make PostgreSQL plan this transaction's statements for their parameter values.

    psycopg prepares a statement on its fifth execution, and PostgreSQL may
    then switch to a generic plan that ignores the values. For the quota
    query, whose parameter is an array of up to 1000 subjects, the generic
    plan cost 365 µs of PostgreSQL CPU per subject against 7 µs for a plan
    made for the values (bench/ingest_profile.py). The push path keeps its
    prepared plans, which save it about 35 µs per record.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _reconcile(session: Session, records: list[Redemption], now: datetime, thresholds: Thresholds,
               *, newly_stored: bool) -> int:
    _plan_for_values(session)
    programmes = {programme.code: programme for programme in session.scalars(select(Programme))}
    found = _check_quota(session, records, programmes, now)
    found += _check_distance(session, records, thresholds, now)
    found += _check_card_signature(session, records, now)
    found += check_pin_proof(session, records, now, _save)
    quantities = batch_quantities(records)
    if newly_stored:
        add_to_volumes(session, quantities)
    found += check_volume(session, quantities, thresholds, now, _save)
    session.flush()
    return found


def reconcile_records(session: Session, record_ids: list[str], now: datetime,
                      thresholds: Thresholds = Thresholds()) -> int:
    """Run every check over records just stored, counting them once into the terminal totals.

    Returns the findings added or changed, without committing.
    """
    records = _load(session, record_ids)
    if not records:
        return 0
    return _reconcile(session, records, now, thresholds, newly_stored=True)


def reconcile_all(session: Session, now: datetime, thresholds: Thresholds = Thresholds()) -> int:
    """Rebuild the terminal totals and run every check over every stored record; no commit."""
    rebuild_volumes(session)
    record_ids = list(session.scalars(select(Redemption.record_id).order_by(Redemption.record_id)))
    records = _load(session, record_ids)
    if not records:
        return 0
    return _reconcile(session, records, now, thresholds, newly_stored=False)

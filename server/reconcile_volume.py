"""The terminal volume check of reconciliation, over running totals per terminal.

terminal_volumes contains each terminal's total quantity per programme and
period. A push adds its records to the totals in the same transaction as its
findings, so the check reads a few rows per terminal instead of scanning the
period's redemptions. rebuild_volumes() recomputes the totals from the
stored redemptions, for a full reconciliation or after a failed one.

A terminal is compared with its peers when its total enters a new step
about 10 % wide (VOLUME_STEP_GROWTH), so a finding can come up to 10 % late.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from server.models import Redemption
from server.models_findings import TerminalVolume

__all__ = ["VOLUME_STEP_GROWTH", "batch_quantities", "add_to_volumes", "rebuild_volumes", "check_volume"]

# The comparison runs when a terminal's total has grown by this factor since the last step.
VOLUME_STEP_GROWTH = 1.1


def _volume_step(total: int) -> int:
    """Return the index of the step, about 10 % wide, that total falls in."""
    return math.floor(math.log(total, VOLUME_STEP_GROWTH)) if total > 0 else -1


def _upsert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(TerminalVolume)
    return statement.on_conflict_do_update(
        index_elements=["terminal_id", "program", "period"],
        set_={"quantity": TerminalVolume.quantity + statement.excluded.quantity},
    )


def batch_quantities(records: list[Redemption]) -> dict[tuple[str, str, str], int]:
    """Return the quantity of the records per (terminal, programme, period)."""
    quantities: dict[tuple[str, str, str], int] = defaultdict(int)
    for record in records:
        quantities[(record.terminal_id, record.program, record.period)] += record.quantity
    return quantities


def add_to_volumes(session: Session, quantities: dict[tuple[str, str, str], int]) -> None:
    """Add newly stored quantities to the running totals; the caller adds each record once."""
    rows = [{"terminal_id": terminal_id, "program": program, "period": period, "quantity": quantity}
            for (terminal_id, program, period), quantity in sorted(quantities.items())]
    if rows:
        session.execute(_upsert(session), rows)


def rebuild_volumes(session: Session) -> None:
    """Replace the running totals with sums over every stored redemption."""
    session.execute(delete(TerminalVolume))
    totals = session.execute(
        select(Redemption.terminal_id, Redemption.program, Redemption.period, func.sum(Redemption.quantity))
        .group_by(Redemption.terminal_id, Redemption.program, Redemption.period)
    ).all()
    rows = [{"terminal_id": terminal_id, "program": program, "period": period, "quantity": int(quantity)}
            for terminal_id, program, period, quantity in totals]
    if rows:
        session.execute(insert(TerminalVolume), rows)


def check_volume(session: Session, quantities: dict[tuple[str, str, str], int], thresholds, now: datetime,
                 save: Callable[..., bool]) -> int:
    """Compare each terminal of quantities whose total entered a new step with its peers.

    quantities are the amounts just added to the totals; save is
    server.reconcile's finding writer. Returns the findings added or changed.
    """
    found = 0
    for program, period in sorted({(program, period) for _, program, period in quantities}):
        totals = dict(session.execute(
            select(TerminalVolume.terminal_id, TerminalVolume.quantity)
            .where(TerminalVolume.program == program, TerminalVolume.period == period)
        ).all())
        for (terminal_id, record_program, record_period), added in sorted(quantities.items()):
            if (record_program, record_period) != (program, period):
                continue
            own = totals.get(terminal_id, 0)
            before = own - added
            if own < thresholds.volume_min_quantity:
                continue
            if before >= thresholds.volume_min_quantity and _volume_step(own) <= _volume_step(before):
                continue
            peers = [total for other, total in totals.items() if other != terminal_id and total > 0]
            if len(peers) < thresholds.volume_min_peers:
                continue
            median = statistics.median(peers)
            if own <= thresholds.volume_factor * median:
                continue
            record_ids = set(session.scalars(select(Redemption.record_id).where(
                Redemption.program == program, Redemption.period == period, Redemption.terminal_id == terminal_id)))
            detail = {"quantity": own, "peer_median": median, "peers": len(peers), "period": period}
            found += save(session, now, "terminal_volume", program, terminal_id,
                          f"terminal_volume:{program}:{period}:{terminal_id}", detail, record_ids)
    return found

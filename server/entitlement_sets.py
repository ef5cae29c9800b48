"""Signed entitlement sets: what a terminal pulls for one programme, signed by the server sync key.

The set (layout in card.entitlement_set) carries the programme's rules with
its quota period (Programme.quota_period), the entitled households with
their use so far, the issue time in milliseconds, the terminal and service
point it was made for and the programme's revision.
The terminal verifies it against the sync keys of its trust list before it
applies anything (terminal.entitlement_check).

Each pull refreshes the programme's served state (server.served_entitlements)
and then answers the terminal's cursor, the revision it holds: with a delta
of the households changed and removed since that revision, or with a full
set when the cursor is 0, unknown, ahead of the server or older than the
retention of removals.

A server started without a sync key serves no entitlement sets: the route
returns 503 with code no_sync_key, as revoking a card does, because a terminal
rejects an unsigned set. The server does not check here that its sync key is
in the current trust list. A terminal that does not find the key there
rejects the set and keeps the one it had.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from card.cose import Signer
from card.entitlement_set import (
    HouseholdEntry,
    OfflineRuleTerms,
    ProgrammeEntitlements,
    ProgrammeRules,
    sign_entitlements,
)
from server.entitlements import HouseholdEntitlement, household_entitlements
from server.models import Programme, Terminal
from server.models_register import ProgrammeRule
from server.periods import period_of
from server.served_entitlements import (
    ServedState,
    changes_since,
    lock_programme,
    record_served,
    remember_served,
)

__all__ = ["refresh_served", "build_entitlements", "signed_entitlement_set"]


def _rules(programme: Programme, rule: ProgrammeRule | None) -> ProgrammeRules:
    """Return the set's rules: the programme's quota period, and the rule row's fields when it has one."""
    if rule is None:
        return ProgrammeRules(quota_period=programme.quota_period)
    offline = None
    if rule.offline_max_hours is not None and rule.offline_action is not None:
        offline = OfflineRuleTerms(rule.offline_max_hours, rule.offline_action)
    return ProgrammeRules(benefit_kind=rule.benefit_kind, pin_required=rule.pin_required, offline_rule=offline,
                          quota_period=programme.quota_period)


def _entries(households: list[HouseholdEntitlement]) -> tuple[HouseholdEntry, ...]:
    return tuple(HouseholdEntry(h.household_id, h.used, h.persons, h.amount, h.valid_until) for h in households)


def refresh_served(session: Session, programme: Programme, now: float) -> ServedState:
    """Compute the programme's households as of now, record them under its locked revision and commit.

    The commit releases the lock and makes the revision durable before it is
    sent to any terminal.
    """
    current = household_entitlements(session, programme, now)
    counter = lock_programme(session, programme.code)
    state = record_served(session, counter, current, now)
    session.commit()
    remember_served(session, state)
    return state


def build_entitlements(session: Session, programme: Programme, terminal: Terminal, state: ServedState,
                       since: int, now: float) -> ProgrammeEntitlements:
    """Build the set for one terminal holding revision since: a delta when possible, else the full set."""
    changes = changes_since(state, since)
    households = state.households if changes is None else changes.changed
    return ProgrammeEntitlements(
        program=programme.code,
        period=period_of(now),
        quota=programme.quota,
        unit=programme.unit,
        rules=_rules(programme, session.get(ProgrammeRule, programme.code)),
        issued_at_ms=int(now * 1000),
        terminal_id=terminal.terminal_id,
        service_point_id=terminal.service_point_id,
        households=_entries(households),
        revision=state.revision,
        base_revision=None if changes is None else changes.base_revision,
        removed=() if changes is None else tuple(changes.removed),
    )


def signed_entitlement_set(
    session: Session, signer: Signer, programme: Programme, terminal: Terminal, since: int, now: float
) -> tuple[ProgrammeEntitlements, bytes]:
    """Refresh the served state, build the terminal's set or delta and sign it; return it and its COSE_Sign1 bytes."""
    state = refresh_served(session, programme, now)
    entitlements = build_entitlements(session, programme, terminal, state, since, now)
    return entitlements, sign_entitlements(entitlements, signer)

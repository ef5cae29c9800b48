"""Signed entitlement sets: what a terminal pulls for one programme, signed by the server sync key.

The set (layout in card.entitlement_set) carries the programme's rules, the
entitled households with their use so far, the issue time in milliseconds and
the terminal and service point it was made for. The terminal verifies it
against the sync keys of its trust list before it applies anything
(terminal.entitlement_check).

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
from server.entitlements import household_entitlements
from server.models import Programme, Terminal
from server.models_register import ProgrammeRule
from server.periods import period_of

__all__ = ["build_entitlements", "signed_entitlement_set"]


def _rules(rule: ProgrammeRule | None) -> ProgrammeRules:
    if rule is None:
        return ProgrammeRules()
    offline = None
    if rule.offline_max_hours is not None and rule.offline_action is not None:
        offline = OfflineRuleTerms(rule.offline_max_hours, rule.offline_action)
    return ProgrammeRules(benefit_kind=rule.benefit_kind, pin_required=rule.pin_required, offline_rule=offline)


def build_entitlements(session: Session, programme: Programme, terminal: Terminal, now: float) -> ProgrammeEntitlements:
    """Collect a programme's rules and entitled households, as of now, into a set for one terminal."""
    households = household_entitlements(session, programme, now)
    return ProgrammeEntitlements(
        program=programme.code,
        period=period_of(now),
        quota=programme.quota,
        unit=programme.unit,
        rules=_rules(session.get(ProgrammeRule, programme.code)),
        issued_at_ms=int(now * 1000),
        terminal_id=terminal.terminal_id,
        service_point_id=terminal.service_point_id,
        households=tuple(
            HouseholdEntry(h.household_id, h.used, h.persons, h.amount, h.valid_until) for h in households
        ),
    )


def signed_entitlement_set(
    session: Session, signer: Signer, programme: Programme, terminal: Terminal, now: float
) -> tuple[ProgrammeEntitlements, bytes]:
    """Build a terminal's set for a programme and sign it with the sync key; return the set and its COSE_Sign1 bytes."""
    entitlements = build_entitlements(session, programme, terminal, now)
    return entitlements, sign_entitlements(entitlements, signer)

"""Offline rules per programme: how long a terminal may accept hand-overs without a sync, and what happens after.

A rule sets the maximum time since the programme's entitlements were last
pulled (entitlement_sets.pulled_at, written by every successful sync) and
the action past it: "refuse" rejects hand-overs with Reason.OFFLINE_TOO_LONG
and records nothing, "warn" records them and shows a warning. Rules are
stored as JSON in the store's meta table under "offline_rules". A programme
without a rule has no offline limit.

A rule comes from the server with each pull of the programme's
entitlements (apply_server_rule), or is set on the terminal with `kartu
terminal offline-rule`. A server rule replaces the local one, and a pull
without a rule removes the server's earlier rule but keeps a local one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from enum import Enum

from card.credential import Credential
from card.decision import Decision, Reason
from card.i18n import N_, Counted, translate
from card.records import Redemption
from terminal.programmes import HOURS, ProgrammeName
from terminal.store import TerminalStore
from terminal.tap import TapOutcome, TapService

__all__ = ["OfflineAction", "OfflineRule", "OfflineStatus", "load_rules", "save_rule", "apply_server_rule",
           "offline_status",
           "RuledTapService", "OFFLINE_WARNING"]

log = logging.getLogger(__name__)
RULES_META = "offline_rules"
OFFLINE_WARNING = N_(
    "Warning: this terminal has not synced for {hours}, longer than the {limit} that {program} allows. The hand-over was recorded; sync the terminal as soon as possible."
)


class OfflineAction(str, Enum):
    REFUSE = "refuse"
    WARN = "warn"


@dataclass(frozen=True)
class OfflineRule:
    """The maximum seconds without a sync for one programme and the action once they have passed."""

    program: str
    max_offline_seconds: int
    action: OfflineAction

    def __post_init__(self) -> None:
        if self.max_offline_seconds <= 0:
            raise ValueError(f"offline limit for {self.program} must be positive, got {self.max_offline_seconds} s")


@dataclass(frozen=True)
class OfflineStatus:
    """A programme's time without a sync, measured against its rule; offline_seconds is None before the first pull."""

    rule: OfflineRule
    offline_seconds: int | None

    @property
    def exceeded(self) -> bool:
        return self.offline_seconds is None or self.offline_seconds > self.rule.max_offline_seconds

    def _params(self) -> dict[str, object]:
        hours = "-" if self.offline_seconds is None else Counted(HOURS, self.offline_seconds // 3600)
        limit = Counted(HOURS, self.rule.max_offline_seconds // 3600)
        return {"hours": hours, "limit": limit, "program": ProgrammeName(self.rule.program)}

    def refusal(self) -> Decision:
        return Decision.refuse(Reason.OFFLINE_TOO_LONG, **self._params())

    def warning(self, language: str = "id") -> str:
        return translate(OFFLINE_WARNING, language, **self._params())


def load_rules(store: TerminalStore) -> dict[str, OfflineRule]:
    """Read the rules from the store; a damaged entry raises ValueError naming it."""
    text = store.get_meta(RULES_META)
    if not text:
        return {}
    rules = {}
    for program, values in json.loads(text).items():
        try:
            rules[program] = OfflineRule(program, int(values["max_offline_seconds"]), OfflineAction(values["action"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"offline rule for {program!r} in the terminal store is invalid ({exc}); set it again") from None
    return rules


def save_rule(store: TerminalStore, rule: OfflineRule, source: str = "local") -> None:
    """Store rule for its programme; source is "local" (set on the terminal) or "server" (from a pull)."""
    with store.transaction() as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (RULES_META,)).fetchone()
        rules = json.loads(row[0]) if row else {}
        rules[rule.program] = {"max_offline_seconds": rule.max_offline_seconds, "action": rule.action.value,
                               "source": source}
        store.set_meta({RULES_META: json.dumps(rules, sort_keys=True)}, db)


def apply_server_rule(store: TerminalStore, program: str, pulled: object) -> None:
    """Apply the offline_rule of a pulled entitlements response; raise ValueError for an invalid one.

    pulled is {"max_offline_hours": H, "action": "refuse" | "warn"} or None.
    """
    if pulled is None:
        _drop_server_rule(store, program)
        return
    try:
        rule = OfflineRule(program, int(pulled["max_offline_hours"]) * 3600, OfflineAction(pulled["action"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"offline rule {pulled!r} for {program!r} from the server is invalid ({exc})") from None
    save_rule(store, rule, source="server")
    log.info("offline rule for %s from the server: %d s, then %s", program, rule.max_offline_seconds, rule.action.value)


def _drop_server_rule(store: TerminalStore, program: str) -> None:
    with store.transaction() as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (RULES_META,)).fetchone()
        rules = json.loads(row[0]) if row else {}
        if rules.get(program, {}).get("source") != "server":
            return
        del rules[program]
        store.set_meta({RULES_META: json.dumps(rules, sort_keys=True)}, db)
    log.info("offline rule for %s removed: the server no longer sends one", program)


def offline_status(store: TerminalStore, program: str, now: int) -> OfflineStatus | None:
    """Return the programme's standing at Unix time now, or None when it has no rule."""
    rule = load_rules(store).get(program)
    if rule is None:
        return None
    row = store.execute("SELECT pulled_at FROM entitlement_sets WHERE program = ?", (program,)).fetchone()
    pulled_at = row[0] if row and row[0] else None
    return OfflineStatus(rule, None if pulled_at is None else max(0, now - pulled_at))


class RuledTapService(TapService):
    """A TapService that applies the offline rules before it commits a hand-over.

    warnings maps the record id of each hand-over accepted past a "warn"
    rule to its status, so the caller can show the warning with the decision.
    """

    def __init__(self, store: TerminalStore, signer) -> None:
        super().__init__(store, signer)
        self.warnings: dict[str, OfflineStatus] = {}

    def _commit(self, credential: Credential, record: Redemption) -> TapOutcome:
        status = offline_status(self.store, record.program, record.tapped_at)
        if status is not None and status.exceeded and status.rule.action is OfflineAction.REFUSE:
            log.warning("card %s refused: terminal offline for %s s, %s allows %d s", credential.card_number,
                        status.offline_seconds, record.program, status.rule.max_offline_seconds)
            return TapOutcome(status.refusal(), credential)
        outcome = super()._commit(credential, record)
        if status is not None and status.exceeded and outcome.record_id is not None:
            log.warning("record %s accepted although the terminal has been offline for %s s",
                        outcome.record_id, status.offline_seconds)
            self.warnings[outcome.record_id] = status
        return outcome

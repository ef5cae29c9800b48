"""The terminal's status bar: last sync, records waiting, and the age of the trust and revocation lists.

A service point decides offline on cached lists, so the person at the counter
must see when those lists are older than the programme allows: a card revoked
since the last sync would still be served.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from card.i18n import N_, Counted, Nn_, translate, translate_plural
from card.trustlist import TrustListError, decode_trust_list
from card.verify import WIB
from terminal.programmes import HOURS, ProgrammeName
from terminal.offline_rules import load_rules
from terminal.store import TerminalStore

__all__ = ["TerminalStatus", "read_status", "DEFAULT_MAX_LIST_AGE"]

log = logging.getLogger(__name__)

# Age past which the status bar warns, unless `kartu terminal serve --max-list-age-days` sets another.
# A programme's offline rule (terminal.offline_rules) sets the limit for the last sync instead, when it has one.
DEFAULT_MAX_LIST_AGE = timedelta(days=7)

NEVER = N_("never")
SYNC_LINE = N_("Last sync: {when}")
PENDING_LINE = N_("Waiting to be sent: {count}")
TRUST_LINE = N_("Trust list: {age}")
REVOCATION_LINE = N_("Revocation list: {age}")
STALE_WARNING = N_("Lists are older than {days}. Sync the terminal before serving more cards.")
DAYS = Nn_("{count} day", "{count} days")
LIST_MISSING = N_("missing, never pulled")
NEVER_SYNCED_WARNING = N_(
    "This terminal has never synced, so it has no entitlements and no current trust and revocation lists. "
    "Sync the terminal before serving cards."
)
LISTS_MISSING_WARNING = N_(
    "The trust list or the revocation list is missing because it was never pulled. Sync the terminal before "
    "serving cards; if it is still missing after a sync, enrol the terminal with the city root key (--root-key)."
)
OFFLINE_LIMIT_WARNING = N_(
    "The last sync is older than the {hours} that {program} allows. Sync the terminal before serving more cards."
)
AGE_DAYS = Nn_("{count} day old", "{count} days old")
AGE_HOURS = Nn_("{count} hour old", "{count} hours old")


@dataclass(frozen=True)
class TerminalStatus:
    """Figures of the status bar; times are Unix seconds, None when never done."""

    last_sync_at: int | None
    pending: int
    trust_list_issued_at: int | None
    revocation_issued_at: int | None
    now: int
    max_list_age: timedelta = DEFAULT_MAX_LIST_AGE
    # The programme's offline rule, when it has one: (programme code, maximum seconds since the last sync).
    offline_limit: tuple[str, int] | None = None

    def _too_old(self, issued_at: int | None, limit_seconds: float) -> bool:
        return issued_at is None or self.now - issued_at > limit_seconds

    @property
    def sync_overdue(self) -> bool:
        """True when the last sync is missing or older than the offline rule, or max_list_age without one."""
        limit = self.offline_limit[1] if self.offline_limit else self.max_list_age.total_seconds()
        return self._too_old(self.last_sync_at, limit)

    @property
    def stale(self) -> bool:
        """True when the last sync is overdue, or a list is missing or older than max_list_age."""
        limit = self.max_list_age.total_seconds()
        lists_old = any(self._too_old(moment, limit) for moment in (self.trust_list_issued_at, self.revocation_issued_at))
        return lists_old or self.sync_overdue

    def _warning(self, language: str) -> str:
        if self.last_sync_at is None:
            return translate(NEVER_SYNCED_WARNING, language)
        if self.offline_limit and self.sync_overdue:
            program, seconds = self.offline_limit
            return translate(OFFLINE_LIMIT_WARNING, language, hours=Counted(HOURS, seconds // 3600),
                             program=ProgrammeName(program))
        # When the last sync is overdue, its warning covers missing lists too, because the same sync fetches them.
        if not self.sync_overdue and (self.trust_list_issued_at is None or self.revocation_issued_at is None):
            return translate(LISTS_MISSING_WARNING, language)
        if self.stale:
            days = int(self.max_list_age.total_seconds() // 86400)
            return translate(STALE_WARNING, language, days=Counted(DAYS, days))
        return ""

    def _age(self, issued_at: int | None, language: str) -> str:
        if issued_at is None:
            return translate(LIST_MISSING, language)
        seconds = max(self.now - issued_at, 0)
        if seconds < 2 * 86400:
            return translate_plural(AGE_HOURS, seconds // 3600, language)
        return translate_plural(AGE_DAYS, seconds // 86400, language)

    def _when(self, moment: int | None, language: str) -> str:
        if moment is None:
            return translate(NEVER, language)
        return datetime.fromtimestamp(moment, WIB).strftime("%d-%m-%Y %H:%M WIB")

    def render(self, language: str) -> dict[str, object]:
        """Return the status bar's lines in language, and the warning when the lists are too old."""
        return {
            "sync": translate(SYNC_LINE, language, when=self._when(self.last_sync_at, language)),
            "pending": translate(PENDING_LINE, language, count=self.pending),
            "pending_count": self.pending,
            "trust": translate(TRUST_LINE, language, age=self._age(self.trust_list_issued_at, language)),
            "revocation": translate(REVOCATION_LINE, language, age=self._age(self.revocation_issued_at, language)),
            "stale": self.stale,
            "warning": self._warning(language),
        }


def _trust_list_issued_at(store: TerminalStore) -> int | None:
    signed = store.get_meta("trust_list")
    root = store.root_key()
    if signed is None or root is None:
        return None
    try:
        return decode_trust_list(bytes.fromhex(signed), root).issued_at
    except (TrustListError, ValueError) as exc:
        log.warning("stored trust list of terminal %s cannot be read: %s", store.get_meta("terminal_id"), exc)
        return None


def _last_sync_at(store: TerminalStore) -> int | None:
    # A sync pulls entitlements after pushing, so the newest pull time is the end of the last successful sync.
    (pulled_at,) = store._db.execute("SELECT MAX(pulled_at) FROM entitlement_sets").fetchone()
    return pulled_at or None


def _offline_limit(store: TerminalStore, program: str | None) -> tuple[str, int] | None:
    try:
        rule = load_rules(store).get(program) if program else None
    except ValueError as exc:
        log.warning("offline rules of terminal %s cannot be read: %s", store.get_meta("terminal_id"), exc)
        return None
    return (rule.program, rule.max_offline_seconds) if rule else None


def read_status(store: TerminalStore, now: datetime | None = None,
                max_list_age: timedelta = DEFAULT_MAX_LIST_AGE, program: str | None = None) -> TerminalStatus:
    """Read the status bar's figures from the store; program selects the offline rule that limits the last sync."""
    moment = int((now or datetime.now(timezone.utc)).timestamp())
    revocation = store.get_meta("revocation_issued_at")
    return TerminalStatus(
        last_sync_at=_last_sync_at(store),
        pending=store.count_by_status().get("pending", 0),
        trust_list_issued_at=_trust_list_issued_at(store),
        revocation_issued_at=int(revocation) if revocation else None,
        now=moment,
        max_list_age=max_list_age,
        offline_limit=_offline_limit(store, program),
    )

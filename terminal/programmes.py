"""The terminal's table of programmes: display names, unit words and quota periods by programme code.

The server's programme list (server/migrations) sets each programme's code,
name, unit and quota period. An entitlement set carries the code, the unit
word and the quota period, but not the name, so the names of the programmes
the city runs are listed here. A programme missing from the list is shown by
its code, and a unit word missing from UNIT_FORMS is shown as the server
sent it.

The quota period comes from the pulled set. FALLBACK_QUOTA_PERIODS applies
only to a set from a server that does not send the period yet. For such a
set, a programme missing from that table counts by calendar month.
"""

from __future__ import annotations

from dataclasses import dataclass

from card.i18n import N_, Counted, Localized, Nn_, translate

__all__ = [
    "PROGRAMME_NAMES", "UNIT_FORMS", "HOURS", "FALLBACK_QUOTA_PERIODS", "ProgrammeName", "QuotaPeriod",
    "programme_name", "amount", "amount_text", "quota_period_of",
]

PROGRAMME_NAMES = {
    "lpg": N_("LPG 3 kg"),
    "pbi": N_("BPJS PBI health cover"),
    "bpjstk": N_("BPJS employment cover for vulnerable workers"),
    "beasiswa": N_("Scholarship"),
    "bantuan_bencana": N_("Disaster cash aid"),
    "lansia": N_("Lansia Bahagia"),
}

# Singular and plural of each unit word the server sends, with the count in {count}.
UNIT_FORMS = {
    "tabung": Nn_("{count} cylinder", "{count} cylinders"),
    "pencairan": Nn_("{count} payout", "{count} payouts"),
    "kepesertaan": Nn_("{count} membership", "{count} memberships"),
    "kali": Nn_("{count} time", "{count} times"),
}
HOURS = Nn_("{count} hour", "{count} hours")

# Quota period of each seeded programme whose period is not a calendar month, for a set that carries
# no quota period (from a server older than that rules key). It copies the server's seeded programmes.
FALLBACK_QUOTA_PERIODS = {
    "beasiswa": "semester",
    "bantuan_bencana": "event",
}
# Months per quota period, counted as the server counts them (server.programmes.quota_months). A
# semester runs January to June or July to December and a year January to December, in WIB. The
# other words of card.entitlement_set.QUOTA_PERIODS ("event" and "none") never renew, so use in every
# month counts.
_PERIOD_MONTHS = {"month": 1, "semester": 6, "year": 12}
ALL_TIME = N_("all time")


def programme_name(program: str, language: str) -> str:
    """Return the programme's name in language, or its code for a programme missing from the table."""
    name = PROGRAMME_NAMES.get(program)
    return translate(name, language) if name else program


def amount(count: int, unit: str | None) -> Counted:
    """Return a count of unit as a message parameter: "3 tabung" in Indonesian, "3 cylinders" in English.

    A unit word missing from UNIT_FORMS is shown as the server sent it, in both languages.
    """
    forms = UNIT_FORMS.get(unit or "")
    if forms is None:
        word = (unit or "").replace("{", "{{").replace("}", "}}")
        text = f"{{count}} {word}" if word else "{count}"
        forms = (text, text)
    return Counted(forms, count)


def amount_text(count: int, unit: str | None, language: str) -> str:
    """Return a count with its unit word in language, such as "3 tabung" or "1 cylinder"."""
    return amount(count, unit).localize(language)


def quota_period_of(program: str, month: str, quota_period: str | None = None) -> list[str] | None:
    """Return the months ("YYYY-MM") of the programme's quota period that contains month, in order.

    quota_period is the word the pulled set carried; None means the set
    carried none, and FALLBACK_QUOTA_PERIODS decides. Returns None for a
    quota that never renews, whose use counts in every month.
    """
    period = quota_period if quota_period is not None else FALLBACK_QUOTA_PERIODS.get(program, "month")
    length = _PERIOD_MONTHS.get(period)
    if length is None:
        return None
    year, month_number = (int(part) for part in month.split("-"))
    first = (month_number - 1) // length * length + 1
    return [f"{year:04d}-{first + offset:02d}" for offset in range(length)]


@dataclass(frozen=True)
class ProgrammeName(Localized):
    """A programme code as a message parameter, shown as the programme's name in each language."""

    code: str

    def localize(self, language: str) -> str:
        return programme_name(self.code, language)

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True)
class QuotaPeriod(Localized):
    """The quota period that contains a month, as a message parameter: "2027-02", "2027-01 – 2027-06" or "all time".

    quota_period is the pulled set's word, or None for the fallback table.
    """

    program: str
    month: str
    quota_period: str | None = None

    def localize(self, language: str) -> str:
        months = quota_period_of(self.program, self.month, self.quota_period)
        if months is None:
            return translate(ALL_TIME, language)
        return months[0] if len(months) == 1 else f"{months[0]} – {months[-1]}"

    def __str__(self) -> str:
        return self.month


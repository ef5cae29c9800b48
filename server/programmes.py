"""Programme rules: the eligibility object, its checks, and the months a quota period spans.

A programme's eligibility is a JSON object stored in programme_rules. Every
key is optional and every present key narrows who is eligible:

    min_age, max_age   age in whole years on the day of computation
    relationships      HUBUNGAN_KELUARGA values, such as ["ANAK"]
    occupations        PEKERJAAN values, such as ["KETUA RT", "GURU NGAJI"]
    school_amounts     SEKOLAH level -> amount in rupiah; residents at other
                       levels or not in school are not eligible
    amount             amount in rupiah per period (cash) or per event
    valid_until        last day of cover (status programmes such as BPJS PBI)
    events             one-time aid: [{code, name, kelurahan: [code], amount}];
                       a household living in a listed kelurahan is eligible
                       once per event

The household's DTSEN desil must lie in programmes.desil_min..desil_max; a
household's desil is the lowest desil of its members.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from issuance import regions
from issuance.register import RELATIONSHIPS
from server.fields import IsoDate, KelurahanCode, Name
from server.periods import WIB
from server.register_rows import SCHOOL_LEVELS

__all__ = ["Event", "Eligibility", "PERSON_KEYS", "quota_months", "age_on"]

_EVENT_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
Rupiah = Annotated[StrictInt, Field(gt=0, le=1_000_000_000)]
# Keys that judge a resident rather than a household.
PERSON_KEYS = ("min_age", "max_age", "relationships", "occupations", "school_amounts")


class Event(BaseModel):
    """A disaster event whose affected households receive one-time aid."""

    model_config = ConfigDict(extra="forbid")

    code: StrictStr
    name: Name
    kelurahan: Annotated[list[KelurahanCode], Field(min_length=1)]
    amount: Rupiah

    @field_validator("code")
    @classmethod
    def _check_code(cls, code: str) -> str:
        if not _EVENT_CODE.match(code):
            raise ValueError("must be 1 to 64 lower-case letters, digits, '_' or '-', such as 'banjir-2026-01'")
        return code

    @field_validator("kelurahan")
    @classmethod
    def _check_kelurahan(cls, codes: list[str]) -> list[str]:
        for code in codes:
            try:
                regions.kelurahan_by_code(code)
            except regions.RegionNotFoundError:
                raise ValueError(f"kelurahan {code} does not exist in Kota Jambi") from None
        return codes


class Eligibility(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_age: Annotated[StrictInt, Field(ge=0, le=130)] | None = None
    max_age: Annotated[StrictInt, Field(ge=0, le=130)] | None = None
    relationships: list[StrictStr] | None = None
    occupations: Annotated[list[StrictStr], Field(min_length=1)] | None = None
    school_amounts: dict[StrictStr, Rupiah] | None = None
    amount: Rupiah | None = None
    valid_until: IsoDate | None = None
    events: list[Event] | None = None

    @field_validator("relationships")
    @classmethod
    def _check_relationships(cls, values: list[str] | None) -> list[str] | None:
        for value in values or ():
            if value not in RELATIONSHIPS:
                raise ValueError(f"'{value}' is not one of {', '.join(RELATIONSHIPS)}")
        return values

    @field_validator("occupations")
    @classmethod
    def _normalise_occupations(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else [" ".join(value.upper().split()) for value in values]

    @field_validator("school_amounts")
    @classmethod
    def _check_school_levels(cls, amounts: dict[str, int] | None) -> dict[str, int] | None:
        for level in amounts or {}:
            if level not in SCHOOL_LEVELS:
                raise ValueError(f"'{level}' is not a school level; use {', '.join(SCHOOL_LEVELS)}")
        return amounts

    @field_validator("events")
    @classmethod
    def _check_unique_events(cls, events: list[Event] | None) -> list[Event] | None:
        codes = [event.code for event in events or ()]
        if len(set(codes)) != len(codes):
            raise ValueError("lists an event code more than once")
        return events

    def judges_persons(self) -> bool:
        return any(getattr(self, key) is not None for key in PERSON_KEYS)

    def stored(self) -> dict:
        """Return the JSON object to store, without unset keys."""
        return self.model_dump(mode="json", exclude_none=True)


def quota_months(quota_period: str, now: float) -> list[str] | None:
    """Return the "YYYY-MM" WIB months whose use counts against the quota now, or None for all time.

    month: the current month; semester: January-June or July-December;
    year: the calendar year; any other period (event, none) counts every month.
    """
    today = datetime.fromtimestamp(now, WIB).date()
    if quota_period == "month":
        first, last = today.month, today.month
    elif quota_period == "semester":
        first = 1 if today.month <= 6 else 7
        last = first + 5
    elif quota_period == "year":
        first, last = 1, 12
    else:
        return None
    return [f"{today.year:04d}-{month:02d}" for month in range(first, last + 1)]


def age_on(birth_date: date, today: date) -> int:
    """Return the age in whole years on today; someone born on 29 February turns a year older on 1 March."""
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))

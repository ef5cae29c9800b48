"""Entitlement sets: a programme's rules and entitled households, signed by the server sync key for one terminal.

An entitlement set is a COSE_Sign1 message (ES256) whose payload is a CBOR
map with unsigned integer keys:
  1 format version (uint, 2)
  2 programme code (text)
  3 quota period (text, "YYYY-MM" of the month the set was issued in, WIB)
  4 quota (uint; 0 means the programme has no quota)
  5 unit (text)
  6 rules (map; each key absent when the server has no rule for it):
      1 benefit kind (text)
      2 PIN required (bool)
      3 offline rule: [maximum offline hours (uint), action (text "refuse" or "warn")]
      4 quota period (text): "month", "semester" (January to June or July to
        December), "year" (January to December), "event" (the quota never
        renews) or "none" (the programme has no quota period); months are WIB
  7 issued at (uint, Unix milliseconds)
  8 terminal id (text): the only terminal that may apply the set
  9 service point id (uint) of that terminal
  10 households (array, household ids strictly ascending), each an array of
     [household id (8-byte bstr), used (uint), persons (uint or null),
      amount (uint or null), valid until (uint days since 1970-01-01, or null)]
  11 revision (uint): the server's revision of the programme's household
     list that the set brings the terminal to
  12 base revision (uint, at least 1, at most the revision): only in a delta
  13 removed household ids (array of 8-byte bstr, strictly ascending): only
     in a delta

A full set (keys 1 to 11) lists every entitled household. A delta (keys 1
to 13) lists in key 10 only the households added or changed since the base
revision, and in key 13 those no longer entitled. The terminal applies it
only to the household list it stores at exactly the base revision. Keys 1 to
9 are complete in both. No household id may appear in both 10 and 13.

"used" is the household's use in the programme's quota period up to the
moment of issue, from every terminal. Rules key 4 may be absent, because a
server older than that key sends format 2 sets without it. The decoded
quota_period is then None, and the terminal falls back to its own table
(terminal.programmes). A word not listed for key 4 is rejected. The payload is deterministic CBOR, so
one set has exactly one encoding. Who may sign a set and when a terminal
applies it is decided by the verifier (terminal.entitlement_check).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from card import cbor, cose

__all__ = [
    "EntitlementSetFormatError",
    "OfflineRuleTerms",
    "QUOTA_PERIODS",
    "ProgrammeRules",
    "HouseholdEntry",
    "ProgrammeEntitlements",
    "MAX_SET_BYTES",
    "encode_entitlements",
    "sign_entitlements",
    "decode_entitlements",
]

FORMAT_VERSION = 2
HOUSEHOLD_ID_SIZE = 8
OFFLINE_ACTIONS = ("refuse", "warn")
# The words of rules key 4, as the server's programme list spells them.
QUOTA_PERIODS = ("month", "semester", "year", "event", "none")
EPOCH = date(1970, 1, 1)
# Estimate: a household entry takes 14 to 25 bytes, so this limit fits more
# than a million households, four times the city's 250,000.
MAX_SET_BYTES = 32 << 20

_NULL = b"\xf6"
# An array of 5 items, then the head of an 8-byte string.
_ROW_START = b"\x85\x48"
_MAP_OF_9 = 0xA9
_KEY_HOUSEHOLDS = cbor.encode(10)

_FIELDS = {1: int, 2: str, 3: str, 4: int, 5: str, 6: dict, 7: int, 8: str, 9: int, 10: list, 11: int, 12: int,
           13: list}
_REQUIRED = frozenset(range(1, 12))
_DELTA_KEYS = frozenset((12, 13))
_RULE_FIELDS = {1: str, 2: bool, 3: list, 4: str}


class EntitlementSetFormatError(ValueError):
    """An entitlement set payload is malformed or outside the layout in the module docstring."""


class OfflineRuleTerms(NamedTuple):
    max_offline_hours: int
    action: str


@dataclass(frozen=True)
class ProgrammeRules:
    """The programme rules a set carries, each None where the server has no such rule."""

    benefit_kind: str | None = None
    pin_required: bool | None = None
    offline_rule: OfflineRuleTerms | None = None
    quota_period: str | None = None


class HouseholdEntry(NamedTuple):
    household_id: bytes
    used: int
    persons: int | None = None
    amount: int | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class ProgrammeEntitlements:
    """The decoded content of one entitlement set: a full set, or a delta when base_revision is not None.

    In a delta, households are the added or changed households and removed
    the ids of households no longer entitled since base_revision.
    """

    program: str
    period: str
    quota: int
    unit: str
    rules: ProgrammeRules
    issued_at_ms: int
    terminal_id: str
    service_point_id: int
    households: tuple[HouseholdEntry, ...]
    revision: int = 0
    base_revision: int | None = None
    removed: tuple[bytes, ...] = ()

    @property
    def is_delta(self) -> bool:
        return self.base_revision is not None


def _days(day: date | None) -> int | None:
    return None if day is None else (day - EPOCH).days


def _encode_rules(rules: ProgrammeRules) -> dict:
    encoded: dict = {}
    if rules.benefit_kind is not None:
        encoded[1] = rules.benefit_kind
    if rules.pin_required is not None:
        encoded[2] = rules.pin_required
    if rules.offline_rule is not None:
        encoded[3] = [rules.offline_rule.max_offline_hours, rules.offline_rule.action]
    if rules.quota_period is not None:
        encoded[4] = _checked_quota_period(rules.quota_period)
    return encoded


def _checked_quota_period(word: object) -> str:
    if word not in QUOTA_PERIODS:
        raise EntitlementSetFormatError(
            f"entitlement set quota period {word!r} is not one of {', '.join(QUOTA_PERIODS)}; "
            "set the programme's quota period to one of them"
        )
    return word


@functools.lru_cache(maxsize=4096)
def _cached_uint(value: int) -> bytes:
    return cbor.encode(value)


def _uint(value: object, index: int) -> bytes:
    # The type check comes first because the cache would return 1's encoding for True.
    if type(value) is not int or value < 0:
        raise EntitlementSetFormatError(f"household {index} has {value!r} where an unsigned integer belongs")
    return _cached_uint(value)


def _uint_or_null(value: object, index: int) -> bytes:
    return _NULL if value is None else _uint(value, index)


def _array_head(count: int) -> bytes:
    if count < 24:
        return bytes((0x80 | count,))
    for size, additional in ((1, 24), (2, 25), (4, 26), (8, 27)):
        if count < 1 << (8 * size):
            return bytes((0x80 | additional,)) + count.to_bytes(size, "big")
    raise EntitlementSetFormatError(f"{count} households do not fit a CBOR array")


def _encode_households(households: tuple[HouseholdEntry, ...]) -> bytes:
    """Encode the households array as cbor.encode would, several times faster for the fixed row layout."""
    rows = [_array_head(len(households))]
    for index, (household_id, used, persons, amount, valid_until) in enumerate(households):
        if type(household_id) is not bytes or len(household_id) != HOUSEHOLD_ID_SIZE:
            raise EntitlementSetFormatError(f"household {index} id must be {HOUSEHOLD_ID_SIZE} bytes")
        rows.append(b"".join((
            _ROW_START, household_id, _uint(used, index), _uint_or_null(persons, index),
            _uint_or_null(amount, index), _uint_or_null(_days(valid_until), index),
        )))
    return b"".join(rows)


def _tail(entitlements: ProgrammeEntitlements) -> dict:
    """Return keys 11 to 13 of the payload, or raise EntitlementSetFormatError for an invalid delta."""
    revision = entitlements.revision
    if type(revision) is not int or revision < 0:
        raise EntitlementSetFormatError(f"entitlement set revision {revision!r} must be an unsigned integer")
    tail: dict = {11: revision}
    if entitlements.base_revision is None:
        if entitlements.removed:
            raise EntitlementSetFormatError("a full entitlement set cannot remove households; give a base revision")
        return tail
    _check_delta(entitlements.revision, entitlements.base_revision, entitlements.households, entitlements.removed)
    tail[12] = entitlements.base_revision
    tail[13] = list(entitlements.removed)
    return tail


def encode_entitlements(entitlements: ProgrammeEntitlements) -> bytes:
    """Return the deterministic CBOR payload of a set; raise EntitlementSetFormatError for invalid households."""
    households = entitlements.households
    _check_ascending(entry.household_id for entry in households)
    tail = _tail(entitlements)
    head = cbor.encode({
        1: FORMAT_VERSION,
        2: entitlements.program,
        3: entitlements.period,
        4: entitlements.quota,
        5: entitlements.unit,
        6: _encode_rules(entitlements.rules),
        7: entitlements.issued_at_ms,
        8: entitlements.terminal_id,
        9: entitlements.service_point_id,
    })
    # Keys 1 to 9 sort before key 10 and keys 11 to 13 after it. So the map
    # head of the nine pairs is given the full count of pairs, and key 10 with
    # its array goes between those nine pairs and the pairs of the tail.
    assert head[0] == _MAP_OF_9
    encoded_tail = cbor.encode(tail)
    return b"".join((
        bytes((_MAP_OF_9 + 1 + len(tail),)), head[1:], _KEY_HOUSEHOLDS, _encode_households(households),
        encoded_tail[1:],
    ))


def sign_entitlements(entitlements: ProgrammeEntitlements, signer: cose.Signer) -> bytes:
    """Return the set as COSE_Sign1 bytes signed by signer (the server sync key)."""
    return cose.sign1(encode_entitlements(entitlements), signer)


def _check_ascending(household_ids: Iterable[bytes], what: str = "household") -> None:
    previous = b""
    for index, household_id in enumerate(household_ids):
        if household_id <= previous:
            raise EntitlementSetFormatError(
                f"{what} {index} ({household_id.hex()}) is not above the one before it; "
                "household ids must be distinct and in ascending order"
            )
        previous = household_id


def _check_delta(revision: int, base_revision: int, households: tuple[HouseholdEntry, ...],
                 removed: tuple[bytes, ...]) -> None:
    """Check the delta keys: base revision from 1 to the revision, removed ids valid and not also changed."""
    if type(base_revision) is not int or not 1 <= base_revision <= revision:
        raise EntitlementSetFormatError(
            f"entitlement delta base revision {base_revision!r} must be from 1 to the revision {revision}"
        )
    for index, household_id in enumerate(removed):
        if type(household_id) is not bytes or len(household_id) != HOUSEHOLD_ID_SIZE:
            raise EntitlementSetFormatError(f"removed household {index} must be a {HOUSEHOLD_ID_SIZE}-byte string")
    _check_ascending(removed, "removed household")
    changed_and_removed = set(removed).intersection(entry.household_id for entry in households)
    if changed_and_removed:
        raise EntitlementSetFormatError(
            f"household {min(changed_and_removed).hex()} is both changed and removed in one entitlement delta"
        )


def _typed(item: Mapping, fields: dict[int, type], what: str) -> None:
    for key, value in item.items():
        kind = fields.get(key)
        if kind is None:
            raise EntitlementSetFormatError(f"{what} has unknown field {key!r}")
        # bool is a subclass of int, so an int field must reject it explicitly.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise EntitlementSetFormatError(f"{what} field {key} must be {kind.__name__}, got {type(value).__name__}")


def _decode_rules(item: dict) -> ProgrammeRules:
    _typed(item, _RULE_FIELDS, "entitlement set rules")
    offline = item.get(3)
    if offline is not None:
        valid = (len(offline) == 2 and isinstance(offline[0], int) and not isinstance(offline[0], bool)
                 and offline[0] > 0 and offline[1] in OFFLINE_ACTIONS)
        if not valid:
            raise EntitlementSetFormatError(
                f"entitlement set offline rule must be [hours above 0, 'refuse' or 'warn'], got {offline!r}"
            )
        offline = OfflineRuleTerms(offline[0], offline[1])
    quota_period = item.get(4)
    if quota_period is not None:
        quota_period = _checked_quota_period(quota_period)
    return ProgrammeRules(item.get(1), item.get(2), offline, quota_period)


def _check_uint_or_null(value: object, index: int, name: str) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise EntitlementSetFormatError(f"household {index} {name} must be an unsigned integer or null, got {value!r}")


def _decode_household(item: object, index: int) -> HouseholdEntry:
    if not isinstance(item, list) or len(item) != 5:
        raise EntitlementSetFormatError(f"household {index} must be an array of 5 items")
    household_id, used, persons, amount, days = item
    if not isinstance(household_id, bytes) or len(household_id) != HOUSEHOLD_ID_SIZE:
        raise EntitlementSetFormatError(f"household {index} id must be a {HOUSEHOLD_ID_SIZE}-byte string")
    if not isinstance(used, int) or isinstance(used, bool) or used < 0:
        raise EntitlementSetFormatError(f"household {index} used must be an unsigned integer, got {used!r}")
    _check_uint_or_null(persons, index, "persons")
    _check_uint_or_null(amount, index, "amount")
    _check_uint_or_null(days, index, "valid until")
    try:
        valid_until = None if days is None else EPOCH + timedelta(days=days)
    except OverflowError:
        raise EntitlementSetFormatError(f"household {index} valid-until day number {days} is out of range") from None
    return HouseholdEntry(household_id, used, persons, amount, valid_until)


def decode_entitlements(payload: bytes) -> ProgrammeEntitlements:
    """Decode a set payload whose signature the caller has verified; raise EntitlementSetFormatError on any fault."""
    try:
        item = cbor.decode(payload, max_size=MAX_SET_BYTES)
    except cbor.CBORError as exc:
        raise EntitlementSetFormatError(f"entitlement set payload: {exc}") from None
    if not isinstance(item, dict):
        raise EntitlementSetFormatError("entitlement set payload must be a CBOR map")
    _typed(item, _FIELDS, "entitlement set")
    missing = sorted(_REQUIRED - item.keys())
    if missing:
        raise EntitlementSetFormatError(f"entitlement set misses fields {missing}")
    delta_keys = _DELTA_KEYS & item.keys()
    if delta_keys and delta_keys != _DELTA_KEYS:
        raise EntitlementSetFormatError(
            f"entitlement delta has field {min(delta_keys)} without {max(_DELTA_KEYS - delta_keys)}; "
            "a delta needs both the base revision (12) and the removed households (13)"
        )
    if item[1] != FORMAT_VERSION:
        raise EntitlementSetFormatError(
            f"entitlement set format {item[1]} is not supported (expected {FORMAT_VERSION})"
        )
    for key, name in ((4, "quota"), (7, "issued at"), (9, "service point id"), (11, "revision")):
        if item[key] < 0:
            raise EntitlementSetFormatError(f"entitlement set {name} {item[key]} is negative")
    households = tuple(_decode_household(entry, index) for index, entry in enumerate(item[10]))
    _check_ascending(entry.household_id for entry in households)
    base_revision = item.get(12)
    removed = tuple(item.get(13, ()))
    if base_revision is not None:
        _check_delta(item[11], base_revision, households, removed)
    return ProgrammeEntitlements(
        program=item[2], period=item[3], quota=item[4], unit=item[5], rules=_decode_rules(item[6]),
        issued_at_ms=item[7], terminal_id=item[8], service_point_id=item[9], households=households,
        revision=item[11], base_revision=base_revision, removed=removed,
    )

"""The entitlement set's CBOR layout: round trip, deterministic encoding, and rejection of malformed payloads."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from card import cbor
from card.entitlement_set import (
    QUOTA_PERIODS,
    EntitlementSetFormatError,
    HouseholdEntry,
    OfflineRuleTerms,
    ProgrammeEntitlements,
    ProgrammeRules,
    decode_entitlements,
    encode_entitlements,
)

SET = ProgrammeEntitlements(
    program="lpg", period="2026-03", quota=3, unit="tabung",
    rules=ProgrammeRules("quota", False, OfflineRuleTerms(72, "refuse"), "month"),
    issued_at_ms=1_773_543_600_123, terminal_id="T-0001", service_point_id=7,
    households=(
        HouseholdEntry(b"\x01" * 8, 0),
        HouseholdEntry(b"\x02" * 8, 2, persons=3, amount=750_000, valid_until=date(2026, 12, 31)),
        HouseholdEntry(b"\x03" * 8, 70_000, persons=None, amount=4_294_967_296),
    ),
    revision=41,
)
DELTA = dataclasses.replace(SET, households=SET.households[1:2], base_revision=40,
                            removed=(b"\x04" * 8, b"\x05" * 8))


def _generic(entitlements: ProgrammeEntitlements) -> dict:
    """The payload as a plain map, encoded by card.cbor without the fast household path."""
    offline = entitlements.rules.offline_rule
    rules = {1: entitlements.rules.benefit_kind, 2: entitlements.rules.pin_required}
    if offline:
        rules[3] = list(offline)
    if entitlements.rules.quota_period is not None:
        rules[4] = entitlements.rules.quota_period
    return {
        1: 2, 2: entitlements.program, 3: entitlements.period, 4: entitlements.quota, 5: entitlements.unit,
        6: rules, 7: entitlements.issued_at_ms, 8: entitlements.terminal_id, 9: entitlements.service_point_id,
        10: [[h.household_id, h.used, h.persons, h.amount,
              (h.valid_until - date(1970, 1, 1)).days if h.valid_until else None] for h in entitlements.households],
        11: entitlements.revision,
    } | ({} if entitlements.base_revision is None else {12: entitlements.base_revision,
                                                       13: list(entitlements.removed)})


def _with(item: dict, base: ProgrammeEntitlements = SET) -> bytes:
    payload = _generic(base)
    payload.update(item)
    return cbor.encode(payload)


def test_round_trip():
    assert decode_entitlements(encode_entitlements(SET)) == SET


def test_encoding_matches_generic_encoder():
    assert encode_entitlements(SET) == cbor.encode(_generic(SET))


def test_delta_round_trip():
    decoded = decode_entitlements(encode_entitlements(DELTA))
    assert decoded == DELTA
    assert decoded.is_delta


def test_delta_matches_generic_encoder():
    assert encode_entitlements(DELTA) == cbor.encode(_generic(DELTA))


def test_full_set_is_not_delta():
    decoded = decode_entitlements(encode_entitlements(SET))
    assert not decoded.is_delta
    assert decoded.removed == ()


def test_full_set_with_removals_not_encoded():
    with pytest.raises(EntitlementSetFormatError, match="full entitlement set cannot remove"):
        encode_entitlements(dataclasses.replace(SET, removed=(b"\x04" * 8,)))


def test_delta_with_unsorted_removals_not_encoded():
    with pytest.raises(EntitlementSetFormatError, match="removed household 1"):
        encode_entitlements(dataclasses.replace(DELTA, removed=tuple(reversed(DELTA.removed))))


@pytest.mark.parametrize("count", [0, 23, 24, 256])
def test_household_array_heads(count):
    households = tuple(HouseholdEntry(index.to_bytes(8, "big"), index % 5) for index in range(count))
    entitlements = dataclasses.replace(SET, households=households)
    encoded = encode_entitlements(entitlements)
    assert encoded == cbor.encode(_generic(entitlements))
    assert decode_entitlements(encoded).households == households


def test_rules_absent_decode_to_none():
    entitlements = dataclasses.replace(SET, rules=ProgrammeRules())
    assert decode_entitlements(encode_entitlements(entitlements)).rules == ProgrammeRules()


@pytest.mark.parametrize("quota_period", QUOTA_PERIODS)
def test_quota_period_round_trip(quota_period):
    rules = dataclasses.replace(SET.rules, quota_period=quota_period)
    entitlements = dataclasses.replace(SET, rules=rules)

    encoded = encode_entitlements(entitlements)

    assert encoded == cbor.encode(_generic(entitlements))
    assert decode_entitlements(encoded).rules.quota_period == quota_period


def test_quota_period_in_delta_round_trip():
    delta = dataclasses.replace(DELTA, rules=dataclasses.replace(SET.rules, quota_period="year"))
    assert decode_entitlements(encode_entitlements(delta)).rules.quota_period == "year"


def test_quota_period_absent_decodes_to_none():
    # A format 2 set from a server that does not send rules key 4 yet.
    payload = _generic(SET)
    del payload[6][4]

    decoded = decode_entitlements(cbor.encode(payload))

    assert decoded.rules.quota_period is None
    assert decoded.rules.benefit_kind == "quota"


def test_unknown_quota_period_not_encoded():
    entitlements = dataclasses.replace(SET, rules=ProgrammeRules(quota_period="fortnight"))
    with pytest.raises(EntitlementSetFormatError, match="quota period 'fortnight' is not one of"):
        encode_entitlements(entitlements)


def test_unsorted_households_not_encoded():
    entitlements = dataclasses.replace(SET, households=tuple(reversed(SET.households)))
    with pytest.raises(EntitlementSetFormatError, match="ascending"):
        encode_entitlements(entitlements)


def test_bool_used_not_encoded():
    entitlements = dataclasses.replace(SET, households=(HouseholdEntry(b"\x01" * 8, True),))
    with pytest.raises(EntitlementSetFormatError, match="unsigned integer"):
        encode_entitlements(entitlements)


BAD_PAYLOADS = [
    ("duplicate household", {10: [[b"\x01" * 8, 0, None, None, None]] * 2}, "ascending"),
    ("short household id", {10: [[b"\x01" * 7, 0, None, None, None]]}, "8-byte"),
    ("row of 4 items", {10: [[b"\x01" * 8, 0, None, None]]}, "5 items"),
    ("negative used", {10: [[b"\x01" * 8, -1, None, None, None]]}, "used"),
    ("text persons", {10: [[b"\x01" * 8, 0, "3", None, None]]}, "persons"),
    ("unknown field", {14: 1}, "unknown field 14"),
    ("format 1", {1: 1}, "format 1"),
    ("negative revision", {11: -1}, "revision -1"),
    ("base without removed", {12: 40}, "field 12 without 13"),
    ("removed without base", {13: []}, "field 13 without 12"),
    ("text quota", {4: "3"}, "field 4 must be int"),
    ("bool quota", {4: True}, "field 4 must be int"),
    ("offline hours 0", {6: {3: [0, "refuse"]}}, "offline rule"),
    ("offline action", {6: {3: [72, "ignore"]}}, "offline rule"),
    ("unknown rule", {6: {5: 1}}, "rules has unknown field 5"),
    ("quota period as number", {6: {4: 6}}, "rules field 4 must be str"),
    ("unknown quota period", {6: {4: "week"}}, "quota period 'week' is not one of month, semester"),
    ("quota period in capitals", {6: {4: "YEAR"}}, "quota period 'YEAR'"),
]


@pytest.mark.parametrize("case, item, problem", BAD_PAYLOADS, ids=[case for case, *_ in BAD_PAYLOADS])
def test_malformed_payload_rejected(case, item, problem):
    with pytest.raises(EntitlementSetFormatError, match=problem):
        decode_entitlements(_with(item))


BAD_DELTAS = [
    ("base 0", {12: 0}, "base revision 0"),
    ("base above revision", {12: 42}, "base revision 42"),
    ("duplicate removed", {13: [b"\x04" * 8, b"\x04" * 8]}, "removed household 1"),
    ("removed descending", {13: [b"\x05" * 8, b"\x04" * 8]}, "ascending"),
    ("short removed id", {13: [b"\x04" * 7]}, "removed household 0 must be"),
    ("changed and removed", {13: [b"\x02" * 8]}, "both changed and removed"),
    ("duplicate changed", {10: [[b"\x02" * 8, 0, None, None, None]] * 2}, "ascending"),
]


@pytest.mark.parametrize("case, item, problem", BAD_DELTAS, ids=[case for case, *_ in BAD_DELTAS])
def test_malformed_delta_rejected(case, item, problem):
    with pytest.raises(EntitlementSetFormatError, match=problem):
        decode_entitlements(_with(item, DELTA))


def test_missing_field_rejected():
    payload = _generic(SET)
    del payload[8]
    with pytest.raises(EntitlementSetFormatError, match=r"misses fields \[8\]"):
        decode_entitlements(cbor.encode(payload))


def test_non_deterministic_payload_rejected():
    # 3 as a one-byte argument (0x18 0x03) instead of the shortest form.
    encoded = encode_entitlements(SET)
    position = encoded.index(b"\x04\x03")
    stretched = encoded[:position] + b"\x04\x18\x03" + encoded[position + 2:]
    with pytest.raises(EntitlementSetFormatError, match="shortest|argument"):
        decode_entitlements(stretched)

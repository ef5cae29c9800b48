"""The credential payload fast path against decode_payload().

decode_common_payload() must return a credential equal to decode_payload()'s
for a payload in encode_payload()'s layout, and None for every payload that
decode_payload() rejects or that has another layout.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from card import cbor
from card.cardnumber import make_card_number
from card.credential import Credential, CredentialError, Holder, Profile, decode_payload, encode_payload
from card.credential_layout import decode_common_payload
from tests.conftest import make_credential

LONG_ASCII_NAME = "MUHAMMAD REZA SAIFUL SIREGAR PANGGABEAN MARPAUNG SIMANJUNTAK"


def holder(**changes: object) -> Holder:
    return dataclasses.replace(make_credential().holder, **changes)


CREDENTIALS = {
    "default": make_credential(),
    "on chip card": make_credential(on_chip_card=True),
    "name of 1 byte": make_credential(holder=holder(name="A")),
    "name of 23 bytes": make_credential(holder=holder(name="A" * 23)),
    "name of 24 bytes": make_credential(holder=holder(name="A" * 24)),
    "name of 60 characters": make_credential(holder=holder(name=LONG_ASCII_NAME)),
    "name of 60 two-byte letters": make_credential(holder=holder(name="É" * 60)),
    "born 1969-12-31": make_credential(holder=holder(birth_date=date(1969, 12, 31))),
    "born 1969-04-20": make_credential(holder=holder(birth_date=date(1969, 4, 20))),
    "born 1969-04-19": make_credential(holder=holder(birth_date=date(1969, 4, 19))),
    "born 1945-08-17": make_credential(holder=holder(birth_date=date(1945, 8, 17))),
    "born 1970-01-01": make_credential(holder=holder(birth_date=date(1970, 1, 1))),
    "born 1970-06-01": make_credential(holder=holder(birth_date=date(1970, 6, 1))),
    "male": make_credential(holder=holder(sex="L")),
    "kelurahan 1571999999": make_credential(holder=holder(kelurahan_code="1571999999")),
    "smallest card number": make_credential(card_number=make_card_number(0)),
    "largest card number": make_credential(card_number=make_card_number(10**11 - 1)),
    "issued and expires same day": make_credential(issued=date(2026, 12, 1), expires=date(2026, 12, 1)),
    "issued 1970-01-02": make_credential(issued=date(1970, 1, 2), expires=date(1970, 1, 3)),
    "chip profile": make_credential(Profile.CHIP),
}
# Credentials whose fields need another head than the layout's, so they take the general path. Day
# -256 (1969-04-20) is the last with a one-byte head and day -257 (1969-04-19) the first with a two-byte one.
GENERAL_PATH = {
    "born 1969-12-31", "born 1969-04-20", "born 1970-01-01", "born 1970-06-01", "issued 1970-01-02", "chip profile",
}


def payload_item(credential: Credential) -> dict:
    return cbor.decode(encode_payload(credential))


def decode_both(payload: bytes) -> tuple[Credential | None, Credential | str]:
    """Return the fast path's result and decode_payload()'s credential or error message."""
    fast = decode_common_payload(payload)
    try:
        general: Credential | str = decode_payload(payload)
    except CredentialError as exc:
        general = str(exc)
    return fast, general


@pytest.mark.parametrize("name", sorted(CREDENTIALS))
def test_fast_path_equals_general(name: str) -> None:
    fast, general = decode_both(encode_payload(CREDENTIALS[name]))
    assert general == CREDENTIALS[name]
    if name in GENERAL_PATH:
        assert fast is None
    else:
        assert fast == general


def test_fast_path_sets_every_field() -> None:
    fast = decode_common_payload(encode_payload(make_credential()))
    assert set(vars(fast)) == {field.name for field in dataclasses.fields(Credential)}
    assert set(vars(fast.holder)) == {field.name for field in dataclasses.fields(Holder)}


def test_fast_path_sets_on_chip_card_flag() -> None:
    assert decode_common_payload(encode_payload(make_credential(on_chip_card=True))).on_chip_card is True
    assert decode_common_payload(encode_payload(make_credential())).on_chip_card is False


# Field changes that decode_payload() rejects, written with the strict encoder.
INVALID_FIELDS = {
    "version 2": {1: 2},
    "profile 3": {2: 3},
    "card number with wrong check digit": {3: 1571000000000420},
    "card number of 15 digits": {3: 157100000000042},
    "card number starting 1572": {3: 1572000000000427},
    "empty name": {4: ""},
    "name of 61 characters": {4: "A" * 61},
    "name with newline": {4: "SITI\nNURHALIZA"},
    "name with zero-width space": {4: "SITI\u200bNURHALIZA"},
    "sex code 3": {6: 3},
    "sex code 0": {6: 0},
    "kelurahan code 1572011001": {7: 1572011001},
    "kelurahan code of 9 digits": {7: 157101100},
    "household id of 7 bytes": {8: bytes(7)},
    "expires before issued": {9: 20788, 10: 20787},
    "field 13 of 2": {13: 2},
    "birth date as text": {5: "1984-03-17"},
    "unknown field 14": {14: 1},
    "photo digest on QR": {11: bytes(32)},
}


@pytest.mark.parametrize("name", sorted(INVALID_FIELDS))
def test_invalid_field_takes_general_path(name: str) -> None:
    item = payload_item(make_credential())
    item.update(INVALID_FIELDS[name])
    fast, general = decode_both(cbor.encode(item))
    assert isinstance(general, str)
    assert fast is None


def test_invalid_utf8_name_takes_general_path() -> None:
    payload = encode_payload(make_credential(holder=holder(name="SITI")))
    changed = payload.replace(b"\x64SITI", b"\x64SIT\xff")
    fast, general = decode_both(changed)
    assert isinstance(general, str)
    assert fast is None


# Byte-level variants that the strict CBOR decoder rejects: heads not in shortest form.
def head_variants() -> dict[str, bytes]:
    payload = encode_payload(make_credential(holder=holder(name="SITI")))
    return {
        "name head not shortest": payload.replace(b"\x04\x64SITI", b"\x04\x78\x04SITI"),
        "issued day head not shortest": payload[:-7] + b"\x19\x00\x17" + payload[-4:],
        "expires day with 4-byte head": payload[:-3] + b"\x1a\x00\x00" + payload[-2:],
        "map of 11 pairs with 10": b"\xab" + payload[1:],
        "trailing byte": payload + b"\x00",
    }


@pytest.mark.parametrize("name", sorted(head_variants()))
def test_head_variant_takes_general_path(name: str) -> None:
    fast, general = decode_both(head_variants()[name])
    assert isinstance(general, str)
    assert fast is None


@settings(database=None, deadline=None, max_examples=500)
@given(st.sampled_from(sorted(CREDENTIALS)), st.data())
def test_changed_payload_never_accepted_alone(name: str, data: st.DataObject) -> None:
    changed = bytearray(encode_payload(CREDENTIALS[name]))
    edit = data.draw(st.sampled_from(("replace", "truncate", "append", "insert")))
    if edit == "replace":
        position = data.draw(st.integers(0, len(changed) - 1))
        changed[position] = data.draw(st.integers(0, 255))
    elif edit == "truncate":
        del changed[data.draw(st.integers(0, len(changed) - 1)) :]
    elif edit == "append":
        changed += data.draw(st.binary(min_size=1, max_size=3))
    else:
        position = data.draw(st.integers(0, len(changed)))
        changed[position:position] = data.draw(st.binary(min_size=1, max_size=2))
    fast, general = decode_both(bytes(changed))
    assert fast is None or fast == general


NAME_CHARACTERS = st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs"))


@settings(database=None, deadline=None, max_examples=400)
@given(
    name=st.text(NAME_CHARACTERS, min_size=1, max_size=60).filter(str.isprintable),
    birth_date=st.dates(date(1900, 1, 1), date(2026, 12, 1)),
    sex=st.sampled_from(("L", "P")),
    kelurahan=st.integers(0, 999_999),
    serial=st.integers(0, 10**11 - 1),
    issued=st.dates(date(1970, 1, 1), date(2100, 1, 1)),
    days_valid=st.integers(0, 20_000),
    on_chip_card=st.booleans(),
)
def test_generated_credential_same_result(
    name: str, birth_date: date, sex: str, kelurahan: int, serial: int, issued: date, days_valid: int,
    on_chip_card: bool,
) -> None:
    credential = make_credential(
        card_number=make_card_number(serial),
        holder=Holder(name, birth_date, sex, f"1571{kelurahan:06d}"),
        issued=issued,
        expires=date.fromordinal(min(issued.toordinal() + days_valid, date(2149, 6, 1).toordinal())),
        on_chip_card=on_chip_card,
    )
    fast, general = decode_both(encode_payload(credential))
    assert general == credential
    assert fast is None or fast == credential
